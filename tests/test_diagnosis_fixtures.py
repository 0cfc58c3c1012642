"""The diagnosis fixtures (fixtures/diagnosis/<case>/): provenance, expectation files in the
issue-12 shape, and the facts the rules will rely on, read back through the real pipeline."""
from __future__ import annotations

import re

import pytest
import yaml

from conftest import FIXTURES

DIAG = FIXTURES / "diagnosis"
CASES = sorted(p.name for p in DIAG.iterdir() if p.is_dir())
RULE_ID = re.compile(r"^(lmcache|vllm|sglang)/[a-z0-9]+(-[a-z0-9]+)*$")


def test_the_two_key_cases_exist():
    assert {"l1-too-small-0.5.6-cpu", "h100-healthy"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_provenance_and_expected_findings(case):
    d = DIAG / case
    prov = yaml.safe_load((d / "PROVENANCE.yaml").read_text())
    assert prov["origin"] in ("live", "real_capture", "derived", "synthetic")
    assert prov.get("source") and prov.get("captured") and prov.get("versions")
    if prov["origin"] == "real_capture" and "shared/data/real" not in prov["source"]:
        assert prov["source"].startswith("https://github.com/"), prov["source"]
    exp = yaml.safe_load((d / "expected_findings.yaml").read_text())
    fires, silent = exp.get("fires") or [], exp.get("silent") or []
    assert isinstance(fires, list) and isinstance(silent, list) and (fires or silent)
    for rid in fires + silent:
        assert RULE_ID.match(rid), rid
    assert not set(fires) & set(silent)
    from inferguard.spec import default_specs

    declared = {r["id"] for doc in default_specs().docs("DiagnosisRules") for r in doc.get("rules", [])}
    if declared:  # once the rules exist, an expectation can only name one of them
        assert set(fires + silent) <= declared, sorted(set(fires + silent) - declared)


def _evaluate(case):
    from inferguard.flow.packet import evaluate_packet
    from inferguard.spec import default_specs

    return evaluate_packet(str(DIAG / case), default_specs(), {})


def _log_signals(path):
    from inferguard.readers.logs import read
    from inferguard.spec import default_specs

    return read(str(path), specs=default_specs()).to_json()["signals"]


def test_l1_too_small_shows_zero_hits_and_allocation_failures():
    rep = _evaluate("l1-too-small-0.5.6-cpu")
    assert rep["detected"]["lmcache_mode"] == "mp"
    hit = rep["derived"]["lmcache_mp.lookup_hit_rate"]
    assert (hit["value"], hit["numerator"], hit["denominator"]) == (0.0, 0.0, 16384.0)
    fams = {f["id"]: f["status"] for f in rep["families"]}
    assert fams["lmcache_mp.l1_failures"] == "measured"
    sig = _log_signals(DIAG / "l1-too-small-0.5.6-cpu" / "lmcache_server.log")
    assert sig["l1_allocation_failure"] == 32
    assert sig["watermark_eviction"] == 0 and sig["pythonhashseed"] == 0
    prom = (DIAG / "l1-too-small-0.5.6-cpu" / "lmcache.prom").read_text()
    assert 'lmcache_mp_l1_allocation_failure_chunks_total{during="l1_store",model_name="test-model"} 1020.0' in prom
    assert 'lmcache_mp_l1_usage_ratio{backend="dram",l1_tag="_default"} 0.0' in prom


def test_l1_fits_control_differs_from_l1_too_small_only_by_its_l1():
    """The live control: same bench and commands, --l1-size-gb 1.0 instead of 0.05."""
    import re as _re

    cmds = {c: (DIAG / c / "capture" / "commands.txt").read_text().splitlines()
            for c in ("l1-too-small-0.5.6-cpu", "l1-fits-0.5.6-cpu")}

    def norm(lines):  # ports, paths and the date differ from run to run
        out = [_re.sub(r"(127\.0\.0\.1:|--port |--http-port )\d+|/tmp/\S+?/", r"\1", l) for l in lines if not l.startswith("# date")]
        return [l.replace("--l1-size-gb 0.05", "--l1-size-gb L1").replace("--l1-size-gb 1.0", "--l1-size-gb L1") for l in out]

    assert norm(cmds["l1-too-small-0.5.6-cpu"]) == norm(cmds["l1-fits-0.5.6-cpu"])
    rep = _evaluate("l1-fits-0.5.6-cpu")
    hit = rep["derived"]["lmcache_mp.lookup_hit_rate"]
    assert (hit["numerator"], hit["denominator"]) == (10752.0, 16384.0)
    assert _log_signals(DIAG / "l1-fits-0.5.6-cpu" / "lmcache_server.log")["l1_allocation_failure"] == 0


def test_h100_healthy_keeps_its_hit_rate_and_versions():
    rep = _evaluate("h100-healthy")
    hit = rep["derived"]["lmcache_mp.lookup_hit_rate"]
    assert (hit["numerator"], hit["denominator"]) == (18432.0, 20480.0)
    assert rep["detected"]["lmcache_mode"] == "mp" and rep["detected"]["engines"] == ["vllm"]
    # the cut keeps every vllm:* family, so the version verdict is the full scrape's
    versions = rep["detected"]["versions"]
    assert versions["vllm"]["verdict"] == "consistent"
    assert versions["vllm"]["releases"] == ["0.21.0", "0.25.0", "0.29.0", "0.33.0"]
    assert versions["lmcache"]["releases"] == ["0.4.5"]


@pytest.mark.parametrize("case, signal, count", [
    ("vllm-queue-pressure-pr37307", "vllm_stats", 5),
    ("vllm-kv-high-no-queue-pr21809", "vllm_stats", 6),
    ("vllm-healthy-docker-ts-issue3359", "vllm_stats", 4),
    ("vllm-kv-near-full-preemption-issue5578", "preemption", 1),
    ("lmcache-pythonhashseed-unset-issue2581", "pythonhashseed", 2),
    ("sglang-high-usage-no-retract-issue14972", "sglang_stats", 5),
])
def test_public_log_slices_are_read(case, signal, count):
    (log,) = sorted((DIAG / case).glob("*.log"))
    assert _log_signals(log)[signal] == count


def test_l1_pressure_case_has_watermark_and_prefetch_failures():
    sig = _log_signals(DIAG / "l1-pressure-l2-0.5.6-cpu" / "lmcache_server.log")
    assert sig["watermark_eviction"] == 4 and sig["l1_allocation_failure"] == 18
    rep = _evaluate("l1-pressure-l2-0.5.6-cpu")
    hit = rep["derived"]["lmcache_mp.lookup_hit_rate"]
    assert (hit["numerator"], hit["denominator"]) == (3584.0, 9216.0)
