"""`inferguard disagg status` against real HTTP servers on loopback.

The vLLM roles serve the real H100 vLLM scrape (fixtures/real/) with, on the decode role, the
NIXL connector families of fixtures/vllm/nixl-connector-decode-synthetic/ appended; counters and
gauges are moved between scrapes to play transfers that progress, stall or fail. The SGLang
prefill role serves fixtures/sglang/healthy-hicache-pd-prefill-0.5.23/. Hostile endpoints (down,
silent, 500, garbage) are recorded and the run completes.
"""
from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_cli, validate
from hostile_server import HostileServer, silent

REAL_VLLM = (FIXTURES / "real/vllm-lmcache-mp-h100/vllm_metrics_loaded.prom").read_text(encoding="utf-8")
NIXL = (FIXTURES / "vllm/nixl-connector-decode-synthetic/nixl.prom").read_text(encoding="utf-8")
SGLANG_PREFILL = (FIXTURES / "sglang/healthy-hicache-pd-prefill-0.5.23/engine.prom").read_text(encoding="utf-8")


def setv(text: str, series: str, value: float) -> str:
    """`text` with the value of every sample line whose name (and label text) starts with `series` set."""
    pat = re.compile(r"^(" + re.escape(series) + r"[^ ]*) \S+$", re.M)
    out, n = pat.subn(lambda m: f"{m.group(1)} {value}", text)
    assert n, f"no sample {series!r} in the body"
    return out


def vllm(running=0.0, waiting=0.0, kv=0.0) -> str:
    t = setv(REAL_VLLM, "vllm:num_requests_running{", running)
    t = setv(t, "vllm:num_requests_waiting{", waiting)
    return setv(t, "vllm:kv_cache_usage_perc{", kv)


def nixl(transfers=20.0, nbytes=3.50224384e9, failed=0.0) -> str:
    t = setv(NIXL, "vllm:nixl_bytes_transferred_sum", nbytes)
    t = setv(t, "vllm:nixl_bytes_transferred_count", transfers)
    t = setv(t, 'vllm:nixl_bytes_transferred_bucket{engine="0",le="+Inf"', transfers)
    t = setv(t, "vllm:nixl_xfer_time_seconds_count", transfers)
    t = setv(t, 'vllm:nixl_xfer_time_seconds_bucket{engine="0",le="+Inf"', transfers)
    return setv(t, "vllm:nixl_num_failed_transfers_total", failed)


class MetricsServer:
    """A real HTTP server on 127.0.0.1: each path answers with the next of its bodies (the last
    one again once they run out); a body may be an int (that HTTP status, empty body) or bytes."""

    def __init__(self, routes: dict[str, list]):
        self.routes = {p: list(b) for p, b in routes.items()}
        self.hits: dict[str, int] = {p: 0 for p in routes}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                bodies = outer.routes.get(self.path)
                if bodies is None:
                    self.send_error(404)
                    return
                i = outer.hits[self.path]
                outer.hits[self.path] += 1
                body = bodies[min(i, len(bodies) - 1)]
                status = 200
                if isinstance(body, int):
                    status, body = body, b"internal error\n"
                if isinstance(body, str):
                    body = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/metrics"


def status(*args: str, tmp_path: Path) -> tuple[int, dict, str]:
    out = tmp_path / "disagg.json"
    r = run_cli("disagg", "status", *args, "--output", str(out))
    assert "Traceback" not in r.stderr, r.stderr
    report = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return r.returncode, report, r.stdout + r.stderr


@pytest.fixture(scope="module")
def schema():
    from inferguard.spec.loader import schema_validator

    return schema_validator("report.disagg_status.v1.schema.json")


def role(report: dict, rid: str) -> dict:
    return next(r for r in report["roles"] if r["role"] == rid)


def checks(report: dict) -> dict[str, dict]:
    return {f["check"]: f for f in report["findings"]}


# ---------------------------------------------------------------------------- healthy


def test_healthy_vllm_pair_over_a_window(tmp_path, schema):
    with MetricsServer({"/p": [vllm(running=2)],
                        "/d": [vllm(running=3) + nixl(20, 3.5e9), vllm(running=3) + nixl(26, 4.55e9)]}) as s:
        t0 = time.monotonic()
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "1",
                                 "--threshold", "stall_min_window_seconds=1", tmp_path=tmp_path)
        elapsed = time.monotonic() - t0
        assert s.hits == {"/p": 2, "/d": 2}
    validate(schema, rep)
    assert code == 0, text
    assert elapsed < 5
    assert rep["window"]["scrapes"] == 2 and rep["window"]["basis"] == "window"
    assert 0.9 <= rep["window"]["seconds"] < 2
    p, d = role(rep, "prefill"), role(rep, "decode")
    assert p["state"] == d["state"] == "up"
    assert p["engine"] == d["engine"] == "vllm"
    assert d["connectors"] == ["NixlConnector"] and p["connectors"] == []
    assert d["version"]["verdict"] == "consistent"
    vol = d["quantities"]["transfer_volume"]
    assert vol["basis"] == "window" and vol["increase"] == pytest.approx(1.05e9)
    assert vol["unit"] == "bytes" and vol["exposed_names"] == ["vllm:nixl_bytes_transferred"]
    assert vol["rate_per_second"] == pytest.approx(1.05e9 / rep["window"]["seconds"])
    assert d["quantities"]["transfers"]["increase"] == 6
    assert d["quantities"]["transfer_errors"]["increase"] == 0
    assert p["quantities"]["running"]["value"] == 2 and p["quantities"]["running"]["values"] == [2, 2]
    # TTFT and ITL come from the current names of the real scrape; no observation in the window
    ttft = p["quantities"]["ttft"]
    assert ttft["exposed_names"] == ["vllm:time_to_first_token_seconds"]
    assert ttft["since_start"] == pytest.approx(0.6501529216766357 / 10)
    assert ttft["window_count"] == 0 and ttft["window_mean"] is None
    assert p["quantities"]["itl"]["exposed_names"] == ["vllm:inter_token_latency_seconds"]
    # the prefill role exposes no connector metric: absent, not zero
    assert p["quantities"]["transfer_volume"]["state"] == "absent"
    assert p["quantities"]["transfer_volume"].get("total") is None
    assert rep["findings"] == []
    assert "KV connector: NixlConnector" in text and "exit 0" in text


def test_single_scrape_shows_totals_and_does_not_judge_motion(tmp_path, schema):
    with MetricsServer({"/p": [SGLANG_PREFILL], "/d": [vllm() + nixl()]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 0, text
    p = role(rep, "prefill")
    assert p["engine"] == "sglang" and p["version"]["releases"] == ["0.5.23"]
    assert "not a metric label" in p["connector_note"]
    assert p["quantities"]["transfer_volume"]["total"] == pytest.approx(905.969664)
    assert p["quantities"]["transfer_volume"]["unit"] == "megabytes"
    assert p["quantities"]["transfer_volume"]["basis"] == "since start (cumulative)"
    assert "increase" not in p["quantities"]["transfer_volume"]
    # declared without samples on a prefill node: registered, not zero
    assert p["quantities"]["itl"]["state"] == "registered_no_samples" and p["quantities"]["itl"]["value"] is None
    assert p["quantities"]["kv_usage"]["value"] == pytest.approx(0.12)
    f = checks(rep)["disagg/transfer-not-judged"]
    assert f["severity"] == "info" and f["measured"] is False and "one scrape" in f["message"]
    assert list(checks(rep)) == ["disagg/transfer-not-judged"]


# ---------------------------------------------------------------------------- hostile endpoints


def test_role_down_connection_refused(tmp_path, schema):
    with MetricsServer({"/p": [vllm(running=1)]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", closed_port_url(), tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 2, text
    d = role(rep, "decode")
    assert d["state"] == "down" and d["scrapes"][0]["error"] == "connection refused"
    f = checks(rep)["disagg/role-down"]
    assert f["severity"] == "critical" and f["role"] == "decode" and "connection refused" in f["message"]
    # the other role is still read and shown
    assert role(rep, "prefill")["quantities"]["running"]["value"] == 1


def test_role_that_times_out_is_recorded_within_the_deadline(tmp_path, schema):
    with MetricsServer({"/d": [vllm() + nixl()]}) as s, HostileServer(silent) as h:
        t0 = time.monotonic()
        code, rep, text = status("--prefill", h.url + "/metrics", "--decode", s.url + "/d",
                                 "--timeout-seconds", "0.5", tmp_path=tmp_path)
        elapsed = time.monotonic() - t0
    validate(schema, rep)
    assert code == 2, text
    assert elapsed < 4
    p = role(rep, "prefill")
    assert p["state"] == "down" and "timed out" in p["scrapes"][0]["error"]
    assert checks(rep)["disagg/role-down"]["role"] == "prefill"
    assert role(rep, "decode")["connectors"] == ["NixlConnector"]


def test_roles_are_scraped_concurrently(tmp_path):
    arrived: list[float] = []

    def silent_noting(conn, server):
        arrived.append(time.monotonic())
        silent(conn, server)

    with HostileServer(silent_noting) as a, HostileServer(silent_noting) as b, HostileServer(silent_noting) as c:
        code, rep, _ = status("--prefill", a.url + "/m", "--decode", b.url + "/m", "--transfer", c.url + "/m",
                              "--timeout-seconds", "1", tmp_path=tmp_path)
        assert a.connections == b.connections == c.connections == 1
    assert code == 2
    assert [r["state"] for r in rep["roles"]] == ["down", "down", "down"]
    assert all("timed out" in r["scrapes"][0]["error"] for r in rep["roles"])
    # three silent roles with a 1 s deadline: all three asked at once, not one after the other
    assert len(arrived) == 3 and max(arrived) - min(arrived) < 0.5


def test_a_body_cut_by_the_deadline_is_recorded(tmp_path, schema):
    from hostile_server import drip

    body = vllm(running=1).encode()[:4000]
    # the first half (whole lines) at once, then a byte every 10 ms: what the deadline cuts
    # is the same on a loaded machine as on an idle one
    sent = body.rindex(b"\n", 0, 2000) + 1
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:sent]
    with MetricsServer({"/d": [vllm() + nixl()]}) as s, HostileServer(drip(body[sent:], every=0.01, head=head)) as h:
        t0 = time.monotonic()
        code, rep, text = status("--prefill", h.url + "/metrics", "--decode", s.url + "/d",
                                 "--timeout-seconds", "1", tmp_path=tmp_path)
        elapsed = time.monotonic() - t0
    validate(schema, rep)
    assert elapsed < 5
    p = role(rep, "prefill")
    assert p["scrapes"][0]["http_status"] == 200
    assert any("deadline of 1s exceeded" in pr["message"] for pr in p["scrapes"][0]["problems"]), p["scrapes"]
    assert checks(rep)["disagg/scrape-problems"]["role"] == "prefill"
    assert code == 1, text


def test_http_500_is_recorded(tmp_path, schema):
    with MetricsServer({"/p": [vllm()], "/d": [500]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 2, text
    d = role(rep, "decode")
    assert d["state"] == "down" and d["scrapes"][0]["http_status"] == 500
    assert "HTTP 500" in checks(rep)["disagg/role-down"]["message"]


def test_garbage_body_is_recorded(tmp_path, schema):
    garbage = bytes(range(256)) * 8 + b"\n<html><body>not metrics</body></html>\n"
    with MetricsServer({"/p": [vllm()], "/d": [garbage]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 2, text
    d = role(rep, "decode")
    assert d["state"] == "unreadable"
    assert d["scrapes"][0]["http_status"] == 200 and d["scrapes"][0]["samples"] == 0
    assert d["scrapes"][0]["problems_total"] > 0
    f = checks(rep)["disagg/role-unreadable"]
    assert f["severity"] == "critical" and f["evidence"]
    assert role(rep, "prefill")["state"] == "up"


def test_a_role_that_fails_midway_is_intermittent(tmp_path, schema):
    with MetricsServer({"/p": [vllm(), 503], "/d": [vllm() + nixl()]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "0.3",
                                 tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 2, text
    assert role(rep, "prefill")["state"] == "intermittent"
    assert "1 of 2 scrape(s)" in checks(rep)["disagg/role-down"]["message"]


# ---------------------------------------------------------------------------- transfer findings


def test_transfer_errors_during_the_window(tmp_path, schema):
    with MetricsServer({"/p": [vllm(running=1)],
                        "/d": [vllm() + nixl(20, 3.5e9, failed=2), vllm() + nixl(24, 4.2e9, failed=5)]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "0.5",
                                 tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 1, text
    f = checks(rep)["disagg/transfer-errors"]
    assert f["severity"] == "error" and f["role"] == "decode" and f["measured"] is True
    assert f["message"].startswith("3 KV transfer failure(s) on decode")
    assert "vllm:nixl_num_failed_transfers_total" in f["evidence"][0]


def test_transfer_errors_in_one_scrape_are_not_called_recent(tmp_path, schema):
    with MetricsServer({"/p": [vllm()], "/d": [vllm() + nixl(failed=3)]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 1, text
    assert "disagg/transfer-errors" not in checks(rep)
    f = checks(rep)["disagg/transfer-errors-since-start"]
    assert f["severity"] == "warning" and f["measured"] is False and "since the process started" in f["message"]


def test_stalled_transfer_over_a_window(tmp_path, schema):
    flat = vllm(running=2) + nixl(20, 3.5e9)
    with MetricsServer({"/p": [vllm(running=4)], "/d": [flat, flat]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "1",
                                 "--threshold", "stall_min_window_seconds=1", tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 1, text
    f = checks(rep)["disagg/transfer-stalled"]
    assert f["severity"] == "error" and f["role"] == "prefill" and f["measured"] is True
    assert any("vllm:num_requests_running = 4, 4" in e for e in f["evidence"])
    assert any("vllm:nixl_bytes_transferred: +0" in e for e in f["evidence"])
    assert rep["thresholds"]["stall_min_window_seconds"] == {"value": 1, "unit": "seconds", "type": "number",
                                                             "source": "override"}


def test_flat_bytes_in_a_window_shorter_than_the_default_are_not_a_stall(tmp_path, schema):
    flat = vllm(running=2) + nixl(20, 3.5e9)
    with MetricsServer({"/p": [vllm(running=4)], "/d": [flat, flat]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "0.5",
                                 tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 0, text
    assert "disagg/transfer-stalled" not in checks(rep)
    f = checks(rep)["disagg/transfer-not-judged"]
    assert "shorter than stall_min_window_seconds (10 s)" in f["message"]


def test_flat_bytes_with_nothing_in_flight_are_not_a_stall(tmp_path):
    flat = vllm() + nixl(20, 3.5e9)
    with MetricsServer({"/p": [vllm(running=0)], "/d": [flat, flat]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "0.5",
                                 "--threshold", "stall_min_window_seconds=0.4", tmp_path=tmp_path)
    assert code == 0, text
    assert rep["findings"] == []


def test_counter_reset_in_the_window_is_counted_from_zero(tmp_path):
    with MetricsServer({"/p": [vllm(running=1)],
                        "/d": [vllm() + nixl(20, 3.5e9), vllm() + nixl(2, 3.0e8)]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "0.5",
                                 "--threshold", "stall_min_window_seconds=0.4", tmp_path=tmp_path)
    assert code == 0, text
    vol = role(rep, "decode")["quantities"]["transfer_volume"]
    assert vol["increase"] == pytest.approx(3.0e8) and vol["resets"] == 1


# ---------------------------------------------------------------------------- imbalance


def test_prefill_decode_imbalance_over_a_window(tmp_path, schema):
    with MetricsServer({"/p": [vllm(running=8, waiting=12, kv=0.6), vllm(running=8, waiting=15, kv=0.7)],
                        "/d": [vllm(running=1, waiting=0, kv=0.1) + nixl(20, 3.5e9),
                               vllm(running=1, waiting=0, kv=0.1) + nixl(22, 3.9e9)]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--duration-seconds", "0.5",
                                 tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 1, text
    f = checks(rep)["disagg/imbalance"]
    assert f["severity"] == "warning" and f["role"] == "prefill" and f["measured"] is True
    assert "at each of 2 scrapes" in f["message"]
    assert f["evidence"][0].startswith("prefill waiting requests 12, 15 (>= 5)")
    assert f["evidence"][1].startswith("decode waiting requests 0, 0, KV cache usage 0.1, 0.1")


def test_imbalance_from_one_scrape_says_so(tmp_path):
    with MetricsServer({"/p": [vllm(waiting=0, kv=0.2)], "/d": [vllm(waiting=0, kv=0.95) + nixl()]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    assert code == 1, text
    f = checks(rep)["disagg/imbalance"]
    assert f["role"] == "decode" and f["measured"] is False and "at the one scrape taken" in f["message"]
    assert "KV cache usage 0.95 (>= 0.8)" in f["evidence"][0]


def test_both_roles_busy_is_not_an_imbalance(tmp_path):
    with MetricsServer({"/p": [vllm(waiting=9, kv=0.9)], "/d": [vllm(waiting=7, kv=0.85) + nixl()]}) as s:
        code, rep, _ = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    assert "disagg/imbalance" not in checks(rep)


# ---------------------------------------------------------------------------- engines


def test_engine_mismatch_and_unknown(tmp_path, schema):
    node = "# TYPE node_load1 gauge\nnode_load1 0.5\n"
    with MetricsServer({"/p": [vllm()], "/d": [node]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--engine", "sglang",
                                 tmp_path=tmp_path)
        validate(schema, rep)
        assert code == 1, text
        assert checks(rep)["disagg/engine-mismatch"]["role"] == "prefill"
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    assert code == 1, text
    f = checks(rep)["disagg/engine-unknown"]
    assert f["role"] == "decode" and f["severity"] == "warning"
    assert role(rep, "decode")["quantities"]["running"]["state"] == "unknown_engine"


def test_text_output_and_json_format(tmp_path):
    with MetricsServer({"/p": [vllm(running=2)], "/d": [vllm() + nixl()]}) as s:
        r = run_cli("disagg", "status", "--prefill", s.url + "/p", "--decode", s.url + "/d", "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["kind"] == "DisaggStatusReport" and rep["exit_code"] == 0


# ---------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("args, message", [
    (["--prefill", "ftp://x/metrics", "--decode", "http://127.0.0.1:1/m"], "--prefill 'ftp://x/metrics': not an http(s) URL"),
    (["--prefill", "http://127.0.0.1:1/m", "--decode", "http://127.0.0.1:99999/m"], "--decode"),
    (["--prefill", "http://127.0.0.1:1/m", "--decode", "http://127.0.0.1:2/m", "--threshold", "nope=1"],
     "unknown threshold 'nope'"),
    (["--prefill", "http://127.0.0.1:1/m", "--decode", "http://127.0.0.1:2/m", "--threshold",
      "transfer_errors_min=0.5"], "takes a whole number"),
    (["--prefill", "http://127.0.0.1:1/m", "--decode", "http://127.0.0.1:2/m", "--interval-seconds", "1"],
     "--interval-seconds needs --duration-seconds"),
    (["--prefill", "http://127.0.0.1:1/m"], "Missing option '--decode'"),
    (["--prefill", "http://127.0.0.1:1/m", "--decode", "http://127.0.0.1:1/m"], "two roles name the same URL"),
])
def test_usage_errors_are_one_line_exit_2(args, message):
    r = run_cli("disagg", "status", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert r.stdout == ""


def test_help_documents_the_exit_codes():
    r = run_cli("disagg", "status", "--help")
    assert r.returncode == 0
    assert "2  a critical finding: a role unreachable" in r.stdout
    assert "inferguard disagg status --prefill" in r.stdout


# ---------------------------------------------------------------------------- engine and spec


def test_counter_increase():
    from inferguard.engine.window import counter_increase

    assert counter_increase([5.0]) == (None, 0)
    assert counter_increase([5.0, 7.0, 10.0]) == (5.0, 0)
    assert counter_increase([5.0, 7.0, 2.0, 4.0]) == (2.0 + 2.0 + 2.0, 1)
    assert counter_increase([5.0, None, 9.0]) == (None, 0)
    assert counter_increase([5.0, None, 9.0, 10.0]) == (1.0, 0)


def test_thresholds_come_from_the_spec(spec):
    from inferguard.engine.disagg import THRESHOLDS_USED, disagg_doc, thresholds

    doc = disagg_doc(spec)
    th = thresholds(doc)
    assert set(THRESHOLDS_USED) <= set(th)
    for name, t in doc["thresholds"].items():
        assert th[name]["value"] == t["default"] and th[name]["source"] == "default"
        assert len(t["description"]) > 40
    # the one default no public reference fixes is marked experimental
    assert doc["thresholds"]["imbalance_idle_kv_usage_max"]["status"] == "experimental"
    assert thresholds(doc, ["imbalance_min_waiting_requests=7"])["imbalance_min_waiting_requests"]["value"] == 7


def test_lint_resolves_the_disagg_spec(tmp_path):
    import shutil

    from inferguard.spec import load_specs

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    p = specs / "disagg.yaml"
    text = p.read_text(encoding="utf-8")
    text = text.replace("vllm: [vllm.num_requests_running]", "vllm: [vllm.no_such_metric]")
    text = text.replace("vllm: [vllm.time_to_first_token_seconds]", "vllm: [vllm.num_requests_waiting]")
    text = text.replace("thresholds: [transfer_errors_min]\n    description: KV transfer failures increased",
                        "thresholds: [no_such_threshold]\n    description: KV transfer failures increased")
    text = text.replace("  - id: disagg/imbalance\n", "  - id: disagg/imbalance-renamed\n")
    p.write_text(text, encoding="utf-8")
    spec = load_specs([specs], strict=False)
    rules = sorted(pr.rule for pr in spec.problems)
    assert rules == ["disagg/metric-type", "disagg/missing", "disagg/unknown-metric", "disagg/unknown-threshold"], \
        [pr.format() for pr in spec.problems]
    assert all(pr.path.endswith("disagg.yaml") and pr.line for pr in spec.problems)


# ---------------------------------------------------------------------------- role labels (SGLang engine_type)


def test_sglang_roles_that_say_the_part_they_play(tmp_path, schema):
    decode = SGLANG_PREFILL.replace('engine_type="prefill"', 'engine_type="decode"')
    with MetricsServer({"/p": [SGLANG_PREFILL], "/d": [decode]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
        validate(schema, rep)
        assert code == 0, text
        assert role(rep, "prefill")["role_label"]["values"] == ["prefill"]
        assert role(rep, "decode")["role_label"]["values"] == ["decode"]
        assert role(rep, "decode")["role_label"]["metric"] == "sglang:num_running_reqs"
        assert "disagg/role-mismatch" not in checks(rep)
        # the URLs swapped: both roles say so
        code, rep, text = status("--prefill", s.url + "/d", "--decode", s.url + "/p", tmp_path=tmp_path)
    assert code == 1, text
    got = sorted((f["role"], f["severity"]) for f in rep["findings"] if f["check"] == "disagg/role-mismatch")
    assert got == [("decode", "warning"), ("prefill", "warning")]
    f = next(f for f in rep["findings"] if f["check"] == "disagg/role-mismatch" and f["role"] == "prefill")
    assert "says engine_type=decode: swapped URLs?" in f["message"]


def test_real_pd_decode_labelled_unified_with_transfer_failures(tmp_path, schema):
    """sglang PR 7317: a real decode server in PD mode, labelled engine_type="unified", with 156
    failed transfers. unified contradicts no role; the failures count since start, not as recent."""
    real = (FIXTURES / "sglang/pd-decode-transfer-failed-pr7317/engine.prom").read_text(encoding="utf-8")
    with MetricsServer({"/p": [SGLANG_PREFILL], "/d": [real]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 1, text
    d = role(rep, "decode")
    assert d["engine"] == "sglang" and d["role_label"]["values"] == ["unified"]
    assert "disagg/role-mismatch" not in checks(rep)
    assert d["quantities"]["transfer_errors"]["total"] == 156
    assert d["quantities"]["transfer_errors"]["exposed_names"] == ["sglang:num_transfer_failed_reqs_total"]
    assert d["quantities"]["running"]["value"] == 0 and d["quantities"]["running"]["state"] == "present_zero"
    # not in this cut paste: absent, never 0
    assert d["quantities"]["waiting"]["state"] == "absent" and d["quantities"]["waiting"]["value"] is None
    f = checks(rep)["disagg/transfer-errors-since-start"]
    assert f["role"] == "decode" and f["message"].startswith("156 KV transfer failure(s) on decode since")
    # the imbalance rule needs both queues: nothing is guessed from an absent one
    assert "disagg/imbalance" not in checks(rep)


# ---------------------------------------------------------------------------- the optional transfer role


def test_transfer_role_serving_a_real_lmcache_mp_scrape(tmp_path, schema):
    lmcache = (FIXTURES / "real/vllm-lmcache-mp-h100/lmcache_metrics_loaded.prom").read_text(encoding="utf-8")
    with MetricsServer({"/p": [vllm(running=1)], "/d": [vllm() + nixl()], "/t": [lmcache]}) as s:
        code, rep, text = status("--prefill", s.url + "/p", "--decode", s.url + "/d", "--transfer", s.url + "/t",
                                 tmp_path=tmp_path)
    validate(schema, rep)
    assert code == 0, text
    t = role(rep, "transfer")
    assert t["state"] == "up" and t["required"] is False
    assert t["engine"] is None and t["lmcache_mode"] == "mp"
    # no engine quantity is defined for it, and an optional role without an engine is no finding
    assert {q["state"] for q in t["quantities"].values()} == {"unknown_engine"}
    assert not [f for f in rep["findings"] if f["role"] == "transfer"]
