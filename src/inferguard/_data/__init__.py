"""Package data: the spec set and JSON Schemas, located for checkouts and installs alike."""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _pick(name: str) -> Path:
    # In a checkout the data sits at the repository top (../../../specs); in an installed
    # wheel it sits here (inferguard/_data/specs).
    installed = _HERE / name
    if installed.is_dir():
        return installed
    return _HERE.parents[2] / name


def specs_dir() -> Path:
    return _pick("specs")


def schemas_dir() -> Path:
    return _pick("schemas")


def data_dir() -> Path:
    """This folder: compiled data shipped with the package (registry.json)."""
    return _HERE
