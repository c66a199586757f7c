"""Rows of a load table sorted by (city, time), the layout every feature module works on.

Feature functions take plain arrays in this order (one contiguous block of rows per city) and the
pipeline scatters their results back to the caller's row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy import schema


@dataclass(frozen=True)
class SortedRows:
    """Input rows sorted by (city, time): ``sorted rows = input.iloc[order]``."""

    order: np.ndarray  # (n_rows,) positions into the input
    city_ids: list[str]  # one per block of sorted rows
    bounds: np.ndarray  # (n_blocks + 1,) row offsets of the blocks
    hours: np.ndarray  # (n_rows,) UTC hours since the epoch

    @classmethod
    def of(cls, load: pd.DataFrame) -> SortedRows:
        """Sort the rows; raises SchemaError for naive, off-the-hour or duplicate timestamps."""
        missing = [c for c in (schema.CITY, schema.TIME) if c not in load]
        if missing:
            raise schema.SchemaError(f"load table: missing required column {missing[0]!r}")
        codes, uniq = pd.factorize(load[schema.CITY].astype(str), sort=True)
        secs = pd.DatetimeIndex(schema.to_utc(load[schema.TIME], schema.TIME)).as_unit("s").asi8
        if (secs % 3600).any():
            raise schema.SchemaError(f"column {schema.TIME!r}: timestamps must be on the hour")
        order = np.lexsort((secs, codes))
        codes, hours = codes[order], secs[order] // 3600
        dup = np.flatnonzero((np.diff(codes) == 0) & (np.diff(hours) == 0))
        if len(dup):
            row = load.iloc[order[dup[0]]]
            raise schema.SchemaError(f"duplicate (city_id, timestamp): {row[schema.CITY]!r}, "
                                     f"{row[schema.TIME]}")  # fmt: skip
        bounds = np.searchsorted(codes, np.arange(len(uniq) + 1))
        return cls(order, [str(c) for c in uniq], bounds, hours)

    def column(self, load: pd.DataFrame, name: str) -> np.ndarray:
        """``(n_rows,)`` float64 values of a column in sorted order (NaN when absent)."""
        if name not in load:
            return np.full(len(self.order), np.nan)
        return load[name].to_numpy(np.float64, na_value=np.nan)[self.order]

    def per_row(self, per_block: np.ndarray) -> np.ndarray:
        return np.repeat(per_block, np.diff(self.bounds))
