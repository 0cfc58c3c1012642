"""diagnose-bottleneck through the command line: the must-hold cases on the real fixtures,
every rule's positive and negative case, messages with measured values and the thresholds in
force (default and overridden), the verdict priority, missing inputs and bad rule configs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FIXTURES, load_json, run_cli, validate
from inferguard.cli.app import main
from inferguard.engine.diagnosis import render, rules_of
from inferguard.flow.diagnosis import write_case

L1_TOO_SMALL = FIXTURES / "diagnosis" / "l1-too-small-0.5.6-cpu"
H100 = FIXTURES / "diagnosis" / "h100-healthy"


@pytest.fixture(scope="module")
def diag_validator():
    from inferguard.spec.loader import schema_validator

    return schema_validator("report.diagnosis.v1.schema.json")


def _rule(rep: dict, rule_id: str) -> dict:
    """A rule's result in the report: state, thresholds in force, missing inputs and, when it
    fired, its basis, values, causes and what it explains."""
    return next(r for r in rep["rules"] if r["rule"] == rule_id)


def _diagnose(job: Path, out: Path, *extra: str) -> tuple[int, dict]:
    res = CliRunner().invoke(main, ["diagnose-bottleneck", "--job-dir", str(job), "--output-dir", str(out), *extra])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, load_json(out / "bottleneck_diagnosis.json")


def _hit_rate_job(tmp_path: Path) -> Path:
    """A job folder with one LMCache scrape: 18432 of 20480 requested tokens hit (0.9)."""
    job = tmp_path / "job"
    job.mkdir()
    (job / "lmcache.prom").write_text(
        'lmcache_mp_lookup_requested_tokens_total{cache_salt="",model_name="m"} 20480\n'
        'lmcache_mp_lookup_hit_tokens_total{cache_salt="",model_name="m"} 18432\n', encoding="utf-8")
    return job


# --------------------------------------------------------------------------- must hold


def test_l1_too_small_zero_hits_with_l1_allocation_failures_as_cause(tmp_path, diag_validator):
    r = run_cli("diagnose-bottleneck", "--job-dir", str(L1_TOO_SMALL), "--output-dir", str(tmp_path),
                "--fail-on", "error")
    assert r.returncode == 1, r.stderr  # an error finding under --fail-on error
    rep = load_json(tmp_path / "bottleneck_diagnosis.json")
    validate(diag_validator, rep)
    findings = {f["check"]: f for f in rep["findings"]}
    zero = findings["lmcache/zero-hits-after-warmup"]
    assert zero["severity"] == "error"
    assert _rule(rep, "lmcache/zero-hits-after-warmup")["causes"] == ["lmcache/l1-allocation-failures"]
    assert "16384 tokens" in zero["message"] and "hit 0" in zero["message"] and "4096" in zero["message"]
    assert "lmcache/l1-allocation-failures" in zero["message"]
    assert rep["verdict"]["rule"] == "lmcache/zero-hits-after-warmup"
    assert rep["verdict"]["causes"] == ["lmcache/l1-allocation-failures"]
    cause = findings["lmcache/l1-allocation-failures"]
    assert _rule(rep, "lmcache/l1-allocation-failures")["explains"] == ["lmcache/zero-hits-after-warmup",
                                                                        "lmcache/hit-rate-below-floor"]
    assert "1020 failed chunks" in cause["message"] and "32 allocation-failure log lines" in cause["message"]
    # one request does not fit: 32 blocks asked for, L1 holds 25 of them
    assert "asked for 32 blocks of 2097152 bytes" in cause["message"] and "holds 25 such blocks" in cause["message"]
    # evidence pointers: the counter with its exposed name and line, the log lines
    metric = next(p for p in cause["evidence"] if p.get("metric") == "lmcache_mp.l1_allocation_failure_chunks")
    assert metric["artifact"].endswith("lmcache.prom") and metric["value"] == 1020 and metric["line"]
    log = next(p for p in cause["evidence"] if p.get("log_category") == "l1_allocation_failure")
    assert log["count"] == 32 and log["lines"][0]["line"] > 0 and log["artifact"].endswith("lmcache_server.log")
    text = (tmp_path / "bottleneck_diagnosis.md").read_text(encoding="utf-8")
    assert "lmcache/zero-hits-after-warmup" in text and "Likely cause(s)" in text


def test_findings_are_the_tools_one_finding_model(tmp_path):
    from inferguard.spec.loader import schema_validator

    _code, rep = _diagnose(L1_TOO_SMALL, tmp_path / "out")
    finding = schema_validator("finding.v1.schema.json")
    assert rep["findings"]
    for f in rep["findings"]:
        validate(finding, f)
        assert f["next_command"].startswith("inferguard ")
    assert _rule(rep, "lmcache/zero-hits-after-warmup")["basis"] == "measured"
    assert _rule(rep, "lmcache/zero-hits-after-warmup")["values"]["requested_tokens"] == 16384


def test_h100_has_no_lmcache_error(tmp_path, diag_validator):
    r = run_cli("diagnose-bottleneck", "--job-dir", str(H100), "--output-dir", str(tmp_path), "--fail-on", "error")
    assert r.returncode == 0, r.stdout + r.stderr
    rep = load_json(tmp_path / "bottleneck_diagnosis.json")
    validate(diag_validator, rep)
    bad = [f["check"] for f in rep["findings"] if f["check"].startswith("lmcache/") and f["severity"] in ("error", "critical")]
    assert bad == []
    fired = {f["check"] for f in rep["findings"]}
    assert "lmcache/zero-hits-after-warmup" not in fired and "lmcache/hit-rate-below-floor" not in fired
    # the gap the run really has (trace recording on, no .lct kept) is an annotation, not a bottleneck
    assert rep["verdict"]["status"] == "evidence_gap"


# --------------------------------------------------------------------------- every rule, both ways


def _cases():
    from inferguard.spec import default_specs

    for rule in rules_of(default_specs()):
        for case in rule.tests:
            yield pytest.param(rule, case, id=f"{rule.id}:{case['name']}")


@pytest.mark.parametrize("rule,case", list(_cases()))
def test_rule_case_through_the_cli(rule, case, tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    write_case(case, job)
    extra: list[str] = []
    if case.get("rule_config"):
        cfg = tmp_path / "rules.yaml"
        cfg.write_text(json.dumps({"thresholds": case["rule_config"]}), encoding="utf-8")
        extra = ["--rule-config", str(cfg)]
    _code, rep = _diagnose(job, tmp_path / "out", *extra)
    got = next((f for f in rep["findings"] if f["check"] == rule.id), None)
    if not case["expect"]["fires"]:
        assert got is None, got and got["message"]
        return
    assert got is not None, [r for r in rep["rules"] if r["rule"] == rule.id]
    # The message shows every threshold in force (an overridden one with its new value) ...
    in_force = _rule(rep, rule.id)["thresholds"]
    for name, t in in_force.items():
        shown = render("{thresholds.%s}" % name, {}, in_force, "")
        spec_fmt = [m for m in rule.message.split("{thresholds.%s" % name)[1:2]]
        if spec_fmt and spec_fmt[0].startswith(":"):
            shown = format(t["value"], spec_fmt[0][1:].split("}")[0])
        assert shown in got["message"], (name, shown, got["message"])
        if case.get("rule_config", {}).get(rule.id, {}).get(name) is not None:
            assert t["source"] == "rule-config" and t["value"] == case["rule_config"][rule.id][name]
    # ... and the measured values the case expects.
    for text in case["expect"].get("message_contains", []):
        assert text in got["message"], (text, got["message"])


def test_every_rule_has_a_positive_and_a_negative_case(spec):
    for rule in rules_of(spec):
        outcomes = {c["expect"]["fires"] for c in rule.tests}
        assert outcomes == {True, False}, rule.id


def test_overridden_threshold_changes_the_outcome_and_the_message(tmp_path):
    job = _hit_rate_job(tmp_path)
    _c, rep = _diagnose(job, tmp_path / "a")
    assert "lmcache/hit-rate-below-floor" not in {f["check"] for f in rep["findings"]}
    cfg = tmp_path / "rules.yaml"
    cfg.write_text("thresholds:\n  lmcache/hit-rate-below-floor:\n    hit_rate_floor: 0.93\n", encoding="utf-8")
    code, rep = _diagnose(job, tmp_path / "b", "--rule-config", str(cfg), "--fail-on", "warning")
    assert code == 1
    f = next(f for f in rep["findings"] if f["check"] == "lmcache/hit-rate-below-floor")
    assert "0.900" in f["message"] and "0.93" in f["message"]
    assert _rule(rep, "lmcache/hit-rate-below-floor")["thresholds"]["hit_rate_floor"] == {
        "value": 0.93, "unit": "ratio", "type": "ratio", "source": "rule-config"}


# --------------------------------------------------------------------------- rule config errors


@pytest.mark.parametrize("body,needle,line", [
    ("thresholds:\n  lmcache/no-such-rule:\n    x: 1\n", "unknown rule 'lmcache/no-such-rule'", 2),
    ("thresholds:\n  lmcache/hit-rate-below-floor:\n    floor: 0.5\n", "has no threshold 'floor'", 3),
    ("thresholds:\n  lmcache/hit-rate-below-floor:\n    hit_rate_floor: high\n", "expected a number", 3),
    ("thresholds:\n  lmcache/hit-rate-below-floor:\n    hit_rate_floor: 1.5\n", "expected a ratio in [0, 1]", 3),
    ("thresholds:\n  lmcache/zero-hits-after-warmup:\n    min_requested_tokens: 10.5\n", "expected an integer", 3),
    ("rules: {}\n", "expected a mapping with one key", None),
    ("thresholds: [\n", "invalid YAML", None),
])
def test_bad_rule_config_is_exit_2_naming_the_file(tmp_path, body, needle, line):
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(body, encoding="utf-8")
    r = run_cli("diagnose-bottleneck", "--job-dir", str(H100), "--output-dir", str(tmp_path / "out"),
                "--rule-config", str(cfg))
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err and str(cfg) in err
    if line is not None:
        assert f"{cfg}:{line}" in err
    assert not (tmp_path / "out" / "bottleneck_diagnosis.json").exists()


# --------------------------------------------------------------------------- inputs, verdict


def test_empty_job_dir_is_insufficient_evidence_not_a_crash(tmp_path, diag_validator):
    job = tmp_path / "job"
    job.mkdir()
    code, rep = _diagnose(job, tmp_path / "out", "--fail-on", "info")
    assert code == 0
    validate(diag_validator, rep)
    assert rep["verdict"]["status"] == "insufficient_evidence"
    assert "lmcache_metrics" in rep["inputs"]["missing"] and rep["findings"] == []


def test_missing_job_dir_is_exit_2(tmp_path):
    r = run_cli("diagnose-bottleneck", "--job-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "out"))
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_missing_input_lowers_confidence_but_keeps_the_finding(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "lmcache.prom").write_text(
        'lmcache_mp_l1_allocation_failure_chunks_total{during="l1_store",model_name="m"} 64\n', encoding="utf-8")
    _c, rep = _diagnose(job, tmp_path / "out")
    f = next(f for f in rep["findings"] if f["check"] == "lmcache/l1-allocation-failures")
    assert _rule(rep, "lmcache/l1-allocation-failures")["missing_inputs"] == ["lmcache_log"] and f["confidence"] < 1.0
    (job / "lmcache_server.log").write_text(
        "[2026-11-29 08:28:26,620] LMCache WARNING: Failed to batched allocate 16 memory blocks of size 16384 "
        "because no enough memory is available (short by 3 blocks) (memory_management.py:1540:lmcache)\n", encoding="utf-8")
    _c, rep = _diagnose(job, tmp_path / "out2")
    f = next(f for f in rep["findings"] if f["check"] == "lmcache/l1-allocation-failures")
    assert _rule(rep, "lmcache/l1-allocation-failures")["missing_inputs"] == [] and f["confidence"] == 1.0


def test_an_lmcache_evidence_gap_never_overrides_a_measured_verdict(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    # a gap (trace recording on, no .lct) and a measured warning (L1 above its watermark)
    (job / "lmcache_command.json").write_text('["lmcache", "server", "--trace-output", "/x/t.lct"]', encoding="utf-8")
    (job / "lmcache.prom").write_text('lmcache_mp_l1_usage_ratio{backend="dram",l1_tag="_default"} 0.93\n', encoding="utf-8")
    _c, rep = _diagnose(job, tmp_path / "out")
    fired = [f["check"] for f in rep["findings"]]
    assert "lmcache/trace-enabled-no-trace" in fired
    assert rep["verdict"]["rule"] == "lmcache/l1-pressure" and rep["verdict"]["status"] == "bottleneck"
    assert rep["verdict"]["annotations"] == ["lmcache/trace-enabled-no-trace"]


def test_more_severe_measured_finding_wins_the_verdict(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "lmcache.prom").write_text(
        'lmcache_mp_l1_usage_ratio{backend="dram",l1_tag="_default"} 0.93\n', encoding="utf-8")
    (job / "http").mkdir()
    (job / "http" / "GET_healthcheck.body").write_text('{"status":"unhealthy","reason":"engine not initialized"}',
                                                       encoding="utf-8")
    code, rep = _diagnose(job, tmp_path / "out", "--fail-on", "error")
    assert code == 1
    assert [f["check"] for f in rep["findings"]][:2] == ["lmcache/unhealthy", "lmcache/l1-pressure"]
    assert rep["verdict"]["rule"] == "lmcache/unhealthy"
    pointer = next(p for p in rep["findings"][0]["evidence"] if p.get("http") == "health")
    assert pointer["artifact"].endswith("GET_healthcheck.body")


def test_window_values_are_preferred_over_cumulative_ones(tmp_path):
    job = _hit_rate_job(tmp_path)
    _c, rep = _diagnose(job, tmp_path / "a")
    assert rep["basis"] == "snapshot" and "cumulative" in rep["basis_note"]
    assert "lmcache/zero-hits-after-warmup" not in {f["check"] for f in rep["findings"]}
    # a window collect-metrics wrote itself from three scrapes 30 s apart: 8192 tokens
    # requested in the window, no hit, while the process hit before it
    lm = ('lmcache_mp_lookup_requested_tokens_total{{cache_salt="",model_name="m"}} {req}\n'
          'lmcache_mp_lookup_hit_tokens_total{{cache_salt="",model_name="m"}} 18432\n')
    eng = '# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{{engine="0",model_name="m"}} {n}\n'
    write_case({"name": "window", "scrapes": {"interval_seconds": 30,
                                              "lmcache": [lm.format(req=12288), lm.format(req=16384), lm.format(req=20480)],
                                              "engine": [eng.format(n=0), eng.format(n=9), eng.format(n=0)]}}, job)
    assert (job / "metrics_summary.json").is_file()
    _c, rep = _diagnose(job, tmp_path / "b")
    assert rep["basis"] == "window"
    f = next(f for f in rep["findings"] if f["check"] == "lmcache/zero-hits-after-warmup")
    assert "8192 tokens" in f["message"]
    ptr = next(p for p in f["evidence"] if p.get("metric") == "lmcache_mp.lookup_hit_tokens")
    assert ptr["delta"] == 0 and ptr["value"] == 18432
    # a gauge's window maximum counts although the scrape caught an idle moment
    (job / "engine.prom").write_text('vllm:num_requests_waiting{engine="0",model_name="m"} 0\n', encoding="utf-8")
    _c, rep = _diagnose(job, tmp_path / "c")
    q = next(f for f in rep["findings"] if f["check"] == "vllm/queue-pressure")
    assert q["message"].startswith("9 requests waiting (scrape: 0 waiting")
    # a collect-metrics output folder without any snapshot scrape: the window alone
    (job / "engine.prom").unlink()
    (job / "lmcache.prom").unlink()
    _c, rep = _diagnose(job, tmp_path / "d")
    assert rep["basis"] == "window"
    fired = {f["check"]: f for f in rep["findings"]}
    assert "8192 tokens" in fired["lmcache/zero-hits-after-warmup"]["message"]
    assert "lmcache_metrics" in rep["inputs"]["present"]
    assert fired["vllm/queue-pressure"]["message"].startswith("9 requests waiting")


def test_unreadable_window_summary_is_a_problem_not_an_end(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "lmcache.prom").write_text('lmcache_mp_lookup_hit_tokens_total{cache_salt="",model_name="m"} 1\n', encoding="utf-8")
    (job / "metrics_summary.json").write_text("{not json", encoding="utf-8")
    _c, rep = _diagnose(job, tmp_path / "out")
    assert rep["basis"] == "snapshot"
    assert any(p.get("source") == "metrics_summary" for p in rep["problems"])


# --------------------------------------------------------------------------- lint


def test_lint_resolves_every_name_a_rule_reads(tmp_path):
    broken = tmp_path / "diag.yaml"
    broken.write_text("""apiVersion: inferguard.dev/v1
kind: DiagnosisRules
rules:
  - id: lmcache/broken
    title: broken
    severity: warning
    basis: measured
    inputs: [lmcache_metrics, no_such_lane]
    values:
      a: metrics."lmcache_mp.no_such_metric".value
      b: logs.no_such_category.count
    when: values.a > thresholds.t && !inputs.lmcache_log && frobnicate(values.b)
    thresholds:
      t: {value: 1.5, type: integer, unit: x, description: d}
    causes: [lmcache/none]
    message: "{c} and {thresholds.t}"
    remediation: r
    next_command: inferguard diagnose-bottleneck --no-such-flag
    tests:
      - {name: one, expect: {fires: true}}
      - {name: two, expect: {fires: true}}
""", encoding="utf-8")
    r = run_cli("specs", "lint", str(broken))
    assert r.returncode == 2
    for check in ("diagnosis/unknown-metric", "diagnosis/unknown-log-category", "diagnosis/unknown-input",
                  "diagnosis/loose-not", "diagnosis/unknown-function", "diagnosis/threshold-type",
                  "diagnosis/unknown-rule", "diagnosis/unknown-template-ref", "diagnosis/next-command",
                  "diagnosis/tests-both-ways"):
        assert check in r.stdout, (check, r.stdout)


def test_specs_test_runs_the_diagnosis_cases_and_fixtures():
    r = run_cli("specs", "test", "--row", "lmcache/zero-hits-after-warmup")
    assert r.returncode == 0, r.stdout
    assert "(inline) zero hits after 8192 requested tokens" in r.stdout
    assert "fixtures/diagnosis/l1-too-small-0.5.6-cpu" in r.stdout


def _fixture_folders():
    from inferguard.spec import default_specs

    for doc in default_specs().docs("DiagnosisRules"):
        for fx in doc.get("fixtures", []):
            yield pytest.param(fx, id=fx["path"].rsplit("/", 1)[-1])


@pytest.mark.parametrize("fx", list(_fixture_folders()))
def test_every_diagnosis_fixture_folder_through_the_cli(fx, tmp_path, diag_validator):
    from conftest import ROOT
    from inferguard.engine.findings import severity_rank

    _code, rep = _diagnose(ROOT / fx["path"], tmp_path / "out")
    validate(diag_validator, rep)
    fired = {f["check"]: f for f in rep["findings"]}
    for rid in fx.get("fires", []):
        assert rid in fired, (rid, sorted(fired))
        # the message renders the thresholds in force
        in_force = _rule(rep, rid)["thresholds"]
        for name, t in in_force.items():
            assert render("{thresholds.%s}" % name, {}, in_force, "") in fired[rid]["message"] or \
                   any(format(t["value"], spec) in fired[rid]["message"] for spec in (".3g", ".2f", ".4f")), (rid, name)
    for rid in fx.get("silent", []):
        assert rid not in fired, fired.get(rid, {}).get("message")
    for rid, causes in (fx.get("causes") or {}).items():
        assert _rule(rep, rid)["causes"] == causes
    for prefix, sev in (fx.get("no_severity_at_least") or {}).items():
        assert not [f for f in rep["findings"] if f["check"].startswith(prefix)
                    and severity_rank(f["severity"]) >= severity_rank(sev)]


def test_tqdm_frame_glued_before_a_log_header_is_taken_off(tmp_path):
    from inferguard.readers import logs

    p = tmp_path / "vllm.log"
    p.write_text("Processed prompts:   0%|  | 34/10000 [00:29<3:36:54,  1.31s/it, est. speed input: 407.31 toks/s, "
                 "output: 7561.83 toks/s]INFO 06-16 21:24:15 metrics.py:341] Avg prompt throughput: 2706.1 tokens/s, "
                 "Avg generation throughput: 13395.4 tokens/s, Running: 34 reqs, Swapped: 100 reqs, Pending: 9832 reqs, "
                 "GPU KV cache usage: 99.2%, CPU KV cache usage: 40.0%.\n", encoding="utf-8")
    cat = logs.read(str(p)).summary["categories"]["vllm_stats"]
    assert cat["count"] == 1 and cat["first_line"] == 1
    assert cat["captures"]["waiting"]["max"] == 9832


def _every_fixture_folder():
    from conftest import ROOT

    for prov in sorted((ROOT / "fixtures").rglob("PROVENANCE.yaml")):
        d = prov.parent
        if any(p.is_file() and p.name != "PROVENANCE.yaml" for p in d.iterdir()):
            yield pytest.param(d, id=str(d.relative_to(ROOT / "fixtures")))


@pytest.mark.parametrize("folder", list(_every_fixture_folder()))
def test_every_fixture_folder_diagnoses_without_a_crash(folder, tmp_path, diag_validator):
    """Whatever a folder holds (real pastes, cut scrapes, synthetic edge cases), every rule
    evaluates: a missing or odd input makes a condition false, never an error."""
    _code, rep = _diagnose(folder, tmp_path / "out")
    validate(diag_validator, rep)
    assert rep["verdict"]["status"] in ("bottleneck", "evidence_gap", "no_finding", "insufficient_evidence")


def test_the_diagnostics_lane_rests_on_the_diagnosis_fixtures(tmp_path):
    """docs build: the Diagnostics lane is live_validated with the real and live diagnosis
    fixtures passing and replayed; without them the command is only parser_only."""
    import re
    import shutil

    from conftest import ROOT

    def lane(ws):
        r = run_cli("docs", "build", "--root", str(ws), "--specs", str(ws / "specs"))
        assert r.returncode == 0, r.stderr
        text = (ws / "docs" / "coverage-matrix.md").read_text(encoding="utf-8")
        return re.search(r"^\| Diagnostics \| \d+ \| (\w+) \|", text, re.M).group(1)

    ws = tmp_path / "ws"
    for name in ("specs", "fixtures", "tests"):
        shutil.copytree(ROOT / name, ws / name)
    shutil.copy(ROOT / "pyproject.toml", ws / "pyproject.toml")
    (ws / "docs").mkdir()
    assert lane(ws) == "live_validated"
    # no real or live diagnosis fixture left (the spec still names them: they fail as missing)
    shutil.rmtree(ws / "fixtures" / "diagnosis")
    shutil.rmtree(ws / "fixtures" / "lmcache" / "live-0.5.6-cpu")
    assert lane(ws) == "parser_only"


# --------------------------------------------------------------------------- any values


_NAMES = [  # every exposed name a rule reads, in the engines' and LMCache's current forms
    'lmcache_mp_lookup_requested_tokens_total{cache_salt="%s",model_name="m"}',
    'lmcache_mp_lookup_hit_tokens_total{cache_salt="%s",model_name="m"}',
    'lmcache_mp_lookups_requests_total{cache_salt="%s",model_name="m"}',
    'lmcache_mp_l1_allocation_failure_chunks_total{during="l1_store",model_name="%s"}',
    'lmcache_mp_l1_usage_ratio{backend="dram",l1_tag="%s"}',
    'lmcache_mp_l1_evicted_chunks_total{l1_tag="%s"}',
    'lmcache_mp_l2_prefetch_failure_chunks_total{model_name="m",reason="%s"}',
    'lmcache_mp_event_bus_dropped_events_total{x="%s"}',
    'lmcache_mp_l1_read_failure_chunks_total{model_name="%s"}',
    'lmcache_mp_l1_write_chunks_total{l1_tag="%s"}',
    'vllm:num_requests_waiting{engine="0",model_name="%s"}',
    'vllm:kv_cache_usage_perc{engine="0",model_name="%s"}',
    'vllm:num_preemptions_total{engine="0",model_name="%s"}',
    'vllm:prefix_cache_queries_total{engine="0",model_name="%s"}',
    'vllm:prefix_cache_hits_total{engine="0",model_name="%s"}',
    'vllm:external_prefix_cache_queries_total{engine="0",model_name="%s"}',
    'vllm:external_prefix_cache_hits_total{engine="0",model_name="%s"}',
    'vllm:kv_offload_load_bytes_total{engine="0",model_name="%s"}',
    'vllm:kv_offload_load_time_total{engine="0",model_name="%s"}',
    'sglang:num_queue_reqs{model_name="%s"}',
    'sglang:token_usage{model_name="%s"}',
    'sglang:prompt_tokens_total{model_name="%s"}',
    'sglang:cached_tokens_total{model_name="%s"}',
]


def test_any_values_of_the_metrics_rules_read_never_break_a_rule():
    """Zero, negative, huge, NaN and infinite values, several label series: every rule
    evaluates (a condition is true or false), and the report keeps its schema."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from conftest import scratch_dir
    from inferguard.flow.diagnosis import diagnose_job
    from inferguard.spec import default_specs
    from inferguard.spec.loader import schema_validator

    spec = default_specs()
    validator = schema_validator("report.diagnosis.v1.schema.json")
    value = st.one_of(st.sampled_from(["0", "-1", "NaN", "+Inf", "-Inf", "1e308", "0.95", "4097"]),
                      st.integers(0, 10 ** 7).map(str))
    sample = st.tuples(st.sampled_from(range(len(_NAMES))), st.sampled_from(["", "a", "b"]), value)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(sample, min_size=1, max_size=30))
    def check(samples):
        job = scratch_dir("diagnose-any-values") / "job"
        job.mkdir(parents=True, exist_ok=True)
        lines = {"engine": [], "lmcache": []}
        seen = set()
        for i, label, v in samples:
            series = _NAMES[i] % label
            if series in seen:
                continue
            seen.add(series)
            lines["lmcache" if series.startswith("lmcache") else "engine"].append(f"{series} {v}")
        for who in ("engine", "lmcache"):
            (job / f"{who}.prom").write_text("\n".join(lines[who]) + "\n", encoding="utf-8")
        rep = diagnose_job(str(job), spec)
        validate(validator, json.loads(json.dumps(rep, allow_nan=False)))  # strict JSON: no NaN, no Infinity
        assert {r["state"] for r in rep["rules"]} <= {"fired", "silent", "not_evaluated"}

    check()


def test_series_summing_past_the_float_range_are_infinite_not_a_crash(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "engine.prom").write_text(
        'vllm:kv_offload_load_bytes_total{engine="0",model_name="a"} 1e308\n'
        'vllm:kv_offload_load_bytes_total{engine="1",model_name="a"} 1e308\n'
        'vllm:kv_offload_store_bytes_total{engine="0",model_name="a"} 1e308\n'
        'vllm:kv_offload_load_time_total{engine="0",model_name="a"} 1\n', encoding="utf-8")
    _c, rep = _diagnose(job, tmp_path / "out")
    raw = (tmp_path / "out" / "bottleneck_diagnosis.json").read_text(encoding="utf-8")
    json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    r = run_cli("observability-coverage", "--engine-metrics-file", str(job / "engine.prom"), "--format", "json")
    assert r.returncode == 0, r.stderr
