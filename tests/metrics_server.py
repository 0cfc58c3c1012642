"""Loopback HTTP servers that serve a Prometheus exposition computed from the time since they
started, for the collect-metrics tests and benchmark. They listen on 127.0.0.1 only and stop
with the `with` block."""
from __future__ import annotations

import http.server
import threading
import time
from typing import Callable

Render = Callable[[float], "tuple[int, bytes] | bytes"]


class MetricsServer:
    """`render(seconds since start)` returns the body (200) or (status, body); `delay`
    seconds are slept before answering (a slow target)."""

    def __init__(self, render: Render, delay: float = 0.0):
        self.render = render
        self.delay = delay
        self.t0 = time.monotonic()
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                outer.hits += 1
                if outer.delay:
                    time.sleep(outer.delay)
                got = outer.render(time.monotonic() - outer.t0)
                status, body = got if isinstance(got, tuple) else (200, got)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "MetricsServer":
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=2)
