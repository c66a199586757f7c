"""Every validation scheme by name: what ``energy backtest --scheme`` runs.

========================  =====================================================================
``rolling`` (default)     fit once before ``--start``, forecast every local day in
                          ``[--start, --end)`` (:func:`~energy.evaluation.schemes.backtest`;
                          local dates)
``kfold``                 ``backtest.folds`` consecutive UTC test windows, a fresh model per fold
                          fitted on everything before its window
                          (:func:`~energy.evaluation.schemes.kfold_backtest`); with ``--start``
                          the folds tile ``[--start, --end)``, else ``backtest.fold_days`` each,
                          the last ending at ``--end`` or with the data
``out-of-time``           one fit strictly before the test window ``[--start, --end)`` (UTC;
                          default the last ``backtest.test_days`` days), the last ``val_days``
                          before it for early stopping
                          (:func:`~energy.evaluation.schemes.out_of_time`)
``citywise``              cold start: per split, fit on the other cities and forecast the held-out
                          ones over ``[--start, --end)`` (UTC; default the last
                          ``backtest.test_days`` days) (:func:`~energy.evaluation.schemes.citywise`)
========================  =====================================================================

:func:`run_scheme` runs one model; :func:`backtest_models` runs several (the configured model and
its baselines) and writes their files like the rolling backtest: predictions, metrics and plots
under ``out`` (baselines under ``out/baselines/<name>``) and ``compare.txt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from energy import schema
from energy.data.dataset import Dataset
from energy.evaluation import reporting, schemes
from energy.evaluation.rolling import BacktestResult, ModelLike, Progress, to_utc
from energy.evaluation.settings import BacktestSettings

Scheme = Literal["rolling", "kfold", "out-of-time", "citywise"]
SCHEMES: tuple[str, ...] = get_args(Scheme)
DAY = pd.Timedelta(days=1)


def _when(value: str | pd.Timestamp | None, flag: str) -> pd.Timestamp | None:
    """A UTC instant from a CLI date (naive = UTC), or None."""
    if value is None:
        return None
    try:
        return to_utc(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{flag}: cannot read {value!r} as a date (use YYYY-MM-DD)") from e


def run_scheme(
    scheme: str,
    model: ModelLike,
    data: Dataset,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    settings: BacktestSettings | None = None,
    horizon: int = 24,
    val_days: int = 14,
    seed: int = 0,
    name: str | None = None,
    progress: Progress = print,
) -> BacktestResult:
    """Backtest ``model`` on ``data`` under ``scheme`` (see the module docstring).

    Args:
        scheme: one of :data:`SCHEMES`.
        model: an unfitted forecaster, a factory or a kind (fitted per fold / split).
        start, end: the window (``--start`` / ``--end``): local dates for ``rolling``, UTC
            otherwise (naive = UTC).
        settings: the config's ``backtest`` section (folds, hold-out size, default window).
        horizon: hours per origin; val_days: days before each training cut-off used for early
            stopping; seed: shuffles the city-wise groups.

    Returns:
        The scheme's :class:`~energy.evaluation.rolling.BacktestResult`; multi-fold schemes have a
        ``fold`` column and ``info["folds"]``.
    """
    check_scheme(scheme, start, end)
    s = settings or BacktestSettings()
    common: dict[str, Any] = {"horizon": horizon, "name": name, "progress": progress}
    if scheme == "rolling":
        assert start is not None and end is not None
        return schemes.backtest(model, data, start=start, end=end, val_days=val_days, **common)
    lo, hi = _when(start, "--start"), _when(end, "--end")
    if hi is not None and lo is not None and hi <= lo:
        raise ValueError(f"--end: {end!r} is not after --start {start!r}")
    last = data.load[schema.TIME].max() + pd.Timedelta(hours=1)
    if scheme == "kfold":
        fold_days = s.fold_days
        if lo is not None:
            days = ((hi or last) - lo) // DAY
            fold_days = days // s.folds
            if fold_days < 1:
                raise ValueError(
                    f"--start/--end: {days} whole days cannot hold backtest.folds={s.folds} folds"
                )
        return schemes.kfold_backtest(
            model, data, n_folds=s.folds, test_days_per_fold=fold_days, mode=s.mode,
            train_days=s.train_days, val_days=val_days, end=hi, **common,
        )  # fmt: skip
    if scheme == "out-of-time":
        test_start = lo if lo is not None else (hi or last) - s.test_days * DAY
        val_start = test_start - val_days * DAY if val_days else None
        return schemes.out_of_time(model, data, val_start, test_start, hi, **common)
    if scheme == "citywise":
        return schemes.citywise(
            model, data, k=s.holdout_cities, n_splits=s.city_splits, seed=seed, start=lo,
            end=hi, test_days=s.test_days, val_days=val_days, with_history=s.with_history,
            **common,
        )  # fmt: skip
    raise AssertionError(scheme)  # check_scheme lets no other name through


def check_scheme(
    scheme: str, start: str | pd.Timestamp | None, end: str | pd.Timestamp | None
) -> None:
    """Refuse an unknown scheme, or rolling without its window, before any data is read."""
    if scheme not in SCHEMES:
        raise ValueError(f"--scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    if scheme == "rolling" and (start is None or end is None):
        raise ValueError("--start/--end: both are required with --scheme rolling")


def backtest_models(
    models: Mapping[str, ModelLike],
    data: Dataset,
    out: str | Path,
    scheme: str,
    *,
    progress: Progress = print,
    **options: Any,
) -> dict[str, Any]:
    """Run :func:`run_scheme` for each model and write its files; the first model's go to
    ``out``, the others' (baselines) to ``out/baselines/<name>``.

    Args:
        models: name → model, factory or kind (the configured model first); a factory builds
            its model only when that model's turn comes.
        options: the keyword arguments of :func:`run_scheme` besides ``name`` and ``progress``.

    Returns:
        ``{"compare": table of overall metrics (reporting.compare), "results": name → result}``.
    """
    check_scheme(scheme, options.get("start"), options.get("end"))
    out = Path(out)
    results: dict[str, BacktestResult] = {}
    for i, (name, model) in enumerate(models.items()):
        if progress is not None:
            progress(f"{scheme} backtest of {name}")
        result = run_scheme(scheme, model, data, name=name, progress=progress, **options)
        reporting.write_backtest(result, out if i == 0 else out / "baselines" / name)
        results[name] = result
    table = reporting.compare(results, members=True)
    (out / "compare.txt").write_text(table.to_string() + "\n")
    return {"compare": table, "results": results}
