"""What a finished (or interrupted) search leaves behind: tables, the tuned profile, MLflow runs.

Under ``OUT``:

* ``trials.csv``: one row per trial, in the order the trials were created: ``trial_id``,
  ``submitted`` (1-based creation order: the search's first suggestion is 1, whatever order the
  concurrent trials finish in), ``status`` (``finished``; ``stopped``: ASHA
  stopped it; ``error``; ``unfinished``: interrupted, ``--resume`` continues it), ``reports``,
  ``best_val_loss``, ``val_mape`` (%), ``fit_s``, ``started``/``ended`` (Unix s) and one
  ``param.<field>`` column per searched field;
* ``.energy-tune.json``: the marker :func:`write_marker` leaves before Tune writes anything;
  ``--resume`` refuses a folder without it (:func:`check_resumable`);
* ``curves.csv``: every report of every trial (``trial_id``, ``training_iteration``,
  ``best_val_loss``, ``val_loss``, ``epoch`` or ``boost_round``);
* ``best.yaml``: a copy of the input profile with the best trial's fields in place, so that
  ``energy train --config OUT/best.yaml`` trains the tuned model.
"""

from __future__ import annotations

import copy
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from energy.distributed import search_space as ss

CURVE_COLUMNS = ("best_val_loss", "val_loss", "train_loss", "epoch", "boost_round")
MARKER_FILE = ".energy-tune.json"


def write_marker(out: Path, experiment: str) -> None:
    """Mark ``out`` as a search folder written by ``energy tune`` (before Tune writes into it)."""
    marker = {"written_by": "energy tune", "experiment": experiment, "uid": os.getuid()}
    (out / MARKER_FILE).write_text(json.dumps(marker) + "\n")


def check_resumable(out: Path, experiment: str) -> None:
    """Refuse to resume a folder ``energy tune`` did not write, or that others may write to.

    ``Tuner.restore`` unpickles the experiment state, i.e. runs code stored in the folder: only
    folders started by ``energy tune``, owned by this user and not world-writable are trusted
    (SECURITY.md).

    Raises:
        ValueError: (one CLI line) no marker, another experiment's marker, or unsafe modes.
    """
    marker_path = out / MARKER_FILE
    try:
        marker = json.loads(marker_path.read_text())
    except (OSError, ValueError):
        marker = None
    if (
        not isinstance(marker, dict)
        or marker.get("written_by") != "energy tune"
        or marker.get("experiment") != experiment
    ):
        raise ValueError(
            f"--resume: {str(out)!r} was not written by `energy tune` (no {MARKER_FILE}); "
            "resuming unpickles its files, so only searches started by `energy tune` resume"
        )
    for path in (out, marker_path, out / experiment):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o002:
            raise ValueError(
                f"--resume: {str(path)!r} is a link, owned by another user, or writable by "
                "anyone: refused (resuming unpickles the search's files)"
            )


def collect(results: Any, space: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(trials, curves)`` tables from a Tune ``ResultGrid``."""
    rows, curves = [], []
    for r in results:
        m = r.metrics or {}
        df = r.metrics_dataframe if r.metrics_dataframe is not None else pd.DataFrame()
        tid = m.get("trial_id") or Path(r.path).name
        tag = m.get("experiment_tag") or (
            df["experiment_tag"].iloc[-1] if "experiment_tag" in df and len(df) else ""
        )
        if r.error is not None:
            status = "error"
        elif m.get("finished"):
            status = "finished"
        elif len(df):
            status = "stopped"
        else:
            status = "unfinished"
        params = ss.from_tune({k: v for k, v in (r.config or {}).items() if k in space}, space)
        rows.append({
            "trial_id": tid, "submitted": _submitted(str(tag), Path(r.path).name),
            "status": status, "reports": len(df),
            "best_val_loss": m.get("best_val_loss", math.nan),
            "val_mape": m.get("val_mape", math.nan), "fit_s": m.get("fit_s", math.nan),
            "started": float(df["timestamp"].min()) if "timestamp" in df else math.nan,
            "ended": float(df["timestamp"].max()) if "timestamp" in df else math.nan,
            **{f"param.{k}": v for k, v in params.items()},
        })  # fmt: skip
        if len(df):
            cols = ["training_iteration", *[c for c in CURVE_COLUMNS if c in df]]
            curves.append(df[cols].assign(trial_id=tid))
    trials = pd.DataFrame(rows).sort_values(["submitted", "started"], ignore_index=True)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return trials, curve


def _submitted(tag: str, dirname: str) -> int:
    """A trial's 1-based creation order from Tune's experiment tag (``"3_max_depth=2,..."``) or
    trial folder name (``<trainable>_<id>_3_max_depth=2,...``); a large number when unknown."""
    for text in (tag, dirname.split("_", 2)[-1] if dirname.count("_") >= 2 else ""):
        head = text.split("_", 1)[0]
        if head.isdigit():
            return int(head)
    return 10**9


def best_trial(trials: pd.DataFrame, metric: str) -> pd.Series:
    """The trial with the lowest ``metric`` (finished trials first: they have a ``val_mape``)."""
    done = trials[(trials["status"] == "finished") & trials[metric].notna()]
    pool = done if len(done) else trials[trials[metric].notna()]
    if not len(pool):
        raise RuntimeError(f"tune: no trial reported {metric} (see trials.csv and the Tune logs)")
    return pool.loc[pool[metric].idxmin()]


def params_of(row: pd.Series) -> dict[str, Any]:
    """The searched fields of a ``trials.csv`` row as plain Python values."""
    out = {}
    for k, v in row.items():
        if str(k).startswith("param."):
            out[str(k).removeprefix("param.")] = v.item() if hasattr(v, "item") else v
    return out


def write_profile(
    profile: dict[str, Any], kind: str, values: dict[str, Any], path: Path, header: str
) -> Path:
    """``profile`` with ``models.<kind>`` fields replaced by ``values``, as YAML at ``path``."""
    data = copy.deepcopy(profile)
    models = data.get("models") or {}
    models[kind] = {**(models.get(kind) or {}), **values}
    data["models"] = models
    data["name"] = f"{data.get('name', 'experiment')}-tuned"
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comment + yaml.safe_dump(data, sort_keys=False))
    return path


def track(
    summary: dict[str, Any], trials: pd.DataFrame, curves: pd.DataFrame, out: Path, parent: Any
) -> None:
    """One MLflow child run per trial (params, curve, final metrics) under the search's run."""
    from energy import tracking

    if parent.id is None:  # tracking off
        return
    for _, r in trials.iterrows():  # (itertuples would rename the "param.x" columns)
        tags = {"trial_id": r["trial_id"], "status": r["status"]}
        with tracking.start_run(
            f"trial-{r['trial_id']}", kind="trial", params=params_of(r), tags=tags,
            parent_run_id=parent.id,
        ) as child:  # fmt: skip
            curve = curves[curves["trial_id"] == r["trial_id"]] if len(curves) else curves
            for c in curve.itertuples(index=False):
                step = int(c.training_iteration)
                child.log_metrics({k: getattr(c, k) for k in CURVE_COLUMNS if hasattr(c, k)}, step)
            child.log_metrics({k: r[k] for k in ("best_val_loss", "val_mape", "fit_s")})
    best = summary["best"]
    parent.log_metrics({"best_val_loss": best["best_val_loss"], "best_val_mape": best["val_mape"],
                        "trials": summary["trials"], "stopped": summary["stopped"]})  # fmt: skip
    parent.log_dict(summary, "tune/summary.json")
    for name in ("best.yaml", "trials.csv", "curves.csv"):
        if (out / name).is_file():
            parent.log_artifact(out / name, "tune")
