"""collect-lmcache against a REAL LMCache server.

Set INFERGUARD_LMCACHE_HTTP_URL (e.g. http://127.0.0.1:8080) to the server's HTTP API and,
when the server's log is readable, INFERGUARD_LMCACHE_LOG to it (`scripts/lmcache-live.sh
start` prints both). Without the URL the test is skipped, unless INFERGUARD_REQUIRE_LIVE=1,
in which case it fails.

What it proves: health and version are recorded; the collection sent no state-changing
request (the server's own uvicorn access log, written for every request, shows only GETs,
exactly the paths the client reports, each a safe spec route); and no `lmcache_mp_*`
counter moved because of the collection (scraped before and after; counters that move on
their own, such as loop ticks, are found in a quiet control window and left out).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live
from click.testing import CliRunner

URL = os.environ.get("INFERGUARD_LMCACHE_HTTP_URL", "").strip()
LOG = os.environ.get("INFERGUARD_LMCACHE_LOG", "").strip()
REQUIRE = os.environ.get("INFERGUARD_REQUIRE_LIVE", "").strip() == "1"

ACCESS_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<code>\d{3})')
SAMPLE_RE = re.compile(r"^(?P<name>lmcache_mp_[A-Za-z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)")


def _live_url() -> str:
    if not URL:
        if REQUIRE:
            pytest.fail("INFERGUARD_REQUIRE_LIVE=1 but INFERGUARD_LMCACHE_HTTP_URL is not set "
                        "(start a server with scripts/lmcache-live.sh start)")
        pytest.skip("INFERGUARD_LMCACHE_HTTP_URL not set (scripts/lmcache-live.sh start prints it)")
    return URL.rstrip("/")


def _counters(url: str) -> dict[str, float]:
    from inferguard.collect.http import fetch_text

    text, _meta = fetch_text(url + "/metrics", 10)
    types: dict[str, str] = {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            continue
        name = m.group("name")
        family = name[:-6] if name.endswith("_total") else name
        if types.get(family) == "counter" or types.get(name) == "counter":
            out[name + (m.group("labels") or "")] = float(m.group("value"))
    return out


def _log_size() -> int | None:
    if not LOG:
        return None
    try:
        return Path(LOG).stat().st_size
    except OSError:
        return None


def _access_lines(start: int, want: int, timeout: float = 10.0) -> list[tuple[str, str, int]]:
    deadline = time.monotonic() + timeout
    lines: list[tuple[str, str, int]] = []
    while time.monotonic() < deadline:
        with open(LOG, "rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", errors="replace")
        lines = [(m.group("method"), m.group("path"), int(m.group("code"))) for m in ACCESS_RE.finditer(text)]
        if len(lines) >= want:
            break
        time.sleep(0.2)
    return lines


def test_live_collection_is_read_only(tmp_path):
    from inferguard.cli.collect import collect_lmcache
    from inferguard.spec.kinds.http_endpoints import load_index

    live_url = _live_url()
    # quiet control window: which counters move on their own
    a = _counters(live_url)
    time.sleep(2.0)
    b = _counters(live_url)
    background = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    start = _log_size()

    out = tmp_path / "packet"
    args = ["--output-dir", str(out), "--lmcache-http-base-url", live_url, "--timeout-seconds", "10", "--format", "json"]
    if LOG and Path(LOG).is_file():
        args += ["--lmcache-log-file", LOG]
    t0 = time.monotonic()
    res = CliRunner().invoke(collect_lmcache, args, catch_exceptions=False)
    elapsed = time.monotonic() - t0
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    m = json.loads((out / "packet_manifest.json").read_text())

    # health and version recorded
    assert m["state"] == "complete"
    assert m["health"]["lmcache"] in ("healthy", "unhealthy")
    assert m["detected"]["lmcache_version"], m["detected"]
    ev = json.loads((out / "lmcache_http_evidence.json").read_text())
    src = ev["sources"][0]["summary"]
    assert src["version"]["value"] == m["detected"]["lmcache_version"]
    assert src["health"]["state"] == m["health"]["lmcache"]
    assert ev["signals"]["endpoints_ok"] >= 5
    assert summary["health"] == m["health"]["lmcache"]

    # only GETs to safe spec routes, and every destructive route recorded as skipped
    index = load_index()
    client = m["http_client"]
    assert client["methods"] == ["GET"]
    for p in client["paths_sent"]:
        hits = index.match("GET", p)
        assert hits and all(r.policy == "safe" for r in hits), p
    skipped = [e for e in m["endpoints"] if e["reason"] == "destructive_skipped"]
    assert skipped and all(e["result"] == "not_called" for e in skipped)

    # the server's own access log: exactly what the client says it sent, GET only
    if start is not None:
        lines = _access_lines(start, client["requests_sent"])
        assert lines, "no access-log lines were written during the collection"
        assert {meth for meth, _p, _c in lines} == {"GET"}, lines
        assert sorted(p for _m, p, _c in lines) == sorted(
            u[len(live_url):] or "/" for u in _sent_urls(m, live_url)), lines

    # no lmcache_mp_* counter moved because of the collection
    c = _counters(live_url)
    assert b, "the server exposes no lmcache_mp_* counters"
    stable = {k for k in b if k not in background}
    assert stable, "every counter moved during the control window"
    changed = {k: (b[k], c.get(k)) for k in stable if c.get(k) != b[k]}
    assert changed == {}, changed
    print(f"live collection: {client['requests_sent']} GETs in {elapsed:.2f}s, "
          f"{len(stable)} stable counters unchanged, {len(background)} background counters ignored")


def _sent_urls(manifest: dict, base: str) -> list[str]:
    """One URL per request the client sent (retries and detection probes included), from the manifest."""
    urls = []
    for e in manifest["endpoints"]:
        if e["reason"] in ("safe", "sensitive_opt_in"):
            urls.extend([e["url"]] * int(e.get("attempts") or 1))
    return urls
