"""`specs lint` as named checks: every reference in every document resolves, and each kind of
typo a maintainer makes fails with its check id and path:line:col."""
from __future__ import annotations

import re
import shutil

import pytest

from conftest import ROOT, run_cli


def _copy_specs(tmp_path):
    dest = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", dest)
    return dest


def _plant(specs, rel: str, old: str, new: str) -> int:
    """Replace the first `old` in specs/rel; return the 1-based line it is on."""
    path = specs / rel
    text = path.read_text()
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line


TYPOS = [
    ("context key", "surfaces.yaml", 'required_when: "context.l2_configured"', 'required_when: "context.l2_configurd"',
     "expr/unknown-context-key"),
    ("lane", "surfaces.yaml", "{lane: lmcache_trace, signals:", "{lane: lmcache_trac, signals:", "surfaces/unknown-lane"),
    ("signal", "surfaces.yaml", "{lane: lmcache_otel, signals: [spans]}", "{lane: lmcache_otel, signals: [spanz]}",
     "surfaces/unknown-signal"),
    ("source", "surfaces.yaml", "sources: [lmcache_otel]", "sources: [lmcache_otl]", "surfaces/unknown-source"),
    ("fixture path", "surfaces.yaml", "{path: fixtures/lmcache/http-0.5.6-cpu,", "{path: fixtures/lmcache/http-0.5.6-cpux,",
     "surfaces/missing-fixture"),
    ("expected item", "surfaces.yaml", "items: {lmcache_mp.l2: measured}", "items: {lmcache_mp.l22: measured}",
     "surfaces/unknown-expected-item"),
    ("detection lane signal", "detection.yaml", "signal: connector.LMCacheMPConnector}", "signal: conector.LMCacheMPConnector}",
     "detection/unknown-signal"),
    ("next command", "surfaces.yaml", "--lmcache-otel-file otlp_spans.jsonl", "--lmcache-otel-fil otlp_spans.jsonl",
     "surfaces/next-command"),
    ("context key in the vocabulary", "vocabulary.yaml", "implies: [external_cache_configured]",
     "implies: [external_cache_configurd]", "vocabulary/unknown-implied-key"),
    ("payload signal", "http/lmcache.yaml", "signals: [{name: config_adapters}]", "signals: [{name: config_adaptors}]",
     "http_endpoints/undeclared-signal"),
    ("payload lane", "http/lmcache.yaml", "lane: lmcache_http", "lane: lmcache_htp", "http_endpoints/unknown-lane"),
    ("window group", "metrics/vllm.yaml", "window: {group: queue}", "window: {group: queu}",
     "metrics/unknown-window-group"),
]


def test_the_bundled_spec_set_is_clean():
    proc = run_cli("specs", "lint", "--root", str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fixtures checked in" in proc.stdout


@pytest.mark.parametrize("what,rel,old,new,check", TYPOS, ids=[t[0] for t in TYPOS])
def test_each_typo_fails_lint_with_its_check_id_and_place(tmp_path, what, rel, old, new, check):
    specs = _copy_specs(tmp_path)
    line = _plant(specs, rel, old, new)
    proc = run_cli("specs", "lint", "--root", str(ROOT), str(specs))
    assert proc.returncode == 2, proc.stdout
    hits = [l for l in proc.stdout.splitlines() if f": {check}: " in l]
    assert hits, proc.stdout
    assert any(re.match(rf".*{re.escape(rel)}:{line}:\d+: {re.escape(check)}: ", h) for h in hits), (line, hits)
    # nothing but that typo is reported
    assert all(f": {check}: " in l for l in proc.stdout.splitlines()), proc.stdout


def test_missing_fixture_is_not_checked_without_a_checkout(tmp_path):
    specs = _copy_specs(tmp_path)
    _plant(specs, "surfaces.yaml", "{path: fixtures/lmcache/http-0.5.6-cpu,", "{path: fixtures/lmcache/nope,")
    proc = run_cli("specs", "lint", str(specs), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "fixture folders not checked (no checkout; pass --root)" in proc.stdout


def test_list_checks_names_every_check_once():
    from inferguard.spec.checks import CHECKS

    proc = run_cli("specs", "lint", "--list-checks")
    assert proc.returncode == 0
    ids = [line.split()[0] for line in proc.stdout.splitlines()]
    assert ids == list(CHECKS) and len(set(ids)) == len(ids)
    for t in TYPOS:
        assert t[4] in CHECKS
    assert all(re.fullmatch(r"[a-z_]+/[a-z0-9-]+", i) for i in ids)


def test_the_checks_are_documented():
    text = (ROOT / "docs" / "spec-checks.md").read_text()
    from inferguard.spec.checks import CHECKS

    for cid, c in CHECKS.items():
        assert f"| `{cid}` | {c.severity} | {c.description} |" in text


@pytest.mark.expect_internal_error
def test_an_undeclared_check_id_is_our_defect(monkeypatch):
    from click.testing import CliRunner

    from inferguard.cli.app import main
    from inferguard.core.problems import Problem
    from inferguard.spec import semantic

    monkeypatch.setattr(semantic, "CHECKS", semantic.CHECKS + [lambda spec: [Problem("spec", "x.yaml", "m", 1, 1, rule="nope/undeclared")]])
    res = CliRunner().invoke(main, ["specs", "lint"])
    assert res.exit_code == 3 and "undeclared check id 'nope/undeclared'" in res.output


STRUCTURE = [
    ("metric id prefix", "metrics/sglang.yaml", "  - id: sglang.", "  - id: sglangx.", "metrics/id-prefix"),
    ("deprecated without a note", "metrics/vllm.yaml",
     '\n             note: "V0 engine only: the inventories list it up to 0.8.5 and not from 0.9.2 on."}', "}",
     "metrics/experimental-note"),
]


@pytest.mark.parametrize("what,rel,old,new,check", STRUCTURE, ids=[t[0] for t in STRUCTURE])
def test_structural_rules_are_checks(tmp_path, what, rel, old, new, check):
    specs = _copy_specs(tmp_path)
    _plant(specs, rel, old, new)
    proc = run_cli("specs", "lint", "--root", str(ROOT), str(specs))
    assert proc.returncode == 2, proc.stdout
    assert f": {check}: " in proc.stdout, proc.stdout


def test_every_check_id_the_code_can_emit_is_declared():
    """Each `rule="area/name"` in the sources, and each rule the kind plugins pass to their
    problem helper, is a declared check (an undeclared one would end lint with exit 3)."""
    from inferguard.spec.checks import CHECKS

    src = ROOT / "src" / "inferguard"
    emitted = set()
    for py in src.rglob("*.py"):
        text = py.read_text()
        emitted.update(re.findall(r'rule="([a-z_]+/[a-z0-9-]+)"', text))
        if py.parent.name == "kinds":
            area = py.stem
            for call in re.findall(r"_p\((?:[^()]|\([^()]*\))*\)", text, flags=re.S):
                last = re.findall(r'"([a-z][a-z-]*)"\s*$', call[:-1].rstrip())
                if last and not call.startswith("_p(path: str"):
                    emitted.add(f"{area}/{last[0]}")
    assert emitted, "no rule ids found"
    assert not sorted(emitted - set(CHECKS)), sorted(emitted - set(CHECKS))


LANE_SAMPLES = {
    "lmcache_http": ["fixtures/real/lmcache-0.5.6-cpu/run1/http", "fixtures/real/lmcache-0.5.6-cpu/run4/http",
                     "fixtures/lmcache/http-0.5.6-cpu/http", "fixtures/lmcache/live-0.5.6-cpu/http"],
    "lmcache_log": ["fixtures/lmcache/logs-0.5.6-cpu/run2_server.log", "fixtures/lmcache/live-0.5.6-cpu/lmcache_server.log"],
    "lmcache_otel": ["fixtures/lmcache/otel-0.5.6-cpu/otlp_spans.slice.jsonl",
                     "fixtures/lmcache/otel-0.5.6-cpu/otlp_metrics.slice.jsonl"],
    "lmcache_trace": ["fixtures/lmcache/trace-0.5.6-cpu/events_trace.lct", "fixtures/lmcache/trace-0.5.6-cpu/storage_trace.lct"],
    "lmcache_trace_replay": ["fixtures/lmcache/replay-0.5.6-cpu/replay"],
    "lmcache_lookup_hash": ["fixtures/lmcache/lookup-hash-0.5.6-cpu/lookup_hashes"],
    "lmcache_cacheblend": ["fixtures/lmcache/cacheblend-synthetic/blend_boundaries.jsonl"],
}


@pytest.mark.parametrize("lane", sorted(LANE_SAMPLES))
def test_every_signal_a_reader_emits_is_declared_in_the_vocabulary(lane, spec):
    """The Vocabulary is the one list of each lane's signals: what the reader really emits on
    real inputs is declared there (so lint can resolve every reference to it)."""
    from inferguard.flow.coverage import load_lane_file
    from inferguard.spec.registry import registry_of
    from inferguard.spec.semantic import _lane_signal_ok

    reg = registry_of(spec)
    emitted = set()
    for rel in LANE_SAMPLES[lane]:
        doc = load_lane_file(lane, str(ROOT / rel), spec)
        emitted |= set(doc["signals"])
    assert emitted, lane
    undeclared = sorted(s for s in emitted if not _lane_signal_ok(spec, reg, lane, s))
    assert not undeclared, undeclared
