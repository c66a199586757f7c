"""Sequence windows over the feature frame for the LSTM and Transformer models.

All cities live in ONE contiguous float32 array ``data``, ``(n_rows, n_columns)``: cities are
concatenated, each as one or more *blocks* of consecutive hours. Column 0 is the scaled target,
then the past-only columns (load lags and rolling statistics), then the known-future covariates
(calendar, holidays, events, weather, static). A window starting at row ``s`` reads

* past:   ``data[s : s + L, :n_past]``                # (lookback, n_past)
* future: ``data[s + L : s + L + H, first_known:]``   # (horizon, n_future)
* target: ``data[s + L : s + L + H, 0]``              # (horizon,)

which are views, so the data set holds no per-window copies; batches are materialised by the
DataLoader's collate. A window is valid when it lies inside one block (one city, no missing hour)
and its H target hours are all observed; NaN elsewhere (masked load in the lookback, lags at a
series start) is replaced by ``fill_value`` (0 = the training mean for standardised features).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from energy import schema

TARGET = "target"
# plain integer calendar columns and the city code are for trees / embeddings, not sequence inputs
_NOT_SEQUENCE_INPUTS = frozenset({"hour", "dow", "month", "city_code"})

Window = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def split_columns(feature_names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Default roles: ``(past_only, known_future)``.

    Load lags and rolling statistics (``load_*``) are past observations; calendar, holiday, event,
    weather (a forecast at prediction time) and static columns are known for the horizon too.
    """
    names = [n for n in feature_names if n not in _NOT_SEQUENCE_INPUTS and n != TARGET]
    return [n for n in names if n.startswith("load_")], [
        n for n in names if not n.startswith("load_")
    ]


class SequenceWindows(Dataset[Window]):
    """Sliding windows ``(past, future, target, city)`` over many cities without copying.

    Build with :meth:`from_frame`. Items:

    * ``past``   ``(lookback, n_past)`` float32: target, past-only and (by default) known columns;
    * ``future`` ``(horizon, n_future)`` float32: known-future covariates of the target hours;
    * ``target`` ``(horizon,)`` float32: scaled load of the target hours;
    * ``city``   int64 scalar: the city's index (the pipeline's ``city_code`` when present).

    Attributes:
        data: ``(n_rows, 1 + n_past_only + n_future)`` float32, C-contiguous, NaN filled.
        starts: ``(n_windows,)`` int64 first lookback row of every valid window.
        window_city: ``(n_windows,)`` int32 city index of every window.
        hours: ``(n_rows,)`` int64 UTC hour (since the epoch) of every row of ``data``.
        columns: names of the columns of ``data``.
        city_ids: city id of each city index.
    """

    def __init__(
        self,
        data: np.ndarray,
        *,
        n_past_only: int,
        starts: np.ndarray,
        window_city: np.ndarray,
        hours: np.ndarray,
        columns: Sequence[str],
        city_ids: Sequence[str],
        lookback: int = 168,
        horizon: int = 24,
        known_in_past: bool = True,
    ) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self._t = torch.from_numpy(self.data)  # shares memory with self.data
        self.starts, self.window_city, self.hours = starts, window_city, hours
        self.columns, self.city_ids = list(columns), list(city_ids)
        self.lookback, self.horizon = int(lookback), int(horizon)
        self.first_known = 1 + int(n_past_only)
        self.n_past = self.data.shape[1] if known_in_past else self.first_known
        self.n_future = self.data.shape[1] - self.first_known

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> Window:
        s = int(self.starts[i])
        m, e = s + self.lookback, s + self.lookback + self.horizon
        return (
            self._t[s:m, : self.n_past],  # (lookback, n_past)
            self._t[m:e, self.first_known :],  # (horizon, n_future)
            self._t[m:e, 0],  # (horizon,)
            torch.tensor(int(self.window_city[i]), dtype=torch.int64),
        )

    def window_index(self) -> pd.DataFrame:
        """One row per window: ``city_id`` and ``origin``, the first target hour (UTC)."""
        first = self.hours[self.starts + self.lookback] * 3600
        return pd.DataFrame(
            {
                schema.CITY: np.asarray(self.city_ids, dtype=object)[self.window_city],
                "origin": pd.to_datetime(first, unit="s", utc=True),
            }
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        lookback: int = 168,
        horizon: int = 24,
        past_columns: Sequence[str] | None = None,
        future_columns: Sequence[str] | None = None,
        known_in_past: bool = True,
        stride: int = 1,
        fill_value: float = 0.0,
    ) -> SequenceWindows:
        """Windows over a ``FeaturePipeline.transform`` output.

        Args:
            frame: ``city_id``, ``timestamp`` (UTC), ``target`` and feature columns; any row order.
            lookback: L, hours of history per window.
            horizon: H, hours predicted per window.
            past_columns: past-only columns; None → :func:`split_columns` defaults.
            future_columns: known-future columns; None → :func:`split_columns` defaults.
            known_in_past: also feed the known columns over the lookback (encoder inputs).
            stride: hours between consecutive window starts within a block.
            fill_value: replaces NaN inputs (after the validity check on the targets).
        """
        if lookback < 1 or horizon < 1 or stride < 1:
            raise ValueError("lookback, horizon and stride must be positive numbers of hours")
        missing = [c for c in (schema.CITY, schema.TIME, TARGET) if c not in frame]
        if missing:
            raise ValueError(f"feature frame: missing column {missing[0]!r} (transform with load)")
        past_d, fut_d = split_columns(
            [c for c in frame.columns if c not in (schema.CITY, schema.TIME)]
        )
        past = list(past_d if past_columns is None else past_columns)
        fut = list(fut_d if future_columns is None else future_columns)
        columns = [TARGET, *past, *fut]
        codes, city_ids = _city_codes(frame)
        hours = pd.DatetimeIndex(frame[schema.TIME]).as_unit("s").asi8 // 3600
        lex = np.lexsort((hours, codes))
        # already sorted (the usual case): skip a gather per column
        order: np.ndarray | None = None if np.array_equal(lex, np.arange(len(lex))) else lex
        codes = codes if order is None else codes[order]
        hours = hours if order is None else hours[order]
        data = np.empty((len(frame), len(columns)), np.float32)  # (n_rows, n_columns)
        target_missing = np.zeros(0, bool)
        for j, c in enumerate(columns):  # column by column: temporaries stay one column wide
            col = frame[c].to_numpy(np.float32, na_value=np.nan)
            col = col if order is None else col[order]
            nan = np.isnan(col)
            target_missing = nan if j == 0 else target_missing
            data[:, j] = np.where(nan, np.float32(fill_value), col)
        starts = _valid_starts(codes, hours, target_missing, lookback, horizon, stride)
        return cls(
            data, n_past_only=len(past), starts=starts, window_city=codes[starts].astype(np.int32),
            hours=hours, columns=columns, city_ids=city_ids, lookback=lookback, horizon=horizon,
            known_in_past=known_in_past,
        )  # fmt: skip


def _city_codes(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """City index per row: the pipeline's ``city_code`` when present, else sorted city ids."""
    ids = frame[schema.CITY].astype(str).to_numpy()
    if "city_code" in frame:
        codes = frame["city_code"].to_numpy(np.int64)
        names = dict(zip(codes.tolist(), ids.tolist(), strict=True))
        return codes, [names.get(k, "") for k in range(int(codes.max()) + 1)]
    codes, uniq = pd.factorize(ids, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniq]


def _valid_starts(
    codes: np.ndarray,
    hours: np.ndarray,
    target_missing: np.ndarray,
    lookback: int,
    horizon: int,
    stride: int,
) -> np.ndarray:
    """First rows of windows inside one block (one city, consecutive hours), targets observed."""
    n, span = len(codes), lookback + horizon
    brk = np.flatnonzero((np.diff(codes) != 0) | (np.diff(hours) != 1)) + 1
    bounds = np.concatenate([[0], brk, [n]])
    missing = np.concatenate([[0], np.cumsum(target_missing)])  # (n_rows + 1,)
    parts = [np.arange(a, b - span + 1, stride) for a, b in itertools.pairwise(bounds)]
    starts = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    m = starts + lookback
    return starts[missing[m + horizon] - missing[m] == 0].astype(np.int64)
