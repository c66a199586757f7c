"""Data-quality plots: what cleaning did to each city's series, for people who would rather look.

Writes one PNG per city (daily mean load in MW over the whole span, with inserted, interpolated and
masked hours marked) and one overview PNG (share of changed hours per city).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from energy import schema
from energy.data.dataset import Dataset

_REASON_COLOURS = {
    "interpolated": "tab:green",
    "missing": "tab:red",
    "inserted_gap": "tab:red",
    "outlier": "tab:orange",
    "zero": "tab:purple",
    "flatline": "tab:brown",
    "negative": "tab:pink",
    "implausible": "black",  # drawn at the bottom: a 1e300 MW value would flatten the chart
}


def plot_quality(ds: Dataset, out: Path, max_cities: int = 50) -> list[Path]:
    """Write ``out/quality_<city>.png`` (up to ``max_cities``) and ``out/quality_overview.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    load = ds.load
    has_quality = schema.QUALITY in load.columns
    shares = {}
    for city in ds.city_ids[:max_cities]:
        g = load[load[schema.CITY] == city]
        ts = g[schema.TIME]
        fig, ax = plt.subplots(figsize=(11, 3.2))
        raw = g[schema.LOAD_RAW] if schema.LOAD_RAW in g else g[schema.LOAD]
        if has_quality:
            raw = raw.where(g[schema.QUALITY].astype(str) != "implausible")
        daily_raw = pd.Series(raw.to_numpy(), index=ts).resample("D").mean()
        daily = pd.Series(g[schema.LOAD].to_numpy(), index=ts).resample("D").mean()
        ax.plot(
            daily_raw.index, daily_raw.to_numpy(), color="0.75", lw=0.8, label="raw (daily mean)"
        )
        ax.plot(
            daily.index, daily.to_numpy(), color="tab:blue", lw=0.8, label="cleaned (daily mean)"
        )
        if has_quality:
            q = g[schema.QUALITY].astype(str)
            shares[city] = float((q != "").mean())
            for reason, colour in _REASON_COLOURS.items():
                hit = (q == reason).to_numpy()
                if hit.any():
                    y = raw.to_numpy()[hit]
                    y = pd.Series(y).fillna(float(daily.min()) if daily.notna().any() else 0.0)
                    ax.scatter(
                        ts[hit], y, s=6, color=colour, label=f"{reason} ({int(hit.sum())} h)"
                    )
        ax.set_title(f"{city}: load and cleaning ({ds.timezone_of(city)})")
        ax.set_ylabel("MW")
        ax.legend(loc="upper left", fontsize=7, ncols=4)
        fig.tight_layout()
        path = out / f"quality_{city}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    if shares:
        fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(shares)), 3.5))
        ax.bar(list(shares), [100 * v for v in shares.values()], color="tab:orange")
        ax.set_ylabel("% hours changed or masked")
        ax.set_title("Cleaning per city")
        ax.tick_params(axis="x", rotation=90)
        fig.tight_layout()
        path = out / "quality_overview.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
