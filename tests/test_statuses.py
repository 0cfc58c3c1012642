"""Absent is not zero, zero is not measured; _created never counts; bad input never tracebacks."""
from __future__ import annotations


from conftest import load_json, run_cli

ZERO_LMCACHE = """\
# HELP lmcache_mp_lookup_requested_tokens_total Total tokens submitted for lookup
# TYPE lmcache_mp_lookup_requested_tokens_total counter
lmcache_mp_lookup_requested_tokens_total{cache_salt="",model_name="m"} 0.0
# HELP lmcache_mp_lookup_hit_tokens_total Total tokens found
# TYPE lmcache_mp_lookup_hit_tokens_total counter
lmcache_mp_lookup_hit_tokens_total{cache_salt="",model_name="m"} 0.0
"""

CREATED_ONLY = """\
# HELP vllm:prefix_cache_queries Prefix cache queries
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 0.0
vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7781949744090e+09
# HELP vllm:prefix_cache_hits Prefix cache hits
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 0.0
vllm:prefix_cache_hits_created{engine="0",model_name="m"} 1.7781949744090e+09
"""


def _family(rep, fid):
    return next(f for f in rep["families"] if f["id"] == fid)


def _row(rep, rid):
    return next(r for r in rep["surfaces"] if r["id"] == rid)


def test_all_zero_counters_are_present_zero_not_measured(tmp_path):
    prom = tmp_path / "lmcache.prom"
    prom.write_text(ZERO_LMCACHE)
    out = tmp_path / "r.json"
    proc = run_cli("lmcache-compat", "--lmcache-metrics-file", str(prom), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = load_json(out)
    assert _family(rep, "lmcache_mp.lookup")["status"] == "present_zero"
    assert rep["derived"]["lmcache_mp.lookup_hit_rate"]["value"] is None
    assert rep["derived"]["lmcache_mp.lookup_hit_rate"]["reason"] == "denominator is zero"
    # an absent family next to it stays absent, not zero
    assert _family(rep, "lmcache_mp.l1")["status"] == "absent"
    assert _row(rep, "lmcache.mp_prometheus")["status"] == "partial"


def test_created_series_never_count_as_activity(tmp_path):
    prom = tmp_path / "engine.prom"
    prom.write_text(CREATED_ONLY)
    out = tmp_path / "r.json"
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(prom), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = load_json(out)
    fam = _family(rep, "vllm.prefix_cache")
    assert fam["status"] == "present_zero"
    assert _row(rep, "vllm.prefix_cache")["status"] == "zero"
    gap = [g for g in rep["gaps"] if g["row"] == "vllm.prefix_cache"]
    assert gap and gap[0]["status"] == "present_zero"


def test_missing_input_file_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nope.prom"
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(missing))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "No such file" in lines[0]
    assert "Traceback" not in proc.stderr


def test_garbage_exposition_lists_problems_and_still_writes_report(tmp_path):
    prom = tmp_path / "lmcache.prom"
    good = "lmcache_mp_lookup_hit_tokens_total{cache_salt=\"\"} 12\n"
    prom.write_bytes(b"\x00\xff garbage {{{\n" + good.encode() + b"lmcache_mp_l1_read_chunks_total{l1_tag=\"a\" 5\n"
                     + b"lmcache_mp_l1_write_chunks_total 3 notatime\nlmcache_mp_lookup_requested_tokens_total{cache_salt=\"\"} 20")
    out = tmp_path / "r.json"
    proc = run_cli("lmcache-compat", "--lmcache-metrics-file", str(prom), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = load_json(out)
    lines = sorted(p["line"] for p in rep["problems"] if p.get("path") == str(prom))
    assert lines == [1, 3, 4, 5]  # 5: the last line has no newline, so it may be cut
    # the good lines, including the truncated last one without a newline, are still read,
    # and the value that depends on the possibly cut line says so instead of giving a number
    hr = rep["derived"]["lmcache_mp.lookup_hit_rate"]
    assert hr["numerator"] == 12 and hr["denominator"] == 20
    assert hr["value"] is None and hr["value_as_read"] == 0.6 and hr["may_be_cut"]["line"] == 5


def test_no_input_is_a_usage_error():
    proc = run_cli("observability-coverage")
    assert proc.returncode == 2
    assert "give at least one metrics file" in proc.stderr


def test_two_names_of_one_metric_in_one_scrape_are_not_added(tmp_path):
    # 0.5.6 emits the coordinator's placement gauge under its new and its deprecated name.
    prom = tmp_path / "lmcache.prom"
    prom.write_text(
        "# TYPE lmcache_mp_key_directory_placement_count gauge\n"
        'lmcache_mp_key_directory_placement_count{tier="l1"} 7\n'
        "# TYPE lmcache_coordinator_key_directory_placements gauge\n"
        'lmcache_coordinator_key_directory_placements{tier="l1"} 7\n'
    )
    from inferguard.flow.coverage import Inputs, build_evidence, default_context
    from inferguard.spec import default_specs

    ev = build_evidence(Inputs(lmcache_metrics_file=str(prom), context=default_context()), default_specs())
    entry = next(e for e in ev["metrics"].values() if "lmcache_coordinator_key_directory_placements" in e["exposed_names"]
                 or "lmcache_mp_key_directory_placement_count" in e["exposed_names"])
    assert entry["value"] == 7
    assert entry.get("also_exposed_as")


def test_lane_not_provided_is_absent_not_zero(tmp_path):
    """collect-lmcache writes an envelope for every lane; one with no sources is absent."""
    import json

    from inferguard.flow.coverage import Inputs, build_evidence, default_context
    from inferguard.engine.coverage import family_report, surface_rows
    from inferguard.spec import default_specs

    spec = default_specs()
    empty = {"apiVersion": "inferguard.dev/v1", "kind": "LaneEvidence", "lane": "lmcache_log",
             "tool": {"name": "inferguard", "version": "0"}, "spec": {"version": spec.version, "digest": spec.digest},
             "signals": {}, "sources": [], "problems": []}
    f = tmp_path / "lmcache_log_evidence.json"
    f.write_text(json.dumps(empty))
    # An empty envelope is no LMCache evidence: the row applies only when LMCache is declared.
    ev = build_evidence(Inputs(lane_files={"lmcache_log": [str(f)]}, context=default_context()), spec)
    rows = {r["id"]: r for r in surface_rows(ev, spec, family_report(ev, spec))}
    assert rows["lmcache.logs"]["status"] == "not_applicable"
    ev = build_evidence(Inputs(lane_files={"lmcache_log": [str(f)]},
                               context=default_context(expected_lmcache_mode="mp")), spec)
    rows = {r["id"]: r for r in surface_rows(ev, spec, family_report(ev, spec))}
    assert rows["lmcache.logs"]["status"] == "missing"
    assert rows["lmcache.logs"]["items"][0]["status"] == "absent"


def test_registered_without_samples_sits_between_present_zero_and_absent():
    from inferguard.engine.status import combine, metric_status, rollup

    assert metric_status({"series": 0, "registered": True}) == "registered_no_samples"
    assert metric_status({"series": 0}) == "absent"
    assert metric_status({"series": 2, "nonzero": False, "sentinel_series": 2}) == "registered_no_samples"
    assert metric_status({"series": 2, "nonzero": False, "sentinel_series": 1}) == "present_zero"
    assert combine(["registered_no_samples", "absent"]) == "registered_no_samples"
    assert combine(["registered_no_samples", "present_zero"]) == "present_zero"
    assert combine(["registered_no_samples", "measured"]) == "measured"
    # a surface whose items are registered or zero, none measured, is zero; with an absent one, partial
    assert rollup(["registered_no_samples", "present_zero"]) == "zero"
    assert rollup(["registered_no_samples", "absent"]) == "partial"
    assert rollup(["registered_no_samples", "measured"]) == "partial"
