"""Why a forecast could not be answered, as typed exceptions that carry the field and the value.

Raised by :mod:`energy.forecast` (the query, the package, the forecast path) and mapped to HTTP in
one place (``serve_app/deployments.py``): :class:`UnknownCityError` → 404,
:class:`ForecastInputError` → 422, :class:`ModelUnavailableError` → 503. Nothing parses the
message again: ``field`` and ``value`` travel as attributes. ``str(error)`` is one readable line
that starts with the field (``"horizon_hours: must be ..."``).
"""

from __future__ import annotations

from typing import Any, Self


class ForecastError(Exception):
    """Base of every forecast-path error.

    Attributes:
        field: the query field at fault (``start``, ``horizon_hours``, ``city_id``, ``weather``,
            ``history``), or a location inside a batch (``requests[3].start``); None when no
            single field is to blame.
        value: the value sent for that field, JSON-friendly (text, number), or None when the
            message names it (e.g. the hour of a weather table that has a gap).
        message: what is wrong, without the field prefix.
    """

    def __init__(self, field: str | None, value: Any, message: str) -> None:
        super().__init__(field, value, message)
        self.field, self.value, self.message = field, value, " ".join(message.split())

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def located(self, prefix: str) -> Self:
        """The same error placed inside a larger request (``requests[3]`` + ``start``)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return type(self)(field, self.value, self.message)


class ForecastInputError(ForecastError, ValueError):
    """A query value the package cannot answer (bad start, horizon, weather, history): 422."""


class UnknownCityError(ForecastError, LookupError):
    """A city the package holds no model or history for: 404."""

    def __init__(self, field: str | None, value: Any, message: str | None = None) -> None:
        super().__init__(field, value, message or f"unknown city {value!r}")


class ModelUnavailableError(ForecastError):
    """No model to answer with: none loaded yet, or a package that is missing or incomplete: 503."""

    def __init__(self, message: str, value: Any = None) -> None:
        super().__init__(None, value, message)
        self.args = (message, value)  # so that a pickled copy (Ray) rebuilds with this signature

    def located(self, prefix: str) -> Self:
        return self  # about the model, not about a field of the request
