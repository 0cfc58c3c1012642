"""Prometheus families as people paste them, judged through the command line.

Each class has a fixture (a real paste from a public issue or pull request where one turned up,
see its PROVENANCE.yaml, otherwise a synthetic case) and is run through `observability-coverage`,
`lmcache-compat` or `evaluate` as a user runs them; the JSON report is checked against its schema.
"""
from __future__ import annotations

import json
import math

import pytest

from conftest import FIXTURES, H100, load_json, run_cli, validate


def _report(tmp_path, *args: str) -> dict:
    out = tmp_path / "report.json"
    proc = run_cli(*args, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return load_json(out)


def _engine(tmp_path, path, *extra: str) -> dict:
    return _report(tmp_path, "observability-coverage", "--engine-metrics-file", str(path), *extra)


def _family(rep: dict, fid: str) -> dict:
    return next(f for f in rep["families"] if f["id"] == fid)


def _metric(rep: dict, mid: str) -> dict:
    return next(m for f in rep["families"] for m in f["metrics"] if m["id"] == mid)


def _row(rep: dict, rid: str) -> dict:
    return next(r for r in rep["surfaces"] if r["id"] == rid)


def _provenance(case: str) -> str:
    return (FIXTURES / case / "PROVENANCE.yaml").read_text(encoding="utf-8")


# ---------------------------------------------------------------- _sum / _count with no TYPE


def test_sum_and_count_lines_without_type_are_one_family_and_recognise_the_engine(tmp_path, report_validator):
    rep = _engine(tmp_path, FIXTURES / "vllm/sum-count-untyped-synthetic/engine.prom")
    validate(report_validator, rep)
    assert rep["detected"]["engines"] == ["vllm"]
    assert "origin: synthetic" in _provenance("vllm/sum-count-untyped-synthetic")
    ttft = _metric(rep, "vllm.time_to_first_token_seconds")
    assert ttft["status"] == "measured" and ttft["series"] == 1 and ttft["value"] == 17.0
    assert ttft["exposed_names"] == ["vllm:time_to_first_token_seconds"]
    assert "incomplete" not in ttft  # a _sum/_count pair is a whole summary of a histogram
    assert _family(rep, "vllm.latency")["status"] == "measured"
    # count 0 and sum 0: present, not measured
    assert _metric(rep, "vllm.request_queue_time_seconds")["status"] == "present_zero"
    mean = rep["derived"]["vllm.time_to_first_token_mean"]
    assert mean["value"] == pytest.approx(3.2142 / 17)
    # The _sum/_count names never become families of their own.
    src = rep["inputs"][0]
    assert src["records"] == 7


# ---------------------------------------------------------------- cut histograms


def test_engine_scrape_with_only_lmcache_latency_histograms_is_embedded_and_judged(tmp_path, report_validator):
    case = FIXTURES / "lmcache/embedded-latency-only-issue729"
    assert "https://github.com/LMCache/LMCache/issues/729" in _provenance("lmcache/embedded-latency-only-issue729")
    rep = _engine(tmp_path, case / "engine.prom")
    validate(report_validator, rep)
    det = rep["detected"]
    assert det["lmcache_mode"] == "embedded"
    assert any(s["signal"] == "namespace-lmcache_embedded" for s in det["lmcache_mode_signals"]["embedded"])
    row = _row(rep, "lmcache.embedded_prometheus")
    assert row["status"] != "not_applicable"  # the embedded row applies and is judged
    fam = _family(rep, "lmcache.latency")
    assert fam["status"] == "measured"
    assert fam["incomplete"] == ["lmcache.time_to_retrieve"]
    m = _metric(rep, "lmcache.time_to_retrieve")
    assert m["incomplete"]["series_missing"] == {"+Inf bucket": 1, "_count": 1}
    text = run_cli("observability-coverage", "--engine-metrics-file", str(case / "engine.prom")).stdout
    assert "incomplete: lmcache.latency" in text


def test_sum_above_zero_without_count_is_measured_never_present_zero(tmp_path, report_validator):
    case = FIXTURES / "lmcache/embedded-cut-paste-pr328"
    assert "https://github.com/LMCache/LMCache/pull/328" in _provenance("lmcache/embedded-cut-paste-pr328")
    rep = _report(tmp_path, "lmcache-compat", "--lmcache-metrics-file", str(case / "engine.paste"), "--expect-mode", "embedded")
    validate(report_validator, rep)
    assert rep["mode_check"]["result"] == "match"
    m = _metric(rep, "lmcache.time_to_retrieve")
    assert m["status"] == "measured"
    assert set(m["incomplete"]["series_missing"]) == {"+Inf bucket", "_count"}
    # the author's `...` elision is one problem with its line; the rest is used
    assert [(p["line"], p["message"]) for p in rep["problems"]] == [(5, "sample has no value")]


def test_label_series_where_only_some_have_count_are_all_kept(tmp_path, report_validator):
    case = FIXTURES / "vllm/lora-series-cut-pr11117"
    assert "https://github.com/vllm-project/vllm/pull/11117" in _provenance("vllm/lora-series-cut-pr11117")
    rep = _engine(tmp_path, case / "engine.prom")
    validate(report_validator, rep)
    m = _metric(rep, "vllm.e2e_request_latency_seconds")
    assert m["status"] == "measured"
    assert m["series"] == 2  # sql-lora (with _count) and the base model (buckets only)
    assert m["value"] == 1.0  # only sql-lora says how many; the cut series has no +Inf bucket
    assert m["incomplete"]["series_missing"] == {"+Inf bucket": 1, "_count": 1, "_sum": 2}


def test_cut_series_takes_its_count_from_the_inf_bucket(tmp_path):
    prom = tmp_path / "engine.prom"
    prom.write_text(
        'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="a"} 3\n'
        'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="a"} 4\n'
        'vllm:time_to_first_token_seconds_count{model_name="b"} 5\n'
        'vllm:time_to_first_token_seconds_sum{model_name="b"} 0.5\n', encoding="utf-8")
    rep = _engine(tmp_path, prom)
    m = _metric(rep, "vllm.time_to_first_token_seconds")
    assert m["series"] == 2 and m["value"] == 9.0
    assert m["incomplete"]["series_missing"] == {"_count": 1, "_sum": 1}


# ---------------------------------------------------------------- registered without samples


def test_help_and_type_without_samples_are_registered_not_measured_nor_absent(tmp_path, report_validator):
    case = FIXTURES / "vllm/registered-no-samples-pr263"
    assert "https://github.com/MeetKai/functionary/pull/263" in _provenance("vllm/registered-no-samples-pr263")
    rep = _engine(tmp_path, case / "engine.prom")
    validate(report_validator, rep)
    assert rep["detected"]["engines"] == ["vllm"]
    for mid in ("vllm.num_requests_running", "vllm.num_requests_waiting", "vllm.gpu_prefix_cache_hit_rate",
                "vllm.kv_cache_usage_perc"):
        assert _metric(rep, mid)["status"] == "registered_no_samples", mid
    assert _family(rep, "vllm.scheduler")["status"] == "registered_no_samples"
    assert rep["family_counts"]["measured"] == 0
    assert rep["family_counts"]["registered_no_samples"] >= 2
    gap = next(g for g in rep["gaps"] if g["status"] == "registered_no_samples")
    assert "nothing observed" in gap["why"]
    text = run_cli("observability-coverage", "--engine-metrics-file", str(case / "engine.prom")).stdout
    assert "registered_no_samples" in text
    # the version verdict does not pretend: no name here is newer than the oldest release known
    assert rep["detected"]["versions"]["vllm"]["summary"].endswith("older than 0.6.6, the oldest release known")


def test_registered_state_is_in_the_vocabulary_the_schema_and_the_generated_docs():
    from inferguard.engine.vocab import ITEM_STATE_MEANINGS, ITEM_STATES, REGISTERED_NO_SAMPLES

    assert REGISTERED_NO_SAMPLES in ITEM_STATES and REGISTERED_NO_SAMPLES in ITEM_STATE_MEANINGS
    schema = json.loads((FIXTURES.parent / "schemas/report.coverage.v1.schema.json").read_text())
    assert REGISTERED_NO_SAMPLES in schema["$defs"]["itemStatus"]["enum"]
    doc = (FIXTURES.parent / "docs/coverage-matrix.md").read_text(encoding="utf-8")
    assert f"`{REGISTERED_NO_SAMPLES}` ({ITEM_STATE_MEANINGS[REGISTERED_NO_SAMPLES]})" in doc


# ---------------------------------------------------------------- sentinels and units


def test_vllm_v0_hit_rate_of_minus_one_is_no_data_not_a_ratio(tmp_path, report_validator):
    case = FIXTURES / "vllm/v0-sentinel-synthetic"
    rep = _engine(tmp_path, case / "engine.prom")
    validate(report_validator, rep)
    for mid in ("vllm.gpu_prefix_cache_hit_rate", "vllm.cpu_prefix_cache_hit_rate"):
        m = _metric(rep, mid)
        assert m["status"] == "registered_no_samples"
        assert m["value"] is None
        assert m["sentinel"]["value"] == -1 and m["sentinel"]["versions"] == ">=0.6.6,<0.9.2"
    text = run_cli("observability-coverage", "--engine-metrics-file", str(case / "engine.prom")).stdout
    assert "sentinel:   vllm.gpu_prefix_cache_hit_rate = -1" in text


def test_old_sglang_hit_rate_in_percent_is_normalised(tmp_path, report_validator):
    case = FIXTURES / "sglang/percent-hit-rate-pr1461"
    assert "https://github.com/sgl-project/sglang/pull/1461" in _provenance("sglang/percent-hit-rate-pr1461")
    rep = _engine(tmp_path, case / "engine.prom")
    validate(report_validator, rep)
    m = _metric(rep, "sglang.cache_hit_rate")
    assert m["status"] == "measured"
    assert m["value"] == pytest.approx(0.8758777633289988)
    assert m["scaled"]["from"] == "percent" and m["scaled"]["versions"] == "<0.3.6"
    v = rep["detected"]["versions"]["sglang"]
    assert v["verdict"] == "older_than_known" and "0.3.6" in v["summary"]


def test_a_ratio_is_never_reported_outside_zero_one(tmp_path, report_validator):
    prom = tmp_path / "engine.prom"
    prom.write_text(
        # a percent value in the model_name era the spec does not mark as percent
        'sglang:cache_hit_rate{model_name="m"} 45.0\n'
        # hits above queries (two scrapes mixed): the derived rate would be 2.0
        'vllm:prefix_cache_queries_total{model_name="m"} 100\n'
        'vllm:prefix_cache_hits_total{model_name="m"} 200\n', encoding="utf-8")
    rep = _engine(tmp_path, prom)
    validate(report_validator, rep)
    m = _metric(rep, "sglang.cache_hit_rate")
    assert m["value"] is None and m["out_of_range"]["values"] == [45.0]
    d = rep["derived"]["vllm.prefix_cache_hit_rate"]
    assert d["value"] is None and d["reason"].startswith("outside [0, 1]")
    for d in rep["derived"].values():
        if d.get("unit") == "ratio" and d.get("value") is not None:
            assert 0.0 <= d["value"] <= 1.0
    for f in rep["families"]:
        for m in f["metrics"]:
            if m.get("value") is not None and "hit_rate" in m["id"]:
                assert 0.0 <= m["value"] <= 1.0 or math.isnan(m["value"])


# ---------------------------------------------------------------- detection from the namespace


def test_any_family_of_a_namespace_attributes_its_runtime(tmp_path):
    prom = tmp_path / "engine.prom"
    # names no MetricFamilies spec knows, in each namespace
    prom.write_text('sglang:some_future_gauge 1\nlmcache:some_future_counter_total 2\n', encoding="utf-8")
    rep = _engine(tmp_path, prom)
    assert rep["detected"]["engines"] == ["sglang"]
    assert rep["detected"]["lmcache_mode"] == "embedded"
    lm = tmp_path / "lmcache.prom"
    lm.write_text('lmcache_mp_some_future_counter_total 3\n', encoding="utf-8")
    rep = _report(tmp_path, "lmcache-compat", "--lmcache-metrics-file", str(lm), "--expect-mode", "mp")
    assert rep["detected"]["lmcache_mode"] == "mp" and rep["mode_check"]["result"] == "match"
    sig = rep["detected"]["lmcache_mode_signals"]["mp"]
    assert sig == [{"signal": "namespace-lmcache_mp", "evidence": sig[0]["evidence"]}]
    assert "lmcache_mp_some_future_counter_total" in sig[0]["evidence"]


def test_namespace_rules_live_in_the_detection_spec(spec):
    ns = {n["id"]: n for doc in spec.docs("Detection") for n in doc.get("namespaces", [])}
    assert ns["lmcache_embedded"]["prefixes"] == ["lmcache:"] and ns["lmcache_embedded"]["component"] == "embedded"
    assert ns["lmcache_mp"]["component"] == "mp" and "lmcache_mp_" in ns["lmcache_mp"]["prefixes"]
    assert ns["vllm"]["prefixes"] == ["vllm:"] and ns["sglang"]["prefixes"] == ["sglang:"]


# ---------------------------------------------------------------- one version verdict per runtime


def test_one_verdict_per_runtime_replaces_per_name_ranges(tmp_path, report_validator):
    rep = _report(tmp_path, "evaluate", str(H100))
    validate(report_validator, rep)
    vers = rep["detected"]["versions"]
    assert set(vers) == {"vllm", "lmcache"}
    for v in vers.values():
        assert "name_ranges" not in v and v["verdict"] == "consistent"
    # the packet's LMCache is the g1 ("keys") naming generation: 0.4.3-0.4.5 only
    assert vers["lmcache"]["releases"] == ["0.4.5"]
    assert vers["vllm"]["releases"][0] == "0.21.0"


def test_mixed_mp_naming_generations_are_inconsistent_and_named(tmp_path, report_validator):
    case = FIXTURES / "lmcache/mp-mixed-generations-synthetic"
    rep = _report(tmp_path, "lmcache-compat", "--lmcache-metrics-file", str(case / "lmcache.prom"), "--expect-mode", "mp")
    validate(report_validator, rep)
    v = rep["detected"]["versions"]["lmcache"]
    assert v["verdict"] == "inconsistent" and v["releases"] == []
    pairs = {tuple(sorted(c["names"])) for c in v["conflicts"]}
    assert ("lmcache_mp_l1_read_chunks_total", "lmcache_mp_l1_read_keys_total") in pairs


def test_three_mp_generations_g0_with_g2_is_inconsistent(tmp_path):
    lm = tmp_path / "lmcache.prom"
    lm.write_text("lmcache_mp:sm_read_requests_total 4\nlmcache_mp_l1_write_chunks_total 9\n", encoding="utf-8")
    rep = _report(tmp_path, "lmcache-compat", "--lmcache-metrics-file", str(lm), "--expect-mode", "mp")
    v = rep["detected"]["versions"]["lmcache"]
    assert v["verdict"] == "inconsistent"
    assert {n for c in v["conflicts"] for n in c["names"]} == {"lmcache_mp:sm_read_requests_total", "lmcache_mp_l1_write_chunks_total"}
    assert set(v["generations"]) == {"g0", "g2"}


def test_a_complete_scrape_without_names_every_release_has_is_older_than_known(tmp_path):
    prom = tmp_path / "engine.prom"
    # vLLM before the request-phase histograms: every known release registers those, this lacks them
    prom.write_text(
        'vllm:num_requests_running{model_name="m"} 1\n'
        'vllm:num_requests_waiting{model_name="m"} 0\n'
        'vllm:time_to_first_token_seconds_count{model_name="m"} 3\n'
        'vllm:time_to_first_token_seconds_sum{model_name="m"} 0.3\n'
        'vllm:e2e_request_latency_seconds_count{model_name="m"} 3\n'
        'vllm:e2e_request_latency_seconds_sum{model_name="m"} 2.1\n'
        'vllm:request_prompt_tokens_count{model_name="m"} 3\n'
        'vllm:request_prompt_tokens_sum{model_name="m"} 300\n'
        'vllm:request_generation_tokens_count{model_name="m"} 3\n'
        'vllm:request_generation_tokens_sum{model_name="m"} 90\n', encoding="utf-8")
    v = _engine(tmp_path, prom)["detected"]["versions"]["vllm"]
    assert v["verdict"] == "older_than_known"
    assert v["summary"].startswith("older than 0.6.6")
    assert any("request_queue_time_seconds" in b for b in v["because"])


def test_a_partial_paste_never_rules_releases_out_by_absence(tmp_path):
    prom = tmp_path / "engine.prom"
    prom.write_text('vllm:time_per_output_token_seconds_count{model_name="m"} 3\n', encoding="utf-8")
    v = _engine(tmp_path, prom)["detected"]["versions"]["vllm"]
    assert v["verdict"] == "consistent"
    assert v["releases"] == ["0.6.6", "0.7.3", "0.8.5", "0.9.2", "0.10.2", "0.11.0", "0.13.0"]
    assert "names absent are not used" in v["absence"]


def test_model_name_era_hit_rate_is_a_ratio_and_is_not_scaled(tmp_path, report_validator):
    case = FIXTURES / "sglang/model-name-ratio-docs"
    assert "https://github.com/sgl-project/sglang/blob/" in _provenance("sglang/model-name-ratio-docs")
    rep = _engine(tmp_path, case / "engine.prom")
    validate(report_validator, rep)
    m = _metric(rep, "sglang.cache_hit_rate")
    assert m["status"] == "measured" and m["value"] == pytest.approx(0.007507552643049313)
    assert "scaled" not in m and "out_of_range" not in m
    v = rep["detected"]["versions"]["sglang"]
    assert v["verdict"] == "consistent"


def test_lint_resolves_namespace_and_version_evidence_references(tmp_path):
    import re

    det = tmp_path / "detection.yaml"
    det.write_text(
        "apiVersion: inferguard.dev/v1\nkind: Detection\n"
        "engines:\n  - id: vllm\n    signals:\n      - {id: vllm-metrics, runtime_metrics: vllm}\n"
        "lmcache_modes:\n  - id: mp\n    signals:\n      - {id: mp-metrics, component: {runtime: lmcache, component: mp}}\n"
        "connectors: [{id: LMCacheMPConnector, signals: [{id: argv, argv: {role: engine, regex: LMCacheMPConnector}}]}]\n"
        "applicability: [{runtime: vllm, when: \"contains(detected.engines, 'vllm')\"}]\n"
        "namespaces:\n  - {id: lmcache_x, prefixes: [\"lmcache_x_\"], runtime: lmcache, component: nowhere}\n"
        "version_evidence:\n  - runtime: vllm\n    registered_always: [vllm.no_such_metric]\n", encoding="utf-8")
    proc = run_cli("specs", "lint", str(det), "specs/metrics")
    assert proc.returncode == 2
    assert re.search(r"detection\.yaml:14:\d+: detection/unknown-ref: namespace 'lmcache_x': component 'nowhere' is not an LMCache mode id",
                     proc.stdout), proc.stdout
    assert re.search(r"detection\.yaml:17:\d+: detection/unknown-ref: unknown vllm metric 'vllm.no_such_metric'", proc.stdout), proc.stdout


def test_markdown_report_says_the_family_is_incomplete_and_gives_the_verdict():
    case = FIXTURES / "vllm/lora-series-cut-pr11117"
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(case / "engine.prom"), "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert "Incomplete families (histogram or summary series cut short): `vllm.latency` (vllm.e2e_request_latency_seconds)" in proc.stdout
    assert "- Version (vllm): consistent with 0.6.6 to 0.33.0" in proc.stdout
    assert "| registered |" in proc.stdout
