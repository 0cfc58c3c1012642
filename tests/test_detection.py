"""Detection: every decision names the signals that made it, whatever the evidence kind."""
from __future__ import annotations

import shutil

from conftest import FIXTURES, H100, load_json, run_cli


def _detected(tmp_path, *args):
    out = tmp_path / "r.json"
    proc = run_cli(*args, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    return load_json(out)["detected"]


def test_argv_alone_detects_engine_mode_and_connector(tmp_path):
    for name in ("vllm_command.json", "lmcache_command.json"):
        shutil.copy(H100 / name, tmp_path / name)
    det = _detected(tmp_path, "evaluate", str(tmp_path))
    assert det["engines"] == ["vllm"]
    assert det["lmcache_mode"] == "mp"
    assert det["connectors"] == ["LMCacheMPConnector"]
    sigs = {s["signal"] for s in det["lmcache_mode_signals"]["mp"]}
    assert sigs == {"mp-server-argv", "mp-connector-argv"}
    assert all("argv of" in s["evidence"] for s in det["lmcache_mode_signals"]["mp"])


def test_http_engine_type_detects_mp(tmp_path):
    http = FIXTURES / "lmcache" / "http-0.5.6-cpu" / "http"
    det = _detected(tmp_path, "lmcache-compat", "--lmcache-http-evidence-file", str(http / "GET_status.body"))
    assert det["lmcache_mode"] == "mp"
    [sig] = det["lmcache_mode_signals"]["mp"]
    assert sig["signal"] == "mp-http-engine-type" and "MPCacheServer" in sig["evidence"]


def test_cache_config_label_is_a_vllm_signal(tmp_path):
    det = _detected(tmp_path, "observability-coverage", "--engine-metrics-file", str(H100 / "engine.prom"))
    sig = {s["signal"]: s["evidence"] for s in det["engine_signals"]["vllm"]}
    assert "enable_prefix_caching='True' on vllm:cache_config_info" in sig["vllm-cache-config"]
    assert det["lmcache_mode"] == "none" and det["lmcache_mode_signals"] == {}


def test_embedded_and_sglang(tmp_path):
    det = _detected(tmp_path, "evaluate", str(FIXTURES / "lmcache" / "embedded-0.5.6-cpu"))
    assert det["lmcache_mode"] == "embedded" and "embedded-metrics" in {s["signal"] for s in det["lmcache_mode_signals"]["embedded"]}
    det = _detected(tmp_path, "evaluate", str(FIXTURES / "sglang" / "healthy-hicache-pd-prefill-0.5.23"))
    assert det["engines"] == ["sglang"] and det["lmcache_mode"] == "none"


def test_both_modes(tmp_path):
    det = _detected(tmp_path, "observability-coverage",
                    "--engine-metrics-file", str(FIXTURES / "lmcache" / "embedded-0.5.6-cpu" / "engine.prom"),
                    "--lmcache-metrics-file", str(H100 / "lmcache.prom"))
    assert det["lmcache_mode"] == "both"
