"""Registry, gate and aliases on a real MLflow store; the pyfunc model in a fresh process."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from energy import tracking
from energy.config.experiment import PromotionSettings
from energy.forecast.package_io import read_package
from energy.lifecycle import champion as registry
from energy.lifecycle import promotion

pytestmark = pytest.mark.mlflow
CITIES = ("syn-000", "syn-001")


def register_with(trained: dict[str, Any], name: str, overall: float, **cities: float) -> str:
    """A new version of the session's logged package, tagged with the given MAPE numbers (the
    protocol stays the package's own, so versions compare directly)."""
    meta = json.loads((trained["out"] / "package.json").read_text())
    per_city = {c: cities.get(c.replace("-", "_"), overall) for c in CITIES}
    meta["metrics"] = {
        "overall": {"mape": overall},
        "per_city": {c: {"mape": v} for c, v in per_city.items()},
    }
    tags = promotion.version_tags(meta)
    return tracking.register_model(trained["model_uri"], name=name, tags=tags)


def champions(name: str) -> list[str]:
    return [v.version for v in tracking.list_versions(name) if "champion" in v.aliases]


PREDICT = """
import sys, mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
model.predict(pd.read_parquet("requests.parquet")).to_parquet("out_requests.parquet")
model.predict(pd.read_parquet("hourly.parquet")).to_parquet("out_hourly.parquet")
"""


def test_champion_loads_in_a_fresh_process_with_same_predictions(trained, model_name, tmp_path):
    version = registry.register(trained["out"], model_name, model_uri=trained["model_uri"])
    d = registry.gate(model_name, version, PromotionSettings())
    assert d.promote and "first version" in d.reason
    assert champions(model_name) == [version]

    got = tracking.resolve_alias(model_name, "champion", dst=tmp_path / "download")
    assert got.version == version and "challenger" in got.aliases
    meta = json.loads((trained["out"] / "package.json").read_text())
    assert got.tags["data_hash"] == meta["data_hash"] and got.tags["config_name"] == "tiny"
    assert got.tags["protocol_id"] == meta["protocol"]["id"]
    assert got.metrics["overall"]["mape"] == pytest.approx(meta["metrics"]["overall"]["mape"])
    assert set(got.metrics["per_city"]) == set(CITIES)

    pkg = read_package(trained["out"])
    expected = pkg.forecast(list(CITIES), horizon=24)
    start = pkg.last_load_time("syn-001") + pd.Timedelta(hours=1)
    hours = pd.date_range(start, periods=6, freq="h")
    weather = pd.DataFrame(
        {"city_id": "syn-001", "timestamp": hours, "temperature_c": np.linspace(-5, 5, 6)}
    )
    expected_w = pkg.forecast(["syn-001"], start=start, horizon=6, weather=weather)
    downloaded = read_package(got.package_dir).forecast(list(CITIES), horizon=24)
    pd.testing.assert_frame_equal(downloaded, expected)

    # a fresh interpreter in an empty folder: no repository config files at hand
    work = tmp_path / "elsewhere"
    work.mkdir()
    pd.DataFrame({"city_id": list(CITIES), "horizon_hours": [24, 24]}).to_parquet(
        work / "requests.parquet"
    )
    hourly = weather.assign(timestamp=hours.strftime("%Y-%m-%dT%H:%M:%SZ"))
    hourly.to_parquet(work / "hourly.parquet")
    proc = subprocess.run(
        [sys.executable, "-c", PREDICT, f"models:/{model_name}@champion"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for out, exp in (("out_requests", expected), ("out_hourly", expected_w)):
        loaded = pd.read_parquet(work / f"{out}.parquet")
        assert loaded["weather_source"].tolist() == exp["weather_source"].tolist()
        np.testing.assert_allclose(loaded["yhat"], exp["yhat"], rtol=0, atol=1e-9)
        assert (pd.to_datetime(loaded["timestamp"], utc=True) == exp["timestamp"]).all()
    assert set(expected_w["weather_source"]) == {"supplied"}


def test_gate_promotes_only_improvements_and_rollback_returns(trained, model_name):
    settings = PromotionSettings(margin=0.01, city_tolerance=0.05)
    v1 = register_with(trained, model_name, 5.0)
    assert registry.gate(model_name, v1, settings).promote

    v2 = register_with(trained, model_name, 5.5)  # worse
    d = registry.gate(model_name, v2, settings)
    assert not d.promote and d.champion_version == v1 and d.champion_source == "tags"
    assert champions(model_name) == [v1]
    assert tracking.alias_version(model_name, "challenger") == v2
    assert tracking.get_version(model_name, v2).tags["gate.decision"] == "rejected"

    v3 = register_with(trained, model_name, 4.0, syn_000=2.0, syn_001=5.5)  # a city regresses
    d = registry.gate(model_name, v3, settings)
    assert not d.promote and set(d.regressions) == {"syn-001"}
    assert champions(model_name) == [v1]

    v4 = register_with(trained, model_name, 4.0)  # 20 % better everywhere
    d = registry.gate(model_name, v4, settings)
    assert d.promote and d.improvement == pytest.approx(0.2)
    assert champions(model_name) == [v4]

    assert registry.rollback(model_name, "bad forecasts in production") == (v4, v1)
    assert champions(model_name) == [v1]
    assert "bad forecasts" in tracking.get_version(model_name, v4).tags["rolled_back"]
    with pytest.raises(ValueError, match="no previous champion"):
        registry.rollback(model_name, "again")

    # every decision is logged as a promotion run with its numbers
    c = tracking.client()
    exp = c.get_experiment_by_name(tracking.experiment_name())
    runs = c.search_runs(
        [exp.experiment_id], f"tags.`energy.kind` = 'promotion' and params.version = '{v2}'"
    )
    mine = [r for r in runs if r.info.run_name == f"gate {model_name} v{v2}"]
    assert len(mine) == 1 and mine[0].data.tags["decision"] == "rejected"
    assert mine[0].data.metrics["challenger"] == 5.5 and mine[0].data.metrics["champion"] == 5.0


GATE = """
import json, sys
from energy import tracking
from energy.lifecycle import promotion
from energy.lifecycle import champion as registry
from energy.config.experiment import PromotionSettings
tracking.client()
print("ready", flush=True)
sys.stdin.readline()
d = registry.gate(sys.argv[1], sys.argv[2], PromotionSettings(margin=0.01))
print(json.dumps({"version": sys.argv[2], "promote": d.promote}), flush=True)
"""


def test_concurrent_promotions_leave_one_champion_the_best(trained, model_name):
    mapes = {register_with(trained, model_name, x): x for x in (7.0, 5.0, 6.0)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GATE, model_name, v],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in mapes
    ]
    try:
        for p in procs:  # a start barrier: every process is connected before any gate runs
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    best = min(mapes, key=mapes.__getitem__)
    assert champions(model_name) == [best]
    # the history is one chain: each promotion replaced the one before it, always improving
    history = json.loads(tracking.model_tags(model_name)[registry.HISTORY_TAG])
    assert history[0]["previous"] is None
    for before, after in itertools.pairwise(history):
        assert after["previous"] == before["version"]
        assert mapes[after["version"]] < mapes[before["version"]]
    assert history[-1]["version"] == best


def test_missing_alias_is_a_clear_lookup_error(trained, model_name):
    with pytest.raises(LookupError, match=f"{model_name!r} has no alias 'champion'"):
        tracking.resolve_alias(model_name)
    assert tracking.alias_version(model_name) is None
    register_with(trained, model_name, 5.0)
    with pytest.raises(KeyError, match="latest versions: 1"):
        tracking.resolve_alias(model_name, "champion")


def test_package_dir_in_registered_model_matches(trained, model_name, tmp_path):
    version = register_with(trained, model_name, 5.0)
    got = tracking.download_package(tracking.get_version(model_name, version), tmp_path)
    assert got.package_dir is not None
    assert isinstance(got.package_dir, Path) and (got.package_dir / "package.json").is_file()
    assert (got.package_dir / "model" / "model.json").is_file()
