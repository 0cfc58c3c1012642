"""Where this user's cache entries live: $XDG_CACHE_HOME/inferguard, else ~/.cache/inferguard."""
from __future__ import annotations

import os


def cache_dir() -> str | None:
    """The cache directory (it may not exist yet), or None when there is none."""
    try:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    except (KeyError, RuntimeError):  # no home directory to expand
        return None
    if not base or base.startswith("~"):
        return None
    return os.path.join(base, "inferguard")
