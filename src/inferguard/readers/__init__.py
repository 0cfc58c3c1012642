"""Reader registry: lane id -> reader function, imported lazily."""
from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Callable

from inferguard.spec.registry import bundled, lane_readers

# lane id -> "module:function", from the Vocabulary spec (specs/vocabulary.yaml) through the
# compiled registry; each function is read(path, *, specs=None, ...) -> ReadResult
LANE_READERS: dict[str, str] = lane_readers(bundled())


_CO_VARKEYWORDS = 0x08  # inspect.CO_VARKEYWORDS: the function takes **kwargs


def lane_reader(lane: str) -> Callable[..., Any] | None:
    """The read function of `lane`, or None for a lane with no reader in the registry.

    Importing the reader's module is not allowed to fail quietly: every reader ships with
    the package, so an ImportError here is a broken install or a defect, and it propagates
    (the CLI reports it as an internal error) instead of lowering what the tool can read."""
    target = LANE_READERS.get(lane)
    if target is None:
        return None
    mod, _, fn = target.partition(":")
    return getattr(importlib.import_module(mod), fn)


def call_reader(fn: Callable[..., Any], path: str, **kwargs: Any):
    """Call a reader with those keyword arguments it accepts (specs, argv, keep_raw, ...).

    A plain function's parameters are read from its code object (what inspect.signature
    reports for it, without importing inspect on every command's path)."""
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__wrapped__"):
        if code.co_flags & _CO_VARKEYWORDS:
            return fn(path, **kwargs)
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        return fn(path, **{k: v for k, v in kwargs.items() if k in names})
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(path)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(path, **kwargs)
    return fn(path, **{k: v for k, v in kwargs.items() if k in params})
