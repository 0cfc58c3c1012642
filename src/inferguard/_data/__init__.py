"""Package data: the spec set and JSON Schemas, located for checkouts and installs alike.

The `*_path()` functions give strings and import nothing: they are on every command's
start-up path, where pathlib alone would cost about 6 ms. The `*_dir()` functions give the
same folders as `pathlib.Path` for the code that works with paths (docs, lint, tests)."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from pathlib import Path

_HERE = os.path.dirname(os.path.realpath(__file__))


def _pick(name: str) -> str:
    # In a checkout the data sits at the repository top (../../../specs); in an installed
    # wheel it sits here (inferguard/_data/specs).
    installed = os.path.join(_HERE, name)
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(_HERE))), name)


def specs_path() -> str:
    return _pick("specs")


def schemas_path() -> str:
    return _pick("schemas")


def data_path() -> str:
    """This folder: compiled data shipped with the package (registry.json, commands.json)."""
    return _HERE


def specs_dir() -> Path:
    from pathlib import Path

    return Path(specs_path())


def schemas_dir() -> Path:
    from pathlib import Path

    return Path(schemas_path())


def data_dir() -> Path:
    from pathlib import Path

    return Path(data_path())
