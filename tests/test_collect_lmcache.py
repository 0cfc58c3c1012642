"""collect-lmcache: packets from saved files and from a local stub of the LMCache HTTP API."""
from __future__ import annotations

import hashlib
import json
import urllib.parse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferguard.cli.collect import collect_lmcache as cli
from inferguard.collect import lmcache as pipeline
from inferguard.collect.http import HttpClient, fetch_text
from inferguard.core.problems import InputError
from inferguard.spec.kinds.http_endpoints import load_index

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures" / "lmcache" / "http-0.5.6-cpu" / "http"

FILE_FLAGS = {
    "health": "GET_healthcheck.body",
    "status": "GET_status.body",
    "config": "GET_config.body",
    "version": "GET_version.body",
    "lmc-version": "GET_lmc_version.body",
    "commit-id": "GET_commit_id.body",
    "threads": "GET_threads.body",
    "periodic-threads": "GET_periodic-threads.body",
    "periodic-threads-health": "GET_periodic-threads-health.body",
    "quota": "GET_quota.body",
}

# 64-hex chunk hashes as a lookup-hash log holds them; none may reach the packet
RAW_HASHES = [hashlib.sha256(f"chunk-{i}".encode()).hexdigest() for i in range(3)]
PROMPT = "PROMPT-TEXT-tell-me-a-secret-story"


def _validator(name):
    from inferguard.spec.loader import schema_validator

    v = schema_validator(name)
    assert v is not None, name
    return v


def _errors(obj, name):
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator(name).iter_errors(obj)]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _lookup_hash_file(tmp: Path) -> Path:
    d = tmp / "lookup_hash"
    d.mkdir()
    f = d / "lookup_hashes_20261129_000000_000000.jsonl"
    lines = []
    for i in range(2):
        lines.append(json.dumps({"timestamp": 1795940828.36 + i, "request_id": f"req-{i}", "model_name": "m",
                                 "chunk_size": 16, "seq_len": 48, "dtypes": ["torch.float16"], "shapes": [[2, 2, 16, 8]],
                                 "chunk_hashes": ["0x" + h for h in RAW_HASHES]}))
    f.write_text("\n".join(lines) + "\n")
    return d


def _log_file(tmp: Path) -> Path:
    f = tmp / "engine.log"
    f.write_text(f"INFO 11-29 08:00:00 [logger.py:39] Received request cmpl-1: prompt: '{PROMPT}'\n")
    return f


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


# --------------------------------------------------------------------------- offline packet


@pytest.fixture()
def file_packet(tmp_path):
    out = tmp_path / "packet"
    args = ["--output-dir", str(out), "--lmcache-metrics-file", str(FIX / "GET_metrics_after_traffic.body"),
            "--engine-log-file", str(_log_file(tmp_path)),
            "--lmcache-lookup-hash-path", str(_lookup_hash_file(tmp_path)), "--l2-configured", "--expect-mode", "mp"]
    for flag, name in FILE_FLAGS.items():
        args += [f"--lmcache-{flag}-file", str(FIX / name)]
    res = _run(args)
    assert res.exit_code == 0, res.output
    return out, res


def test_packet_from_files_manifest(file_packet):
    out, res = file_packet
    m = json.loads((out / "packet_manifest.json").read_text())
    assert _errors(m, "packet_manifest.v1.schema.json") == []
    assert m["state"] == "complete" and m["problems"] == []
    assert m["context"]["l2_configured"] is True and m["context"]["expect_mode"] == "mp"
    assert m["tool"]["name"] == "inferguard" and m["spec"]["digest"]
    # every artifact is listed with a matching sha256
    listed = set()
    for a in m["artifacts"]:
        if a["copied"]:
            p = out / a["path"]
            assert p.is_file(), a
            assert _sha(p) == a["sha256"] and p.stat().st_size == a["size"]
            listed.add(a["path"])
        else:
            assert a["path"] is None
            src = Path(a["source"])
            if src.is_file():
                assert _sha(src) == a["sha256"]
    for lane, info in m["lanes"].items():
        p = out / info["evidence"]
        assert _sha(p) == info["sha256"], lane
        listed.add(info["evidence"])
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"packet_manifest.json"}
    assert on_disk == listed
    # every file flag was recorded as file_provided, nothing was called
    reasons = {e["flag"]: e["reason"] for e in m["endpoints"] if "flag" in e}
    assert reasons == {f: "file_provided" for f in FILE_FLAGS}
    assert "http_client" not in m
    assert m["health"] == {"lmcache": "healthy", "reasons": [], "marked": False}
    assert m["detected"]["lmcache_version"] == "0.5.6"
    lm = [a for a in m["artifacts"] if a["role"] == "lmcache_metrics"]
    assert lm and lm[0]["path"] == "lmcache.prom"
    assert (out / "lmcache.prom").read_bytes() == (FIX / "GET_metrics_after_traffic.body").read_bytes()
    assert "http=ok" in res.output and "health: healthy" in res.output


def test_lane_files_validate(file_packet):
    out, _ = file_packet
    names = {"lmcache_http", "lmcache_log", "lmcache_otel", "lmcache_trace", "lmcache_lookup_hash",
             "lmcache_trace_replay"}
    for lane in names:
        env = json.loads((out / f"{lane}_evidence.json").read_text())
        assert _errors(env, "evidence.lane.v1.schema.json") == [], lane
        assert env["lane"] == lane and env["kind"] == "LaneEvidence"
    assert not (out / "lmcache_cacheblend_evidence.json").exists()
    http = json.loads((out / "lmcache_http_evidence.json").read_text())
    assert len(http["sources"]) == 1
    assert _errors(http["sources"][0], "evidence.lmcache_http.v1.schema.json") == []
    sig = http["signals"]
    assert sig["health_ok"] == 1 and sig["version"] == 1 and sig["status"] == 1
    assert sig["file_provided"] == len(FILE_FLAGS) and sig["endpoints_ok"] == len(FILE_FLAGS)
    summ = http["sources"][0]["summary"]
    assert summ["version"]["value"] == "0.5.6" and summ["version"]["full"] == "0.5.6-g3e11e108"
    assert summ["status"]["engine_type"] == "MPCacheServer"
    # signals are the sum over sources
    assert http["signals"] == http["sources"][0]["signals"]


def test_no_raw_hashes_or_prompts_in_packet(file_packet, tmp_path):
    out, _ = file_packet
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_text(errors="replace")
            for h in RAW_HASHES:
                assert h not in data, p
            assert PROMPT not in data, p
    m = json.loads((out / "packet_manifest.json").read_text())
    recorded = {a["role"]: a for a in m["artifacts"]}
    assert recorded["lmcache_lookup_hash"]["copied"] is False
    assert recorded["lmcache_lookup_hash"]["kind"] == "directory"
    assert recorded["engine_log"]["copied"] is False


def test_keep_raw_copies_sources(tmp_path):
    out = tmp_path / "packet"
    lh = _lookup_hash_file(tmp_path)
    res = _run(["--output-dir", str(out), "--lmcache-lookup-hash-path", str(lh), "--keep-raw",
                "--engine-log-file", str(_log_file(tmp_path))])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "packet_manifest.json").read_text())
    arts = {a["role"]: a for a in m["artifacts"]}
    assert arts["lmcache_lookup_hash"]["copied"] and arts["lmcache_lookup_hash"]["path"].startswith("raw/")
    copied = out / arts["engine_log"]["path"]
    assert _sha(copied) == arts["engine_log"]["sha256"]
    assert any(RAW_HASHES[0] in p.read_text() for p in (out / "raw").rglob("*.jsonl"))


def test_missing_input_file_exit_2_one_line(tmp_path):
    out = tmp_path / "packet"
    missing = tmp_path / "nope.body"
    res = CliRunner().invoke(cli, ["--output-dir", str(out), "--lmcache-status-file", str(missing)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines == [f"inferguard: error: {missing}: No such file"]
    assert "Traceback" not in res.output
    assert not out.exists()


def test_bad_usage_exit_2(tmp_path):
    res = CliRunner().invoke(cli, ["--output-dir", str(tmp_path / "p"), "--lmcache-http-base-url", "ftp://x"])
    assert res.exit_code == 2 and res.output.strip().count("\n") == 0
    res = CliRunner().invoke(cli, ["--output-dir", str(tmp_path / "p"), "--timeout-seconds", "0"])
    assert res.exit_code == 2 and "timeout" in res.output


@pytest.mark.expect_internal_error
def test_reader_module_missing_is_an_internal_error(tmp_path, monkeypatch):
    """A reader that does not import is a broken install: the lane fails loudly (exit 3), the
    packet is not complete, and it never reads as a lane that was simply not provided."""
    import inferguard.readers as readers_pkg

    monkeypatch.setitem(readers_pkg.LANE_READERS, "lmcache_otel", "inferguard.readers.no_such_reader_module:read")
    spans = tmp_path / "spans.jsonl"
    spans.write_text('{"name":"request"}\n')
    out = tmp_path / "p"
    res = _run(["--output-dir", str(out), "--lmcache-otel-file", str(spans)])
    assert res.exit_code == 3
    assert "internal error" in res.output and "no_such_reader_module" in res.output
    assert "Traceback" not in res.output
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["state"] == "failed"
    lane = m["lanes"]["lmcache_otel"]
    assert lane["status"] == "failed" and "ModuleNotFoundError" in lane["reason"]
    art = [a for a in m["artifacts"] if a["role"] == "lmcache_otel"][0]
    assert art["status"] == "failed" and art["sha256"] == _sha(spans)
    assert _errors(m, "packet_manifest.v1.schema.json") == []


@pytest.mark.expect_internal_error
def test_reader_crash_fails_its_lane_and_the_rest_is_collected(tmp_path, monkeypatch):
    def boom(path, **kw):
        raise RuntimeError("bad frame\nsecond line")

    real = pipeline._import_reader

    def fake(lane):
        if lane == "lmcache_trace":
            return boom, "x:read"
        return real(lane)

    monkeypatch.setattr(pipeline, "_import_reader", fake)
    trace = tmp_path / "t.lct"
    trace.write_bytes(b"\x00\x00\x00\x01\x80")
    out = tmp_path / "p"
    res = _run(["--output-dir", str(out), "--lmcache-trace-file", str(trace),
                "--lmcache-health-file", str(FIX / "GET_healthcheck.body")])
    assert res.exit_code == 3
    assert res.output.count("\n") == 1 and "lane lmcache_trace: RuntimeError: bad frame" in res.output
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["state"] == "failed"
    assert m["lanes"]["lmcache_trace"]["status"] == "failed"
    assert m["lanes"]["lmcache_trace"]["reason"] == "internal error: lane lmcache_trace: RuntimeError: bad frame"
    assert m["lanes"]["lmcache_http"]["status"] == "ok"
    env = json.loads((out / "lmcache_trace_evidence.json").read_text())
    assert env["failed"] == m["lanes"]["lmcache_trace"]["reason"] and env["sources"] == []
    assert _errors(env, "evidence.lane.v1.schema.json") == []


def test_interrupt_leaves_valid_manifest(tmp_path, monkeypatch):
    def interrupt(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_file_lane", interrupt)
    out = tmp_path / "p"
    args = ["--output-dir", str(out)]
    for flag, name in FILE_FLAGS.items():
        args += [f"--lmcache-{flag}-file", str(FIX / name)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 130
    assert "interrupted" in res.output and "Traceback" not in res.output
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["state"] == "interrupted"
    assert _errors(m, "packet_manifest.v1.schema.json") == []
    assert m["lanes"]["lmcache_http"]["status"] == "ok"
    assert len([a for a in m["artifacts"] if a["role"] == "http_body"]) == len(FILE_FLAGS)


# --------------------------------------------------------------------------- stub server

ROUTES = {
    "/": ("GET_.body", 200),
    "/healthcheck": ("GET_healthcheck.body", 200),
    "/status": ("GET_status_with_registered_kv.body", 200),
    "/version": ("GET_version.body", 200),
    "/lmc_version": ("GET_lmc_version.body", 200),
    "/commit_id": ("GET_commit_id.body", 200),
    "/config": ("GET_config.body", 200),
    "/config/adapters": ("GET_config_adapters_fs_l2.body", 200),
    "/quota": ("GET_quota.body", 200),
    "/periodic-threads": ("GET_periodic-threads.body", 200),
    "/periodic-threads-health": ("GET_periodic-threads-health.body", 200),
    "/threads": ("GET_threads.body", 200),
    "/metrics": ("GET_metrics_after_traffic.body", 200),
    "/openapi.json": ("GET_openapi.json.body", 200),
    "/loglevel": ("GET_loglevel_logger_name_lmcache.body", 200),
    "/reconfigure/dax/l1/status": ("GET_reconfigure_dax_l1_status.body", 409),
}
ENV_BODY = json.dumps({"HOME": "/root", "HF_TOKEN": "hf_supersecretvalue", "LMCACHE_TRACK_USAGE": "false"})


class Stub:
    def __init__(self, overrides=None, drop=()):
        self.requests: list[tuple[str, str]] = []
        routes = dict(ROUTES)
        routes.update(overrides or {})
        for d in drop:
            routes.pop(d, None)
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self):
                stub.requests.append((self.command, self.path))
                path = self.path.split("?", 1)[0]
                if self.command != "GET":
                    code, body = 405, b'{"detail":"Method Not Allowed"}'
                elif path == "/env":
                    code, body = 200, ENV_BODY.encode()
                elif path in routes:
                    name, code = routes[path]
                    body = name if isinstance(name, bytes) else (FIX / name).read_bytes()
                elif path.startswith("/periodic-threads/") and "/periodic-threads" in routes:
                    # one thread of the list, as the per-thread route answers it; 404 for others
                    name = urllib.parse.unquote(path[len("/periodic-threads/"):])
                    listed = json.loads((FIX / routes["/periodic-threads"][0]).read_bytes())["threads"]
                    hit = [th for th in listed if th["name"] == name]
                    code, body = (200, json.dumps(hit[0]).encode()) if hit else (404, b'{"error":"thread not found"}')
                else:
                    code, body = 404, b'{"detail":"Not Found"}'
                ctype = "text/plain; charset=utf-8" if path in ("/metrics", "/threads", "/loglevel") else "application/json"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _assert_only_safe_gets(requests, include_sensitive=False):
    index = load_index()
    assert requests
    for method, path in requests:
        assert method == "GET", (method, path)
        hits = index.match("GET", path)
        assert hits, path
        allowed = {"safe", "sensitive"} if include_sensitive else {"safe"}
        assert all(r.policy in allowed for r in hits), (path, [r.policy for r in hits])


def test_live_path_only_safe_gets(tmp_path):
    out = tmp_path / "p"
    with Stub() as stub:
        res = _run(["--output-dir", str(out), "--lmcache-http-base-url", stub.url, "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    _assert_only_safe_gets(stub.requests)
    paths = {p for _m, p in stub.requests}
    assert {"/env", "/loglevel"} & paths == set()
    m = json.loads((out / "packet_manifest.json").read_text())
    assert _errors(m, "packet_manifest.v1.schema.json") == []
    assert m["http_client"]["methods"] == ["GET"]
    assert m["http_client"]["requests_sent"] == len(stub.requests)
    assert set(m["http_client"]["paths_sent"]) == paths
    eps = m["endpoints"]
    skipped = {(e["method"], e["path"]) for e in eps if e["reason"] == "destructive_skipped"}
    index = load_index()
    expected = {(r.method, r.path) for r in index.for_version("mp", "0.5.6") if r.policy == "destructive"}
    assert skipped == expected
    assert ("POST", "/cache/clear") in skipped and ("POST", "/metrics/reset") in skipped
    assert {(e["method"], e["path"]) for e in eps if e["reason"] == "sensitive_skipped"} == {("GET", "/env"), ("GET", "/loglevel")}
    called = [e for e in eps if e["reason"] == "safe"]
    assert all(e["result"] == "ok" and e["http_status"] == 200 for e in called)
    assert sum(e["attempts"] for e in called) == len(stub.requests)     # every request is accounted for
    assert m["health"]["lmcache"] == "healthy"
    assert m["detected"] == {"server": "mp", "lmcache_version": "0.5.6", "lmcache_version_full": "0.5.6-g3e11e108",
                             "lmcache_version_source": "lmc_version"}
    # /metrics of the MP server becomes lmcache.prom when no other LMCache scrape was given
    assert (out / "lmcache.prom").read_bytes() == (FIX / "GET_metrics_after_traffic.body").read_bytes()
    for a in m["artifacts"]:
        if a["copied"]:
            assert _sha(out / a["path"]) == a["sha256"]
    ev = json.loads((out / "lmcache_http_evidence.json").read_text())
    assert _errors(ev, "evidence.lane.v1.schema.json") == []
    assert _errors(ev["sources"][0], "evidence.lmcache_http.v1.schema.json") == []
    assert ev["signals"]["destructive_skipped"] == len(expected)
    assert ev["signals"]["registered_instances"] == 1 and ev["signals"]["l2_adapters"] == 1
    assert summary["endpoints_called"] == len(called) and summary["health"] == "healthy"


def test_file_flag_wins_over_live_url(tmp_path):
    out = tmp_path / "p"
    with Stub() as stub:
        res = _run(["--output-dir", str(out), "--lmcache-http-base-url", stub.url,
                    "--lmcache-status-file", str(FIX / "GET_status.body"), "--expect-mode", "mp"])
    assert res.exit_code == 0, res.output
    assert "/status" not in {p for _m, p in stub.requests}
    m = json.loads((out / "packet_manifest.json").read_text())
    st = [e for e in m["endpoints"] if e["path"] == "/status"]
    assert [e["reason"] for e in st] == ["file_provided"]
    ev = json.loads((out / "lmcache_http_evidence.json").read_text())
    assert ev["sources"][0]["summary"]["status"]["registered_instances"] == 0    # the file's body, not the stub's


def test_sensitive_opt_in_is_redacted(tmp_path):
    out = tmp_path / "p"
    with Stub() as stub:
        res = _run(["--output-dir", str(out), "--lmcache-http-base-url", stub.url, "--include-sensitive"])
    assert res.exit_code == 0
    _assert_only_safe_gets(stub.requests, include_sensitive=True)
    assert ("GET", "/env") in stub.requests and ("GET", "/loglevel") in stub.requests
    for p in out.rglob("*"):
        if p.is_file():
            assert "hf_supersecretvalue" not in p.read_text(errors="replace"), p
    env_body = json.loads((out / "http" / "GET_env.body").read_text())
    assert env_body["HF_TOKEN"] == "<redacted>" and set(env_body) == {"HOME", "HF_TOKEN", "LMCACHE_TRACK_USAGE"}
    m = json.loads((out / "packet_manifest.json").read_text())
    env_ep = [e for e in m["endpoints"] if e["path"] == "/env"][0]
    assert env_ep["reason"] == "sensitive_opt_in" and env_ep["redacted"] == 3


def test_unhealthy_marks_packet_and_errors_are_recorded(tmp_path):
    overrides = {
        "/healthcheck": (b'{"status":"unhealthy","reason":"engine not initialized"}', 503),
        "/status": (b'{"error":"engine not initialized"}', 503),
        "/threads": (b"boom", 500),
    }
    out = tmp_path / "p"
    with Stub(overrides=overrides) as stub:
        res = _run(["--output-dir", str(out), "--lmcache-http-base-url", stub.url])
    assert res.exit_code == 0, res.output
    _assert_only_safe_gets(stub.requests)
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["health"]["lmcache"] == "unhealthy" and m["health"]["marked"] is True
    assert "engine not initialized" in m["health"]["reasons"][0]
    codes = {e["path"]: (e["result"], e["http_status"]) for e in m["endpoints"] if e["reason"] == "safe"}
    assert codes["/healthcheck"] == ("error", 503) and codes["/threads"] == ("error", 500)
    assert codes["/config"] == ("ok", 200)
    assert m["state"] == "complete"
    assert "health: unhealthy" in res.output


def test_version_inferred_when_version_routes_missing(tmp_path):
    out = tmp_path / "p"
    broken = (b"Internal Server Error", 500)      # an undocumented 5xx says nothing about the version
    with Stub(overrides={"/version": broken, "/lmc_version": broken, "/commit_id": broken}) as stub:
        res = _run(["--output-dir", str(out), "--lmcache-http-base-url", stub.url])
    assert res.exit_code == 0
    _assert_only_safe_gets(stub.requests)
    paths = {p for _m, p in stub.requests}
    assert {"/api/healthcheck", "/conf", "/l2/adapters"} <= paths     # routes of every version were tried
    ev = json.loads((out / "lmcache_http_evidence.json").read_text())
    v = ev["sources"][0]["summary"]["version"]
    assert v["source"] == "routes" and v["value"] == "0.5.6"


def test_unreachable_server_and_metrics_url_are_recorded(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = tmp_path / "p"
    res = _run(["--output-dir", str(out), "--lmcache-http-base-url", f"http://127.0.0.1:{port}",
                "--engine-metrics-url", f"http://127.0.0.1:{port}/metrics", "--timeout-seconds", "1",
                "--lmcache-health-file", str(FIX / "GET_healthcheck.body")])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["state"] == "complete"
    eng = [a for a in m["artifacts"] if a["role"] == "engine_metrics"][0]
    assert eng["status"] == "failed" and eng["path"] is None
    errs = [e for e in m["endpoints"] if e["reason"] == "safe"]
    assert errs and all(e["result"] == "error" and e["error"] == "connection refused" for e in errs)
    assert all(e["attempts"] == 3 for e in errs)
    assert m["health"]["lmcache"] == "healthy"                # from the saved file


# --------------------------------------------------------------------------- client


def test_fetch_text_and_errors():
    with Stub() as stub:
        text, meta = fetch_text(stub.url + "/metrics", 2)
        assert "lmcache_mp_" in text and meta["http_status"] == 200 and meta["truncated"] is False
        with pytest.raises(InputError) as e:
            fetch_text(stub.url + "/nope", 2)
        assert str(e.value) == f"{stub.url}/nope: HTTP 404"
    with pytest.raises(InputError) as e:
        fetch_text(stub.url + "/metrics", 0.5, retries=0)
    assert "cannot fetch: connection refused" in str(e.value) and "\n" not in str(e.value)


def test_client_size_cap_and_guard():
    from inferguard.collect.http import RefusedRequest

    def guard(url):
        if url.endswith("/cache/clear"):
            raise RefusedRequest("no")

    with Stub() as stub:
        c = HttpClient(timeout_seconds=2, max_bytes=100, guard=guard)
        r = c.get(stub.url + "/metrics")
        assert r.truncated and len(r.data) == 100 and r.status == 200
        with pytest.raises(RefusedRequest):
            c.get(stub.url + "/cache/clear")
        got = c.fetch_many([stub.url + "/", stub.url + "/cache/clear", stub.url + "/healthcheck"])
        assert got[stub.url + "/cache/clear"].error.startswith("refused")
    assert ("GET", "/cache/clear") not in stub.requests
    assert {m for m, _p in stub.requests} == {"GET"}


def test_auto_mode_detects_embedded_server(tmp_path):
    out = tmp_path / "p"
    overrides = {"/conf": ("GET_config.body", 200), "/meta": (b'{"x": 1}', 200)}
    with Stub(overrides=overrides, drop=("/", "/healthcheck", "/status")) as stub:
        res = _run(["--output-dir", str(out), "--lmcache-http-base-url", stub.url])
    assert res.exit_code == 0, res.output
    _assert_only_safe_gets(stub.requests)
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["detected"]["server"] == "embedded"
    paths = {p for _m, p in stub.requests}
    assert "/conf" in paths and "/meta" in paths
    probes = [e for e in m["endpoints"] if e.get("note") == "detection probe"]
    assert {e["path"] for e in probes} >= {"/", "/healthcheck", "/api/healthcheck"}
    skipped = {(e["method"], e["path"]) for e in m["endpoints"] if e["reason"] == "destructive_skipped"}
    assert ("POST", "/conf") in skipped and ("DELETE", "/cache/clear") in skipped


def test_rerun_into_same_directory_replaces_previous_packet(tmp_path):
    out = tmp_path / "p"
    other = tmp_path / "p" / "operator_notes.txt"
    out.mkdir()
    other.write_text("keep me")
    for _ in range(2):
        res = _run(["--output-dir", str(out), "--lmcache-health-file", str(FIX / "GET_healthcheck.body"), "--force"])
        assert res.exit_code == 0
    m = json.loads((out / "packet_manifest.json").read_text())
    bodies = sorted(p.name for p in (out / "http").iterdir())
    assert bodies == ["file_health.body"]
    assert other.read_text() == "keep me"
    assert [a["path"] for a in m["artifacts"]] == ["http/file_health.body"]
