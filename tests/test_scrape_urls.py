"""The URL twins of the metrics-file flags, against a local HTTP server on 127.0.0.1."""
from __future__ import annotations

import http.server
import socket
import threading

import pytest

from conftest import H100, load_json, run_cli


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {
        "/engine/metrics": (H100 / "engine.prom").read_bytes(),
        "/lmcache/metrics": (H100 / "lmcache.prom").read_bytes(),
    }

    def do_GET(self):  # noqa: N802
        body = self.routes.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_live_scrapes_give_the_same_answers_as_files(server, tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("observability-coverage", "--engine-metrics-url", f"{server}/engine/metrics",
                   "--lmcache-metrics-url", f"{server}/lmcache/metrics", "--timeout-seconds", "5", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = load_json(out)
    assert rep["detected"]["lmcache_mode"] == "mp"
    assert rep["derived"]["lmcache_mp.lookup_hit_rate"]["value"] == pytest.approx(0.9)
    assert {i["path"] for i in rep["inputs"]} == {f"{server}/engine/metrics", f"{server}/lmcache/metrics"}


def test_http_error_is_one_line_exit_2(server):
    proc = run_cli("lmcache-compat", "--lmcache-metrics-url", f"{server}/nope", "--timeout-seconds", "2")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "HTTP 404" in proc.stderr


def test_refused_connection_is_one_line_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli("observability-coverage", "--engine-metrics-url", f"http://127.0.0.1:{port}/metrics",
                   "--timeout-seconds", "1")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot fetch" in proc.stderr
    assert "Traceback" not in proc.stderr
