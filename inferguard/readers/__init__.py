"""Reader registry: lane id -> reader function, imported lazily."""
from __future__ import annotations

import importlib
from typing import Any, Callable

# lane id -> "module:function"; each function is read(path, *, specs=None, ...) -> ReadResult
LANE_READERS: dict[str, str] = {
    "lmcache_http": "inferguard.readers.lmcache_http:read",
    "lmcache_log": "inferguard.readers.logs:read",
    "lmcache_otel": "inferguard.readers.otel:read",
    "lmcache_trace": "inferguard.readers.lct:read",
    "lmcache_trace_replay": "inferguard.readers.trace_replay:read",
    "lmcache_lookup_hash": "inferguard.readers.lookup_hash:read",
    "lmcache_cacheblend": "inferguard.readers.cacheblend:read",
}


def lane_reader(lane: str) -> Callable[..., Any] | None:
    target = LANE_READERS.get(lane)
    if target is None:
        return None
    mod, _, fn = target.partition(":")
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name == mod:
            return None
        raise
    return getattr(module, fn, None)
