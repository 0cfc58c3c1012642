"""Start-up check of the install: every runtime dependency and the bundled data are there.

A missing dependency must stop a command before it runs, never show up later as a reader
that "is not available" and a silently lower capability or score. The check only looks the
modules up (importlib.util.find_spec), it imports none of them, so it costs a few
milliseconds; a dependency that is present but broken fails loudly where it is imported.
"""
from __future__ import annotations

import importlib.util

from inferguard.core.problems import InternalError

# module -> distribution that provides it (pyproject.toml [project] dependencies)
RUNTIME_MODULES = {
    "click": "click",
    "yaml": "pyyaml",
    "jsonschema": "jsonschema",
    "msgpack": "msgpack",
    "jmespath": "jmespath",
}


def check_install() -> None:
    """Raise InternalError naming what is missing from this install."""
    import os

    from inferguard._data import schemas_path, specs_path

    missing = [dist for mod, dist in RUNTIME_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise InternalError(f"broken install: missing {', '.join(missing)} "
                            f"(reinstall: python3 -m pip install --force-reinstall inferguard)")
    for what, path in (("spec set", specs_path()), ("schemas", schemas_path())):
        if not os.path.isdir(path) or not os.listdir(path):
            raise InternalError(f"broken install: the bundled {what} is missing ({path})")
