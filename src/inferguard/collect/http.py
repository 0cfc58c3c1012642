"""A small HTTP client for collection (standard library only).

- GET only. There is no code path here that sends any other method.
- Timeouts on every request; bounded retries with exponential backoff on transport
  failures (refused, reset, timed out); an HTTP answer, error codes included, is never
  retried: a 503 is evidence, not a glitch.
- A response size cap: at most `max_bytes` are read, and truncation is recorded.
- Bounded concurrency through a thread pool (`fetch_many`).
- No proxies from the environment and no redirects: what is collected is what the named
  server itself answered.
- `guard`: an optional callable that vets each URL before it is sent (LMCache collection
  passes one that refuses any route whose spec policy is not safe or opted-in sensitive).
"""
from __future__ import annotations

import hashlib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from inferguard.problems import InputError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.2
DEFAULT_WORKERS = 4
USER_AGENT = "inferguard-collect"


@dataclass
class Response:
    url: str
    status: int | None = None
    data: bytes = b""
    content_type: str | None = None
    truncated: bool = False
    error: str | None = None          # transport failure: no HTTP answer at all
    elapsed_ms: float = 0.0
    attempts: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url,
            "http_status": self.status,
            "bytes": len(self.data),
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "attempts": self.attempts,
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }
        if self.content_type:
            out["content_type"] = self.content_type
        if self.error:
            out["error"] = self.error
        return out


class RefusedRequest(Exception):
    """The guard refused a URL; nothing was sent."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        r = exc.reason
        if isinstance(r, socket.timeout) or "timed out" in str(r):
            return "timed out"
        if isinstance(r, ConnectionRefusedError):
            return "connection refused"
        if isinstance(r, OSError) and r.strerror:
            return r.strerror.lower()
        return str(r)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{type(exc).__name__}: {exc}"


def _read_capped(fh, max_bytes: int) -> tuple[bytes, bool]:
    chunks = []
    got = 0
    while got <= max_bytes:
        block = fh.read(min(65536, max_bytes + 1 - got))
        if not block:
            break
        chunks.append(block)
        got += len(block)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        return data[:max_bytes], True
    return data, False


class HttpClient:
    """GET-only client with timeouts, bounded retries, size cap and bounded concurrency."""

    def __init__(
        self,
        timeout_seconds: float = 5.0,
        retries: int = DEFAULT_RETRIES,
        backoff_seconds: float = DEFAULT_BACKOFF,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_workers: int = DEFAULT_WORKERS,
        guard: Callable[[str], None] | None = None,
    ):
        self.timeout = float(timeout_seconds)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff_seconds))
        self.max_bytes = int(max_bytes)
        self.max_workers = max(1, int(max_workers))
        self.guard = guard
        self._opener = _opener()
        self.sent: list[str] = []       # every URL actually sent, in order (GET only)

    def get(self, url: str) -> Response:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            return Response(url, error=f"unsupported URL scheme {scheme!r}")
        if self.guard is not None:
            self.guard(url)  # raises RefusedRequest
        resp = Response(url)
        t0 = time.monotonic()
        for attempt in range(self.retries + 1):
            resp.attempts = attempt + 1
            req = urllib.request.Request(url, method="GET", headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
            self.sent.append(url)
            try:
                with self._opener.open(req, timeout=self.timeout) as fh:
                    resp.status = fh.status
                    resp.content_type = fh.headers.get("Content-Type")
                    resp.headers = {k.lower(): v for k, v in fh.headers.items()}
                    resp.data, resp.truncated = _read_capped(fh, self.max_bytes)
                    resp.error = None
                break
            except urllib.error.HTTPError as exc:  # an answer: keep status and body, no retry
                resp.status = exc.code
                resp.content_type = exc.headers.get("Content-Type") if exc.headers else None
                try:
                    resp.data, resp.truncated = _read_capped(exc, self.max_bytes)
                except Exception:  # noqa: BLE001 - a body we cannot read is just empty
                    resp.data = b""
                resp.error = None
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                resp.error = _reason(exc)
                resp.status = None
                if attempt < self.retries:
                    time.sleep(self.backoff * (2 ** attempt))
        resp.elapsed_ms = (time.monotonic() - t0) * 1000.0
        return resp

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


def fetch_text(url: str, timeout_seconds: float = 5.0, *, max_bytes: int = DEFAULT_MAX_BYTES,
               retries: int = DEFAULT_RETRIES) -> tuple[str, dict[str, Any]]:
    """GET a text resource (a Prometheus scrape): (text, meta).

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
    charset = "utf-8"
    if resp.content_type and "charset=" in resp.content_type:
        charset = resp.content_type.split("charset=", 1)[1].split(";", 1)[0].strip() or "utf-8"
    try:
        text = resp.data.decode(charset, errors="replace")
    except LookupError:
        text = resp.data.decode("utf-8", errors="replace")
    return text, meta
