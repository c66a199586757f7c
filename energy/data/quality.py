"""The cleaning quality report: assembly into plain JSON types, and a text table for the terminal.

Report layout (all plain ``dict``/``list``/``str``/``int``/``float``)::

    {"config": {...},                 # the CleaningConfig used
     "summary": {"cities", "rows_in", "rows_out", "inserted", "interpolated", "masked",
                 "flagged", "by_reason": {quality: rows}, "dst_gaps", "outliers",
                 "implausible", "level_shifts", "identical_series",
                 "weather": {column: {...}}},
     "cities": {city_id: {"rows_in", "rows_out", "start", "end",
                          "gaps": {"count", "hours", "longest_hours", "interpolated_hours",
                                   "masked_hours"},
                          "dst_gaps", "missing", "zeros", "negatives", "outliers",
                          "flatline_hours", "interpolated", "masked", "level_shifts": [...],
                          "implausible", "load_bounds_mw": [low, high],
                          "implausible_first": {"timestamp", "load_mw"} | None,
                          "weather": {column: {"interpolated", "missing"}}}},
     "level_shifts": [{"city_id", "at", "before_median_mw", "after_median_mw", "ratio",
                       "months"}],
     "identical_series": [[city_a, city_b], ...],
     "notes": [str, ...]}

Times are ISO 8601 UTC; loads are MW; ``at`` is a local calendar month ``YYYY-MM``.
Every row of the cleaned table with a non-empty ``quality`` is counted exactly once in
``interpolated`` (has a filled value), ``masked`` (``load_mw`` NaN) or ``flagged`` (value kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from energy import schema

# A city with more outliers than this share of its hours deserves a look before masking.
_NOTE_OUTLIER_SHARE = 0.01


def build_report(
    config: dict[str, Any],
    cities: dict[str, dict[str, Any]],
    identical: list[list[str]],
    cleaned: pd.DataFrame,
    inserted: np.ndarray,
) -> dict[str, Any]:
    """Assemble the report from per-city counts and the cleaned table.

    Args:
        config: the ``CleaningConfig`` as a JSON dict.
        cities: per-city counts from cleaning, keyed by city_id.
        identical: pairs of city ids with identical loads.
        cleaned: the cleaned load table.
        inserted: True for rows that were absent from the input.  # (len(cleaned),)
    """
    quality = cleaned[schema.QUALITY].astype("object").to_numpy()
    changed = quality != ""
    masked = cleaned[schema.LOAD].isna().to_numpy()
    interpolated = sum(c["interpolated"] for c in cities.values())
    reasons = pd.Series(quality[changed]).value_counts()
    shifts = [s for c in cities.values() for s in c["level_shifts"]]
    weather_cols = sorted({w for c in cities.values() for w in c.get("weather", {})})
    summary = {
        "cities": len(cities),
        "rows_in": sum(c["rows_in"] for c in cities.values()),
        "rows_out": len(cleaned),
        "inserted": int(inserted.sum()),
        "interpolated": int(interpolated),
        "masked": int(masked.sum()),
        "flagged": int((changed & ~masked).sum() - interpolated),
        "by_reason": {
            str(k): int(reasons.get(k, 0)) for k in cleaned[schema.QUALITY].cat.categories if k
        },
        "dst_gaps": sum(c["dst_gaps"] for c in cities.values()),
        "outliers": sum(c["outliers"] for c in cities.values()),
        "implausible": sum(c.get("implausible", 0) for c in cities.values()),
        "level_shifts": len(shifts),
        "identical_series": len(identical),
        "weather": {
            w: {
                k: sum(c["weather"][w][k] for c in cities.values())
                for k in ("interpolated", "missing")
            }
            for w in weather_cols
        },
    }
    notes = [
        "timestamps are UTC hour-beginning; loads are MW; months and DST days use each city's "
        "local time zone",
        "masked rows have load_mw NaN and keep the source value in load_raw_mw",
        f"gaps of absent hours up to {config['max_interpolate_hours']} h are linearly "
        "interpolated (quality 'interpolated'); longer gaps stay NaN ('inserted_gap')",
        "outliers: robust z of the log-load residual vs the same hour of week "
        f"±{config['profile_weeks']} weeks, scaled to the local daily level; MAD over "
        f"{config['scale_days']} days; |z| > {config['outlier_threshold']} -> "
        f"{config['outlier_policy']}",
        "level shifts and identical series are reported only; the data are not changed",
        f"implausible: loads above {config['max_load_ratio']} x the city's median or "
        f"{config['max_load_mw']:.6g} MW (or outside load_bounds_mw) are masked; more than "
        f"{config['max_implausible_share']:.0%} of a city fails the import",
    ]
    for city, c in cities.items():
        if c["rows_out"] and c["outliers"] > _NOTE_OUTLIER_SHARE * c["rows_out"]:
            notes.append(
                f"{city}: {c['outliers']} outlier hours ({100 * c['outliers'] / c['rows_out']:.1f}"
                " %): check whether this is real behaviour (e.g. industrial load) before masking"
            )
    for city, c in cities.items():
        if c.get("implausible"):
            low, high = c["load_bounds_mw"]
            first = c["implausible_first"]
            notes.append(
                f"{city}: {c['implausible']} implausible loads outside [{low:.6g}, {high:.6g}] MW "
                f"masked, first {first['load_mw']:.6g} MW at {first['timestamp']}"
            )
    for a, b in identical:
        notes.append(f"{a} and {b} have identical loads on all common hours: likely a duplicate")
    return {
        "config": config,
        "summary": summary,
        "cities": cities,
        "level_shifts": shifts,
        "identical_series": identical,
        "notes": notes,
    }


_COLUMNS = (
    ("rows", lambda c: c["rows_out"]),
    ("inserted", lambda c: c["gaps"]["hours"]),
    ("gaps", lambda c: c["gaps"]["count"]),
    ("longest", lambda c: c["gaps"]["longest_hours"]),
    ("dst", lambda c: c["dst_gaps"]),
    ("interp", lambda c: c["interpolated"]),
    ("masked", lambda c: c["masked"]),
    ("missing", lambda c: c["missing"]),
    ("outliers", lambda c: c["outliers"]),
    ("implaus", lambda c: c.get("implausible", 0)),
    ("zeros", lambda c: c["zeros"]),
    ("flat", lambda c: c["flatline_hours"]),
    ("shifts", lambda c: len(c["level_shifts"])),
)


def format_report(report: dict[str, Any], *, per_city: bool = True) -> str:
    """A readable text table of a cleaning report: one line per city, then summary lines.

    Args:
        per_city: include the per-city table (else only the summary lines).
    """
    cities = report["cities"]
    width = max([len("city"), *map(len, cities)])
    head = f"{'city':<{width}} " + " ".join(f"{name:>8}" for name, _ in _COLUMNS)
    lines = []
    if per_city:
        lines += [head, "-" * len(head)]
        for city, c in cities.items():
            lines.append(f"{city:<{width}} " + " ".join(f"{get(c):>8}" for _, get in _COLUMNS))
        lines.append("-" * len(head))
    s = report["summary"]
    lines.append(
        f"{s['cities']} cities: {s['rows_in']} rows in + {s['inserted']} inserted = "
        f"{s['rows_out']} rows out; {s['interpolated']} interpolated, {s['masked']} masked "
        f"(load NaN), {s['flagged']} flagged (value kept)"
    )
    reasons = ", ".join(f"{k} {v}" for k, v in s["by_reason"].items() if v)
    lines.append(f"by reason: {reasons or 'none'}; {s['dst_gaps']} inserted hours on DST days")
    if s.get("implausible"):
        worst = max(cities, key=lambda c: cities[c].get("implausible", 0))
        lines.append(
            f"implausible loads: {s['implausible']} masked (most in {worst}: "
            f"{cities[worst]['implausible']}); see the notes"
        )
    for w, counts in s["weather"].items():
        lines.append(
            f"weather {w}: {counts['interpolated']} inserted hours interpolated, "
            f"{counts['missing']} left NaN"
        )
    for sh in report["level_shifts"]:
        lines.append(
            f"level shift: {sh['city_id']} from {sh['at']}: {sh['before_median_mw']:.6g} -> "
            f"{sh['after_median_mw']:.6g} MW (x{sh['ratio']:.2f}, {sh['months']} months)"
        )
    for a, b in report["identical_series"]:
        lines.append(f"identical series: {a} = {b}")
    for d in report.get("dropped_on_import", []):
        what = (
            f"{d['rows']} rows" if d.get("rows") else f"columns {', '.join(d.get('columns', []))}"
        )
        lines.append(f"not imported: {what}: {d['reason']}")
    lines.extend(f"note: {n}" for n in report["notes"])
    return "\n".join(lines)
