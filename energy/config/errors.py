"""Config errors as one line per bad key, each named by its dotted path in the YAML."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(ValueError):
    """A profile that cannot be read or validated; the message names every bad key."""


def error_lines(exc: ValidationError) -> list[str]:
    """``"models.xgboost.max_dept: Extra inputs are not permitted (got 3)"``, one per error.

    The discriminated union of ``models`` puts the member's kind into pydantic's location
    (``models.xgboost.xgboost.max_dept``); it is dropped so that the path is the YAML's own. A
    member that inherited a bad shared ``features`` block does not repeat its error.
    """
    from energy.models.configs import MEMBER_CONFIGS

    lines: list[str] = []
    shared: set[tuple[str, ...]] = set()  # errors of the shared features, reported once
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        if len(loc) >= 3 and loc[0] == "models" and loc[2] in MEMBER_CONFIGS:
            del loc[2]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if loc[:1] == ["features"]:
            shared.add((*loc, msg))
        elif loc[:1] == ["models"] and (*loc[2:], msg) in shared:
            continue  # a member that inherited the shared features repeats their error
        got = err.get("input")
        shown = f" (got {got!r})" if loc and not isinstance(got, dict | list) else ""
        lines.append(f"{'.'.join(loc)}: {msg}{shown}" if loc else msg)
    return lines
