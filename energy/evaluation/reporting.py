"""Backtest outputs: files, Markdown tables, plots, and a side-by-side comparison of models.

:func:`write_backtest` writes, for one :class:`~energy.rolling.BacktestResult`::

    DIR/predictions.parquet     city_id, origin, timestamp, step, y, yhat, yhat_<member>… (MW, UTC)
    DIR/metrics.json            name, timings, info and the metrics table (NaN → null)
    DIR/metrics.md              per model overall, MAPE per city, MAPE per step
    DIR/forecast_vs_actual.png  best, median and worst city (by MAPE) over their last 14 days
    DIR/mape_by_city.png        MAPE per city, one bar per city
    DIR/error_by_hour.png       MAPE by local hour of day, one line per model

Plots use matplotlib's Agg canvas directly (no pyplot, no global backend switch).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.evaluation.rolling import BacktestResult

OVERALL_COLUMNS = ("mape", "mape_pooled", "mae", "rmse", "r2", "mase", "mase24", "n")
_HEADERS = {
    "mape": "MAPE %",
    "mape_pooled": "pooled MAPE %",
    "mae": "MAE MW",
    "rmse": "RMSE MW",
    "r2": "R²",
    "mase": "MASE",
    "mase24": "MASE24",
    "n": "n",
}
PLOT_DAYS = 14


def compare(results: Mapping[str, BacktestResult], members: bool = False) -> pd.DataFrame:
    """Overall metrics of several results side by side, one row per name (insertion order).

    Args:
        results: name → result (e.g. one per model kind under the same scheme and window).
        members: also add a row ``"<name>/<member>"`` per ensemble member.

    Returns:
        Index ``model``; columns :data:`OVERALL_COLUMNS` (MAPE in %, MAE/RMSE in MW), ``fit_s``,
        ``predict_s`` (whole result, repeated on member rows) and ``skipped`` (reason or "").
    """
    rows = []
    for name, r in results.items():
        models = r.metrics.get("models", {})
        keys = [r.name] + (r.members if members else [])
        for key in keys:
            overall = models.get(key, {}).get("overall", {})
            label = name if key == r.name else f"{name}/{key}"
            row: dict[str, Any] = {"model": label}
            row |= {c: overall.get(c, np.nan) for c in OVERALL_COLUMNS}
            rows.append(
                row | {"fit_s": r.fit_s, "predict_s": r.predict_s, "skipped": r.skipped or ""}
            )
    cols = ["model", *OVERALL_COLUMNS, "fit_s", "predict_s", "skipped"]
    return pd.DataFrame(rows, columns=cols).set_index("model")


def write_backtest(result: BacktestResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write predictions, metrics (JSON and Markdown) and plots of ``result`` into ``out_dir``.

    A skipped result gets its (empty) predictions and the reason in both metrics files, no plots.

    Returns:
        File kind (``"predictions"``, ``"metrics_json"``, ``"metrics_md"``, plot names) → path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "predictions": out / "predictions.parquet",
        "metrics_json": out / "metrics.json",
        "metrics_md": out / "metrics.md",
    }
    result.predictions.to_parquet(paths["predictions"], index=False)
    doc = {
        "name": result.name,
        "skipped": result.skipped,
        "fit_s": result.fit_s,
        "predict_s": result.predict_s,
        "info": result.info,
        "metrics": result.metrics,
    }
    paths["metrics_json"].write_text(json.dumps(_jsonable(doc), indent=2) + "\n")
    paths["metrics_md"].write_text(metrics_markdown(result))
    if result.skipped is None and len(result.predictions):
        paths |= plot_backtest(result, out)
    return paths


def metrics_markdown(result: BacktestResult) -> str:
    """Readable tables: per model overall, MAPE per city and MAPE per step (models as columns)."""
    lines = [f"# Backtest: {result.name}", ""]
    info = result.info
    if result.skipped:
        return "\n".join([*lines, f"Skipped: {result.skipped}", ""])
    lines += [
        f"Scheme {info.get('scheme', '?')}, {info.get('n_origins', '?')} origins, horizon "
        f"{info.get('horizon', '?')} h, weather {info.get('weather', '?')}; "
        f"fit {result.fit_s:.1f} s, predict {result.predict_s:.1f} s.",
        "",
        "MAPE and MASE are means of per-city values; pooled MAPE, MAE and RMSE pool all rows.",
        "",
        "## Overall",
        "",
    ]
    models = result.metrics["models"]
    overall = pd.DataFrame({m: v["overall"] for m, v in models.items()}).T
    overall = overall[list(OVERALL_COLUMNS)].astype({"n": int}).rename(columns=_HEADERS)
    lines += [_table(overall, "model"), "", "## MAPE per city (%)", ""]
    per_city = pd.DataFrame(
        {m: {c: d["mape"] for c, d in v["per_city"].items()} for m, v in models.items()}
    )
    lines += [_table(per_city, "city"), "", "## MAPE per step (%)", ""]
    per_step = pd.DataFrame(
        {m: {s: d["mape"] for s, d in v["per_step"].items()} for m, v in models.items()}
    )
    lines += [_table(per_step, "step"), ""]
    return "\n".join(lines)


def _table(df: pd.DataFrame, index_name: str) -> str:
    """A Markdown table; floats with 3 decimals (below 100) or none, NaN as "–"."""

    def cell(v: Any) -> str:
        if not isinstance(v, float | np.floating):
            return str(v)
        x = float(v)
        return "–" if math.isnan(x) else f"{x:.3f}" if abs(x) < 100 else f"{x:,.0f}"

    head = [index_name, *map(str, df.columns)]
    rows = [
        [str(i), *(cell(v) for v in row)] for i, row in zip(df.index, df.to_numpy(), strict=True)
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def _jsonable(o: Any) -> Any:
    """Nested dicts/lists with NaN → None and numpy/pandas scalars → Python ones."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float):
        return None if math.isnan(o) or math.isinf(o) else o
    if isinstance(o, pd.Timestamp):
        return o.isoformat()
    return o


# ---- plots ---------------------------------------------------------------------------------------
def plot_backtest(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """The three PNG plots of :func:`write_backtest`; returns plot name → path."""
    paths = {
        "forecast_vs_actual": out_dir / "forecast_vs_actual.png",
        "mape_by_city": out_dir / "mape_by_city.png",
        "error_by_hour": out_dir / "error_by_hour.png",
    }
    _forecast_vs_actual(result, paths["forecast_vs_actual"])
    _mape_by_city(result, paths["mape_by_city"])
    _error_by_hour(result, paths["error_by_hour"])
    return paths


def _figure(width: float, height: float, nrows: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(nrows, 1, i + 1) for i in range(nrows)]
    return fig, axes


def _city_mape(result: BacktestResult) -> pd.Series:
    per_city = result.metrics["models"][result.name]["per_city"]
    return (
        pd.Series({c: d["mape"] for c, d in per_city.items()}, dtype=float).dropna().sort_values()
    )


def _forecast_vs_actual(result: BacktestResult, path: Path) -> None:
    mape = _city_mape(result)
    picks: dict[str, str] = {}
    if len(mape):
        for label, i in (("best", 0), ("median", len(mape) // 2), ("worst", len(mape) - 1)):
            picks.setdefault(str(mape.index[i]), label)
    fig, axes = _figure(11, 3 * max(len(picks), 1), max(len(picks), 1))
    pred = result.predictions
    for ax, (city, label) in zip(axes, picks.items(), strict=False):
        g = pred[pred[schema.CITY] == city].sort_values("step")
        g = g.drop_duplicates(schema.TIME).sort_values(schema.TIME)  # freshest forecast per hour
        g = g[g[schema.TIME] > g[schema.TIME].max() - pd.Timedelta(days=PLOT_DAYS)]
        ax.plot(g[schema.TIME], g["y"], color="black", lw=1.2, label="actual")
        ax.plot(g[schema.TIME], g["yhat"], color="tab:blue", lw=1.0, label=result.name)
        for m in result.members:
            ax.plot(g[schema.TIME], g[f"yhat_{m}"], lw=0.6, alpha=0.6, label=m)
        ax.set_title(f"{city} ({label}, MAPE {mape[city]:.2f} %)")
        ax.set_ylabel("load (MW)")
        ax.legend(loc="upper right", fontsize="small", ncols=4)
    axes[-1].set_xlabel("time (UTC)")
    fig.savefig(path, dpi=100)


def _mape_by_city(result: BacktestResult, path: Path) -> None:
    mape = _city_mape(result)
    fig, (ax,) = _figure(8, 1.5 + 0.25 * max(len(mape), 1))
    ax.barh([str(c) for c in mape.index], mape.to_numpy(), color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("MAPE (%)")
    ax.set_title(f"{result.name}: MAPE per city")
    fig.savefig(path, dpi=100)


def _error_by_hour(result: BacktestResult, path: Path) -> None:
    pred = result.predictions
    zones = result.info.get("timezones", {})
    hour = pd.Series(np.zeros(len(pred), dtype=int), index=pred.index)
    for city, idx in pred.groupby(schema.CITY).groups.items():
        ts = pd.to_datetime(pred.loc[idx, schema.TIME], utc=True)
        hour[idx] = ts.dt.tz_convert(zones.get(city, "UTC")).dt.hour.to_numpy()
    fig, (ax,) = _figure(8, 4)
    y = pred["y"].to_numpy(np.float64)
    for label, col in [(result.name, "yhat"), *((m, f"yhat_{m}") for m in result.members)]:
        with np.errstate(divide="ignore", invalid="ignore"):
            ape = 100.0 * np.abs(pred[col].to_numpy(np.float64) - y) / np.abs(y)
        ape[~np.isfinite(ape)] = np.nan
        by_hour = pd.Series(ape).groupby(hour.to_numpy()).mean()
        ax.plot(by_hour.index, by_hour.to_numpy(), marker="o", ms=3, label=label)
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlabel("hour of day (local time)")
    ax.set_ylabel("MAPE (%), pooled")
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=100)
