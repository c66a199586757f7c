"""`energy.distributed.tune` on a real local Ray instance and a small real GEFCom2012 slice
(3 zones, 10 weeks): a TPE search beats a deliberately poor start, ASHA stops trials early, the
results reach a real MLflow store, and an interrupted search resumes."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest
from ray import tune as ray_tune

from energy import tracking
from energy.config.experiment import load_config
from energy.data.importers import gefcom2012
from energy.data.ingest import finish
from energy.distributed.tune import TuneSettings, tune

pytestmark = [pytest.mark.ray, pytest.mark.data, pytest.mark.timeout(300)]

ZONES = ["zone_01", "zone_02", "zone_03"]
# deliberately poor: stumps with a tiny learning rate stop far from the data after 60 rounds
POOR = """
horizon: 24
features: {horizon: 24, lags: [24, 48, 168]}
models:
  xgboost: {n_estimators: 60, max_depth: 1, learning_rate: 0.005, strategy: shared,
            early_stopping_rounds: 10, n_jobs: 1}
ensemble: {val_days: 7}
baselines: [seasonal_naive]
"""
SPACE = {
    "n_estimators": None,
    "subsample": None,
    "colsample_bytree": None,
    "max_depth": {"kind": "int", "low": 1, "high": 6},
    "learning_rate": {"kind": "float", "low": 0.005, "high": 0.3, "log": True},
}


@pytest.fixture(scope="module")
def gefcom_slice(tmp_path_factory, shared_data: Path) -> Path:
    raw = gefcom2012.read(shared_data / "gefcom2012_load")
    t = raw.load["timestamp"]
    keep = raw.load["city_id"].isin(ZONES) & (t >= pd.Timestamp("2007-01-01", tz="UTC"))
    raw.load = raw.load[keep & (t < pd.Timestamp("2007-03-15", tz="UTC"))].reset_index(drop=True)
    raw.cities = raw.cities[raw.cities["city_id"].isin(ZONES)].reset_index(drop=True)
    out = tmp_path_factory.mktemp("data") / "gefcom3"
    finish(raw, out, command="test slice")
    return out


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "poor.yaml"
    p.write_text(POOR)
    return p


def test_tpe_beats_a_poor_start_asha_stops_and_mlflow_gets_runs(
    ray_local, gefcom_slice, profile, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("ENERGY_TRACKING", "1")
    settings = TuneSettings(model="xgboost", search="tpe", samples=6, boost_chunk=5, space=SPACE)
    lines: list[str] = []
    summary = tune(profile, gefcom_slice, tmp_path / "out", settings, progress=lines.append)

    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert len(trials) == 6 and summary["errors"] == 0
    # the profile's own values are evaluated first: the deliberately poor start. Concurrent trials
    # finish (and first report) in any order: find the first *submitted* trial by its id
    assert sorted(trials["submitted"]) == list(range(1, 7)) and trials["trial_id"].is_unique
    first_id = trials.loc[trials["submitted"] == 1, "trial_id"].item()
    first = trials.set_index("trial_id").loc[first_id]
    assert (first["param.max_depth"], first["param.learning_rate"]) == (1, 0.005)
    best = summary["best"]
    assert best["best_val_loss"] < first["best_val_loss"]
    assert best["val_mape"] < 20  # a real day-ahead forecast, not a flat line
    assert summary["stopped"] >= 1  # ASHA stopped at least one trial early
    stopped = trials[trials["status"] == "stopped"]
    assert stopped["val_mape"].isna().all() and (stopped["reports"] < 12).all()
    assert sum("trial " in line for line in lines) == 6  # live progress, one line per trial

    # the tuned profile is the input profile with the tuned fields: `energy train` can read it
    cfg = load_config(tmp_path / "out" / "best.yaml")
    xgb_cfg = cfg.models["xgboost"]
    assert xgb_cfg.max_depth == best["params"]["max_depth"]
    assert xgb_cfg.n_estimators == 60 and cfg.ensemble.val_days == 7

    # MLflow: a tune parent run with one child run per trial, with its params and curve
    c = tracking.client()
    parent = c.get_run(summary["mlflow_run_id"])
    assert parent.data.tags["energy.kind"] == "tune"
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best["best_val_loss"])
    children = c.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == 6
    child = next(r for r in children if r.data.tags["trial_id"] == best["trial_id"])
    assert int(child.data.params["max_depth"]) == best["params"]["max_depth"]
    curve = c.get_metric_history(child.info.run_id, "best_val_loss")
    assert len(curve) >= 2


class _InterruptAfter(ray_tune.Callback):
    """Sends this process SIGINT (as Ctrl+C does) once ``n`` trials have completed, only in the
    first run: Tune restores its callbacks with the search, and the marker file stops a repeat."""

    def __init__(self, n: int, marker: Path) -> None:
        self.n, self.marker, self.seen = n, marker, 0

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.seen += 1
        if self.seen == self.n and not self.marker.exists():
            self.marker.touch()
            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_search_resumes(ray_local, gefcom_slice, profile, tmp_path) -> None:
    settings = TuneSettings(
        model="xgboost", search="random", samples=4, scheduler="none", space=SPACE,
        max_concurrent=1, boost_chunk=20,
    )  # fmt: skip
    out = tmp_path / "out"
    stop = _InterruptAfter(2, tmp_path / "interrupted")
    first = tune(profile, gefcom_slice, out, settings, callbacks=[stop])
    # SIGINT after the 2nd completion; the 3rd trial may still finish before Tune stops (timing)
    assert 2 <= first["finished"] < 4 and first["finished"] + first["unfinished"] == first["trials"]
    done_first = set(pd.read_csv(out / "trials.csv").query("status == 'finished'")["trial_id"])

    lines: list[str] = []
    # settings given on resume are ignored: the search keeps what it was started with
    resumed = tune(profile, gefcom_slice, out, TuneSettings(model="lstm"), resume=True,
                   progress=lines.append)  # fmt: skip
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "finished").all()
    assert done_first <= set(trials["trial_id"])  # the first run's trials are kept, not rerun
    assert resumed["model"] == "xgboost" and any("resuming" in line for line in lines)


def test_resume_without_a_search_is_a_clear_error(tmp_path, gefcom_slice, profile) -> None:
    with pytest.raises(FileNotFoundError, match="--resume: no search to resume"):
        tune(profile, gefcom_slice, tmp_path, TuneSettings(model="xgboost"), resume=True)


@pytest.mark.parametrize("marker", [None, '{"written_by": "someone else"}'])
def test_resume_refuses_a_folder_energy_tune_did_not_write(tmp_path, gefcom_slice, profile,
                                                           marker) -> None:  # fmt: skip
    """``Tuner.restore`` unpickles the folder: a search folder without our marker (or with a
    foreign one) is refused before anything in it is read (issue 18, item 11)."""
    exp = tmp_path / "search"
    exp.mkdir()
    (exp / "tuner.pkl").write_bytes(b"not ours: never unpickled")
    (tmp_path / "tune_request.json").write_text("{}")
    if marker is not None:
        (tmp_path / ".energy-tune.json").write_text(marker)
    with pytest.raises(ValueError, match="was not written by `energy tune`"):
        tune(profile, gefcom_slice, tmp_path, TuneSettings(model="xgboost"), resume=True)
