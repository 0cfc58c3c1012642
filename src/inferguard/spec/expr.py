"""jmespath expressions in specs: compiled once at load, errors reported with file:line."""
from __future__ import annotations

from typing import Any

_CACHE: dict[str, Any] = {}


class ExprError(ValueError):
    pass


def compile_expr(text: str):
    """The parsed expression; raises ExprError with jmespath's reason."""
    if text not in _CACHE:
        import jmespath
        from jmespath import exceptions as jexc

        try:
            _CACHE[text] = jmespath.compile(text)
        except (jexc.JMESPathError, ValueError, TypeError) as exc:  # jmespath raises several kinds
            msg = str(exc).strip().splitlines()
            raise ExprError(msg[0] if msg else "invalid jmespath") from None
    return _CACHE[text]


def evaluate(text: str | None, data: Any, default: bool = True) -> bool:
    """Truthiness of a compiled expression over `data`; no expression means `default`."""
    if not text:
        return default
    result = compile_expr(text).search(data)
    return bool(result)


def search(text: str, data: Any) -> Any:
    return compile_expr(text).search(data)
