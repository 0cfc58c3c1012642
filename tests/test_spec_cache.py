"""The spec set cache: same report bytes with a cold, a warm, a corrupt and an unusable cache;
an entry is used only for exactly the spec files it was written for."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKET = ROOT / "fixtures" / "packets" / "vllm-lmcache-mp-h100"


def _evaluate(cache_home: Path | str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("INFERGUARD_DEBUG", None)
    env["XDG_CACHE_HOME"] = str(cache_home)
    return subprocess.run([sys.executable, "-m", "inferguard", "evaluate", str(PACKET), "--format", "json"],
                          capture_output=True, cwd=ROOT, env=env, timeout=300)


def _entries(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "inferguard").glob("specs-*.marshal"))


def test_report_bytes_are_the_same_with_a_cold_warm_corrupt_and_unusable_cache(tmp_path):
    cache = tmp_path / "cache"
    cold = _evaluate(cache)
    assert cold.returncode in (0, 1), cold.stderr
    assert cold.stdout.startswith(b"{")
    entries = _entries(cache)
    assert len(entries) == 1                      # the cold run wrote the entry
    written = entries[0].read_bytes()

    warm = _evaluate(cache)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert entries[0].read_bytes() == written     # a hit rewrites nothing

    # a corrupt entry (one byte of the payload flipped) is refused and replaced
    corrupt = bytearray(written)
    corrupt[-10] ^= 0xFF
    entries[0].write_bytes(bytes(corrupt))
    again = _evaluate(cache)
    assert (again.returncode, again.stdout) == (cold.returncode, cold.stdout)
    assert entries[0].read_bytes() == written

    # a truncated entry likewise
    entries[0].write_bytes(written[: len(written) // 2])
    again = _evaluate(cache)
    assert (again.returncode, again.stdout) == (cold.returncode, cold.stdout)

    # a cache directory that cannot be created: a regular file stands where it would go
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    unusable = _evaluate(a_file)
    assert (unusable.returncode, unusable.stdout, unusable.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert a_file.read_text() == "x"


def test_an_entry_under_another_key_is_not_used(tmp_path, monkeypatch):
    """The entry's own key is checked, not only its file name."""
    from inferguard.spec import loader

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = loader.load_specs(trust_cache=True)
    key = spec._memo.identity
    path = loader._cache_path(key)
    assert loader._read_cache(path, key) is not None
    other = key[:-1] + bytes([key[-1] ^ 1])      # one byte of the identity changed
    assert loader._read_cache(path, other) is None
    shutil.copy(path, loader._cache_path(other))
    assert loader._read_cache(loader._cache_path(other), other) is None


def _copy_specs(tmp_path: Path) -> Path:
    from inferguard._data import specs_dir

    dst = tmp_path / "specs"
    shutil.copytree(specs_dir(), dst)
    return dst


def test_a_warm_load_parses_no_yaml_and_gives_the_same_documents(tmp_path, monkeypatch):
    from inferguard.spec import loader, yamlload

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = _copy_specs(tmp_path)
    cold = loader.load_specs([specs], trust_cache=True)
    assert cold.checked and not cold.problems

    def no_yaml(*_a, **_k):
        raise AssertionError("YAML parsed on a cache hit")

    monkeypatch.setattr(yamlload, "load_all", no_yaml)
    warm = loader.load_specs([specs], trust_cache=True)
    assert warm.checked
    assert (warm.digest, warm.version, warm.files) == (cold.digest, cold.version, cold.files)
    assert sorted(warm.docs_by_kind) == sorted(cold.docs_by_kind)
    for kind, docs in cold.docs_by_kind.items():
        got = warm.docs_by_kind[kind]
        assert [(d.path, d.index, d.data) for d in got] == [(d.path, d.index, d.data) for d in docs]
        # the marks that errors point with survive the cache
        assert [(d.data.line, d.data.col, d.data.key_lines) for d in got] == \
            [(d.data.line, d.data.col, d.data.key_lines) for d in docs]
    # specs lint never trusts the cache: without trust_cache the YAML is parsed
    with pytest.raises(AssertionError, match="YAML parsed"):
        loader.load_specs([specs])


def test_a_changed_spec_file_invalidates_the_cache(tmp_path, monkeypatch):
    from inferguard.spec import loader

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = _copy_specs(tmp_path)
    first = loader.load_specs([specs], trust_cache=True)
    assert len(_entries(tmp_path / "cache")) == 1

    # a change that keeps the set valid: the new text is what is loaded
    surfaces = next(p for p in sorted(specs.rglob("*.yaml")) if "kind: Surfaces" in p.read_text(encoding="utf-8"))
    text = surfaces.read_text(encoding="utf-8")
    surfaces.write_text(text + "\n# edited\n", encoding="utf-8")
    second = loader.load_specs([specs], trust_cache=True)
    assert second.digest != first.digest
    assert len(_entries(tmp_path / "cache")) == 2

    # a change that breaks the set: refused, never answered from the entry of the valid text
    checklist = next(p for p in sorted(specs.rglob("*.yaml")) if "kind: Checklist" in p.read_text(encoding="utf-8"))
    body = checklist.read_text(encoding="utf-8")
    assert "    weight: 8\n" in body
    checklist.write_text(body.replace("    weight: 8\n", "    weight: 9\n", 1), encoding="utf-8")
    with pytest.raises(loader.SpecError) as err:
        loader.load_specs([specs], trust_cache=True)
    assert any(p.rule == "checklist/weights" for p in err.value.problems)

    # restored: the first entry serves again
    checklist.write_text(body, encoding="utf-8")
    surfaces.write_text(text, encoding="utf-8")
    again = loader.load_specs([specs], trust_cache=True)
    assert again.digest == first.digest and again.checked


def _paths(node, prefix=()):
    """Every path into a document (keys of mappings, indexes of sequences), and one past each end."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
        yield prefix + ("no-such-key",)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))
        yield prefix + (len(node),)


def test_every_position_a_warm_load_locates_is_the_cold_one(tmp_path, monkeypatch):
    """The marks inside a cached document are decoded on demand and point where the YAML's do."""
    from inferguard.spec import loader
    from inferguard.spec.marked import CachedDoc, locate

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = _copy_specs(tmp_path)
    cold = loader.load_specs([specs], trust_cache=True)
    warm = loader.load_specs([specs], trust_cache=True)
    n = 0
    for kind, docs in cold.docs_by_kind.items():
        for c, w in zip(docs, warm.docs_by_kind[kind]):
            assert isinstance(w.data, CachedDoc) and not isinstance(c.data, CachedDoc)
            for path in _paths(c.data):
                assert locate(w.data, path) == locate(c.data, path), (c.path, path)
                n += 1
    assert n > 5000


def test_an_entry_holding_values_marshal_cannot_write_round_trips(tmp_path, monkeypatch):
    """A spec set with a YAML timestamp is written with pickle and read back the same."""
    import datetime

    from inferguard.spec import loader
    from inferguard.spec.marked import locate
    from inferguard.spec.yamlload import load_all

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    doc = load_all("kind: X\nwhen: 2024-05-01\nitems:\n  - {a: 1}\n  - [b, c]\n")[0]
    assert isinstance(doc["when"], datetime.date)
    path = Path(loader._cache_path(b"f" * 64))
    loader._write_cache(path, b"f" * 64, "sha256:0", [("X", 0, 0, doc)])
    raw = path.read_bytes()
    assert raw[len(loader._MAGIC) + 4 + 64 + 4:][:1] == b"P"
    digest, [(kind, fi, i, back)] = loader._read_cache(path, b"f" * 64)
    assert digest == "sha256:0"
    assert (kind, fi, i, back) == ("X", 0, 0, doc)
    for p in [(), ("when",), ("items", 0, "a"), ("items", 1, 1), ("items", 2)]:
        assert locate(back, p) == locate(doc, p)


def test_memo_results_are_kept_beside_the_entry_and_checked(tmp_path, monkeypatch):
    """A pure view of a cached spec set is computed once per machine; the kept results are
    those the function gives, and a corrupt or foreign memo file is ignored."""
    from inferguard.spec import loader

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = _copy_specs(tmp_path)
    loader.load_specs([specs], trust_cache=True)            # cold: writes the entry
    first = loader.load_specs([specs], trust_cache=True)    # warm
    calls = []

    def f(arg):
        calls.append(arg)
        return ("v", arg * 2)

    assert first.memo("t.f", 21, f) == ("v", 42) and first.memo("t.f", 21, f) == ("v", 42)
    assert calls == [21]
    first._memo._save()
    memo_file = Path(loader._memo_path(first._memo.identity))
    assert memo_file.is_file()

    second = loader.load_specs([specs], trust_cache=True)
    assert second.memo("t.f", 21, f) == ("v", 42) and calls == [21]   # from the file

    data = bytearray(memo_file.read_bytes())
    data[-2] ^= 0xFF
    memo_file.write_bytes(bytes(data))
    third = loader.load_specs([specs], trust_cache=True)
    assert third.memo("t.f", 21, f) == ("v", 42) and calls == [21, 21]  # corrupt: computed again

    # a spec set not loaded through the cache has no memo: the function runs every time
    plain = loader.load_specs([specs])
    assert plain.memo("t.f", 1, f) == ("v", 2) and calls == [21, 21, 1]


def test_log_pattern_sets_are_the_same_with_and_without_kept_views(tmp_path, monkeypatch):
    from inferguard.spec import loader
    from inferguard.spec.kinds import log_patterns as lp

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = _copy_specs(tmp_path)
    loader.load_specs([specs], trust_cache=True)
    warm = loader.load_specs([specs], trust_cache=True)
    plain = loader.load_specs([specs])
    for hint in (None, "vllm", "sglang", "lmcache"):
        a = lp.compile(warm).select(hint)
        a_again = lp.compile(loader.load_specs([specs], trust_cache=True)).select(hint)
        b = lp.compile(plain).select(hint)
        for x in (a, a_again):
            assert x.lines.pattern == b.lines.pattern and x.header.pattern == b.header.pattern
            assert {k: [p.id for p in v] for k, v in x.by_literal.items()} == {k: [p.id for p in v] for k, v in b.by_literal.items()}
            assert [(p.id, p.prefix) for p in x.patterns] == [(p.id, p.prefix) for p in b.patterns]
        warm._memo._save()
