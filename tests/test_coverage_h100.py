"""The real H100 vLLM + LMCache MP capture: the known truths its README states."""
from __future__ import annotations

import pytest

from conftest import H100, load_json, run_cli, validate


@pytest.fixture(scope="module")
def coverage(tmp_path_factory):
    out = tmp_path_factory.mktemp("cov") / "observability_coverage.json"
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(H100 / "engine.prom"),
                   "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    return proc, load_json(out)


def test_report_validates_against_schema(coverage, report_validator):
    validate(report_validator, coverage[1])


def test_mode_mp_detected_with_signals(coverage):
    det = coverage[1]["detected"]
    assert det["lmcache_mode"] == "mp"
    assert det["engines"] == ["vllm"]
    sigs = det["lmcache_mode_signals"]["mp"]
    assert any(s["signal"] == "mp-metrics" and "lmcache_mp_" in s["evidence"] for s in sigs)
    assert "embedded" not in det["lmcache_mode_signals"]


def test_auto_engine_makes_no_sglang_family_a_gap(coverage):
    rep = coverage[1]
    sglang = [f for f in rep["families"] if f["runtime"] == "sglang"]
    assert sglang and all(f["status"] == "not_applicable" for f in sglang)
    assert not [g for g in rep["gaps"] if g["row"].startswith("sglang.")]
    assert all(r["status"] == "not_applicable" for r in rep["surfaces"] if r["runtime"] == "SGLang")


def test_lookup_hit_rate_is_point_nine_with_empty_salt(coverage):
    d = coverage[1]["derived"]["lmcache_mp.lookup_hit_rate"]
    assert d["numerator"] == 18432 and d["denominator"] == 20480
    assert d["value"] == pytest.approx(0.9)
    assert d["labels"]["cache_salt"] == [""]


def test_l0_l1_store_throughput_mean_from_gbs_histogram(coverage):
    d = coverage[1]["derived"]["lmcache_mp.l0_l1_store_throughput_mean"]
    assert d["value"] == pytest.approx(21.8, abs=0.05)
    assert d["exposed_name"] == "lmcache_mp_l0_l1_store_throughput_gbs_GB_per_second"
    kv = coverage[1]["kv_cache_offload"]
    assert kv["lmcache_mp"]["lmcache_mp.l0_l1_store_throughput_mean"]["value"] == pytest.approx(21.8, abs=0.05)
    # vLLM native offload is kept apart, and is not invented: nothing of it is exported here.
    assert all(v.get("value") is None for v in kv.get("vllm_native", {}).values())


def test_text_summary_names_mode_and_signals(coverage):
    text = coverage[0].stdout
    assert "mode=mp" in text
    assert "lmcache_mp.lookup_hit_rate = 0.9" in text
    assert "covered        lmcache.mp_prometheus" in text


def test_lmcache_compat_expect_mp_exits_zero():
    proc = run_cli("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "mp",
                   "--fail-on", "mode-mismatch")
    assert proc.returncode == 0, proc.stderr
    assert "expected mp, detected mp -> match" in proc.stdout


def test_lmcache_compat_expect_embedded_mismatch_exits_one(tmp_path, report_validator):
    out = tmp_path / "compat.json"
    proc = run_cli("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "embedded",
                   "--fail-on", "mode-mismatch", "--output", str(out))
    assert proc.returncode == 1
    rep = load_json(out)
    validate(report_validator, rep)
    assert rep["mode_check"] == {**rep["mode_check"], "expected": "embedded", "detected": "mp", "result": "mismatch"}
    assert {r["runtime"] for r in rep["surfaces"]} == {"LMCache"}


def test_evaluate_bundled_packet(tmp_path, report_validator):
    out = tmp_path / "eval.json"
    proc = run_cli("evaluate", str(H100), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = load_json(out)
    validate(report_validator, rep)
    assert rep["packet"]["files"]["engine_metrics"] == ["engine.prom"]
    assert rep["detected"]["connectors"] == ["LMCacheMPConnector"]
    assert rep["context"]["expected_lmcache_mode"] == "mp"


def test_kv_cache_offload_keeps_vllm_native_and_lmcache_apart(tmp_path):
    from conftest import FIXTURES

    out = tmp_path / "r.json"
    proc = run_cli("observability-coverage", "--engine-metrics-file",
                   str(FIXTURES / "vllm" / "cpu-offload-0.29-synthetic" / "engine.prom"),
                   "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--cpu-offload-configured", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    kv = load_json(out)["kv_cache_offload"]
    native, mp = kv["vllm_native"], kv["lmcache_mp"]
    assert all(k.startswith("vllm.") for k in native) and all(k.startswith("lmcache_mp.") for k in mp)
    assert native["vllm.kv_offload_load_throughput"]["value"] == pytest.approx(24 * 8388608 / 0.0192)
    assert native["vllm.kv_offload_store_throughput"]["value"] == pytest.approx(40 * 8388608 / 0.04)
    assert mp["lmcache_mp.l0_l1_store_throughput_mean"]["value"] == pytest.approx(21.8, abs=0.05)
    text = proc.stdout
    assert "vllm_native: " in text and "lmcache_mp: " in text


def test_fail_on_missing_required_counts_only_collected_evidence(tmp_path):
    from conftest import FIXTURES

    ok = run_cli("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "mp",
                 "--fail-on", "missing-required")
    assert ok.returncode == 0, ok.stdout  # logs, spans ... were not collected: not a failure
    # L2 declared but its families are absent from the scrape that was read: a real gap
    bad = run_cli("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "mp",
                  "--l2-configured", "--fail-on", "missing-required", "--format", "json")
    assert bad.returncode == 1
    import json

    gaps = [g for g in json.loads(bad.stdout)["gaps"] if g["collected"]]
    assert {g["item"] for g in gaps} >= {"lmcache_mp.l2"}
    good = run_cli("lmcache-compat", "--lmcache-metrics-file", str(FIXTURES / "lmcache" / "mp-0.5.6-cpu-l2" / "lmcache.prom"),
                   "--expect-mode", "mp", "--l2-configured", "--fail-on", "missing-required")
    assert good.returncode == 0, good.stdout
