"""Safe YAML loading that remembers where every mapping and sequence started.

Marks are kept as attributes of dict/list subclasses (never as keys), so JSON Schema's
`additionalProperties: false` is not tripped and error paths map back to `file:line:col`.
"""
from __future__ import annotations

from typing import Any, Iterable

import yaml

try:  # libyaml is several times faster; fall back to the pure-Python loader.
    _Base = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader


class LDict(dict):
    __slots__ = ("line", "col", "key_lines")


class LList(list):
    __slots__ = ("line", "col")


class _Loader(_Base):  # type: ignore[misc,valid-type]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.col = node.start_mark.column + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.col = node.start_mark.column + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_all(text: str) -> list[Any]:
    """All documents of a YAML stream, with marks. Raises yaml.YAMLError on bad YAML."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


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
