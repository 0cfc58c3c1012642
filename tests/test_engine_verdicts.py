"""Verdicts live in the engine, their tables in the specs: readers report facts (what a
health body said, how many disagreements a replay view has), the engine judges them; the
lmcache-compat mode check and the --fail-on policy are engine functions over the Vocabulary."""
from __future__ import annotations

import itertools

import pytest

from inferguard.engine import verdicts as v
from inferguard.readers import lmcache_http as reader
from inferguard.spec import default_specs
from inferguard.spec.kinds import http_endpoints as he
from inferguard.spec.registry import registry_of
from inferguard.spec.yamlload import load_all
from conftest import ROOT


@pytest.fixture(scope="module")
def registry():
    return registry_of(default_specs())


def test_mode_check_follows_the_vocabulary(registry):
    modes = registry["lmcache_modes"]
    got = {(e, d): v.mode_check(e, d, [], modes)["result"]
           for e, d in itertools.product(("auto", "mp", "embedded"), ("mp", "embedded", "both", "none"))}
    assert got == {
        ("auto", "mp"): "detected", ("auto", "embedded"): "detected", ("auto", "both"): "detected",
        ("auto", "none"): "no_lmcache",
        ("mp", "mp"): "match", ("mp", "embedded"): "mismatch", ("mp", "both"): "match", ("mp", "none"): "mismatch",
        ("embedded", "mp"): "mismatch", ("embedded", "embedded"): "match", ("embedded", "both"): "match",
        ("embedded", "none"): "mismatch",
    }
    # the table is data: a mode that satisfies nothing never matches
    assert v.mode_check("mp", "mp", ["s"], [{"id": "mp", "satisfies": []}]) == {
        "expected": "mp", "detected": "mp", "result": "mismatch", "signals": ["s"]}


def test_fail_on_aliases_are_selections_of_declared_checks(registry):
    """`--fail-on mode-mismatch|missing-required` keep their meaning as data: each alias of the
    Vocabulary names the checks whose findings fail it, whatever their severity."""
    from inferguard.engine.findings import fails, report_findings

    aliases, checks = registry["fail_on"], registry["checks"]
    assert [a["id"] for a in aliases] == ["mode-mismatch", "missing-required"]
    def mc(result, expected="mp", detected="mp"):
        return {"expected": expected, "detected": detected, "result": result, "signals": {}}

    ok = {"mode_check": mc("match"), "gaps": [{"row": "r", "item": "f", "collected": False, "status": "absent"},
                                                     {"row": "r", "item": "g", "collected": True, "status": "present_zero"}]}
    gap = {"mode_check": mc("detected", "auto"), "gaps": [{"row": "r", "item": "f", "collected": True, "status": "absent"}]}
    bad = {"mode_check": mc("no_lmcache", "auto", "none"), "gaps": []}
    policies = ("never", "mode-mismatch", "missing-required")
    got = {name: [fails(p, report_findings(r, checks), aliases) for p in policies]
           for name, r in (("ok", ok), ("gap", gap), ("bad", bad))}
    assert got == {"ok": [False, False, False], "gap": [False, False, True], "bad": [False, True, True]}
    from inferguard.core.problems import InternalError

    with pytest.raises(InternalError):
        fails("sometimes", [], aliases)


def test_health_verdict_from_facts():
    rules = {"said": {"healthy": "healthy", "unhealthy": "unhealthy"}, "unhealthy_http_status": [503]}
    hc = {"said": "healthy", "reason": None, "http_status": 503, "route": "mp.healthcheck"}
    health, sig = v.lmcache_health([hc], {}, {}, rules)
    assert health == {"state": "unhealthy", "route": "mp.healthcheck", "reasons": ["healthcheck reports unhealthy"]}
    assert sig == {"health_unhealthy": 1, "health_ok": 0}
    health, sig = v.lmcache_health([], {"is_healthy": True}, {}, rules)
    assert health == {"state": "healthy", "from": "status"} and sig == {"health_ok": 1, "health_unhealthy": 0}
    health, sig = v.lmcache_health([dict(hc, said="fine", http_status=200)], {}, {"healthy": False, "unhealthy_count": 2}, rules)
    assert health["state"] == "unhealthy" and health["reasons"] == ["2 periodic thread(s) unhealthy"]
    assert v.lmcache_health([], {}, {}, rules) == ({"state": "unknown"}, {})
    assert v.status_unhealthy({"is_healthy": True, "unhealthy_components": ["l2"]})
    assert not v.status_unhealthy({"is_healthy": True})


def test_health_rules_come_from_the_spec():
    """Changing the HttpEndpoints `health` table changes the lmcache_http lane's verdict."""
    text = (ROOT / "specs" / "http" / "lmcache.yaml").read_text()
    body = reader.Body(data=b'{"status": "ok"}', path="/healthcheck")
    raw = reader.read_bodies([body])
    # the reader reports what the body said and decides nothing
    assert "health" not in raw.summary and "health_ok" not in raw.signals
    assert raw.facts["healthchecks"] == [{"said": "ok", "reason": None, "http_status": None, "route": "mp.healthcheck"}]
    assert "facts" not in raw.to_json()
    assert v.judge(raw).summary["health"]["state"] == "unknown"
    docs = load_all(text.replace("said: {healthy: healthy, unhealthy: unhealthy}", "said: {ok: healthy}"))
    idx = he.compile(docs)
    assert idx.health == {"said": {"ok": "healthy"}, "unhealthy_http_status": [503]}
    res = v.judge(reader.read_bodies([body], specs=docs), docs)
    assert res.summary["health"] == {"state": "healthy", "route": "mp.healthcheck"}
    assert res.signals["health_ok"] == 1 and res.signals["health_unhealthy"] == 0


def test_replay_verdict():
    checks = v.replay_cross_checks([{"view": "a", "agrees": None, "disagreements": 0},
                                    {"view": "b", "agrees": None, "disagreements": 3}])
    assert [c["agrees"] for c in checks] == [True, False]
    assert list(checks[0]) == ["view", "agrees", "disagreements"]


def test_lint_checks_the_verdict_tables(tmp_path):
    from conftest import run_cli
    import re

    text = (ROOT / "specs" / "vocabulary.yaml").read_text()
    bad = text.replace("satisfies: [auto, mp, embedded]", "satisfies: [auto, mp, embeded]", 1)
    bad = bad.replace("  - id: missing-required\n", "  - id: mode-mismatch\n", 1)
    assert bad != text
    spec_dir = tmp_path / "specs"
    import shutil

    shutil.copytree(ROOT / "specs", spec_dir)
    (spec_dir / "vocabulary.yaml").write_text(bad)
    proc = run_cli("specs", "lint", str(spec_dir))
    assert proc.returncode == 2, proc.stdout
    line = next(i for i, s in enumerate(bad.splitlines(), 1) if "embeded" in s)
    assert re.search(rf"vocabulary\.yaml:{line}:\d+: vocabulary/unknown-mode: mode 'both' satisfies 'embeded'", proc.stdout), proc.stdout
    line = [i for i, s in enumerate(bad.splitlines(), 1) if "- id: mode-mismatch" in s][1]
    assert re.search(rf"vocabulary\.yaml:{line}:\d+: vocabulary/duplicate-id: duplicate fail_on policy 'mode-mismatch'", proc.stdout), proc.stdout


def _engine_imports(text: str, name: str = "<src>") -> list[str]:
    """`line: module` for every import of inferguard.engine in `text`, at the top or in a function."""
    import ast

    out = []
    for node in ast.walk(ast.parse(text, name)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        else:
            continue
        out += [f"{node.lineno}: {n}" for n in names if n == "inferguard.engine" or n.startswith("inferguard.engine.")]
    return out


def test_readers_import_no_engine_module():
    """A reader never evaluates: no module under readers/ imports inferguard.engine, so a
    verdict cannot slip back into a reader."""
    readers = sorted((ROOT / "src" / "inferguard" / "readers").glob("*.py"))
    assert len(readers) >= 8
    offenders = [f"{p.name}:{hit}" for p in readers for hit in _engine_imports(p.read_text(encoding="utf-8"), str(p))]
    assert offenders == []


def test_the_import_check_sees_both_import_forms():
    src = ("from inferguard.engine.verdicts import judge\nimport inferguard.evidence\n"
           "def f():\n    import inferguard.engine.status as s\n    from inferguard.engine import findings\n")
    assert _engine_imports(src) == ["1: inferguard.engine.verdicts", "4: inferguard.engine.status", "5: inferguard.engine"]


def test_lane_evidence_is_judged_by_the_engine(tmp_path):
    """Through the flow: the verdict the readers no longer make is in the lane evidence."""
    from inferguard.flow.coverage import load_lane_file

    spec = default_specs()
    folder = ROOT / "fixtures" / "real" / "lmcache-0.5.6-cpu" / "run1" / "http"
    doc = load_lane_file("lmcache_http", str(folder), spec)
    src = doc["sources"][0]
    assert src["summary"]["health"]["state"] == "healthy"
    assert doc["signals"]["health_ok"] == 1 and doc["signals"]["health_unhealthy"] == 0
