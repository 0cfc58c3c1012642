"""End to end on the real command line: collect-lmcache from files, then evaluate the packet."""
from __future__ import annotations

import json
import re

import pytest

from conftest import FIXTURES, load_json, run_cli

LM = FIXTURES / "lmcache"


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    out = tmp_path_factory.mktemp("pkt")
    http = LM / "http-0.5.6-cpu" / "http"
    proc = run_cli(
        "collect-lmcache", "--output-dir", str(out),
        "--lmcache-metrics-file", str(LM / "mp-0.5.6-cpu-l2" / "lmcache.prom"),
        "--lmcache-status-file", str(http / "GET_status_after_traffic.body"),
        "--lmcache-health-file", str(http / "GET_healthcheck.body"),
        "--lmcache-version-file", str(http / "GET_version.body"),
        "--lmcache-log-file", str(LM / "logs-0.5.6-cpu" / "run2_server.log"),
        "--lmcache-otel-file", str(LM / "otel-0.5.6-cpu" / "otlp_spans.slice.jsonl"),
        "--lmcache-trace-file", str(LM / "trace-0.5.6-cpu" / "storage_trace.lct"),
        "--lmcache-trace-replay-output", str(LM / "replay-0.5.6-cpu" / "replay"),
        "--lmcache-lookup-hash-path", str(LM / "lookup-hash-0.5.6-cpu" / "lookup_hashes"),
        "--expect-mode", "mp", "--l2-configured",
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_packet_evaluates_with_every_lmcache_lane_covered(packet, tmp_path, report_validator):
    from conftest import validate

    out = tmp_path / "eval.json"
    proc = run_cli("evaluate", str(packet), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = load_json(out)
    validate(report_validator, rep)
    rows = {r["id"]: r["status"] for r in rep["surfaces"]}
    for rid in ("lmcache.mp_prometheus", "lmcache.mp_http", "lmcache.logs", "lmcache.otel_spans",
                "lmcache.trace_recording", "lmcache.trace_replay", "lmcache.lookup_hash"):
        assert rows[rid] == "covered", (rid, rows[rid])
    assert rep["detected"]["lmcache_mode"] == "mp"
    # the packet's lane evidence is read, not the raw files a second time
    assert set(rep["packet"]["files"]["lmcache_log"]) == {"lmcache_log_evidence.json"}


def test_lane_counts_survive_the_packet(packet, spec):
    from inferguard.readers.lct import read as read_lct

    trace = load_json(packet / "lmcache_trace_evidence.json")
    direct = read_lct(str(LM / "trace-0.5.6-cpu" / "storage_trace.lct"), specs=spec)
    assert trace["signals"]["records"] == direct.signals["records"] > 0


def test_no_raw_chunk_hash_or_prompt_reaches_the_packet(packet):
    src = (LM / "lookup-hash-0.5.6-cpu" / "lookup_hashes").glob("*.jsonl")
    hashes = {h for f in src for line in f.read_text().splitlines() if line.strip()
              for h in json.loads(line).get("chunk_hashes", [])}
    assert hashes
    blob = "\n".join(p.read_text(errors="replace") for p in packet.rglob("*") if p.is_file())
    leaked = [h for h in hashes if h in blob or h[2:] in blob]
    assert not leaked, leaked[:3]


def test_manifest_lists_artifacts_with_digests(packet):
    import hashlib

    man = load_json(packet / "packet_manifest.json")
    assert man["state"] == "complete"
    copied = [a for a in man["artifacts"] if a.get("path")]
    assert copied
    for a in copied:
        data = (packet / a["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == a["sha256"], a["path"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", man["spec"]["digest"])
