"""The regex cache gives the pattern re.compile gives, whether the code comes from the cache or
not, and never fails on a missing, foreign, corrupt or unwritable cache."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferguard.core import recache

ROOT = Path(__file__).resolve().parents[1]
PACKET = ROOT / "fixtures" / "packets" / "vllm-lmcache-mp-h100"

PATTERNS = [
    (r"(?P<a>x+)(y)?", 0),
    (rb"\n(?P<m>[^\n]*+)(?:(?P<e>\x1b)|)", re.M),
    (r"abc|a(?=b)|[^\W\d]+", re.I),
    (rb"(?m)^(?:(foo)|(?:bar))()[^\n]*+", 0),
    (r"\s*(==|>=|<=|!=|>|<)?\s*([0-9][0-9a-z.+-]*)\s*", 0),
    (r"(?P<ts>\d{4}-\d\d-\d\d) (?P<lvl>[A-Z]+) (?P<msg>.*)", re.S),
]


def _same(a: re.Pattern, b: re.Pattern) -> None:
    assert (a.pattern, a.flags, a.groups, a.groupindex) == (b.pattern, b.flags, b.groups, b.groupindex)


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(recache, "_table", None)
    monkeypatch.setattr(recache, "_added", 0)
    monkeypatch.setattr(recache, "_used", set())
    monkeypatch.setattr(recache, "_disabled", False)
    return tmp_path


def _reset(monkeypatch):
    monkeypatch.setattr(recache, "_table", None)
    monkeypatch.setattr(recache, "_added", 0)
    monkeypatch.setattr(recache, "_used", set())


def test_cold_and_warm_patterns_are_those_of_re_compile(fresh, monkeypatch):
    cold = [recache.compile(p, f) for p, f in PATTERNS]
    for got, (p, f) in zip(cold, PATTERNS):
        _same(got, re.compile(p, f))
    recache._save()
    entries = list((fresh / "inferguard").glob("regex-*.marshal"))
    assert len(entries) == 1
    _reset(monkeypatch)

    def no_build(*_a, **_k):
        raise AssertionError("compiled again on a warm cache")

    monkeypatch.setattr(recache, "_build", no_build)
    warm = [recache.compile(p, f) for p, f in PATTERNS]
    for got, (p, f) in zip(warm, PATTERNS):
        _same(got, re.compile(p, f))
    assert recache._added == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xyab c1=>.-\n\x1b", max_size=30))
def test_warm_patterns_match_as_re_compile_does(text):
    for p, f in PATTERNS:
        pat = recache.compile(p, f)
        ref = re.compile(p, f)
        subject = text.encode() if isinstance(p, bytes) else text
        assert [m.span() for m in pat.finditer(subject)] == [m.span() for m in ref.finditer(subject)]
        assert pat.findall(subject) == ref.findall(subject)


def test_a_bad_pattern_raises_what_re_compile_raises(fresh):
    with pytest.raises(re.error) as ours:
        recache.compile(r"(?P<a>x")
    with pytest.raises(re.error) as theirs:
        re.compile(r"(?P<a>x")
    assert str(ours.value) == str(theirs.value)


def test_corrupt_foreign_and_unusable_entries_cost_a_compile_only(fresh, monkeypatch):
    for p, f in PATTERNS:
        recache.compile(p, f)
    recache._save()
    entry = next((fresh / "inferguard").glob("regex-*.marshal"))
    good = entry.read_bytes()

    corrupt = bytearray(good)
    corrupt[-3] ^= 0xFF
    entry.write_bytes(bytes(corrupt))
    _reset(monkeypatch)
    for p, f in PATTERNS:
        _same(recache.compile(p, f), re.compile(p, f))
    assert recache._added == len(PATTERNS)   # nothing was taken from the corrupt entry

    entry.write_bytes(good.replace(recache._key().encode(), recache._key().encode()[:-1] + b"X"))
    _reset(monkeypatch)
    recache.compile(*PATTERNS[0])
    assert recache._added == 1                # another interpreter's key: not used

    entry.write_bytes(good[: len(good) // 2])
    _reset(monkeypatch)
    recache.compile(*PATTERNS[0])
    assert recache._added == 1

    # no cache directory can be made (a file stands where it would go): patterns still compile
    blocker = fresh / "blocked"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    _reset(monkeypatch)
    _same(recache.compile(*PATTERNS[1]), re.compile(*PATTERNS[1]))
    recache._save()
    assert blocker.read_text() == "x"


def _evaluate(cache_home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    env.pop("INFERGUARD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "inferguard", "evaluate", str(PACKET), "--format", "json"],
                          capture_output=True, cwd=ROOT, env=env, timeout=300)


def test_evaluate_gives_the_same_bytes_with_a_cold_warm_and_corrupt_regex_cache(tmp_path):
    cold = _evaluate(tmp_path)
    assert cold.returncode in (0, 1) and cold.stdout.startswith(b"{"), cold.stderr
    entry = next((tmp_path / "inferguard").glob("regex-*.marshal"))
    warm = _evaluate(tmp_path)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))
    again = _evaluate(tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_a_table_past_its_budget_keeps_what_this_process_used(fresh, monkeypatch):
    for p, f in PATTERNS[:3]:
        recache.compile(p, f)
    recache._save()
    _reset(monkeypatch)
    monkeypatch.setattr(recache, "_used", set())
    monkeypatch.setattr(recache, "MAX_ENTRIES", 2)
    recache.compile(*PATTERNS[3])       # a new one: 4 entries, over the budget of 2
    recache.compile(*PATTERNS[0])       # used, from the table
    recache._save()
    _reset(monkeypatch)
    table = recache._load()
    assert set(table) == {PATTERNS[3], PATTERNS[0]}
