"""A loopback HTTP server that answers with the LMCache HTTP bodies a live capture saved.

`collect-lmcache` names each body it fetched `http/<METHOD>_<path>.body` (the path's `/`
become `_`; `/` itself is `GET_.body`). Replaying a live fixture serves those files back at
the same paths, so the collector can be run against the capture exactly as it ran against the
server: a request for a path whose body was saved gets it (200), any other path 404 with the
body FastAPI gives an unknown route, and any method but GET 405. Nothing else is served.

Bounds: the server binds 127.0.0.1 only (an ephemeral port), each connection has a socket
timeout, and the server shuts itself down at a deadline even if its owner never stops it.
"""
from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from typing import Any

from inferguard.spec.kinds.http_endpoints import file_stem

HOST = "127.0.0.1"
NOT_FOUND = b'{"detail":"Not Found"}'
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _content_type(path: str, body: bytes) -> str:
    if path.split("?", 1)[0].rstrip("/").endswith("/metrics"):
        return METRICS_TYPE
    head = body.lstrip()[:1]
    if head in (b"{", b"[", b'"') or body.strip() in (b"true", b"false", b"null"):
        return "application/json"
    return "text/plain; charset=utf-8"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"
    timeout = 5.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return  # quiet: the runner reports what the collector saw

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.requests.append(("GET", self.path))
        body = self.server.body_for(self.path)
        if body is None:
            self._send(404, NOT_FOUND, "application/json")
        else:
            self._send(200, body, _content_type(self.path, body))

    def _refuse(self) -> None:
        self.server.requests.append((self.command, self.path))
        self._send(405, b'{"detail":"Method Not Allowed"}', "application/json")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _refuse  # noqa: N815


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, http_dir: Path):
        super().__init__((HOST, 0), _Handler)
        self.http_dir = http_dir.resolve()
        self.requests: list[tuple[str, str]] = []

    def body_for(self, path: str) -> bytes | None:
        name = f"{file_stem('GET', path)}.body"
        if "/" in name or name in (".body", "..body"):
            return None
        f = self.http_dir / name
        try:
            if f.resolve().parent != self.http_dir or not f.is_file():
                return None
            return f.read_bytes()
        except OSError:
            return None


class ReplayServer:
    """Serve `<fixture>/http/*.body` on 127.0.0.1 until `stop()` or `deadline_seconds`.

    Use as a context manager: `with ReplayServer(fixture) as srv: srv.url`."""

    def __init__(self, fixture_dir: str | Path, deadline_seconds: float = 120.0):
        self.fixture_dir = Path(fixture_dir)
        self.deadline_seconds = float(deadline_seconds)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("replay server is not running")
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self._server.requests) if self._server else []

    def start(self) -> "ReplayServer":
        self._server = _Server(self.fixture_dir / "http")
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="inferguard-replay-server", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.deadline_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        self.started_at = time.monotonic()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if self._timer is not None:
            self._timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
