"""Scrape several /metrics endpoints at once, in rounds, each round under one deadline.

Used by `disagg status`: the prefill, decode (and transfer) roles are scraped concurrently by a
small thread pool, so that one slow role cannot skew the others' timing and every round ends
by its deadline whatever the servers do. Each body is spooled to a temporary file (a large
scrape never sits in memory whole) and handed to `consume` with its Response; nothing raises
for a server that is down, slow, answers an error or garbage: the Response says what happened.
"""
from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, IO

from inferguard.collect.http import HttpClient, Response

MAX_ROLES = 8


def scrape_round(urls: dict[str, str], timeout_seconds: float, max_bytes: int,
                 consume: Callable[[str, Response, IO[bytes] | None], Any], *, retries: int = 1) -> dict[str, Any]:
    """GET every URL (role -> URL) concurrently; return role -> consume(role, response, body).

    The round ends by `timeout_seconds` after it starts (the deadline covers connect, headers,
    body and retries of every request). `body` is the spooled body positioned at 0, or None
    when there is no HTTP answer; it is closed after `consume` returns."""
    deadline = time.monotonic() + timeout_seconds
    client = HttpClient(timeout_seconds=timeout_seconds, retries=retries, max_bytes=max_bytes,
                        max_workers=min(len(urls), MAX_ROLES) or 1, deadline=deadline)

    def one(role: str, url: str) -> tuple[Response, Any]:
        spool = tempfile.TemporaryFile()
        try:
            resp = client.get(url, sink=spool.write)
            spool.seek(0)
            return resp, consume(role, resp, spool if resp.status is not None else None)
        finally:
            spool.close()

    with ThreadPoolExecutor(max_workers=client.max_workers, thread_name_prefix="inferguard-roles") as pool:
        futures = {role: pool.submit(one, role, url) for role, url in urls.items()}
        return {role: fut.result()[1] for role, fut in futures.items()}


def scrape_rounds(urls: dict[str, str], *, timeout_seconds: float, duration_seconds: float,
                  interval_seconds: float | None, max_bytes: int,
                  consume: Callable[[str, Response, IO[bytes] | None], Any]) -> list[dict[str, Any]]:
    """One round, or rounds from 0 to `duration_seconds` every `interval_seconds` (default: two
    rounds, at the start and at the end). Each round: {"at": seconds since the first round
    started, "results": role -> consume(...)}. Rounds start on schedule; a round that ran late
    pushes the next one back, never overlaps it."""
    starts = [0.0]
    if duration_seconds > 0:
        step = interval_seconds or duration_seconds
        k = 1
        while k * step < duration_seconds - 1e-9:
            starts.append(k * step)
            k += 1
        starts.append(duration_seconds)
    t0 = time.monotonic()
    rounds = []
    for at in starts:
        wait = t0 + at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        began = time.monotonic() - t0
        rounds.append({"at": round(began, 3), "results": scrape_round(urls, timeout_seconds, max_bytes, consume)})
    return rounds
