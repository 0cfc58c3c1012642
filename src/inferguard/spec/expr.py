"""jmespath expressions in specs: compiled once at load, errors reported with file:line.

jmespath parses every expression. Given the spec set (`spec=`), the parse tree (plain data)
is also kept in the spec set's memo, and the few node kinds the bundled specs use (fields,
sub-expressions, literals, `[a, b]` lists, `==` and `!=`, `||`, `&&`, `!`, `contains()`) are walked here
with jmespath's own rules, so a command that only evaluates those imports no jmespath
(whose import, through `inspect`, costs more than everything it evaluates). Any other node,
or an argument jmespath would reject, is handed to jmespath itself, which gives the answer
or the error. A property test holds the two to the same results on every expression of the
bundled specs.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

_CACHE: dict[str, Any] = {}
_AST_MEMO = "jmespath_ast"


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


def evaluate(text: str | None, data: Any, default: bool = True, spec=None) -> bool:
    """Truthiness of a compiled expression over `data`; no expression means `default`."""
    if not text:
        return default
    return bool(search(text, data, spec))


def search(text: str, data: Any, spec=None) -> Any:
    if spec is not None:
        tree = spec.memo(_AST_MEMO, text, _parse_tree)
        try:
            return walk(tree, data)
        except _Unsupported:
            pass
    return compile_expr(text).search(data)


def _parse_tree(text: str) -> Any:
    return compile_expr(text).parsed


class _Unsupported(Exception):
    """A node or an argument this walker leaves to jmespath."""


def walk(node: dict[str, Any], value: Any) -> Any:
    """jmespath's result for the parse tree `node` over `value`, for the node kinds listed
    in the module docstring (jmespath 1.x's TreeInterpreter rules); _Unsupported otherwise."""
    kind = node["type"]
    if kind == "field":
        try:
            return value.get(node["value"])
        except AttributeError:
            return None
    if kind == "subexpression":
        for child in node["children"]:
            value = walk(child, value)
        return value
    if kind == "literal":
        return node["value"]
    if kind == "current":
        return value
    if kind == "multi_select_list":
        # [a, b]: evaluated against the current value, none when that is null
        return None if value is None else [walk(c, value) for c in node["children"]]
    if kind == "comparator":
        op = node["value"]
        if op not in ("eq", "ne"):
            raise _Unsupported(op)
        left, right = (walk(c, value) for c in node["children"])
        same = _equals(left, right)
        return same if op == "eq" else not same
    if kind == "or_expression":
        left = walk(node["children"][0], value)
        return walk(node["children"][1], value) if _is_false(left) else left
    if kind == "and_expression":
        left = walk(node["children"][0], value)
        return left if _is_false(left) else walk(node["children"][1], value)
    if kind == "not_expression":
        got = walk(node["children"][0], value)
        if _is_number(got) and got == 0:
            return False    # 0 is true in jmespath, so !0 is false
        return not got      # otherwise Python's truth, as jmespath 1.x has it
    if kind == "function_expression" and node["value"] == "contains" and len(node["children"]) == 2:
        subject, needle = (walk(c, value) for c in node["children"])
        # jmespath checks the exact type (a subclass of list is not an array to it)
        if type(subject) not in (list, str) or (type(subject) is str and not isinstance(needle, str)):
            raise _Unsupported("contains")   # jmespath raises its type error, or compares otherwise
        return needle in subject
    raise _Unsupported(kind)


def _is_number(x: Any) -> bool:
    """isinstance(x, numbers.Number) and not a bool, as jmespath asks it."""
    t = type(x)
    if t is int or t is float:
        return True
    if t is bool or t is str or t is list or t is dict or x is None:
        return False
    from numbers import Number

    return isinstance(x, Number)


def _equals(x: Any, y: Any) -> bool:
    # jmespath: 0 and 1 never equal false and true (Python's 1 == True does not hold there)
    if (_is_number(x) and x in (0, 1) and isinstance(y, bool)) or (_is_number(y) and y in (0, 1) and isinstance(x, bool)):
        return False
    return x == y


def _is_false(value: Any) -> bool:
    return value == "" or value == [] or value == {} or value is None or value is False
