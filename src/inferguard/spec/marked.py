"""The containers a parsed spec is made of: a dict and a list that remember where they
started in their file (`line`, `col`; a mapping also `key_lines`, key -> (line, col)), and
`locate`, which finds the position of a path inside them.

Kept apart from the YAML loader so that a spec set read back from the cache (a pickle of
these) does not import PyYAML."""
from __future__ import annotations

from typing import Any, Iterable


class LDict(dict):
    __slots__ = ("line", "col", "key_lines")


class LList(list):
    __slots__ = ("line", "col")


def locate(doc: Any, path: Iterable[Any]) -> tuple[int | None, int | None]:
    """Line and column of the deepest node on `path`: a mapping key's own position, or the
    start of a sequence item."""
    line = getattr(doc, "line", None)
    col = getattr(doc, "col", None)
    node = doc
    for part in path:
        if isinstance(node, dict) and part in node:
            key_lines = getattr(node, "key_lines", None) or {}
            if part in key_lines:
                line, col = key_lines[part]
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if getattr(node, "line", None) is not None:
                line, col = node.line, node.col
        else:
            break
    return line, col
