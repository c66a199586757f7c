"""The model package as an MLflow pyfunc model.

Imports mlflow at module level (the class must subclass ``mlflow.pyfunc.PythonModel``), so only
:mod:`energy.tracking.models` imports it, when logging a model. Nothing is pickled:
the registered model holds the package directory as plain files (``artifacts/package/``) and a
three-line "models from code" file (:data:`MODEL_CODE`) that builds :class:`ForecastModel`, which
reads the package with :func:`energy.forecast.read_package` when loaded. Loading needs the
``energy`` package installed, not the repository's config files.

Input (a DataFrame, read by :func:`energy.forecast.queries_from_table`), either of:

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
    """Forecasts from the package stored under the model's ``package`` artifact: a thin adapter
    from the input table to :func:`energy.forecast.forecast`."""

    def load_context(self, context: Any) -> None:
        from energy.forecast import read_package

        self.package = read_package(context.artifacts["package"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        from energy.forecast import forecast_table

        members = bool((params or {}).get("members", False))
        return forecast_table(self.package, pd.DataFrame(model_input), members=members)


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
