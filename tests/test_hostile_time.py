"""Bounded time: deadlines per request, a collection budget, and no file flag that can hang.

Slow servers are loopback servers started here; every run has a subprocess timeout far above
what the deadline allows, so a regression fails instead of hanging the suite.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import pytest
from click.testing import CliRunner

from conftest import FIXTURES, H100, load_json, run_cli
from hostile_server import HostileServer, drip, silent

ENGINE = H100 / "engine.prom"


def _timed(*args: str) -> tuple[float, object]:
    t0 = time.monotonic()
    proc = run_cli(*args)
    return time.monotonic() - t0, proc


# --------------------------------------------------------------------------- deadlines


def test_a_server_sending_one_byte_at_a_time_cannot_hold_a_scrape():
    body = ENGINE.read_bytes()[:200]
    with HostileServer(drip(body, every=0.2)) as srv:
        took, proc = _timed("observability-coverage", "--engine-metrics-url", srv.url + "/metrics",
                            "--timeout-seconds", "1", "--format", "json")
    # 200 bytes at 5 a second would take 40 s; the deadline ends it after about 1 s
    assert took < 8, took
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    probs = [p for p in rep["problems"] if p["path"] == srv.url + "/metrics"]
    assert any("deadline of 1s exceeded after" in p["message"] for p in probs), probs


def test_a_server_dripping_its_headers_is_a_timeout_not_a_hang():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with HostileServer(drip(head, every=0.2, head=b"")) as srv:
        took, proc = _timed("lmcache-compat", "--lmcache-metrics-url", srv.url + "/metrics",
                            "--timeout-seconds", "1")
    assert took < 8, took
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and srv.url in lines[0] and "timed out (deadline of 1s)" in lines[0]


def test_collect_lmcache_against_a_silent_server_stays_within_its_budget(tmp_path):
    out = tmp_path / "p"
    log = FIXTURES / "packets" / "vllm-lmcache-mp-h100" / "lmcache_server.log"
    with HostileServer(silent) as srv:
        took, proc = _timed("collect-lmcache", "--output-dir", str(out), "--lmcache-http-base-url", srv.url,
                            "--engine-metrics-url", srv.url + "/metrics", "--timeout-seconds", "0.5",
                            "--budget-seconds", "2", "--lmcache-log-file", str(log))
    assert proc.returncode == 0, proc.stderr
    assert took < 10, took                   # about 60 s before: retries of timed-out reads, route after route
    m = load_json(out / "packet_manifest.json")
    assert m["state"] == "complete" and m["context"]["budget_seconds"] == 2.0
    errs = [e for e in m["endpoints"] if e.get("result") == "error"]
    assert errs and all(("timed out" in e["error"]) or ("budget" in e["error"]) for e in errs)
    assert any("budget" in e["error"] for e in errs)             # the budget, not each timeout, ended it
    # the file lane is still collected after the network gave nothing
    assert m["lanes"]["lmcache_log"]["status"] in ("ok", "problems")
    assert load_json(out / "lmcache_log_evidence.json")["signals"]["lines"] > 0


# --------------------------------------------------------------------------- non-regular files


@pytest.fixture()
def fifo(tmp_path):
    p = tmp_path / "f.prom"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("args", [
    ("observability-coverage", "--engine-metrics-file"),
    ("observability-coverage", "--lmcache-metrics-file"),
    ("observability-coverage", "--lmcache-log-evidence-file"),
    ("observability-coverage", "--lmcache-otel-evidence-file"),
    ("lmcache-compat", "--lmcache-metrics-file"),
    ("lmcache-compat", "--lmcache-trace-evidence-file"),
])
def test_a_fifo_given_to_a_file_flag_is_refused(fifo, args):
    took, proc = _timed(*args, str(fifo))
    assert took < 20
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"inferguard: error: {fifo}: is a FIFO (named pipe), not a regular file; refusing to read it"]


@pytest.mark.parametrize("flag", ["--engine-metrics-file", "--lmcache-log-file", "--lmcache-otel-file",
                                  "--lmcache-trace-file", "--lmcache-lookup-hash-path", "--lmcache-status-file"])
def test_a_fifo_given_to_collect_lmcache_is_refused_before_anything_is_written(fifo, tmp_path, flag):
    out = tmp_path / "p"
    took, proc = _timed("collect-lmcache", "--output-dir", str(out), flag, str(fifo))
    assert took < 20
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"inferguard: error: {fifo}: is a FIFO (named pipe), not a regular file; refusing to read it"]
    assert not out.exists()


def test_a_fifo_inside_a_packet_is_a_problem_and_the_rest_is_evaluated(tmp_path):
    packet = tmp_path / "packet"
    shutil.copytree(H100, packet)
    (packet / "lmcache_server.log").unlink()
    os.mkfifo(packet / "lmcache_server.log")
    took, proc = _timed("evaluate", str(packet), "--format", "json")
    assert took < 20
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    probs = [p for p in rep["problems"] if p["path"].endswith("lmcache_server.log")]
    assert len(probs) == 1 and "FIFO" in probs[0]["message"]
    assert rep["family_counts"]["measured"] > 0
    assert rep["derived"]["vllm.prefix_cache_hit_rate"]["value"] == pytest.approx(0.8958, abs=1e-3)


# --------------------------------------------------------------------------- one read per input


def test_collect_lmcache_hashes_each_source_while_its_reader_reads_it(tmp_path, monkeypatch):
    """The digest of a lane source comes from the reader's own read: nothing is read again."""
    from inferguard.cli.app import main
    from inferguard.readers import tap

    log = H100 / "lmcache_server.log"
    otel = FIXTURES / "lmcache" / "otel-0.5.6-cpu" / "otlp_spans.slice.jsonl"
    reread: dict[str, int] = {}
    real_finish = tap.Tap.finish

    def finish(self):
        before = self.hashed
        size, digest = real_finish(self)
        reread[os.path.basename(self.path)] = size - before
        return size, digest

    monkeypatch.setattr(tap.Tap, "finish", finish)
    out = tmp_path / "p"
    res = CliRunner().invoke(main, ["collect-lmcache", "--output-dir", str(out), "--lmcache-log-file", str(log),
                                    "--lmcache-otel-file", str(otel)])
    assert res.exit_code == 0, res.output
    assert reread == {log.name: 0, otel.name: 0}
    m = load_json(out / "packet_manifest.json")
    by_source = {a["source"]: a for a in m["artifacts"]}
    for src in (log, otel):
        art = by_source[str(src)]
        assert art["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        assert art["size"] == src.stat().st_size


def test_a_fifo_among_saved_http_bodies_of_a_packet_is_a_problem(tmp_path):
    packet = tmp_path / "packet"
    shutil.copytree(H100, packet)
    (packet / "http").mkdir()
    shutil.copy(FIXTURES / "lmcache" / "http-0.5.6-cpu" / "http" / "GET_status.body", packet / "http")
    os.mkfifo(packet / "http" / "GET_healthcheck.body")
    took, proc = _timed("evaluate", str(packet), "--format", "json")
    assert took < 20
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert any(str(p.get("path", "")).endswith("GET_healthcheck.body") and "FIFO" in p["message"] for p in rep["problems"])
    assert rep["family_counts"]["measured"] > 0


def test_a_slow_name_lookup_ends_at_the_deadline(monkeypatch):
    """getaddrinfo has no timeout of its own; the request's deadline still holds."""
    import socket as socket_mod

    from inferguard.collect.http import HttpClient

    def slow_lookup(*args, **kwargs):
        time.sleep(3)
        raise socket_mod.gaierror("never answered in time")

    monkeypatch.setattr(socket_mod, "getaddrinfo", slow_lookup)
    t0 = time.monotonic()
    resp = HttpClient(timeout_seconds=0.5, retries=2).get("http://metrics.example.invalid/metrics")
    assert time.monotonic() - t0 < 1.5
    assert resp.error == "timed out (deadline of 0.5s)" and resp.attempts == 1
