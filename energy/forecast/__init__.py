"""The one forecast path: a typed query answered from a trained model package.

* :mod:`~energy.forecast.query`: :class:`ForecastQuery`, built (and checked) at a caller's edge.
* :mod:`~energy.forecast.engine`: :func:`forecast`, the one entry point every caller uses;
  :func:`forecast_table` over a request table (pyfunc, batch files); :func:`predict`, its last
  step (model + frame → forecasts), shared with backtests.
* :mod:`~energy.forecast.errors`: typed errors carrying the field and the value.
* :mod:`~energy.forecast.package`: :class:`ModelPackage`, a loaded package and its look-ups.
* :mod:`~energy.forecast.package_io`: write, verify and read package directories.
"""

from energy.forecast.engine import forecast, forecast_table, predict
from energy.forecast.errors import (
    ForecastError,
    ForecastInputError,
    ModelUnavailableError,
    UnknownCityError,
)
from energy.forecast.package import ModelPackage
from energy.forecast.package_io import read_package, verify_package, write_package
from energy.forecast.query import ForecastQuery, parse_start, queries_from_table

__all__ = [
    "ForecastError",
    "ForecastInputError",
    "ForecastQuery",
    "ModelPackage",
    "ModelUnavailableError",
    "UnknownCityError",
    "forecast",
    "forecast_table",
    "parse_start",
    "predict",
    "queries_from_table",
    "read_package",
    "verify_package",
    "write_package",
]
