"""The `*` pattern matcher of packet files and log-pattern id globs answers as fnmatch does."""
from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferguard.core.globs import match, matchcase

_alphabet = "ab.*_?[]!-\n"


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab._-\n", max_size=10), st.text(alphabet=_alphabet, max_size=8))
def test_matchcase_is_fnmatchcase(name, pattern):
    assert matchcase(name, pattern) == fnmatch.fnmatchcase(name, pattern)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="abAB.", max_size=8), st.text(alphabet="abAB.*", max_size=6))
def test_match_is_fnmatch(name, pattern):
    assert match(name, pattern) == fnmatch.fnmatch(name, pattern)


@pytest.mark.parametrize("name,pattern,expected", [
    ("lmcache_server.log", "*.log", True),
    ("lmcache_server.log.1", "*.log", False),
    ("lookup_hashes_0.jsonl", "lookup_hashes_*.jsonl", True),
    ("x_blend_boundaries.jsonl", "*blend*boundar*.jsonl", True),
    ("boundaries_blend.jsonl", "*blend*boundar*.jsonl", False),
    ("op.store", "op.*", True),
    ("aba", "ab*ba", False),
    ("abba", "ab*ba", True),
])
def test_spec_patterns(name, pattern, expected):
    assert matchcase(name, pattern) is expected
    assert fnmatch.fnmatchcase(name, pattern) is expected
