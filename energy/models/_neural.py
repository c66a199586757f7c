"""Shared plumbing of the sequence models (LSTM, Transformer): config, windows, inference, files.

Input layout (scaled units, float32, NaN → 0 after scaling, i.e. the training mean)::

    columns = [target, *covariates]
    past    (lookback, 1 + n_cov)   rows origin − L … origin − 1: scaled load + covariates
    future  (horizon, n_cov)        rows origin … origin + H − 1: covariates only

``covariates`` are every sequence input of the feature pipeline: calendar, holidays, events,
weather, static, and the load lags / rolling statistics. The load features are safe over the
horizon because :class:`FeatureConfig` forces every lag and rolling offset to be ≥ H, so at step
``s ≤ H`` they read load before the origin; the target itself is never read at or after the
origin. A model trained for horizon H therefore refuses to forecast further than H.

A subclass names its network (``net_class``, ``net_config_class``) and maps data shapes to a
network config (``_net_config``); everything else lives here. A fit is described by a
:class:`NetJob` (``training_job``) that runs here or on a training backend
(energy.models.backend).

On disk, next to the base files::

    DIR/weights.pt    state_dict of the network (torch.save)
    DIR/net.json      {"net": network config, "columns": input columns}: rebuilds the network
    DIR/features/     the fitted FeaturePipeline
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from energy import schema
from energy.data.dataset import Dataset
from energy.features import FeaturePipeline
from energy.features.windows import TARGET, SequenceWindows, split_columns
from energy.models._frame import frame_index, utc_hours
from energy.models._torch_loop import EpochHook, LoopConfig, State, fit_loop, seed_everything
from energy.models.backend import current_backend
from energy.models.base import Capabilities, Forecaster, ModelConfig, Param
from energy.models.configs import NeuralConfig
from energy.models.level_norm import level_columns

log = logging.getLogger(__name__)
WEIGHTS_FILE, NET_FILE, FEATURES_DIR = "weights.pt", "net.json", "features"
CODE = "city_code"
_PREDICT_BATCH = 1024  # origins per inference batch: bounds the gathered (batch, L + H, C) array


def shared_search_space() -> dict[str, Param]:
    """Search dimensions common to the sequence models."""
    return {
        "lr": Param("float", 1e-4, 1e-2, log=True),
        "weight_decay": Param("float", 1e-6, 1e-3, log=True),
        "batch_size": Param("categorical", choices=(64, 128, 256)),
        "lookback": Param("categorical", choices=(72, 168, 336)),
    }


def input_columns(feature_names: list[str]) -> list[str]:
    """``[target, *covariates]``: the column layout of every window (see the module docstring)."""
    past_only, known = split_columns(feature_names)
    return [TARGET, *past_only, *known]


class NeuralForecaster(Forecaster):
    """Base of the global sequence forecasters; subclasses supply the network."""

    Config: ClassVar[type[ModelConfig]] = NeuralConfig
    config: NeuralConfig
    net_class: ClassVar[type[nn.Module]]
    net_config_class: ClassVar[type[Any]]

    @abstractmethod
    def _net_config(self, n_past: int, n_future: int, n_cities: int, level: list[int]) -> Any:
        """The network config for these input widths (``n_cities`` = 0: no city embedding;
        ``level``: past columns to normalise per window, empty = none)."""

    @property
    def capabilities(self) -> Capabilities:
        f = self.config.features
        return Capabilities(
            uses_future_weather=f.use_weather,
            global_model=True,
            # lookback rows plus the reach of the lags and rolling windows of the oldest row
            min_history_hours=self.config.lookback + f.max_reach,
            supports_unseen_cities=f.allow_unseen_cities,
        )

    # ---- fit -------------------------------------------------------------------------------
    def prepare_data(
        self, train: Dataset, val: Dataset | None
    ) -> tuple[SequenceWindows, SequenceWindows | None]:
        """Fit the feature pipeline on ``train`` rows and build training / validation windows.

        Validation windows forecast hours after each city's last training hour (or any hour of a
        city absent from ``train``); their lookback may reach back into the training rows.
        """
        cfg, h = self.config, self.config.features.horizon
        self.pipeline_ = FeaturePipeline(cfg.features).fit(train.load, train.cities, train.events)
        self.columns_ = input_columns(self.pipeline_.feature_names_)
        tw = self._windows(train.load, cfg.stride)
        if len(tw) == 0:
            raise ValueError(
                f"train: no complete window of {cfg.lookback} + {h} consecutive hours with load"
            )
        vw = self._validation_windows(train, val) if val is not None else None
        if val is not None and vw is None:
            log.warning("validation: no complete window after the training rows; early stopping "
                        "uses the training loss")  # fmt: skip
        return tw, vw

    def _validation_windows(self, train: Dataset, val: Dataset) -> SequenceWindows | None:
        """Windows whose first forecast hour is after the city's last training hour."""
        cfg = self.config
        keep_cities = set(val.load[schema.CITY].unique())
        if not cfg.features.allow_unseen_cities:  # no load scale for them: cannot validate
            keep_cities &= set(self.pipeline_.city_ids_)
        vload = val.load[val.load[schema.CITY].isin(keep_cities)]
        reach = pd.Timedelta(hours=cfg.lookback + cfg.features.max_reach)
        hist = train.load[
            (train.load[schema.TIME] >= vload[schema.TIME].min() - reach)
            & train.load[schema.CITY].isin(keep_cities)
        ]
        both = pd.concat([hist, vload], ignore_index=True)
        both = both.drop_duplicates([schema.CITY, schema.TIME], keep="last")
        vw = self._windows(both, cfg.val_stride, cities=val.cities) if len(vload) else None
        if vw is None:
            return None
        last = train.load.groupby(schema.CITY)[schema.TIME].max()
        # last training hour per city code; the unseen-city code (the last) has none
        end = np.append(utc_hours(last[self.pipeline_.city_ids_]), np.iinfo(np.int64).min)
        origin = vw.hours[vw.starts + vw.lookback]  # (n_windows,) first forecast hour
        vw = _subset(vw, origin > end[vw.window_city])
        return vw if len(vw) else None

    def build_net(self, windows: SequenceWindows) -> nn.Module:
        """A freshly initialised network (seeded) for the input widths of ``windows``."""
        n_cities = len(self.pipeline_.city_ids_) if self.config.use_city_embedding else 0
        level = level_columns(self.columns_) if self.config.normalize_level else []
        self.net_config_ = self._net_config(windows.n_past, windows.n_future, n_cities, level)
        self.net_ = self._new_net()
        return self.net_

    def _new_net(self) -> nn.Module:
        seed_everything(self.config.seed)  # the same initial weights in every process
        return self.net_class(self.net_config_)

    def training_job(self, train: Dataset, val: Dataset | None) -> NetJob:
        """What this fit trains: the feature pipeline is fit, the windows built and a fresh
        network made (``net_``); the job says how to train, follow and checkpoint it."""
        tw, vw = self.prepare_data(train, val)
        self.build_net(tw)
        return NetJob(tw, vw, NetRecipe(self, self.config.loop_config()))

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        job = self.training_job(train, val)
        backend = current_backend()  # e.g. Ray Train: the same fit_loop in its workers
        state = backend.fit_net(job) if backend is not None else None
        if state is None:
            state = job.fit()
        else:  # trained elsewhere: the best validation weights (fit_loop leaves them in place)
            self.net_.load_state_dict(state["best_model"] or state["model"])
        self.net_.cpu().eval()
        self.history_ = state["history"]
        self.backend_run_: dict[str, Any] | None = state.get("run")  # not saved with the model

    def log_epoch(self, epoch: int, metrics: dict[str, float], _: Any = None) -> None:
        """``fit_loop``'s epoch hook: one progress line on the ``energy`` logger."""
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
        log.info("%s: epoch %d/%d %s", self.kind, epoch, self.config.epochs, shown)

    def _windows(
        self, load: pd.DataFrame, stride: int, cities: pd.DataFrame | None = None
    ) -> SequenceWindows:
        feats = self._features(load, cities)
        return SequenceWindows.from_frame(
            feats, lookback=self.config.lookback, horizon=self.config.features.horizon,
            past_columns=[], future_columns=self.columns_[1:], stride=stride,
        )  # fmt: skip

    def _features(self, load: pd.DataFrame, cities: pd.DataFrame | None) -> pd.DataFrame:
        """Pipeline output with ``city_code`` = index in the fit cities (unseen: their count)."""
        feats = self.pipeline_.transform(load, cities)
        if TARGET not in feats:
            feats[TARGET] = np.float32(np.nan)
        feats[CODE] = self._city_codes(feats[schema.CITY])
        return feats

    def _input_matrix(self, frame: pd.DataFrame, cities: pd.DataFrame | None) -> np.ndarray:
        """``(n_rows, C)`` float32 model inputs (:func:`input_columns`) in ``frame`` row order,
        NaN → 0 (the training mean): :func:`_inputs` of :meth:`_features`, without the frame."""
        mat, target = self.pipeline_.matrix(frame, cities)
        names = {n: j for j, n in enumerate(self.pipeline_.feature_names_)}
        data = np.empty((len(frame), len(self.columns_)), np.float32)
        data[:, 0] = np.nan if target is None else target
        data[:, 1:] = mat[:, [names[c] for c in self.columns_[1:]]]
        return np.nan_to_num(data, copy=False, nan=0.0, posinf=np.inf, neginf=-np.inf)

    def _city_codes(self, city_ids: pd.Series) -> np.ndarray:
        """``(n,)`` int64 index of each city among the fit cities; unseen: their count."""
        known = pd.Index(self.pipeline_.city_ids_)
        codes = known.get_indexer(city_ids.astype(str))
        return np.where(codes < 0, len(known), codes).astype(np.int64)

    # ---- predict ---------------------------------------------------------------------------
    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        h_trained = self.config.features.horizon
        if horizon > h_trained:
            raise ValueError(
                f"horizon: {self.kind} was trained for {h_trained} h and cannot forecast "
                f"{horizon} h (its load features would read hours after the origin)"
            )
        data = self._input_matrix(frame, cities)  # (n_rows, C), aligned with frame
        cities_o = origins[schema.CITY].astype(str).to_numpy()
        codes = self._city_codes(origins[schema.CITY])
        lookback = self.config.lookback
        offsets = np.arange(-lookback, h_trained)  # hours relative to the origin
        hours = utc_hours(origins["origin"])[:, None] + offsets  # (n_origins, L + H)
        pos = frame_index(frame).positions(cities_o[:, None], hours)  # -1: no such row
        out = np.empty((len(origins), horizon))
        self.net_.eval()
        for a in range(0, len(origins), _PREDICT_BATCH):
            b = min(a + _PREDICT_BATCH, len(origins))
            p = pos[a:b]
            x = np.where((p >= 0)[..., None], data[p], np.float32(0))  # (n, L + H, C); absent → 0
            # hours past the requested horizon are no inputs either (nor absent ones)
            mask = (p[:, lookback:] >= 0) & (np.arange(h_trained) < horizon)  # (n, H)
            x[:, lookback:][~mask] = 0.0
            # no mask when nothing is absent: an all-True mask would cost the Transformer its
            # fused fast path (about 2.6x slower) for the same numbers
            m = None if mask.all() else torch.from_numpy(mask)
            with torch.inference_mode():
                y = self.net_(
                    torch.from_numpy(x[:, :lookback]),  # (n, L, 1 + n_cov): before the origin
                    torch.from_numpy(x[:, lookback:, 1:]),  # (n, H, n_cov): target dropped
                    torch.from_numpy(codes[a:b]),
                    m,
                )  # (n, H) scaled
            out[a:b] = y[:, :horizon].numpy()
        return self.pipeline_.inverse_target(origins[schema.CITY].to_numpy(str), out)

    # ---- files -----------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        torch.save(self.net_.state_dict(), path / WEIGHTS_FILE)
        net = {"net": self.net_config_.to_dict(), "columns": self.columns_}
        (path / NET_FILE).write_text(json.dumps(net, indent=2) + "\n")
        self.pipeline_.save(path / FEATURES_DIR)

    def _load_state(self, path: Path) -> None:
        self.pipeline_ = FeaturePipeline.load(path / FEATURES_DIR)
        net = json.loads((path / NET_FILE).read_text())
        self.columns_ = input_columns(self.pipeline_.feature_names_)
        if self.columns_ != net["columns"]:
            raise ValueError(f"{path / NET_FILE}: input columns differ from the feature pipeline's")
        self.net_config_ = self.net_config_class(**net["net"])
        self.net_ = self.net_class(self.net_config_)
        state = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        self.net_.load_state_dict(state)
        self.net_.eval()


@dataclass(frozen=True)
class NetRecipe:
    """How to build, follow and checkpoint a sequence model's network: what a worker process
    needs besides the windows (picklable: it carries the model and its fitted feature pipeline).
    """

    model: NeuralForecaster
    loop: LoopConfig

    @property
    def kind(self) -> str:
        return self.model.kind

    def build(self) -> nn.Module:
        """A freshly initialised network: the model's own initial weights (seeded)."""
        return self.model._new_net()

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """One progress line on the ``energy`` logger."""
        self.model.log_epoch(epoch, metrics)

    def save(self, path: str | Path, weights: dict[str, torch.Tensor]) -> Path:
        """A loadable forecaster (config, fitted feature pipeline) holding ``weights`` (a state
        dict of the network): ``Forecaster.load(path)`` forecasts with them."""
        out = self.model.save(path)
        torch.save(weights, out / WEIGHTS_FILE)
        return out


@dataclass(frozen=True)
class NetJob:
    """What a sequence model's fit trains: a network (:attr:`recipe`) on windows.

    A training backend runs :func:`~energy.models._torch_loop.fit_loop` with ``recipe.loop`` on a
    network from ``recipe.build()`` and returns the final loop state; the model then loads its
    best weights. :meth:`fit` is the in-process run.
    """

    train: SequenceWindows
    val: SequenceWindows | None
    recipe: NetRecipe

    @property
    def kind(self) -> str:
        return self.recipe.kind

    @property
    def loop(self) -> LoopConfig:
        return self.recipe.loop

    def fit(self, on_epoch_end: EpochHook | None = None) -> State:
        """Train the model's own network in this process (in place, best weights kept).

        Args:
            on_epoch_end: ``fit_loop``'s epoch hook; None: one progress line per epoch.
        """
        net = self.recipe.model.net_
        hook = on_epoch_end or self.recipe.model.log_epoch
        return fit_loop(net, self.train, self.val, self.loop, on_epoch_end=hook)


def _inputs(feats: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``(n_rows, C)`` float32 model inputs in ``feats`` row order, NaN → 0 (the training mean)."""
    data = np.empty((len(feats), len(columns)), np.float32)
    for j, c in enumerate(columns):
        col = feats[c].to_numpy(np.float32, na_value=np.nan)
        data[:, j] = np.where(np.isnan(col), np.float32(0), col)
    return data


def _subset(ds: SequenceWindows, keep: np.ndarray) -> SequenceWindows:
    """The windows of ``ds`` where ``keep`` is True, sharing its data array."""
    return SequenceWindows(
        ds.data, n_past_only=ds.first_known - 1, starts=ds.starts[keep],
        window_city=ds.window_city[keep], hours=ds.hours, columns=ds.columns,
        city_ids=ds.city_ids, lookback=ds.lookback, horizon=ds.horizon,
        known_in_past=ds.n_past == ds.data.shape[1],
    )  # fmt: skip
