"""A small HTTP client for collection (standard library only).

- GET only. There is no code path here that sends any other method.
- A deadline per request: `timeout_seconds` bounds the whole request (connect, headers,
  body, retries), so a server that sends one byte a second cannot hold a command. An
  optional overall deadline (a collection budget) caps every request, and a request that
  would start after it is not sent.
- Bounded retries with exponential backoff on transport failures (refused, reset) within
  the request's deadline; an HTTP answer, error codes included, is never retried: a 503 is
  evidence, not a glitch.
- A response size cap: at most `max_bytes` are read, and truncation is recorded.
- A body shorter than its Content-Length, a broken chunked encoding or a deadline hit
  mid-body is recorded as `incomplete` (why), with what was received; a status line that
  is not HTTP is a transport error. None of these raises.
- Bounded concurrency through a thread pool (`fetch_many`).
- No proxies from the environment and no redirects: what is collected is what the named
  server itself answered.
- `guard`: an optional callable that vets each URL before it is sent (LMCache collection
  passes one that refuses any route whose spec policy is not safe or opted-in sensitive).
"""
from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from inferguard.core.problems import InputError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024          # one LMCache HTTP API body
DEFAULT_MAX_SCRAPE_BYTES = 1024 * 1024 * 1024  # one /metrics scrape (a large fleet's engine)
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.2
DEFAULT_WORKERS = 4
USER_AGENT = "inferguard-collect"
_BLOCK = 65536


@dataclass
class Response:
    url: str
    status: int | None = None
    data: bytes = b""
    content_type: str | None = None
    truncated: bool = False           # the size cap was reached: the rest was not read
    incomplete: str | None = None     # the body was cut short (why): short, broken chunking, deadline
    error: str | None = None          # transport failure: no HTTP answer at all
    elapsed_ms: float = 0.0
    attempts: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0                   # body bytes received (also when they went to a sink)
    sha256: str = hashlib.sha256(b"").hexdigest()

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def cut(self) -> str | None:
        """Why the body is not the whole answer, or None when it is."""
        if self.incomplete:
            return self.incomplete
        if self.truncated:
            return f"the body is larger than the size cap; only the first {self.nbytes} bytes were read"
        return None

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url,
            "http_status": self.status,
            "bytes": self.nbytes,
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "attempts": self.attempts,
            "sha256": self.sha256,
        }
        if self.incomplete:
            out["incomplete"] = self.incomplete
        if self.content_type:
            out["content_type"] = self.content_type
        if self.error:
            out["error"] = self.error
        return out


class RefusedRequest(Exception):
    """The guard refused a URL; nothing was sent."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without an answer"
    if isinstance(exc, http.client.BadStatusLine):
        return f"not an HTTP response (status line {str(exc)[:60]!r})"
    if isinstance(exc, http.client.HTTPException):
        return f"not a valid HTTP response ({type(exc).__name__}: {str(exc)[:80]})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def _connector(deadline: float) -> Callable[..., socket.socket]:
    """A create_connection whose name lookup also ends at `deadline` (getaddrinfo has no
    timeout of its own, so it runs in a helper thread that is abandoned when late)."""

    def connect(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
        host, port = address
        found: list[Any] = []

        def resolve() -> None:
            try:
                found.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
            except OSError as exc:
                found.append(exc)

        t = threading.Thread(target=resolve, daemon=True, name="inferguard-resolve")
        t.start()
        t.join(max(0.0, deadline - time.monotonic()))
        if not found:
            raise socket.timeout("name lookup timed out")
        if isinstance(found[0], OSError):
            raise found[0]
        err: OSError | None = None
        for family, kind, proto, _name, addr in found[0]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out")
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(remaining)
                if source_address:
                    sock.bind(source_address)
                sock.connect(addr)
                return sock
            except OSError as exc:
                err = exc
                sock.close()
        raise err if err is not None else OSError("no address to connect to")

    return connect


def _target(parts: urllib.parse.SplitResult) -> str:
    path = parts.path or "/"
    return path + ("?" + parts.query if parts.query else "")


class HttpClient:
    """GET-only client with deadlines, bounded retries, a size cap and bounded concurrency."""

    def __init__(
        self,
        timeout_seconds: float = 5.0,
        retries: int = DEFAULT_RETRIES,
        backoff_seconds: float = DEFAULT_BACKOFF,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_workers: int = DEFAULT_WORKERS,
        guard: Callable[[str], None] | None = None,
        deadline: float | None = None,
    ):
        """`deadline`: a time.monotonic() instant after which nothing is sent or read."""
        self.timeout = float(timeout_seconds)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff_seconds))
        self.max_bytes = int(max_bytes)
        self.max_workers = max(1, int(max_workers))
        self.guard = guard
        self.deadline = deadline
        self.sent: list[str] = []       # every URL actually sent, in order (GET only)

    def get(self, url: str, sink: Callable[[bytes], Any] | None = None) -> Response:
        """GET `url` within one deadline. With `sink`, body blocks go to it instead of `data`
        (the digest and byte count are still kept); a sink is only used by single requests."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return Response(url, error=f"unsupported URL scheme {parts.scheme!r}")
        try:
            port = parts.port
        except ValueError:
            return Response(url, error="invalid port in URL")
        if not parts.hostname:
            return Response(url, error="no host in URL")
        if self.guard is not None:
            self.guard(url)  # raises RefusedRequest
        resp = Response(url)
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
            if deadline <= t0:
                resp.error = "not sent: the collection time budget was spent"
                return resp
        for attempt in range(self.retries + 1):
            resp.attempts = attempt + 1
            self.sent.append(url)
            retry = self._attempt(resp, parts, port, deadline, sink)
            if not retry or attempt >= self.retries:
                break
            pause = self.backoff * (2 ** attempt)
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        resp.elapsed_ms = (time.monotonic() - t0) * 1000.0
        return resp

    def _attempt(self, resp: Response, parts: urllib.parse.SplitResult, port: int | None, deadline: float,
                 sink: Callable[[bytes], Any] | None) -> bool:
        """One try; fills `resp`. True when it failed in a way worth retrying."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            resp.error = f"timed out (deadline of {self.timeout:g}s)"
            return False
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, port, timeout=remaining, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, port, timeout=remaining)
        conn._create_connection = _connector(deadline)  # type: ignore[attr-defined]
        expired = threading.Event()
        timer = None
        h = hashlib.sha256()
        got = 0
        chunks: list[bytes] = []
        resp.status = None
        resp.error = None
        try:
            conn.connect()
            sock = conn.sock

            def expire() -> None:
                expired.set()
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
            timer.daemon = True
            timer.start()
            conn.putrequest("GET", _target(parts), skip_accept_encoding=True)
            conn.putheader("User-Agent", USER_AGENT)
            conn.putheader("Accept", "*/*")
            conn.putheader("Accept-Encoding", "identity")
            conn.endheaders()
            r = conn.getresponse()
            resp.status = r.status
            resp.content_type = r.getheader("Content-Type")
            resp.headers = {k.lower(): v for k, v in r.getheaders()}
            def take(block: bytes) -> None:
                nonlocal got
                if got + len(block) > self.max_bytes:
                    block = block[: self.max_bytes - got]
                    resp.truncated = True
                got += len(block)
                h.update(block)
                if sink is not None:
                    sink(block)
                else:
                    chunks.append(block)

            try:
                while got <= self.max_bytes and not resp.truncated:
                    block = r.read(min(_BLOCK, self.max_bytes + 1 - got))
                    if not block:
                        break
                    take(block)
                if expired.is_set():
                    resp.incomplete = f"deadline of {self.timeout:g}s exceeded after {got} body bytes"
                elif not resp.truncated and r.length:  # what Content-Length still promised
                    resp.incomplete = f"body shorter than its Content-Length: {got} of {got + r.length} bytes"
            except http.client.IncompleteRead as exc:
                if exc.partial and not resp.truncated:
                    take(bytes(exc.partial))  # what this read did receive before the break
                if expired.is_set():
                    resp.incomplete = f"deadline of {self.timeout:g}s exceeded after {got} body bytes"
                elif r.chunked:
                    resp.incomplete = f"broken chunked encoding after {got} body bytes"
                else:
                    expected = got + (exc.expected or 0)
                    resp.incomplete = f"body shorter than its Content-Length: {got} of {expected} bytes"
            except (OSError, http.client.HTTPException) as exc:
                resp.incomplete = (f"deadline of {self.timeout:g}s exceeded after {got} body bytes"
                                   if expired.is_set() else f"body cut short after {got} bytes: {_reason(exc)}")
            return False
        except (OSError, http.client.HTTPException, http.client.InvalidURL, UnicodeError) as exc:
            resp.status = None
            if expired.is_set() or isinstance(exc, (socket.timeout, TimeoutError)):
                resp.error = f"timed out (deadline of {self.timeout:g}s)"
                return False
            resp.error = _reason(exc)
            # Only a failure to reach a server is retried; a server that answered garbage is not.
            return got == 0 and isinstance(exc, (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError)) \
                and not isinstance(exc, http.client.RemoteDisconnected)
        finally:
            if timer is not None:
                timer.cancel()
            conn.close()
            resp.nbytes = got
            resp.sha256 = h.hexdigest()
            resp.data = b"".join(chunks)

    def fetch_many(self, urls: Iterable[str]) -> dict[str, Response]:
        """GET each URL with at most `max_workers` in flight; refused URLs are not sent."""
        urls = list(dict.fromkeys(urls))
        out: dict[str, Response] = {}

        def one(u: str) -> Response:
            try:
                return self.get(u)
            except RefusedRequest as exc:
                return Response(u, error=f"refused: {exc}")

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="inferguard-http") as pool:
            for u, r in zip(urls, pool.map(one, urls)):
                out[u] = r
        return out


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def charset_of(content_type: str | None) -> str:
    """The charset a Content-Type names, when Python knows it; else utf-8."""
    import codecs

    if content_type and "charset=" in content_type:
        cs = content_type.split("charset=", 1)[1].split(";", 1)[0].strip().strip('"') or "utf-8"
        try:
            codecs.lookup(cs)
            return cs
        except LookupError:
            pass
    return "utf-8"


def fetch_scrape(url: str, timeout_seconds: float, sink: Callable[[bytes], Any], *,
                 max_bytes: int = DEFAULT_MAX_SCRAPE_BYTES, retries: int = DEFAULT_RETRIES,
                 deadline: float | None = None) -> Response:
    """GET a scrape, streaming its body into `sink`. A body that is cut (size cap, short,
    broken chunking, deadline) is returned with `resp.cut` saying why; the caller reports it.

    Raises InputError with a one-line reason when there is no usable answer: the server
    cannot be reached, does not speak HTTP, or answers with a non-2xx status."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("not an http(s) URL", path=url)
    client = HttpClient(timeout_seconds=timeout_seconds, retries=retries, max_bytes=max_bytes, max_workers=1,
                        deadline=deadline)
    resp = client.get(url, sink=sink)  # only an attempt that received no body is retried
    if resp.error is not None:
        raise InputError(f"cannot fetch: {resp.error}", path=url)
    if resp.status is None or not (200 <= resp.status < 300):
        raise InputError(f"HTTP {resp.status}", path=url)
    return resp


def fetch_text(url: str, timeout_seconds: float = 5.0, *, max_bytes: int = DEFAULT_MAX_BYTES,
               retries: int = DEFAULT_RETRIES) -> tuple[str, dict[str, Any]]:
    """GET a small text resource whole: (text, meta); `meta["cut"]` says why it is not whole.

    Raises InputError with a one-line reason when there is no usable answer: the server
    cannot be reached, or answers with a non-2xx status."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("not an http(s) URL", path=url)
    client = HttpClient(timeout_seconds=timeout_seconds, retries=retries, max_bytes=max_bytes, max_workers=1)
    resp = client.get(url)
    if resp.error is not None:
        raise InputError(f"cannot fetch: {resp.error}", path=url)
    if resp.status is None or not (200 <= resp.status < 300):
        raise InputError(f"HTTP {resp.status}", path=url)
    meta = resp.meta()
    if resp.cut:
        meta["cut"] = resp.cut
    return resp.data.decode(charset_of(resp.content_type), errors="replace"), meta
