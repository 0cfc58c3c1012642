"""What real deployments paste, through the real command line: no false LMCache gaps, logs as
containers, shippers and terminals write them, runtimes recognised from logs and spans, the
packet's own context, and an HTTP lane that tells the truth.

Each class has a fixture under fixtures/ (real captures from public issues where one exists,
see their PROVENANCE.yaml) and is checked here end to end."""
from __future__ import annotations

import json
import socket

import pytest

from conftest import FIXTURES, load_json, run_cli, validate

LM = FIXTURES / "lmcache"


def _json(*args: str) -> dict:
    proc = run_cli(*args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _rows(rep: dict) -> dict[str, dict]:
    return {r["id"]: r for r in rep["surfaces"]}


LMCACHE_ROWS = ("lmcache.embedded_prometheus", "lmcache.mp_prometheus", "lmcache.mp_http", "lmcache.logs",
                "lmcache.otel_spans", "lmcache.trace_recording", "lmcache.lookup_hash", "lmcache.trace_replay",
                "lmcache.p2p_pd", "lmcache.cacheblend")


# --------------------------------------------------------------------------- applicability

@pytest.mark.parametrize("fixture, engine", [
    ("sglang/healthy-hicache-pd-prefill-0.5.23/engine.prom", "sglang"),
    ("vllm/cpu-offload-0.29-synthetic/engine.prom", "vllm"),
])
def test_engine_only_scrape_has_no_lmcache_gap(fixture, engine, report_validator):
    rep = _json("observability-coverage", "--engine-metrics-file", str(FIXTURES / fixture))
    validate(report_validator, rep)
    assert rep["detected"]["engines"] == [engine]
    assert rep["detected"]["lmcache_present"] is False
    rows = _rows(rep)
    assert all(rows[r]["status"] == "not_applicable" for r in LMCACHE_ROWS)
    assert not [g for g in rep["gaps"] if g["row"].startswith("lmcache.")]
    assert not [g for g in rep["gaps"] if "collect-lmcache" in g["next_command"]]
    text = run_cli("observability-coverage", "--engine-metrics-file", str(FIXTURES / fixture)).stdout
    assert "collect-lmcache" not in text


def test_declared_lmcache_mode_brings_the_rows_back():
    engine = FIXTURES / "sglang/healthy-hicache-pd-prefill-0.5.23/engine.prom"
    rep = _json("observability-coverage", "--engine-metrics-file", str(engine), "--expect-lmcache-mode", "mp")
    rows = _rows(rep)
    assert rows["lmcache.mp_prometheus"]["status"] == "missing"
    assert rows["lmcache.mp_http"]["status"] == "missing"
    assert rows["lmcache.logs"]["status"] == "missing"
    assert any("collect-lmcache" in g["next_command"] for g in rep["gaps"])
    # embedded declared: the MP HTTP row still does not apply
    rep = _json("observability-coverage", "--engine-metrics-file", str(engine), "--expect-lmcache-mode", "embedded")
    assert _rows(rep)["lmcache.mp_http"]["status"] == "not_applicable"
    assert _rows(rep)["lmcache.embedded_prometheus"]["status"] == "missing"


def test_sglang_disaggregation_is_not_lmcache_p2p_pd():
    engine = FIXTURES / "sglang/healthy-hicache-pd-prefill-0.5.23/engine.prom"
    rep = _json("observability-coverage", "--engine-metrics-file", str(engine), "--disaggregated-or-external-cache")
    rows = _rows(rep)
    assert rows["sglang.kv_transfer"]["status"] == "covered"
    assert rows["lmcache.p2p_pd"]["status"] == "not_applicable"
    # with LMCache declared, its P2P/PD row applies to the disaggregated deployment
    rep = _json("observability-coverage", "--engine-metrics-file", str(engine), "--disaggregated-or-external-cache",
                "--expect-lmcache-mode", "embedded")
    assert _rows(rep)["lmcache.p2p_pd"]["status"] == "missing"


def test_mp_http_does_not_apply_without_an_mp_mode():
    # lookup-hash output is LMCache evidence, but says nothing of an MP server
    rep = _json("evaluate", str(LM / "lookup-hash-0.5.6-cpu"))
    assert rep["detected"]["lmcache_mode"] == "none" and rep["detected"]["lmcache_present"] is True
    rows = _rows(rep)
    assert rows["lmcache.mp_http"]["status"] == "not_applicable"
    assert rows["lmcache.lookup_hash"]["status"] == "covered"
    assert rows["lmcache.logs"]["status"] == "missing"           # LMCache runs, its log was not given


# --------------------------------------------------------------------------- logs as deployments write them

@pytest.fixture()
def collect(tmp_path):
    """collect-lmcache into a fresh folder; (manifest, packet folder)."""
    def run(*args: str) -> tuple[dict, dict]:
        out = tmp_path / f"p{len(list(tmp_path.iterdir()))}"
        proc = run_cli("collect-lmcache", "--output-dir", str(out), *args)
        assert proc.returncode == 0, proc.stderr
        return load_json(out / "packet_manifest.json"), out
    return run


def _log_categories(packet) -> dict:
    ev = load_json(packet / "lmcache_log_evidence.json")
    cats: dict = {}
    for src in ev["sources"]:
        for name, cat in src["summary"]["categories"].items():
            cats.setdefault(name, []).append(cat)
    return {k: v[0] if len(v) == 1 else v for k, v in cats.items()}, ev


def test_wrapped_vllm_lines_are_read(collect):
    d = FIXTURES / "vllm/logs-wrapped-real"
    _m, pkt = collect("--engine-log-file", str(d / "vllm_shipper_pipe.log"))
    cats, ev = _log_categories(pkt)
    # `2025-05-30 09:53:45.386 | INFO 05-30 ...`: the viewer prefix is taken off, the line is vLLM's
    assert cats["kv_cache_sizing"]["captures"]["kv_cache_tokens"]["sum"] == 235136
    assert ev["sources"][0]["summary"]["levels"]["INFO"] == 8
    _m, pkt = collect("--engine-log-file", str(d / "vllm_docker_timestamps.log"))
    _cats, ev = _log_categories(pkt)
    assert ev["sources"][0]["summary"]["levels"] == {"DEBUG": 6, "INFO": 1, "WARNING": 0, "ERROR": 0, "CRITICAL": 0}


def test_kv_cache_oom_behind_any_prefix(collect):
    d = FIXTURES / "vllm/logs-wrapped-real"
    _m, pkt = collect("--engine-log-file", str(d / "kv_oom_rank_warning.log"))
    cats, _ev = _log_categories(pkt)
    assert cats["kv_cache_oom"]["count"] == 1
    # a CI shipper's [RFC 3339] prefix: the EngineCore exception header and its ERROR level are seen
    _m, pkt = collect("--engine-log-file", str(d / "vllm_ci_kv_oom.log"))
    cats, ev = _log_categories(pkt)
    assert cats["engine_failure"]["count"] == 1 and ev["sources"][0]["summary"]["levels"]["ERROR"] == 6
    # the traceback's own source line (`raise ValueError("No available ...`) is not the failure
    _m, pkt = collect("--engine-log-file", str(d / "vllm_engine_core_kv_oom.log"))
    cats, _ev = _log_categories(pkt)
    assert "kv_cache_oom" not in cats


def test_tqdm_frames_and_coloured_prefixes(collect):
    _m, pkt = collect("--engine-log-file", str(FIXTURES / "vllm/logs-tqdm-synthetic/vllm_tqdm.log"))
    cats, ev = _log_categories(pkt)
    assert ev["sources"][0]["summary"]["lines"] == 3 and ev["sources"][0]["summary"]["matched_lines"] == 3
    sizing = cats["kv_cache_sizing"]["captures"]
    assert sizing["available_gib"]["sum"] == -0.3          # negative: nothing left for the KV cache
    assert sizing["gpu_blocks"]["sum"] == 0 and sizing["cpu_blocks"]["sum"] == 256
    assert cats["kv_cache_oom"]["count"] == 1
    assert cats["kv_cache_sizing"]["examples"][0]["text"].startswith("INFO 05-07 23:02:56")


def test_nixl_transfer_time_and_throughput(collect):
    _m, pkt = collect("--engine-log-file", str(FIXTURES / "vllm/nixl-kv-transfer-real/vllm_nixl.log"))
    cats, _ev = _log_categories(pkt)
    caps = cats["kv_transfer"]["captures"]
    assert caps["successful_transfers"]["sum"] == 1
    assert caps["avg_xfer_time_ms"]["sum"] == 9.862 and caps["p90_xfer_time_ms"]["sum"] == 9.862
    assert caps["avg_post_time_ms"]["sum"] == 5.693 and caps["avg_mb_per_transfer"]["sum"] == 70.0
    assert caps["throughput_mb_s"]["sum"] == 7097.952


def test_sglang_decode_lines_with_extra_counters(collect):
    d = FIXTURES / "sglang/logs-decode-real"
    _m, pkt = collect("--engine-log-file", str(d / "sglang_npu_spec_decode.log"))
    cats, _ev = _log_categories(pkt)
    stats = cats["sglang_stats"]
    assert stats["patterns"] == {"sglang.decode_batch": 3, "sglang.prefill_batch": 1}
    assert stats["captures"]["accept_len"] == {"type": "float", "count": 3, "sum": 8.51, "min": 2.63, "max": 3.05}
    assert stats["captures"]["running_req"]["sum"] == 24 + 23 + 22
    assert stats["captures"]["prefill_running_req"]["sum"] == 16
    _m, pkt = collect("--engine-log-file", str(d / "sglang_jax_cache_miss.log"))
    cats, _ev = _log_categories(pkt)
    assert cats["sglang_stats"]["captures"]["gen_throughput"]["count"] == 3


def test_lmcache_storing_lines_and_embedded_mode_from_logs():
    rep = _json("evaluate", str(LM / "embedded-storing-real"))
    assert rep["detected"]["lmcache_mode"] == "embedded"
    assert [s["signal"] for s in rep["detected"]["lmcache_mode_signals"]["embedded"]] == ["embedded-connector-log"]
    logs = _rows(rep)["lmcache.logs"]
    assert logs["status"] == "covered"
    activity = next(i for i in logs["items"] if i.get("name") == "activity")
    assert activity["signals"]["storing_tokens"] == 1 and activity["signals"]["stored_tokens"] == 1
    assert _rows(rep)["lmcache.mp_http"]["status"] == "not_applicable"


def test_remote_backend_ping_failures(collect):
    _m, pkt = collect("--lmcache-log-file", str(LM / "remote-backend-unhealthy-synthetic/lmcache_embedded.log"))
    cats, _ev = _log_categories(pkt)
    bad = cats["remote_backend_unhealthy"]
    assert bad["count"] == 6
    assert bad["captures"]["check"]["values"] == {"ping_error_code": 1, "ping_timeout": 1, "ping_error": 1,
                                                  "get_blocking": 1, "health_monitor": 2}
    assert bad["captures"]["error_code"]["values"] == {"-1": 1}
    assert cats["remote_backend_recovered"]["count"] == 1
    assert cats["lmcache_unhealthy_skip"]["count"] == 1
    rep = _json("evaluate", str(pkt))
    assert rep["detected"]["lmcache_mode"] == "embedded"


def test_mp_heartbeat_and_per_process_access_lines(collect):
    log = LM / "mp-connector-heartbeat-real/vllm_mp_connector.log"
    _m, pkt = collect("--engine-log-file", str(log))
    cats, _ev = _log_categories(pkt)
    assert cats["mp_heartbeat"]["captures"]["event"]["values"] == {"loop": 1, "started": 1}
    access = cats["http_access"]
    # every access line is the vLLM API server's, by its process prefix
    assert access["count"] == 8
    assert access["by_process"] == {"541859": {"process": "APIServer", "count": 8, "values": {
        "method": {"POST": 8}, "path": {"/v1/chat/completions": 7, "/flush_cache": 1}, "status": {"200": 7, "404": 1}}}}
    rep = _json("evaluate", str(pkt))
    assert rep["detected"]["lmcache_mode"] == "mp"
    assert [s["signal"] for s in rep["detected"]["lmcache_mode_signals"]["mp"]] == ["mp-server-log"]
    # the access lines' process prefix is vLLM's API server: the engine is known from the log alone
    assert rep["detected"]["engines"] == ["vllm"]
    assert [s["signal"] for s in rep["detected"]["engine_signals"]["vllm"]] == ["vllm-process-prefix"]
    # start-up and heartbeat lines alone: LMCache wrote the log, but showed no activity
    assert _rows(rep)["lmcache.logs"]["status"] == "zero"


def test_runtimes_from_logs_and_spans_alone():
    rep = _json("evaluate", str(FIXTURES / "sglang/logs-decode-real"))
    assert rep["detected"]["engines"] == ["sglang"] and rep["detected"]["lmcache_present"] is False
    assert all(_rows(rep)[r]["status"] == "not_applicable" for r in LMCACHE_ROWS)
    rep = _json("evaluate", str(FIXTURES / "vllm/logs-wrapped-real"))
    assert rep["detected"]["engines"] == ["vllm"]
    rep = _json("evaluate", str(LM / "otel-0.5.6-cpu"))
    assert rep["detected"]["lmcache_mode"] == "mp"
    assert rep["detected"]["lmcache_mode_signals"]["mp"][0]["signal"] == "mp-spans"


# --------------------------------------------------------------------------- packet context, HTTP truth

def test_evaluate_uses_the_context_the_packet_recorded(collect, tmp_path):
    prom = LM / "mp-0.5.6-cpu-no-l2" / "lmcache.prom"
    _m, pkt = collect("--lmcache-metrics-file", str(prom), "--expect-mode", "mp", "--l2-configured")
    rep = _json("evaluate", str(pkt))
    assert rep["context"]["expected_lmcache_mode"] == "mp" and rep["context"]["l2_configured"] is True
    l2 = next(i for i in _rows(rep)["lmcache.mp_prometheus"]["items"] if i.get("family") == "lmcache_mp.l2")
    assert l2["status"] == "present_zero"                         # L2 declared at collection: judged (all zero)
    assert _rows(rep)["lmcache.mp_prometheus"]["status"] == "partial"
    _m, plain = collect("--lmcache-metrics-file", str(prom))
    rep0 = _json("evaluate", str(plain))
    l2 = next(i for i in _rows(rep0)["lmcache.mp_prometheus"]["items"] if i.get("family") == "lmcache_mp.l2")
    assert l2["status"] == "not_applicable" and _rows(rep0)["lmcache.mp_prometheus"]["status"] == "covered"
    # CacheBlend declared on the command line (or recorded by collect-lmcache) makes its row apply
    assert _rows(rep)["lmcache.cacheblend"]["status"] == "not_applicable"
    rep = _json("evaluate", str(pkt), "--cacheblend-configured")
    assert rep["context"]["cacheblend_configured"] is True
    assert _rows(rep)["lmcache.cacheblend"]["status"] == "missing"
    _m, pkt2 = collect("--lmcache-metrics-file", str(prom), "--cacheblend-configured")
    assert _rows(_json("evaluate", str(pkt2)))["lmcache.cacheblend"]["status"] == "missing"
    rep = _json("observability-coverage", "--lmcache-metrics-file", str(prom), "--cacheblend-configured")
    assert _rows(rep)["lmcache.cacheblend"]["status"] == "missing"


def test_unreachable_http_server_is_a_failed_lane(collect):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    m, pkt = collect("--lmcache-http-base-url", f"http://127.0.0.1:{port}", "--timeout-seconds", "1",
                     "--expect-mode", "mp")
    lane = m["lanes"]["lmcache_http"]
    assert lane["status"] == "failed" and "did not answer" in lane["reason"] and "connection refused" in lane["reason"]
    rep = _json("evaluate", str(pkt))
    http = _rows(rep)["lmcache.mp_http"]
    assert http["status"] == "missing"
    assert all(i["status"] == "absent" and i["reason"].startswith("collection failed: ") for i in http["items"])
    gaps = [g for g in rep["gaps"] if g["row"] == "lmcache.mp_http"]
    assert gaps and all(g["why"].startswith("collection failed: ") for g in gaps)
    assert not [g for g in rep["gaps"] if g["why"] == "exported but all zero"]


def test_unhealthy_health_body_makes_the_row_partial_with_the_reason(collect):
    d = LM / "http-unhealthy-synthetic" / "http"
    m, pkt = collect("--lmcache-health-file", str(d / "GET_healthcheck.body"),
                     "--lmcache-status-file", str(d / "GET_status.body"),
                     "--lmcache-version-file", str(d / "GET_version.body"), "--expect-mode", "mp")
    assert m["health"]["lmcache"] == "unhealthy"
    rep = _json("evaluate", str(pkt))
    http = _rows(rep)["lmcache.mp_http"]
    assert http["status"] == "partial"
    health = next(i for i in http["items"] if i.get("name") == "health")
    assert health["status"] == "present_zero" and health["reason"] == "engine not initialized"
    gap = next(g for g in rep["gaps"] if g["row"] == "lmcache.mp_http")
    assert gap["why"] == "engine not initialized"
    text = run_cli("evaluate", str(pkt)).stdout
    assert "lmcache.mp_http: lane lmcache_http (health) is present_zero (engine not initialized)" in text


def test_every_periodic_thread_is_collected(tmp_path):
    from test_collect_lmcache import Stub, _assert_only_safe_gets

    out = tmp_path / "p"
    with Stub() as stub:
        proc = run_cli("collect-lmcache", "--output-dir", str(out), "--lmcache-http-base-url", stub.url)
    assert proc.returncode == 0, proc.stderr
    _assert_only_safe_gets(stub.requests)
    listed = [t["name"] for t in json.loads((LM / "http-0.5.6-cpu/http/GET_periodic-threads.body").read_text())["threads"]]
    assert len(listed) == 6
    asked = sorted(p for _m, p in stub.requests if p.startswith("/periodic-threads/"))
    assert asked == sorted(f"/periodic-threads/{n}" for n in listed)
    m = load_json(out / "packet_manifest.json")
    per = [e for e in m["endpoints"] if e["route"] == "mp.periodic_thread"]
    assert len(per) == 6 and all(e["result"] == "ok" and e["http_status"] == 200 for e in per)
    for e in per:
        body = json.loads((out / e["artifact"]).read_text())
        assert body["name"] in listed


def test_lint_checks_the_new_spec_references(tmp_path):
    """A detection glob naming no log pattern, and a collect_each naming no route, are lint errors."""
    import shutil

    from conftest import ROOT

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    det = specs / "detection.yaml"
    det.write_text(det.read_text().replace('ids: ["sglang.*"]', 'ids: ["sglang_typo.*"]'))
    http = specs / "http" / "lmcache.yaml"
    http.write_text(http.read_text().replace("collect_each: {route: mp.periodic_threads,",
                                             "collect_each: {route: mp.no_such_route,"))
    proc = run_cli("specs", "lint", str(specs))
    assert proc.returncode == 2
    assert "detection/unknown-log-pattern: no log pattern id matches 'sglang_typo.*'" in proc.stdout
    assert "http_endpoints/collect-each: " in proc.stdout and "collect_each names 'mp.no_such_route'" in proc.stdout
