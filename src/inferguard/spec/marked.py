"""The containers a parsed spec is made of: a dict and a list that remember where they
started in their file (`line`, `col`; a mapping also `key_lines`, key -> (line, col)), and
`locate`, which finds the position of a path inside them.

Kept apart from the YAML loader so that a spec set read back from the cache does not
import PyYAML.

A document read back from the cache is plain dicts and lists under a `CachedDoc` (the
document's own mapping, with its own marks): the marks of the containers inside it are
kept in a table (path inside the document -> line, col, key_lines) that is decoded the
first time `locate` needs it, so that a command that reports no spec position never pays
for them. `split_marks` and `CachedDoc` are the two halves of that round trip."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Callable, Iterable


class LDict(dict):
    __slots__ = ("line", "col", "key_lines")


class LList(list):
    __slots__ = ("line", "col")


class CachedDoc(LDict):
    """A document's top-level mapping read back from the cache: its values are plain data,
    the marks of the containers inside are fetched by `nested_marks` when first needed."""

    __slots__ = ("nested_marks", "_marks")

    def marks(self) -> dict[tuple, tuple]:
        if self._marks is None:
            self._marks = self.nested_marks()
        return self._marks


Marks = dict  # path tuple -> (line, col, key_lines or None)


def split_marks(doc: Any) -> tuple[Any, dict[tuple, tuple]]:
    """(the document as plain dicts and lists, its marks table), the inverse of CachedDoc."""
    marks: dict[tuple, tuple] = {}

    def walk(node: Any, path: tuple) -> Any:
        if isinstance(node, dict):
            if getattr(node, "line", None) is not None or getattr(node, "key_lines", None):
                marks[path] = (getattr(node, "line", None), getattr(node, "col", None),
                               dict(getattr(node, "key_lines", None) or {}) or None)
            return {k: walk(v, path + (k,)) for k, v in node.items()}
        if isinstance(node, list):
            if getattr(node, "line", None) is not None:
                marks[path] = (node.line, getattr(node, "col", None), None)
            return [walk(v, path + (i,)) for i, v in enumerate(node)]
        return node

    return walk(doc, ()), marks


def cached_doc(plain: dict, top: tuple, nested_marks: Callable[[], dict[tuple, tuple]]) -> CachedDoc:
    doc = CachedDoc(plain)
    doc.line, doc.col = top[0], top[1]
    doc.key_lines = dict(top[2] or {})
    doc.nested_marks = nested_marks
    doc._marks = None
    return doc


def locate(doc: Any, path: Iterable[Any]) -> tuple[int | None, int | None]:
    """Line and column of the deepest node on `path`: a mapping key's own position, or the
    start of a sequence item."""
    if isinstance(doc, CachedDoc):
        return _locate_in_table(doc, doc.marks(), path)
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


def _locate_in_table(doc: CachedDoc, marks: dict[tuple, tuple], path: Iterable[Any]) -> tuple[int | None, int | None]:
    """`locate` over a cached document: the same walk, each container's marks from the table."""
    line, col = doc.line, doc.col
    node: Any = doc
    prefix: tuple = ()
    for part in path:
        if isinstance(node, dict) and part in node:
            key_lines = (doc.key_lines if not prefix else (marks.get(prefix) or (None, None, None))[2]) or {}
            if part in key_lines:
                line, col = key_lines[part]
            node = node[part]
            prefix += (part,)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            prefix += (part,)
            m = marks.get(prefix)
            if m is not None and m[0] is not None:
                line, col = m[0], m[1]
        else:
            break
    return line, col
