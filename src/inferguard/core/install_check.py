"""Start-up check of the install: every runtime dependency and the bundled data are there.

A missing dependency must stop a command before it runs, never show up later as a reader
that "is not available" and a silently lower capability or score. The check only looks the
modules up (each finder of sys.meta_path is asked, as importlib.util.find_spec asks them,
without importing importlib.util, which alone costs more than the check), it imports none of
them; a dependency that is present but broken fails loudly where it is imported.
"""
from __future__ import annotations

import sys

from inferguard.core.problems import InternalError

# module -> distribution that provides it (pyproject.toml [project] dependencies)
RUNTIME_MODULES = {
    "click": "click",
    "yaml": "pyyaml",
    "jsonschema": "jsonschema",
    "msgpack": "msgpack",
    "jmespath": "jmespath",
}


def findable(name: str) -> bool:
    """Whether the top-level module `name` can be imported: loaded already, or found by a
    finder of sys.meta_path (what importlib.util.find_spec answers for a top-level name)."""
    if name in sys.modules:
        return True
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is not None and find(name, None) is not None:
            return True
    return False


def check_install() -> None:
    """Raise InternalError naming what is missing from this install."""
    import os

    from inferguard._data import schemas_path, specs_path

    missing = [dist for mod, dist in RUNTIME_MODULES.items() if not findable(mod)]
    if missing:
        raise InternalError(f"broken install: missing {', '.join(missing)} "
                            f"(reinstall: python3 -m pip install --force-reinstall inferguard)")
    for what, path in (("spec set", specs_path()), ("schemas", schemas_path())):
        if not os.path.isdir(path) or not os.listdir(path):
            raise InternalError(f"broken install: the bundled {what} is missing ({path})")
