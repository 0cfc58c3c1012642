"""The containers a parsed spec is made of: a dict and a list that remember where they
started in their file (`line`, `col`; a mapping also `key_lines`, key -> (line, col)).

Kept apart from the YAML loader so that a spec set read back from the cache (a pickle of
these) does not import PyYAML."""
from __future__ import annotations


class LDict(dict):
    __slots__ = ("line", "col", "key_lines")


class LList(list):
    __slots__ = ("line", "col")
