"""Summaries of JSON bodies declared as data: the `payloads` of an HttpEndpoints spec.

A payload says which keys of a body are kept, of which types, under which summary key, and
which reader signals a body bumps. `summarize` applies one to a decoded body. Field
operations (each writes `key` of the summary, or merges into it when `key` is absent):

    pick: [k, ...]   from: path    the listed keys of the object at `path` whose values are
                                   of `types` (all present keys when no types are given)
    copy: path | [path, ...]       the value at `path` (the first truthy one of several) when of
                                   `types`; null when `nullable` and it is not
    count: path      of: list|object   the length of a list or object
    keys: path       max: n        the sorted keys of an object
    each: path       head: n, max: n   per list item: `value` (one field), `get` (these fields,
                                   null when absent), `pick` (present fields of `types`), or
                                   the item itself when of `types`
    sum: path        field: f      the sum of `field` over the items (objects) of a list or the
                                   values of an object; with `round` missing values are
                                   skipped, without it they count as 0
    truthy: path     if_key: k     whether the value at `path` is truthy (only when key `k` is
                                   in the object, with if_key)
    nonempty: path                 whether the list at `path` has items
    has: k           at: path      whether the object at `path` has key `k`
    lookup: path     map: {json: value}, default: value   a mapped value (keys are JSON texts)
    object: path     fields: [...] a nested summary of the object at `path` (skipped when it has
                                   `unless_key`, or is empty and `omit_empty`)
    derive: name                   a computation named in the reader (`derivations`)

Every operation may carry `if_unset: true` (only when `key` is not set yet). Paths are dotted
keys; "" is the body itself; a path through a non-object is absent. Nothing here raises on a
body of an unexpected shape: what does not match is left out.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}

Derivation = Callable[[Any, str], Any]


def number(v: Any) -> float | int | None:
    """A JSON number as it is (never a bool), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    return None


def is_of(value: Any, types: list[str] | None) -> bool:
    """Whether `value` is of one of `types` (Python isinstance; `number` is an int or float
    that is not a bool). No types: anything."""
    if not types:
        return True
    for t in types:
        if t == "number":
            if number(value) is not None:
                return True
        elif isinstance(value, _TYPES[t]):
            return True
    return False


def at(value: Any, path: str) -> Any:
    if path == "":
        return value
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _holds(cond: Any, value: Any) -> bool:
    if cond is None:
        return True
    if cond == "object":
        return isinstance(value, dict)
    if "list" in cond:
        return isinstance(at(value, cond["list"]), list)
    if "object" in cond:
        return isinstance(at(value, cond["object"]), dict)
    if "key" in cond:
        return isinstance(value, dict) and cond["key"] in value
    return False


def _put(out: dict[str, Any], op: Mapping[str, Any], result: Any) -> None:
    key = op.get("key")
    if key is None:
        out.update(result)
    else:
        out[key] = result


def _each(items: list[Any], op: Mapping[str, Any]) -> list[Any]:
    types = op.get("types")
    if op.get("head") is not None:
        items = items[: op["head"]]
    res: list[Any] = []
    for t in items:
        if "value" in op:
            if isinstance(t, dict) and is_of(t.get(op["value"]), types):
                res.append(t.get(op["value"]))
        elif "get" in op:
            if isinstance(t, dict):
                res.append({k: t.get(k) for k in op["get"]})
        elif "pick" in op:
            if isinstance(t, dict):
                res.append({k: t[k] for k in op["pick"] if k in t and is_of(t[k], types)})
        elif is_of(t, types):
            res.append(t)
    return res[: op["max"]] if op.get("max") is not None else res


def build(fields: list[Mapping[str, Any]], src: Any, out: dict[str, Any], text: str,
          derivations: Mapping[str, Derivation]) -> dict[str, Any]:
    """Apply field operations to `src`, writing into `out`."""
    for op in fields:
        key = op.get("key")
        if op.get("if_unset") and key in out:
            continue
        types = op.get("types")
        if "derive" in op:
            r = derivations[op["derive"]](src, text)
            if key is not None:
                if r is not None:
                    out[key] = r
            elif r:
                out.update(r)
        elif "each" in op:
            v = at(src, op["each"])
            if isinstance(v, list):
                out[key] = _each(v, op)
        elif "pick" in op:
            s = at(src, op.get("from", ""))
            if isinstance(s, dict):
                _put(out, op, {k: s[k] for k in op["pick"] if k in s and is_of(s[k], types)})
        elif "copy" in op:
            paths = op["copy"] if isinstance(op["copy"], list) else [op["copy"]]
            v = None
            for p in paths:
                v = at(src, p)
                if v:
                    break
            if v is not None and is_of(v, types):
                out[key] = v
            elif op.get("nullable"):
                out[key] = None
        elif "count" in op:
            v = at(src, op["count"])
            want = {"list": list, "object": dict}.get(op.get("of", ""), (list, dict))
            if isinstance(v, want):
                out[key] = len(v)
        elif "keys" in op:
            v = at(src, op["keys"])
            if isinstance(v, dict):
                ks = sorted(str(k) for k in v)
                out[key] = ks[: op["max"]] if op.get("max") is not None else ks
        elif "sum" in op:
            v = at(src, op["sum"])
            want = {"list": list, "object": dict}.get(op.get("of", ""), (list, dict))
            if isinstance(v, want):
                items = v.values() if isinstance(v, dict) else v
                nums = [number(t.get(op["field"])) for t in items if isinstance(t, dict)]
                if op.get("round") is not None:
                    out[key] = round(sum(x for x in nums if x is not None), op["round"])
                else:
                    out[key] = sum(x or 0 for x in nums)
        elif "truthy" in op:
            if "if_key" in op and not (isinstance(src, dict) and op["if_key"] in src):
                continue
            out[key] = bool(at(src, op["truthy"]))
        elif "nonempty" in op:
            v = at(src, op["nonempty"])
            if isinstance(v, list):
                out[key] = bool(v)
        elif "has" in op:
            v = at(src, op.get("at", ""))
            if isinstance(v, dict):
                out[key] = op["has"] in v
        elif "lookup" in op:
            out[key] = (op.get("map") or {}).get(json.dumps(at(src, op["lookup"])), op.get("default"))
        elif "object" in op:
            s = at(src, op["object"])
            if not isinstance(s, dict) or ("unless_key" in op and op["unless_key"] in s):
                continue
            sub = build(op.get("fields") or [], s, {}, text, derivations)
            if sub or not op.get("omit_empty"):
                out[key] = sub
    return out


def summarize(payload: Mapping[str, Any], value: Any, text: str,
              derivations: Mapping[str, Derivation]) -> dict[str, Any] | None:
    """The summary of one decoded body (`value`, or None when it is not JSON; `text`: the body
    as text when it is not JSON), or None when the payload's `when` does not hold."""
    if not _holds(payload.get("when"), value):
        return None
    if payload.get("otherwise") == "shape" and not isinstance(value, dict):
        return {"shape": type(value).__name__}
    fields = payload.get("fields")
    if fields is None:
        variant = next((v for v in payload.get("variants") or [] if _holds(v.get("when"), value)), None)
        fields = variant.get("fields") if variant else []
    return build(fields or [], value, {}, text, derivations)
