"""Versions of the Python packages a run used: the one list that data set manifests, model
packages and tracking runs record (provenance, not pins)."""

from __future__ import annotations

from collections.abc import Iterable

# Everything that can change a number we produce or store, in the order reports show them.
PACKAGES = (
    "energy",
    "numpy",
    "pandas",
    "pyarrow",
    "holidays",
    "scikit-learn",
    "xgboost",
    "torch",
    "mlflow",
    "ray",
)


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """``{"python": "3.11.9", package: version, ...}`` for the installed ones of ``packages``
    (a package that is not installed is left out, not an error)."""
    from importlib.metadata import PackageNotFoundError, version
    from platform import python_version

    out = {"python": python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out
