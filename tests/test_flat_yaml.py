"""The flat context reader reads what it accepts exactly as the safe YAML loader does, and
declines everything else (which then goes to the loader)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferguard.spec.flatyaml import NOT_FLAT, read_flat
from inferguard.spec.yamlload import safe_load

ACCEPTED = [
    ("expected_engine: vllm\nexpected_lmcache_mode: mp\nl2_configured: false\n",
     {"expected_engine": "vllm", "expected_lmcache_mode": "mp", "l2_configured": False}),
    ("# a comment\n\n  # indented comment\na: yes  # trailing\nb: Off\nc: NULL\nd: y\ne: n\nf: lmcache-mp\n",
     {"a": True, "b": False, "c": None, "d": "y", "e": "n", "f": "lmcache-mp"}),
    ("", None),
    ("# only a comment\n   \n", None),
    ("a: b", {"a": "b"}),
    ("_k: v   \n", {"_k": "v"}),
]

DECLINED = [
    "\ufeffa: b\n",            # BOM
    "a:\tb\n",                 # tab
    "a: b\r\n",                # CR
    "a: b\n  c\n",             # a plain scalar continued on the next line
    "a: b\na: c\n",            # duplicate key (the loader reports it)
    "yes: b\n",                # the key resolves to a boolean
    "null: b\n",
    "a: 1\n",                  # numbers
    "a: .inf\n",
    "a: 'b'\n",                # quotes
    "a: [b]\n",                # flow collections
    "a:\n  b: c\n",            # nested
    "- a\n",                   # a sequence
    "---\na: b\n",             # document marker
    "%YAML 1.1\n---\na: b\n",  # directive
    "a: b#c\n",                # `#` inside the scalar
    "a: b: c\n",
    "a : b\n",
    "a: b # caf\u00e9\n",      # non-ASCII
    "a: b\x07\n",              # control character
    "a: &x b\nc: *x\n",        # anchors and aliases
]


@pytest.mark.parametrize("text,expected", ACCEPTED)
def test_accepted_forms_read_as_the_safe_loader_reads_them(text, expected):
    got = read_flat(text)
    assert got == expected
    assert got == safe_load(text)
    if got is not None:
        assert [type(v) for v in got.values()] == [type(v) for v in safe_load(text).values()]


@pytest.mark.parametrize("text", DECLINED)
def test_anything_else_is_declined(text):
    assert read_flat(text) is NOT_FLAT


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:#'\" ", min_size=0, max_size=8)
_special = st.sampled_from(["yes", "No", "TRUE", "off", "On", "null", "Null", "y", "n", "~", "1", "0x1", "1.5", "inf", ".nan",
                            "mp", "vllm", "auto", "a-b", "a_b", "_a", "a b"])
_line = st.one_of(
    st.tuples(st.one_of(_word, _special), st.sampled_from([": ", ":  ", ":", " : ", ":\t"]), st.one_of(_word, _special),
              st.sampled_from(["", " ", "  # c", "# c", " #"])).map("".join),
    st.sampled_from(["", "  ", "# x", "  # y", "---", "...", "- a", "  b: c"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_line, max_size=6), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_whatever_it_accepts_the_safe_loader_reads_the_same(lines, eol, final):
    import yaml

    text = eol.join(lines) + (eol if final else "")
    got = read_flat(text)
    if got is NOT_FLAT:
        return
    expected = safe_load(text)   # accepted text is always valid YAML
    assert got == expected
    if got is not None:
        assert all(type(a) is type(b) for a, b in zip(got.values(), expected.values()))
    assert isinstance(yaml, object)


def test_evaluate_reads_a_flat_context_without_importing_pyyaml(tmp_path):
    """The bundled packet's context.yaml is flat: evaluating it imports no PyYAML."""
    from pathlib import Path

    packet = Path(__file__).resolve().parents[1] / "fixtures" / "packets" / "vllm-lmcache-mp-h100"
    code = ("import sys\nfrom inferguard.cli.app import main\n"
            "try:\n    main(['evaluate', sys.argv[1], '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "print('YAML' if 'yaml' in sys.modules else 'NOYAML', file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code, str(packet)], capture_output=True, text=True, timeout=300,
                       env={"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    # the first run fills the spec set cache (and parses the spec YAML); the second is the steady state
    r = subprocess.run([sys.executable, "-c", code, str(packet)], capture_output=True, text=True, timeout=300,
                       env={"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.stdout.startswith("{"), r.stderr
    assert r.stderr.strip().splitlines()[-1] == "NOYAML"


_key = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True), _special)
_value = st.one_of(st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,6}", fullmatch=True), _special)
_flat_line = st.one_of(
    st.tuples(_key, st.sampled_from([": ", ":   "]), _value, st.sampled_from(["", "  ", " # note", "   #"])).map("".join),
    st.sampled_from(["", "# comment", "   # indented"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_flat_line, max_size=8), st.booleans())
def test_flat_texts_read_as_the_safe_loader_reads_them(lines, final):
    text = "\n".join(lines) + ("\n" if final else "")
    got = read_flat(text)
    if got is NOT_FLAT:
        # declined: a duplicate key, or a word the loader resolves to something else
        return
    expected = safe_load(text)
    assert got == expected
    if got is not None:
        assert list(got) == list(expected)
        assert all(type(a) is type(b) for a, b in zip(got.values(), expected.values()))
