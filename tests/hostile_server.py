"""A loopback TCP server that misbehaves on purpose, for tests of the HTTP client.

Each connection is answered by `behave(conn)` in its own thread. Everything is bounded:
the server only listens on 127.0.0.1, every socket has a timeout, and `close()` stops it.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable


class HostileServer:
    def __init__(self, behave: Callable[[socket.socket], None]):
        self.behave = behave
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "HostileServer":
        self._accept.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=2)
        self.sock.close()
        for t in self._threads:
            t.join(timeout=2)

    def stopped(self) -> bool:
        return self._stop.is_set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            self.requests.append(read_request(conn))
            self.behave(conn, self)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        block = conn.recv(4096)
        if not block:
            break
        data += block
    return data


def drip(body: bytes, every: float = 0.5, head: bytes | None = None):
    """Send a 200 head at once, then the body one byte every `every` seconds."""
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(head if head is not None else
                     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(len(body)):
            if server.stopped():
                return
            conn.sendall(body[i:i + 1])
            time.sleep(every)
    return behave


def silent(conn: socket.socket, server: HostileServer) -> None:
    """Accept, read the request, never answer (until the server stops)."""
    while not server.stopped():
        time.sleep(0.05)


def raw(answer: bytes):
    """Send `answer` as it is, then close."""
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(answer)
    return behave
