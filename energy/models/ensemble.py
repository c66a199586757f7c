"""An ensemble that is itself a forecaster: a weighted sum of member forecasters' outputs.

``yhat[o, s] = Σ_m w[s, m] · yhat_m[o, s]`` in MW, with weights per horizon step ``s`` (or one row
for every step when ``per_step`` is off). Three ways to choose the weights:

* ``mean``: equal weights ``1 / M`` (the original design's formula).
* ``inverse_error``: ``w ∝ 1 / error`` (MAE or MSE) of each member's day-ahead forecasts over the
  validation period (the ``val`` passed to ``fit``, else the last ``val_days`` of ``train``).
* ``stacking``: non-negative least squares (``scipy.optimize.nnls``) on out-of-fold forecasts:
  ``stacking_folds`` rolling-origin folds of ``stacking_fold_days`` at the end of ``train``, each
  forecast by fresh members fit on the data before it; the members are then refit on all of
  ``train``. Too little data for the folds → ``inverse_error`` (a logged warning, recorded in
  ``fallback_`` and on disk); too little for that → ``mean``.

Errors and regressions are computed on loads divided by each city's mean training load, so that a
large city does not decide the weights alone. With ``inverse_error`` the members early-stop on the
period that weights them, which flatters early-stopped members a little; stacking's out-of-fold
forecasts come from members that never saw the fold. Day-ahead origins are each city's local
midnights (:func:`energy.data.splits.day_ahead_origins`: converted to UTC, floored to the hour for
zones with a fractional offset), each with its whole horizon in the rows.

On disk (besides the base layout)::

    DIR/ensemble.json          weights (horizon steps × members), method used, fallback reason
    DIR/members/<name>/        each member, saved by its own ``save`` (any kind, even an ensemble)
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from scipy.optimize import nnls

from energy import schema
from energy.data.dataset import Dataset
from energy.data.splits import SplitError, day_ahead_origins, rolling_origin, subset
from energy.models.base import MAX_HORIZON, Capabilities, Forecaster, ModelConfig, check_horizon
from energy.models.configs import EnsembleWeighting
from energy.models.spec import ModelSpec

log = logging.getLogger(__name__)
WEIGHTS_FILE = "ensemble.json"
MEMBERS_DIR = "members"
HOUR = pd.Timedelta(hours=1)
_MEMBER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class EnsembleConfig(ModelConfig, EnsembleWeighting):
    """Members and how to weight them (:class:`~energy.models.configs.EnsembleWeighting`).
    Members are tuned separately; nothing here is searched."""

    members: dict[str, ModelSpec] = Field(min_length=1)
    """name → {kind, config}; names become ``members/<name>/`` and ``yhat_<name>`` columns."""
    horizon: int = Field(24, ge=1, le=MAX_HORIZON)
    """Steps the weights are learnt for; later steps reuse the last step's weights."""

    @model_validator(mode="after")
    def _names(self) -> Self:
        bad = [n for n in self.members if not _MEMBER_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"members: name {bad[0]!r} must match {_MEMBER_NAME.pattern}")
        return self


class EnsembleForecaster(Forecaster):
    """Weighted combination of member forecasters; fitted state: ``members_``, ``weights_``."""

    kind = "ensemble"
    Config = EnsembleConfig
    config: EnsembleConfig

    # ---- contract ---------------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        members = self._members()
        cached = self.__dict__.get("_caps")
        if cached is not None and cached[0] is members:  # asked several times per forecast
            return cached[1]
        caps = self._capabilities(members)
        if members is getattr(self, "members_", None):  # fitted: the members no longer change
            self._caps = (members, caps)
        return caps

    def _capabilities(self, members: dict[str, Forecaster]) -> Capabilities:
        caps = [m.capabilities for m in members.values()]
        return Capabilities(
            uses_future_weather=any(c.uses_future_weather for c in caps),
            global_model=all(c.global_model for c in caps),
            min_history_hours=max(c.min_history_hours for c in caps),
            supports_unseen_cities=all(c.supports_unseen_cities for c in caps),
        )

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        cfg = self.config
        self.fallback_ = ""
        self.member_errors_: dict[str, float] = {}
        method: str = cfg.method
        if method == "stacking":
            oof = self._out_of_fold(train)
            if isinstance(oof, str):
                self._fall_back("stacking", "inverse_error", oof)
                method = "inverse_error"
            else:
                self._set_errors(*oof)
                w = stacking_weights(*oof, per_step=cfg.per_step, nonneg=cfg.nonneg)
                self.weights_ = _normalise(w) if cfg.sum_to_one else w
                self.members_ = self._fit_members(train, val)
        if method == "inverse_error":
            method = self._fit_inverse_error(train, val)
        if method == "mean":
            self.members_ = self._fit_members(train, val)
            self.weights_ = np.full((1, len(cfg.members)), 1.0 / len(cfg.members))
        self.method_used_ = method

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        return self.combine(self.member_predictions(frame, cities, origins, horizon))

    def _parts(self) -> list[Forecaster]:
        return list(self._members().values())

    def _save_state(self, path: Path) -> None:
        for name, member in self.members_.items():
            member.save(path / MEMBERS_DIR / name)
        state = {
            "members": list(self.members_),
            "method_used": self.method_used_,
            "fallback": self.fallback_,
            "member_errors": self.member_errors_,
            "weights": self.weights_.tolist(),
        }
        (path / WEIGHTS_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _load_state(self, path: Path) -> None:
        state = json.loads((path / WEIGHTS_FILE).read_text())
        self.members_ = {n: Forecaster.load(path / MEMBERS_DIR / n) for n in state["members"]}
        self.method_used_ = state["method_used"]
        self.fallback_ = state["fallback"]
        self.member_errors_ = state["member_errors"]
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)

    # ---- public extras ----------------------------------------------------------------------
    def member_predictions(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> dict[str, np.ndarray]:
        """Each member's forecasts in MW, name → ``(len(origins), horizon)`` (``yhat_<name>``)."""
        self._check_fitted()
        horizon = check_horizon(horizon)
        origins = origins[[schema.CITY, "origin"]].reset_index(drop=True)
        out = {}
        for name, member in self.members_.items():
            y = np.asarray(member._predict_frame(frame, cities, origins, horizon), np.float64)
            if y.shape != (len(origins), horizon):
                raise RuntimeError(f"ensemble member {name!r}: forecast shape {y.shape}")
            out[name] = y
        return out

    def combine(self, member_preds: dict[str, np.ndarray]) -> np.ndarray:
        """The ensemble's forecasts ``(n, horizon)`` in MW from :meth:`member_predictions`."""
        preds = np.stack(list(member_preds.values()))  # (members, n, horizon)
        return np.einsum("mnh,hm->nh", preds, self.step_weights(preds.shape[2]))

    def step_weights(self, horizon: int) -> np.ndarray:
        """Weights ``(horizon, members)``; steps past the learnt ones reuse the last row."""
        rows = np.minimum(np.arange(horizon), len(self.weights_) - 1)
        return self.weights_[rows]

    # ---- fitting ----------------------------------------------------------------------------
    def _members(self) -> dict[str, Forecaster]:
        if hasattr(self, "members_"):
            return self.members_
        return {name: spec.build() for name, spec in self.config.members.items()}

    def _fit_members(self, train: Dataset, val: Dataset | None) -> dict[str, Forecaster]:
        out = {}
        for name, spec in self.config.members.items():
            log.info("ensemble: fitting member %r (%s)", name, spec.kind)
            out[name] = spec.build().fit(train, val)
        return out

    def _fall_back(self, method: str, to: str, why: str) -> None:
        log.warning("ensemble: %s impossible (%s); using %s weights", method, why, to)
        self.fallback_ = (
            f"{self.fallback_}; {method}: {why}" if self.fallback_ else f"{method}: {why}"
        )

    def _set_errors(self, preds: np.ndarray, y: np.ndarray) -> None:
        err = np.abs(preds - y) if self.config.error_metric == "mae" else (preds - y) ** 2
        names = list(self.config.members)
        self.member_errors_ = {n: float(np.nanmean(e)) for n, e in zip(names, err, strict=True)}

    def _fit_inverse_error(self, train: Dataset, val: Dataset | None) -> str:
        """Fit members and set inverse-error weights; returns the method used ("mean" if none)."""
        cfg = self.config
        if val is not None:
            members = self._fit_members(train, val)
            scored = self._score(members, train, val.load)
        else:  # weight on the last val_days of train, then refit the members on all of it
            cut = train.load[schema.TIME].max() + HOUR - pd.Timedelta(days=cfg.val_days)
            before = train.load[schema.TIME] < cut
            if before.sum() == 0 or before.all():
                self._fall_back("inverse_error", "mean", f"train shorter than {cfg.val_days} days")
                return "mean"
            scored = self._score(
                self._fit_members(subset(train, before), subset(train, ~before)),
                train,
                train.load[~before],
            )
            members = None
        if isinstance(scored, str):
            self._fall_back("inverse_error", "mean", scored)
            return "mean"
        self._set_errors(*scored)
        self.members_ = members if members is not None else self._fit_members(train, None)
        self.weights_ = inverse_error_weights(
            *scored, metric=cfg.error_metric, per_step=cfg.per_step
        )
        return "inverse_error"

    def _score(
        self, members: dict[str, Forecaster], train: Dataset, window: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray] | str:
        """Scaled day-ahead forecasts ``(M, n, H)`` and actuals ``(n, H)`` over ``window``'s
        rows (history from ``train``), or why there are none."""
        window = window[window[schema.CITY].isin(train.city_ids)]  # weights for known cities
        t = window[schema.TIME]
        frame = pd.concat([train.load[train.load[schema.TIME] < t.min()], window])
        frame = frame.sort_values([schema.CITY, schema.TIME], ignore_index=True)
        origins = self._origins(frame, train.cities, t.min(), t.max() + HOUR)
        if origins.empty:
            return f"no day-ahead origin fits in {t.min()} .. {t.max()}"
        return self._forecast(members, frame, train, origins)

    def _out_of_fold(self, train: Dataset) -> tuple[np.ndarray, np.ndarray] | str:
        """Scaled out-of-fold forecasts ``(M, n, H)`` and actuals ``(n, H)``, or why none."""
        cfg = self.config
        fold_hours = cfg.stacking_fold_days * 24
        try:
            folds = rolling_origin(train.load, n_folds=cfg.stacking_folds, horizon_hours=fold_hours)
        except SplitError as e:
            return str(e)
        need = self.capabilities.min_history_hours + fold_hours
        fold0_hours = (folds[0].train_end - train.load[schema.TIME].min()) // HOUR
        if fold0_hours < need:
            return f"fold-0 trains on {fold0_hours} h, needs {need} h"
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        t = train.load[schema.TIME]
        for fold in folds:
            frame = train.load[t < fold.test_end].reset_index(drop=True)
            origins = self._origins(frame, train.cities, fold.test_start, fold.test_end)
            if origins.empty:
                continue
            log.info("ensemble: stacking %s, %d origins", fold.name, len(origins))
            members = self._fit_members(subset(train, (t < fold.train_end).to_numpy()), None)
            parts.append(self._forecast(members, frame, train, origins))
        if not parts:
            return "no day-ahead origin fits in the stacking folds"
        return np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts])

    def _origins(
        self, frame: pd.DataFrame, cities: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame:
        history = self.capabilities.min_history_hours
        return day_ahead_origins(
            frame, cities, start, end, horizon=self.config.horizon, min_history_hours=history
        )

    def _forecast(
        self,
        members: dict[str, Forecaster],
        frame: pd.DataFrame,
        train: Dataset,
        origins: pd.DataFrame,
    ) -> tuple[np.ndarray, np.ndarray]:
        h = self.config.horizon
        preds = np.stack(
            [
                m.predict_origins(frame, train.cities, origins, h)["yhat"].to_numpy().reshape(-1, h)
                for m in members.values()
            ]
        )
        scale = train.load.groupby(schema.CITY)[schema.LOAD].mean()
        s = scale.reindex(origins[schema.CITY]).to_numpy()
        s = np.where(np.isfinite(s) & (s > 0), s, 1.0)[:, None]
        return preds / s, actuals(frame, origins, h) / s


# ---- weights --------------------------------------------------------------------------------
def inverse_error_weights(
    preds: np.ndarray, y: np.ndarray, *, metric: str = "mae", per_step: bool = True
) -> np.ndarray:
    """Weights ``(H or 1, M)`` ∝ 1 / error, from forecasts ``(M, n, H)`` and actuals ``(n, H)``.

    Actuals may hold NaN (skipped). A member with zero error gets all the weight.
    """
    err = np.abs(preds - y) if metric == "mae" else (preds - y) ** 2
    e = np.nanmean(err, axis=1) if per_step else np.nanmean(err, axis=(1, 2))[:, None]  # (M, H)
    e = np.where(np.isfinite(e), e, np.inf)
    zero = e <= 1e-12
    inv = np.where(zero.any(axis=0), zero.astype(float), 1.0 / np.maximum(e, 1e-12))
    return _normalise(inv.T)


def stacking_weights(
    preds: np.ndarray, y: np.ndarray, *, per_step: bool = True, nonneg: bool = True
) -> np.ndarray:
    """Least-squares weights ``(H or 1, M)`` regressing actuals ``(n, H)`` on forecasts
    ``(M, n, H)`` without intercept; NNLS when ``nonneg``. A step with fewer valid rows than
    members uses the weights pooled over all steps."""
    m = preds.shape[0]

    def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ok = np.isfinite(b) & np.isfinite(a).all(axis=1)
        if ok.sum() < m:
            return np.full(m, np.nan)
        if nonneg:
            return nnls(a[ok], b[ok])[0]
        return np.linalg.lstsq(a[ok], b[ok], rcond=None)[0]

    pooled = solve(preds.reshape(m, -1).T, y.reshape(-1))
    if not per_step:
        return pooled[None, :]
    steps = [solve(preds[:, :, s].T, y[:, s]) for s in range(y.shape[1])]
    return np.array([w if np.isfinite(w).all() else pooled for w in steps])


def _normalise(w: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to one; a row summing to (about) zero or NaN becomes equal weights."""
    total = w.sum(axis=1, keepdims=True)
    bad = ~np.isfinite(total) | (np.abs(total) < 1e-12)
    return np.where(bad, 1.0 / w.shape[1], w / np.where(bad, 1.0, total))


# ---- actuals ------------------------------------------------------------------------------
def actuals(frame: pd.DataFrame, origins: pd.DataFrame, horizon: int) -> np.ndarray:
    """Observed load (MW) ``(len(origins), horizon)`` at ``origin + step − 1 h``; NaN if absent."""
    series = frame.set_index([schema.CITY, schema.TIME])[schema.LOAD]
    times = pd.DatetimeIndex(np.repeat(origins["origin"].to_numpy(), horizon)).as_unit("us")
    times = times + pd.to_timedelta(np.tile(np.arange(horizon), len(origins)), unit="h")
    idx = pd.MultiIndex.from_arrays([np.repeat(origins[schema.CITY].to_numpy(), horizon), times])
    return series.reindex(idx).to_numpy(np.float64).reshape(len(origins), horizon)
