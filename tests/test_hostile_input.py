"""Bad input never aborts a whole command: each bad piece is a problem with its file and
offset (or URL), and the rest is still read. Invalid UTF-8 in JSON inputs is reported,
never silently replaced. Everything through the command line.
"""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES, H100, load_json, run_cli
from hostile_server import HostileServer, raw

OTEL = FIXTURES / "lmcache" / "otel-0.5.6-cpu" / "otlp_spans.slice.jsonl"
REPLAY = FIXTURES / "lmcache" / "replay-0.5.6-cpu" / "replay"
LOOKUP = FIXTURES / "lmcache" / "lookup-hash-0.5.6-cpu" / "lookup_hashes" / "lookup_hashes_20261129_082823_000000.jsonl"
HTTP = FIXTURES / "lmcache" / "http-0.5.6-cpu" / "http"

BIG_INT = b"1" * 5000
DEEP = b"[" * 100000 + b"]" * 100000


def _no_internal_error(proc) -> None:
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def _json_report(*args: str) -> dict:
    proc = run_cli(*args, "--format", "json")
    _no_internal_error(proc)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _lane_problems(rep: dict, path) -> list[dict]:
    return [p for p in rep["problems"] if str(path) in p.get("path", "")]


# --------------------------------------------------------------------------- JSON limits


@pytest.mark.parametrize("bad, what", [
    (b'{"resourceSpans": [], "n": ' + BIG_INT + b"}\n", "integer of more than 4300 digits"),
    (DEEP + b"\n", "nested too deeply"),
    (b'{"name": "\xff\xfe"}\n', "not valid UTF-8"),
])
def test_one_bad_otel_line_keeps_every_other_span(tmp_path, bad, what):
    lines = OTEL.read_bytes().splitlines(keepends=True)
    f = tmp_path / "spans.jsonl"
    f.write_bytes(b"".join(lines[:3]) + bad + b"".join(lines[3:]))
    whole = _json_report("lmcache-compat", "--lmcache-otel-evidence-file", str(OTEL))
    rep = _json_report("lmcache-compat", "--lmcache-otel-evidence-file", str(f))
    probs = _lane_problems(rep, f)
    assert len(probs) == 1 and what in probs[0]["message"] and probs[0]["line"] == 4
    assert probs[0]["offset"] >= len(b"".join(lines[:3]))
    spans = lambda r: [s for s in r["inputs"] if s["path"] == str(f) or s["path"] == str(OTEL)][0]["records"]  # noqa: E731
    assert spans(rep) == spans(whole) > 0


def test_collect_lmcache_keeps_the_spans_of_a_file_with_one_bad_line(tmp_path):
    lines = OTEL.read_bytes().splitlines(keepends=True)
    f = tmp_path / "spans.jsonl"
    f.write_bytes(lines[0] + b'{"resourceSpans": [], "n": ' + BIG_INT + b"}\n" + b"".join(lines[1:]))
    out = tmp_path / "p"
    proc = run_cli("collect-lmcache", "--output-dir", str(out), "--lmcache-otel-file", str(f))
    _no_internal_error(proc)
    assert proc.returncode == 0
    ev = load_json(out / "lmcache_otel_evidence.json")
    src = ev["sources"][0]
    assert src["signals"]["spans"] > 0
    assert [(p["line"], "4300 digits" in p["message"]) for p in src["problems"]] == [(2, True)]
    assert load_json(out / "packet_manifest.json")["lanes"]["lmcache_otel"]["status"] == "problems"


@pytest.mark.parametrize("flag", ["--lmcache-http-evidence-file", "--lmcache-log-evidence-file",
                                  "--lmcache-otel-evidence-file", "--lmcache-trace-evidence-file",
                                  "--lmcache-trace-replay-evidence-file", "--lmcache-lookup-hash-evidence-file"])
@pytest.mark.parametrize("content", [b'{"kind": "LaneEvidence", "n": ' + BIG_INT + b"}\n",
                                     b'{"kind": "LaneEvidence", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"])
def test_lane_flags_never_abort_on_json_beyond_limits(tmp_path, flag, content):
    f = tmp_path / "lane.json"
    f.write_bytes(content)
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(H100 / "engine.prom"), flag, str(f),
                   "--format", "json")
    _no_internal_error(proc)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["family_counts"]["measured"] > 0           # the scrape beside it is still read


# --------------------------------------------------------------------------- invalid UTF-8 in JSON inputs


def test_invalid_utf8_in_a_replay_summary_is_reported_not_replaced(tmp_path):
    d = tmp_path / "replay"
    shutil.copytree(REPLAY, d)
    summary = d / "trace_replay_summary.json"
    data = summary.read_bytes()
    at = data.index(b'"ops"')
    summary.write_bytes(data[:at] + b'"n\xffote": 1, ' + data[at:])
    rep = _json_report("lmcache-compat", "--lmcache-trace-replay-evidence-file", str(summary))
    probs = _lane_problems(rep, summary)
    assert len(probs) == 1 and "not valid UTF-8" in probs[0]["message"] and probs[0]["offset"] == at + 2


def test_invalid_utf8_in_a_lookup_hash_line_is_reported_with_line_and_offset(tmp_path):
    lines = LOOKUP.read_bytes().splitlines(keepends=True)
    bad = lines[1].replace(b'"0x', b'"0x\xff', 1)
    f = tmp_path / "lookup_hashes_20261129_082823_000000.jsonl"
    f.write_bytes(lines[0] + bad + b"".join(lines[2:]))
    rep = _json_report("lmcache-compat", "--lmcache-lookup-hash-evidence-file", str(f))
    probs = _lane_problems(rep, f)
    assert len(probs) == 1 and "not valid UTF-8" in probs[0]["message"] and probs[0]["line"] == 2
    assert probs[0]["offset"] == len(lines[0]) + bad.index(b"\xff")
    whole = _json_report("lmcache-compat", "--lmcache-lookup-hash-evidence-file", str(LOOKUP))
    records = lambda r: r["inputs"][-1]["records"]  # noqa: E731  (rows + files + chunk hashes)
    dropped = 1 + len(json.loads(lines[1])["chunk_hashes"])
    assert records(rep) == records(whole) - dropped   # that row is not counted with a made-up hash


def test_invalid_utf8_in_an_http_body_is_reported(tmp_path):
    body = (HTTP / "GET_status.body").read_bytes()
    f = tmp_path / "GET_status.body"
    at = body.index(b'"', 5)
    f.write_bytes(body[:at + 1] + b"\xc3\x28" + body[at + 1:])
    out = tmp_path / "p"
    proc = run_cli("collect-lmcache", "--output-dir", str(out), "--lmcache-status-file", str(f))
    _no_internal_error(proc)
    assert proc.returncode == 0
    ev = load_json(out / "lmcache_http_evidence.json")
    probs = [p for p in ev["sources"][0]["problems"] if "UTF-8" in p["message"]]
    assert len(probs) == 1 and probs[0]["path"] == str(f) and probs[0]["offset"] == at + 1


# --------------------------------------------------------------------------- packets


def test_a_non_utf8_context_yaml_is_a_problem_and_the_packet_is_evaluated(tmp_path):
    packet = tmp_path / "packet"
    shutil.copytree(H100, packet)
    (packet / "context.yaml").write_bytes(b"l2_configured: false\nnote: caf\xe9\n")
    rep = _json_report("evaluate", str(packet))
    probs = _lane_problems(rep, "context.yaml")
    assert len(probs) == 1 and "not valid UTF-8" in probs[0]["message"] and probs[0]["offset"] == 30
    assert rep["family_counts"]["measured"] > 0


def test_a_packet_argv_file_with_a_huge_integer_is_a_problem(tmp_path):
    packet = tmp_path / "packet"
    shutil.copytree(H100, packet)
    (packet / "lmcache_command.json").write_bytes(b'["lmcache", ' + BIG_INT + b"]")
    rep = _json_report("evaluate", str(packet))
    probs = _lane_problems(rep, "lmcache_command.json")
    assert len(probs) == 1 and "4300 digits" in probs[0]["message"] and probs[0]["offset"] == 12


# --------------------------------------------------------------------------- HTTP answers


def test_a_status_line_that_is_not_http_is_one_line_exit_2():
    with HostileServer(raw(b"SSH-2.0-OpenSSH_9.6\r\n")) as srv:
        proc = run_cli("observability-coverage", "--engine-metrics-url", srv.url + "/metrics", "--timeout-seconds", "2")
    _no_internal_error(proc)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and srv.url + "/metrics" in lines[0] and "not an HTTP response" in lines[0]
    assert srv.connections == 1                           # an answer, even a wrong one, is not retried


def test_one_bad_metrics_response_does_not_abandon_the_file_lanes(tmp_path):
    out = tmp_path / "p"
    with HostileServer(raw(b"garbage\r\n\r\n")) as srv:
        proc = run_cli("collect-lmcache", "--output-dir", str(out), "--engine-metrics-url", srv.url + "/metrics",
                       "--lmcache-log-file", str(H100 / "lmcache_server.log"), "--lmcache-otel-file", str(OTEL),
                       "--timeout-seconds", "2")
    _no_internal_error(proc)
    assert proc.returncode == 0
    m = load_json(out / "packet_manifest.json")
    assert m["state"] == "complete"
    assert any(p["path"] == srv.url + "/metrics" and "not an HTTP response" in p["message"] for p in m["problems"])
    assert m["lanes"]["lmcache_log"]["status"] == "ok" and m["lanes"]["lmcache_otel"]["status"] == "ok"
    assert load_json(out / "lmcache_otel_evidence.json")["signals"]["spans"] > 0


def test_a_bad_scrape_url_beside_a_good_file_is_a_problem_and_the_file_is_read():
    with HostileServer(raw(b"SSH-2.0-OpenSSH_9.6\r\n")) as srv:
        rep = _json_report("observability-coverage", "--engine-metrics-file", str(H100 / "engine.prom"),
                           "--lmcache-metrics-url", srv.url + "/metrics", "--timeout-seconds", "2")
    probs = [p for p in rep["problems"] if p["path"] == srv.url + "/metrics"]
    assert len(probs) == 1 and "not an HTTP response" in probs[0]["message"]
    assert rep["derived"]["vllm.prefix_cache_hit_rate"]["value"] == pytest.approx(0.8958, abs=1e-3)


def test_an_oversized_context_file_is_not_read_whole(tmp_path):
    packet = tmp_path / "packet"
    shutil.copytree(H100, packet)
    with open(packet / "context.yaml", "w") as fh:
        fh.write("l2_configured: true\n")
        fh.write("# " + "x" * (2 << 20) + "\n")
    rep = _json_report("evaluate", str(packet))
    probs = _lane_problems(rep, "context.yaml")
    assert len(probs) == 1 and "larger than 1048576 bytes" in probs[0]["message"] and probs[0]["offset"] == 1 << 20
    assert rep["context"]["l2_configured"] is False  # nothing of it was used
