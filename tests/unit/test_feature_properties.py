"""Property: no feature at hour t changes when any data after t changes (hypothesis).

The example tests in test_features.py pick three hours and one perturbation; here hypothesis
picks the hour, the horizon, the cities, what is perturbed (load, weather, both) and how, over a
fitted pipeline with calendar, holiday, event, weather and load-lag features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_features import CITIES, EVENTS, make_load

from energy.features import FeatureConfig, FeaturePipeline

pytestmark = pytest.mark.unit

FULL = make_load(days=35)
FIRST, LAST = FULL["timestamp"].min(), FULL["timestamp"].max()
PIPES = {
    h: FeaturePipeline(FeatureConfig(horizon=h)).fit(
        FULL[FULL["timestamp"] < pd.Timestamp("2021-03-20", tz="UTC")], CITIES, EVENTS
    )
    for h in (24, 48)
}
BASE = {h: pipe.transform(FULL) for h, pipe in PIPES.items()}


@settings(
    max_examples=30,
    derandomize=True,  # a fixed set of examples: the same run in CI and here
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    hour=st.integers(min_value=0, max_value=len(FULL) // 3 - 2),
    horizon=st.sampled_from([24, 48]),
    what=st.sampled_from(["load", "weather", "both"]),
    scale=st.floats(min_value=0.1, max_value=10.0),
    shift=st.floats(min_value=-50.0, max_value=50.0),
    cities=st.sets(st.sampled_from(["bos", "ber", "syd"]), min_size=1),
    nan_out=st.booleans(),
)
def test_no_feature_at_t_sees_data_after_t(
    hour: int, horizon: int, what: str, scale: float, shift: float, cities: set[str], nan_out: bool
) -> None:
    t = FIRST + pd.Timedelta(hours=hour)
    changed = FULL.copy()
    after = (changed["timestamp"] > t) & changed["city_id"].isin(cities)
    if what in ("load", "both"):
        changed.loc[after, "load_mw"] = np.nan if nan_out else changed.loc[after, "load_mw"] * scale
    if what in ("weather", "both"):
        for col in ("temperature_c", "dewpoint_c"):
            changed.loc[after, col] = changed.loc[after, col] + shift
    pipe = PIPES[horizon]
    moved = pipe.transform(changed)
    upto = FULL["timestamp"] <= t
    cols = pipe.feature_names_
    pd.testing.assert_frame_equal(
        BASE[horizon].loc[upto, cols], moved.loc[upto, cols], check_exact=True
    )
    assert t < LAST  # there is data after t to change: the property is not vacuous
