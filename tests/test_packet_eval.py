"""How `evaluate` recognises a packet's files (patterns from specs/specset.yaml)."""
from __future__ import annotations

import json
import shutil

from conftest import FIXTURES, H100, load_json, run_cli


def test_loose_replay_files_are_one_view_counted_once(tmp_path, spec):
    from inferguard.flow.packet import classify

    for f in (FIXTURES / "lmcache" / "replay-0.5.6-cpu" / "replay").iterdir():
        shutil.copy(f, tmp_path / f.name)
    roles = classify(str(tmp_path), spec)
    assert [p.rsplit("/", 1)[1] for p in roles["lmcache_trace_replay"]] == ["replay_records.jsonl"]
    # replay_stdout.log is a replay view, not a server log
    assert "lmcache_log" not in roles


def test_lane_evidence_json_wins_over_raw_files(tmp_path, spec):
    from inferguard.flow.packet import classify

    shutil.copy(H100 / "lmcache_server.log", tmp_path / "lmcache_server.log")
    (tmp_path / "lmcache_log_evidence.json").write_text("{}")
    roles = classify(str(tmp_path), spec)
    assert [p.rsplit("/", 1)[1] for p in roles["lmcache_log"]] == ["lmcache_log_evidence.json"]


def test_unreadable_context_file_is_a_problem_with_location_and_the_packet_is_still_evaluated(tmp_path):
    shutil.copy(H100 / "lmcache.prom", tmp_path / "lmcache.prom")
    (tmp_path / "context.yaml").write_text("l2_configured: true\nexpected_engine: [unclosed\n")
    out = tmp_path / "r.json"
    proc = run_cli("evaluate", str(tmp_path), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(out.read_text())
    ctx_probs = [p for p in rep["problems"] if p["path"].endswith("context.yaml")]
    assert len(ctx_probs) == 1 and ctx_probs[0]["line"] == 3 and "not used" in ctx_probs[0]["message"]
    assert rep["context"]["l2_configured"] is False      # the unreadable file declared nothing
    assert rep["family_counts"]["measured"] > 0


def test_unknown_context_key_is_rejected(tmp_path):
    shutil.copy(H100 / "lmcache.prom", tmp_path / "lmcache.prom")
    (tmp_path / "context.json").write_text(json.dumps({"l3_configured": True}))
    proc = run_cli("evaluate", str(tmp_path))
    assert proc.returncode == 2 and "unknown context keys: l3_configured" in proc.stderr


def test_context_changes_applicability(tmp_path):
    shutil.copy(H100 / "lmcache.prom", tmp_path / "lmcache.prom")
    (tmp_path / "context.yaml").write_text("l2_configured: true\n")
    out = tmp_path / "r.json"
    assert run_cli("evaluate", str(tmp_path), "--output", str(out)).returncode == 0
    row = next(r for r in load_json(out)["surfaces"] if r["id"] == "lmcache.mp_prometheus")
    l2 = next(i for i in row["items"] if i.get("family") == "lmcache_mp.l2")
    assert l2["status"] == "absent" and row["status"] == "partial"


def test_empty_or_missing_packet_dir(tmp_path):
    proc = run_cli("evaluate", str(tmp_path))
    assert proc.returncode == 2 and "no recognised evidence files" in proc.stderr
    proc = run_cli("evaluate", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "No such directory" in proc.stderr


def test_lane_evidence_flag_validates_each_source_against_its_reader_schema(tmp_path, spec):
    from inferguard.evidence import lane_document
    from inferguard.readers.lct import read

    good = lane_document("lmcache_trace", [read(str(FIXTURES / "lmcache" / "trace-0.5.6-cpu" / "storage_trace.lct"), specs=spec)], spec)
    f = tmp_path / "lmcache_trace_evidence.json"
    f.write_text(json.dumps(good))
    ok = run_cli("lmcache-compat", "--lmcache-trace-evidence-file", str(f), "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["surfaces"][[r["id"] for r in json.loads(ok.stdout)["surfaces"]].index("lmcache.trace_recording")]["status"] == "covered"
    bad = dict(good)
    bad["sources"] = [dict(good["sources"][0], records="many")]
    f.write_text(json.dumps(bad))
    proc = run_cli("lmcache-compat", "--lmcache-trace-evidence-file", str(f))
    assert proc.returncode == 2
    assert "not a valid lane evidence file at sources/0/records" in proc.stderr


def test_lookup_hash_rotation_comes_from_the_packets_lmcache_argv(tmp_path, spec):
    from inferguard.flow.coverage import Inputs, build_evidence, default_context

    shutil.copytree(FIXTURES / "lmcache" / "lookup-hash-0.5.6-cpu" / "lookup_hashes", tmp_path / "lookup_hashes")
    ev = build_evidence(Inputs(lane_files={"lmcache_lookup_hash": [str(tmp_path / "lookup_hashes")]},
                               argv_files={"lmcache": str(H100 / "lmcache_command.json")}, context=default_context()), spec)
    rot = ev["lanes"]["lmcache_lookup_hash"]["sources"][0]["summary"]["rotation"]
    assert rot["flags"] == {"--lookup-hash-log-rotation-interval": 21600,
                            "--lookup-hash-log-rotation-max-size": 104857600, "--lookup-hash-log-max-files": 10}
