"""Wrong numbers from cut input: a scrape cut short is a problem, and what depends on it says so.

Through the command line, with the repro shapes of the issue: a file cut mid-line, an HTTP
body shorter than its Content-Length, a broken chunked encoding, a scrape over the size cap.
"""
from __future__ import annotations

import json

import pytest

from conftest import H100, load_json, run_cli
from hostile_server import HostileServer, raw

ENGINE = H100 / "engine.prom"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"


def _coverage(*args: str) -> tuple[int, dict, str]:
    proc = run_cli("observability-coverage", *args, "--format", "json")
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else {}), proc.stderr


def test_a_file_cut_mid_line_is_a_problem_and_the_hit_rate_is_not_given(tmp_path):
    # head -c 5925 engine.prom: the cut falls inside the value of vllm:prefix_cache_hits_total
    cut = tmp_path / "cut.prom"
    cut.write_bytes(ENGINE.read_bytes()[:5925])
    rc, rep, err = _coverage("--engine-metrics-file", str(cut))
    assert rc == 0, err
    probs = [p for p in rep["problems"] if p["path"] == str(cut)]
    assert len(probs) == 1 and probs[0]["line"] == 81 and "mid-line" in probs[0]["message"]
    hr = rep["derived"]["vllm.prefix_cache_hit_rate"]
    assert hr["value"] is None                                   # not 0.0009 presented as a number
    assert hr["value_as_read"] == pytest.approx(19 / 22130)
    assert hr["may_be_cut"]["line"] == 81 and "may be cut" in hr["reason"]
    fam = [m for f in rep["families"] for m in f["metrics"] if m["id"] == "vllm.prefix_cache_hits"][0]
    assert fam["may_be_cut"]["source"] == str(cut)
    # the same scrape whole: the true value and no problem
    rc, whole, _ = _coverage("--engine-metrics-file", str(ENGINE))
    assert rc == 0 and whole["problems"] == []
    assert whole["derived"]["vllm.prefix_cache_hit_rate"]["value"] == pytest.approx(0.8958, abs=1e-3)
    assert "may_be_cut" not in whole["derived"]["vllm.prefix_cache_hit_rate"]


def test_a_family_absent_from_a_cut_scrape_may_lie_beyond_the_cut(tmp_path):
    text = ENGINE.read_bytes()
    cut = tmp_path / "cut.prom"
    cut.write_bytes(text[: text.index(b"# HELP vllm:prefix_cache_queries_total")] + b"# HELP vllm:pre")
    rc, rep, _ = _coverage("--engine-metrics-file", str(cut))
    assert rc == 0
    hr = rep["derived"]["vllm.prefix_cache_hit_rate"]
    assert hr["value"] is None and "may lie beyond the cut" in hr["reason"]
    gap_whys = [g["why"] for g in rep["gaps"] if g["collected"]]
    assert gap_whys and all("cut" in w for w in gap_whys)


def _body_server(answer: bytes):
    return HostileServer(raw(answer))


def test_a_body_shorter_than_its_content_length_is_a_problem():
    body = ENGINE.read_bytes()
    short = body[:5925]
    with _body_server(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + short) as srv:
        rc, rep, err = _coverage("--engine-metrics-url", srv.url + "/metrics", "--timeout-seconds", "3")
    assert rc == 0, err
    probs = [p for p in rep["problems"] if p["path"] == srv.url + "/metrics"]
    assert len(probs) == 1
    assert f"shorter than its Content-Length: 5925 of {len(body)} bytes" in probs[0]["message"]
    assert rep["derived"]["vllm.prefix_cache_hit_rate"]["value"] is None
    assert rep["derived"]["vllm.prefix_cache_hit_rate"]["may_be_cut"]


def test_a_broken_chunked_body_is_a_problem_and_what_came_is_used():
    body = ENGINE.read_bytes()[:3000]
    chunked = b"%x\r\n" % len(body) + body + b"\r\nzz-not-a-size\r\n"
    with _body_server(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked) as srv:
        rc, rep, err = _coverage("--engine-metrics-url", srv.url + "/metrics", "--timeout-seconds", "3")
    assert rc == 0, err
    probs = [p for p in rep["problems"] if p["path"] == srv.url + "/metrics"]
    cut = [p for p in probs if "broken chunked encoding after 3000 body bytes" in p["message"]]
    assert len(cut) == 1
    assert all(p["line"] == cut[0]["line"] for p in probs)       # the cut line may also not parse
    src = [s for s in rep["inputs"] if s["path"] == srv.url + "/metrics"][0]
    assert src["records"] > 0


def test_a_scrape_over_the_cap_is_reported_not_dropped():
    body = ENGINE.read_bytes()
    with _body_server(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body) as srv:
        rc, rep, err = _coverage("--engine-metrics-url", srv.url + "/metrics", "--max-scrape-bytes", "8K")
    assert rc == 0, err
    probs = [p for p in rep["problems"] if p["path"] == srv.url + "/metrics"]
    cut = [p for p in probs if "larger than --max-scrape-bytes (8192 bytes)" in p["message"]]
    assert len(cut) == 1
    assert all(p["line"] == cut[0]["line"] for p in probs)       # the cut line may also not parse
    src = [s for s in rep["inputs"] if s["path"] == srv.url + "/metrics"][0]
    assert src["records"] > 0                                    # what was read is still used


def test_a_scrape_over_8_mb_is_read_whole_by_default():
    body = ENGINE.read_bytes()
    pad = b"# padding comment line to make a large scrape, as a big fleet's engine can have\n"
    big = pad * ((9 * 1024 * 1024) // len(pad)) + body
    assert len(big) > 9 * 1024 * 1024
    with _body_server(HEAD + b"Content-Length: %d\r\n\r\n" % len(big) + big) as srv:
        rc, rep, err = _coverage("--engine-metrics-url", srv.url + "/metrics", "--timeout-seconds", "20")
    assert rc == 0, err
    assert rep["problems"] == []
    assert rep["derived"]["vllm.prefix_cache_hit_rate"]["value"] == pytest.approx(0.8958, abs=1e-3)


def test_collect_lmcache_records_a_cut_scrape(tmp_path):
    body = ENGINE.read_bytes()
    out = tmp_path / "p"
    with _body_server(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body[:5925]) as srv:
        proc = run_cli("collect-lmcache", "--output-dir", str(out), "--engine-metrics-url", srv.url + "/metrics",
                       "--timeout-seconds", "3")
    assert proc.returncode == 0, proc.stderr
    m = load_json(out / "packet_manifest.json")
    art = [a for a in m["artifacts"] if a["role"] == "engine_metrics"][0]
    assert art["truncated"] is True and art["status"] == "problems" and art["size"] == 5925
    assert any("scrape cut" in p["message"] and "Content-Length" in p["message"] for p in m["problems"])
    # evaluating the packet later still sees that the scrape was cut
    proc = run_cli("evaluate", str(out), "--format", "json")
    rep = json.loads(proc.stdout)
    assert rep["derived"]["vllm.prefix_cache_hit_rate"]["value"] is None


def test_the_text_summary_says_the_value_is_not_given_and_why(tmp_path):
    cut = tmp_path / "cut.prom"
    cut.write_bytes(ENGINE.read_bytes()[:5925])
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(cut))
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if "vllm.prefix_cache_hit_rate" in ln]
    assert len(line) == 1 and "not given: input may be cut" in line[0] and "line 81" in line[0]
    assert f"{cut}:81: the scrape ends mid-line" in proc.stdout
