"""Global gradient-boosted trees over all cities, direct multi-horizon forecasts.

One row per (city, hour) of :class:`~energy.features.FeaturePipeline` features (calendar, holidays,
events, weather, static city covariates and load lags) predicts that hour's per-city scaled load;
forecasts are mapped back to MW with the pipeline's ``inverse_target``.

Strategies (``XGBoostConfig.strategy``), both leakage-free by construction:

* ``"shared"``: one model whose load lags and rolling windows all reach back ``>= H`` hours
  (``H = features.horizon``). The features of hour ``t`` then read load ``<= t - H``, which for
  step ``s <= H`` from origin ``o = t - s + 1`` is ``<= o - 1``: one feature row serves every
  step, so there is no ``step`` feature.
* ``"per_step"``: steps ``1..H`` split into groups ending at ``step_groups`` (and ``H``); the group
  ``a..b`` gets its own pipeline and model with lags ``>= b``. The bound is the group's *last* step
  (step ``b`` from origin ``o`` targets ``o + b - 1``, whose lag ``b`` is ``o - 1``); lags ``>= a``
  would leak load at or after the origin into steps ``a+1..b``. Early groups see fresher load.
  Default groups 1–6, 7–12, 13–H: three models instead of H (one per step). On GEFCom2012
  day-ahead (bench/xgb_direct.py) steps 1–6 drop from ~6.3 to ~5.0 % MAPE and 7–12 by ~0.8
  points; the cost is ~6x the boosting rounds (the early groups keep improving to the tree cap,
  the 13–H model is the shared one).

On disk: ``xgb.json`` (strategy, group ends, trees kept), one ``xgb_h{b:03d}.ubj`` booster and one
``features_h{b:03d}/`` pipeline per group ``b`` (a single group for ``"shared"``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from energy import schema
from energy.data.dataset import Dataset
from energy.features import FeaturePipeline
from energy.models._frame import frame_index, target_hours, utc_hours
from energy.models.backend import current_backend
from energy.models.base import Capabilities, Forecaster, Param
from energy.models.configs import XGBoostConfig
from energy.models.errors import NonFiniteLossError

log = logging.getLogger(__name__)
STATE_FILE = "xgb.json"


class XGBoostForecaster(Forecaster):
    """Global XGBoost over all cities; see the module docstring for the two strategies."""

    kind = "xgboost"
    Config = XGBoostConfig
    config: XGBoostConfig

    @property
    def capabilities(self) -> Capabilities:
        cached = self.__dict__.get("_caps")
        if cached is not None and cached[0] is self.config:  # asked several times per forecast
            return cached[1]
        caps = self._capabilities()
        self._caps = (self.config, caps)
        return caps

    def _capabilities(self) -> Capabilities:
        reach = max(self.config.features_for(b).max_reach for b in self.config.group_ends())
        return Capabilities(
            uses_future_weather=self.config.features.use_weather,
            global_model=True,
            min_history_hours=reach,
            supports_unseen_cities=self.config.features.allow_unseen_cities,
        )

    @classmethod
    def search_space(cls) -> dict[str, Param]:
        return {
            "max_depth": Param("int", 3, 10),
            "learning_rate": Param("float", 0.005, 0.3, log=True),
            "n_estimators": Param("int", 100, 2000, log=True),
            "subsample": Param("float", 0.5, 1.0),
            "colsample_bytree": Param("float", 0.5, 1.0),
            "min_child_weight": Param("float", 1.0, 20.0, log=True),
            "reg_lambda": Param("float", 1e-3, 10.0, log=True),
        }

    # ---- fit -----------------------------------------------------------------------------------
    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        job = self.training_job(train, val)
        backend = current_backend()  # e.g. Ray Train's XGBoostTrainer over Ray Data shards
        boosters = backend.fit_boosters(job) if backend is not None else None
        self.boosters_: list[xgb.Booster] = boosters if boosters is not None else job.fit()

    def training_job(self, train: Dataset, val: Dataset | None) -> BoostJob:
        """What this fit trains: one booster per step group (fits the groups' feature pipelines).

        The job builds each group's rows when asked, so an in-process fit holds one group's
        arrays at a time; a backend returns the boosters in group order.
        """
        self.group_ends_ = self.config.group_ends()
        self.pipelines_: list[FeaturePipeline] = []
        for end in self.group_ends_:
            pipe = FeaturePipeline(self.config.features_for(end))
            self.pipelines_.append(pipe.fit(train.load, train.cities, train.events))
        pipes = self.pipelines_

        def rows(i: int) -> BoostRows:
            return self._rows(pipes[i], train, val)

        return BoostJob(self.booster_params(), tuple(self.group_ends_), rows)

    def _rows(self, pipe: FeaturePipeline, train: Dataset, val: Dataset | None) -> BoostRows:
        feats = pipe.transform(train.load)
        x, y = _xy(pipe, feats)
        stop = self.config.early_stopping_rounds
        xv = yv = None
        if stop is not None and val is not None:
            xv, yv = self._val_rows(pipe, train, val)
        if stop is not None and xv is None:  # hold out the tail of the training span
            ts = feats[schema.TIME]
            cut = ts.min() + (ts.max() - ts.min()) * (1 - self.config.val_fraction)
            tail = (ts >= cut.floor("h")).to_numpy()
            xv, yv = _drop_nan(x[tail], y[tail])
            x, y = x[~tail], y[~tail]
        x, y = _drop_nan(x, y)
        if xv is not None and yv is not None and not len(yv):
            xv = yv = None
        return BoostRows(x, y, xv, yv, list(pipe.feature_names_))

    def booster_params(self) -> BoostParams:
        """Everything :func:`train_booster` needs besides the rows (picklable, for workers)."""
        c = self.config
        return BoostParams(
            params=self._params(), num_boost_round=c.n_estimators,
            early_stopping_rounds=c.early_stopping_rounds, nthread=c.n_jobs,
            quantile=c.tree_method == "hist",
        )  # fmt: skip

    def _val_rows(
        self, pipe: FeaturePipeline, train: Dataset, val: Dataset
    ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Validation features computed with the training load before them as lag history."""
        known = set(pipe.scale_) if not self.config.features.allow_unseen_cities else None
        vload = val.load if known is None else val.load[val.load[schema.CITY].isin(known)]
        if len(vload) < len(val.load):
            log.warning("xgboost: val rows of cities unseen in training are not used")
        if vload.empty:
            return None, None
        # lag history: the training rows within the features' reach of the first val hour
        start = vload[schema.TIME].min() - pd.Timedelta(hours=pipe.config.max_reach)
        hist = train.load[train.load[schema.TIME] >= start]
        both = pd.concat([hist.assign(_val=False), vload.assign(_val=True)])
        both = both.drop_duplicates([schema.CITY, schema.TIME], keep="last")
        both = both.reset_index(drop=True)
        cities = pd.concat([train.cities, val.cities]).drop_duplicates("city_id")
        feats = pipe.transform(both.drop(columns="_val"), cities=cities)
        x, y = _xy(pipe, feats)
        sel = both["_val"].to_numpy(bool)
        return _drop_nan(x[sel], y[sel])

    def _params(self) -> dict[str, Any]:
        c = self.config
        return {
            "objective": "reg:squarederror",
            "eval_metric": "rmse",
            "tree_method": c.tree_method,
            "max_depth": c.max_depth,
            "learning_rate": c.learning_rate,
            "subsample": c.subsample,
            "colsample_bytree": c.colsample_bytree,
            "min_child_weight": c.min_child_weight,
            "reg_lambda": c.reg_lambda,
            "nthread": c.n_jobs,
            "seed": c.seed,
        }

    # ---- predict -------------------------------------------------------------------------------
    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        """Transform the frame once per group, read rows ``(city, origin + s - 1)``, predict."""
        if horizon > self.group_ends_[-1]:
            raise ValueError(
                f"xgboost: horizon {horizon} h exceeds the {self.group_ends_[-1]} h the model was "
                f"fit for (its load lags would reach past the origin); fit with "
                f"FeatureConfig(horizon={horizon}) or more"
            )
        city = origins[schema.CITY].astype(str).to_numpy()
        hours = target_hours(origins, horizon)  # (n_origins, horizon), UTC hours
        frame = _window(frame, city, hours, self.capabilities.min_history_hours)
        pos = frame_index(frame).positions(city[:, None], hours)
        if (pos < 0).any():
            i, s = np.argwhere(pos < 0)[0]
            raise ValueError(
                f"frame: no row for city {city[i]!r} at step {s + 1} of origin "
                f"{origins['origin'].iloc[i]} (the frame must hold every forecast hour)"
            )
        out = np.empty(pos.shape)  # (n_origins, horizon), scaled load
        first = 0
        for end, pipe, booster in zip(
            self.group_ends_, self.pipelines_, self.boosters_, strict=True
        ):
            steps = slice(first, min(end, horizon))
            first = end
            if steps.start >= steps.stop:
                break
            mat, _ = pipe.matrix(frame, cities=cities)  # (n_rows, n_features), frame order
            # rows shared by overlapping origins are predicted once
            rows, inv = np.unique(pos[:, steps], return_inverse=True)
            x = np.ascontiguousarray(mat[rows], dtype=np.float32)
            out[:, steps] = booster.inplace_predict(x)[inv].reshape(len(pos), -1)
        return self.pipelines_[0].inverse_target(city, out)

    # ---- persistence ---------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        trees = [b.num_boosted_rounds() for b in self.boosters_]
        state = {"strategy": self.config.strategy, "group_ends": self.group_ends_, "trees": trees}
        (path / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n")
        for end, pipe, booster in zip(
            self.group_ends_, self.pipelines_, self.boosters_, strict=True
        ):
            booster.save_model(path / f"xgb_h{end:03d}.ubj")
            pipe.save(path / f"features_h{end:03d}")

    def _load_state(self, path: Path) -> None:
        state = json.loads((path / STATE_FILE).read_text())
        self.group_ends_ = [int(b) for b in state["group_ends"]]
        if self.group_ends_ != self.config.group_ends():
            raise ValueError(f"{path / STATE_FILE}: step groups differ from the saved config")
        self.pipelines_, self.boosters_ = [], []
        for end in self.group_ends_:
            booster = xgb.Booster(model_file=path / f"xgb_h{end:03d}.ubj")
            booster.set_param({"nthread": self.config.n_jobs})
            self.boosters_.append(booster)
            self.pipelines_.append(FeaturePipeline.load(path / f"features_h{end:03d}"))


@dataclass
class BoostRows:
    """One step group's training rows: features ``(n, n_features)`` float32, scaled target
    ``(n,)``; validation rows for early stopping (None: no early stopping)."""

    x: np.ndarray
    y: np.ndarray
    xv: np.ndarray | None
    yv: np.ndarray | None
    feature_names: list[str]


@dataclass(frozen=True)
class BoostParams:
    """XGBoost parameters and rounds of one fit."""

    params: dict[str, Any]
    num_boost_round: int
    early_stopping_rounds: int | None
    nthread: int
    quantile: bool  # hist: quantise once (QuantileDMatrix), less memory than a DMatrix


@dataclass(frozen=True)
class BoostJob:
    """What an XGBoost fit trains: one booster per step group, each on its own rows.

    A training backend runs it (:meth:`TrainingBackend.fit_boosters
    <energy.models.backend.TrainingBackend.fit_boosters>`) and returns the boosters in group
    order, each trained as :func:`train_booster` trains it; :meth:`fit` is the in-process run.
    """

    params: BoostParams
    group_ends: tuple[int, ...]
    """Last forecast step of each group (hours), in order."""
    rows: Callable[[int], BoostRows]
    """Group ``i``'s training (and validation) rows, built on demand in the driver."""

    def groups(self) -> Iterator[tuple[int, BoostRows]]:
        """``(group end, rows)`` per group, one group's arrays at a time."""
        for i, end in enumerate(self.group_ends):
            yield end, self.rows(i)

    def fit(self) -> list[xgb.Booster]:
        """Every group's booster, trained in this process one after another."""
        boosters = []
        for end, rows in self.groups():
            boosters.append(train_booster(self.params, rows))
            log.info("xgboost: group ending at step %d: %d trees",
                     end, boosters[-1].num_boosted_rounds())  # fmt: skip
        return boosters


RoundHook = Callable[[int, float | None], bool]
"""``hook(rounds_done, val_loss)`` after each boosting round (``val_loss``: that round's
validation metric, None without validation rows); True stops the training early."""


def train_booster(
    bp: BoostParams, rows: BoostRows, on_round: RoundHook | None = None
) -> xgb.Booster:
    """Train one booster, early-stopped on the validation rows and cut at the best round.

    The same function runs in-process, inside Ray Train workers, where XGBoost's collective
    (set up by ``XGBoostTrainer``) makes the matrices' quantiles, the trees and the validation
    metric global over every worker's shard (all workers then stop at the same round), and in
    tuning trials, whose ``on_round`` hook reports progress without changing the trees.
    """
    names, nthread = rows.feature_names, bp.nthread
    dtrain: xgb.DMatrix
    if bp.quantile:
        dtrain = xgb.QuantileDMatrix(rows.x, rows.y, feature_names=names, nthread=nthread)
    else:
        dtrain = xgb.DMatrix(rows.x, rows.y, feature_names=names, nthread=nthread)
    evals = []
    stop = bp.early_stopping_rounds
    if stop is not None and rows.xv is not None and rows.yv is not None:
        dval = (
            xgb.QuantileDMatrix(rows.xv, rows.yv, ref=dtrain, feature_names=names, nthread=nthread)
            if isinstance(dtrain, xgb.QuantileDMatrix)
            else xgb.DMatrix(rows.xv, rows.yv, feature_names=names, nthread=nthread)
        )
        evals = [(dval, "val")]
    booster = xgb.train(
        {**bp.params, "nthread": nthread},
        dtrain,
        num_boost_round=bp.num_boost_round,
        evals=evals,
        early_stopping_rounds=stop if evals else None,
        verbose_eval=False,
        # runs before xgboost's own EarlyStopping, which still decides unless the hook stops
        callbacks=[_RoundCallback(on_round)] if on_round is not None else None,
    )
    if evals:  # keep the trees up to the best validation round
        if not math.isfinite(booster.best_score):  # a NaN metric is never "best": no usable trees
            raise NonFiniteLossError("xgboost", "val loss", booster.best_iteration + 1,
                                     float(booster.best_score))  # fmt: skip
        booster = booster[: booster.best_iteration + 1]
    return booster


class _RoundCallback(xgb.callback.TrainingCallback):
    """Calls a :data:`RoundHook` after every round with the last evaluation's latest metric."""

    def __init__(self, hook: RoundHook) -> None:
        super().__init__()
        self.hook = hook

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        loss = None
        if evals_log:  # {"val": {"rmse": [...]}}: the metric early stopping watches
            metrics = evals_log[list(evals_log)[-1]]
            last = metrics[list(metrics)[-1]][-1]
            loss = float(last[0] if isinstance(last, tuple) else last)
        return self.hook(epoch + 1, loss)


def _window(frame: pd.DataFrame, city: np.ndarray, hours: np.ndarray, reach: int) -> pd.DataFrame:
    """The frame's rows that features of the forecast hours can read: per city, from ``reach``
    hours before its first origin to its last forecast hour (features look back only)."""
    ids, inv = np.unique(city.astype(str), return_inverse=True)
    lo = np.full(len(ids), np.inf)
    hi = np.full(len(ids), -np.inf)
    np.minimum.at(lo, inv, hours[:, 0] - reach)
    np.maximum.at(hi, inv, hours[:, -1])
    codes = pd.Index(ids).get_indexer(frame[schema.CITY].astype(str))  # -1: no origin
    fh = utc_hours(frame[schema.TIME])
    ok = codes >= 0
    keep = ok & (fh >= np.where(ok, lo[codes], 0)) & (fh <= np.where(ok, hi[codes], 0))
    if keep.mean() > 0.5:
        # mostly needed anyway (a request's frame): the frame itself, whose features the other
        # members of an ensemble share (energy.features.shared); extra history changes nothing
        return frame
    return frame[keep].reset_index(drop=True)


def _xy(pipe: FeaturePipeline, feats: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(n_rows, n_features)`` float32 features and ``(n_rows,)`` scaled target."""
    return feats[pipe.feature_names_].to_numpy(np.float32), feats["target"].to_numpy(np.float32)


def _drop_nan(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a known target (masked load is NaN; XGBoost handles NaN features itself)."""
    ok = np.isfinite(y)
    return x[ok], y[ok]
