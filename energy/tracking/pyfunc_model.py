"""The model package as an MLflow pyfunc model.

Imports mlflow at module level (the class must subclass ``mlflow.pyfunc.PythonModel``), so only
:mod:`energy.tracking.models` imports it, when logging a model. Nothing is pickled:
the registered model holds the package directory as plain files (``artifacts/package/``) and a
three-line "models from code" file (:data:`MODEL_CODE`) that builds :class:`ForecastModel`, which
reads the package with :func:`energy.package.read_package` when loaded. Loading needs the
``energy`` package installed, not the repository's config files.

Input (a DataFrame), either of:

* one row per request: ``city_id``; ``start`` (ISO 8601 text, UTC when naive; empty or missing =
  the hour after the city's last stored load); ``horizon_hours`` (1..168, default 24);
* one row per city and forecast hour with a weather forecast: ``city_id``, ``timestamp`` (ISO
  8601 text, UTC) and weather columns (``temperature_c`` …); each city's forecast starts at its
  first row and covers its rows.

Output: one row per city and hour: ``city_id``, ``timestamp`` (UTC), ``step``, ``yhat`` (MW),
``weather_source``; params ``{"members": true}`` adds ``yhat_<member>`` columns.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from energy import schema

MODEL_CODE = '''"""MLflow models-from-code entry point of an energy forecast package."""
import mlflow
from energy.tracking.pyfunc_model import ForecastModel

mlflow.models.set_model(ForecastModel())
'''


class ForecastModel(PythonModel):
    """Forecasts from the package stored under the model's ``package`` artifact."""

    def load_context(self, context: Any) -> None:
        from energy.forecast.package import read_package

        self.package = read_package(context.artifacts["package"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        df = pd.DataFrame(model_input)
        if schema.CITY not in df.columns:
            raise ValueError("city_id: missing column (one row per city to forecast)")
        members = bool((params or {}).get("members", False))
        if schema.TIME in df.columns and df[schema.TIME].notna().any():
            return self._hourly(df, members)
        df = df.assign(
            start=df["start"].replace("", None) if "start" in df else None,
            horizon_hours=df["horizon_hours"].fillna(24) if "horizon_hours" in df else 24,
        )
        parts = []
        for (start, horizon), g in df.groupby(["start", "horizon_hours"], dropna=False, sort=False):
            parts.append(
                self.package.forecast(
                    [str(c) for c in g[schema.CITY]],
                    start=None if pd.isna(start) else str(start),
                    horizon=int(horizon),
                    members=members,
                )
            )
        return pd.concat(parts, ignore_index=True)

    def _hourly(self, df: pd.DataFrame, members: bool) -> pd.DataFrame:
        """Hourly rows with a weather forecast: start and horizon per city from its rows."""
        df = df.assign(**{schema.TIME: pd.to_datetime(df[schema.TIME], utc=True)})
        weather = [c for c in schema.WEATHER_COLUMNS if c in df.columns]
        spans = df.groupby(schema.CITY, sort=False)[schema.TIME].agg(["min", "size"])
        parts = []
        for (start, n), g in spans.groupby(["min", "size"], sort=False):
            cities = [str(c) for c in g.index]
            w = df[df[schema.CITY].isin(cities)][[schema.CITY, schema.TIME, *weather]]
            parts.append(
                self.package.forecast(
                    cities,
                    start=start,
                    horizon=int(n),
                    weather=w if weather else None,
                    members=members,
                )
            )
        return pd.concat(parts, ignore_index=True)


def signature(meta: dict[str, Any]) -> Any:
    """Input/output schema of :class:`ForecastModel` (every input but ``city_id`` optional)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    inputs: list[Any] = [
        ColSpec("string", schema.CITY),
        ColSpec("string", "start", required=False),
        ColSpec("long", "horizon_hours", required=False),
        ColSpec("string", schema.TIME, required=False),
        *(ColSpec("double", c, required=False) for c in schema.WEATHER_COLUMNS),
    ]
    outputs: list[Any] = [
        ColSpec("string", schema.CITY),
        ColSpec("datetime", schema.TIME),
        ColSpec("long", "step"),
        ColSpec("double", "yhat"),
        ColSpec("string", "weather_source"),
    ]
    params = ParamSchema([ParamSpec("members", "boolean", False)])
    return ModelSignature(Schema(inputs), Schema(outputs), params)


def input_example(meta: dict[str, Any]) -> pd.DataFrame:
    """Two cities of the package, 24 h from the hour after their last stored load."""
    cities = [str(c) for c in meta.get("cities", [])[:2]] or ["city"]
    return pd.DataFrame({schema.CITY: cities, "horizon_hours": [24] * len(cities)})


def requirements() -> list[str]:
    """Pinned requirements of the serving environment (given, so MLflow does not infer them by
    loading the model in a subprocess)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("energy", "mlflow", "pandas", "numpy", "pyarrow", "xgboost", "torch", "holidays"):
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out
