"""A new surface is YAML plus an inline spec test, no Python: lint, specs test and docs build
take it as it is, and the inline test asserts what the real pipeline computes."""
from __future__ import annotations

import re
import shutil

import pytest

from conftest import ROOT, run_cli

# vLLM speculative decoding: three counters of vLLM's v1 spec_decode metrics (inventories
# vllm-0.9.2 .. vllm-0.21.0), a derived acceptance rate, one row with one inline test.
SPEC_DECODING = """\
apiVersion: inferguard.dev/v1
kind: MetricFamilies
runtime: vllm
families:
  - id: vllm.spec_decode
    title: Speculative decoding drafts and acceptance
    description: How many draft tokens the target model accepted.
    component: engine
    metrics:
      - id: vllm.spec_decode_num_drafts
        title: Drafts
        type: counter
        unit: drafts
        aggregate: sum
        labels: [model_name, engine]
        names:
          - {name: "vllm:spec_decode_num_drafts_total", versions: ">=0.9.2,<0.25.0", generation: current}
      - id: vllm.spec_decode_num_draft_tokens
        title: Draft tokens
        type: counter
        unit: tokens
        aggregate: sum
        labels: [model_name, engine]
        names:
          - {name: "vllm:spec_decode_num_draft_tokens_total", versions: ">=0.9.2,<0.25.0", generation: current}
      - id: vllm.spec_decode_num_accepted_tokens
        title: Accepted draft tokens
        type: counter
        unit: tokens
        aggregate: sum
        labels: [model_name, engine]
        names:
          - {name: "vllm:spec_decode_num_accepted_tokens_total", versions: ">=0.9.2,<0.25.0", generation: current}
derived:
  - id: vllm.spec_decode_acceptance_rate
    title: Draft token acceptance rate
    op: ratio
    unit: ratio
    numerator: vllm.spec_decode_num_accepted_tokens
    denominator: vllm.spec_decode_num_draft_tokens
---
apiVersion: inferguard.dev/v1
kind: Surfaces
rows:
  - id: vllm.spec_decoding
    runtime: vLLM
    surface: Speculative decoding
    artifacts: [engine /metrics with vllm:spec_decode_* counters]
    entrypoints: [GET /metrics on the vLLM API server]
    sources: [prometheus]
    applies_when: "contains(detected.engines, 'vllm')"
    requires:
      - {family: vllm.spec_decode}
    missing_proof: "No vllm:spec_decode_* counters: speculative decoding is off, or this release names them otherwise."
    next_command: inferguard observability-coverage --engine-metrics-file "$PACKET_DIR/engine.prom" --expected-engine vllm
    tests:
      - name: seventy percent of draft tokens accepted
        engine_metrics: |
          # TYPE vllm:spec_decode_num_drafts counter
          vllm:spec_decode_num_drafts_total{model_name="m",engine="0"} 40
          # TYPE vllm:spec_decode_num_draft_tokens counter
          vllm:spec_decode_num_draft_tokens_total{model_name="m",engine="0"} 160
        series:
          - {series: 'vllm:spec_decode_num_accepted_tokens_total{model_name="m",engine="0"}', values: "0+28x4"}
        context: {expected_engine: vllm}
        expect:
          status: covered
          items: {vllm.spec_decode: measured}
          derived: {vllm.spec_decode_acceptance_rate: {value: 0.7, tolerance: 0.0001}}
          engines: [vllm]
          lmcache_mode: none
          gaps: []
"""


MAPPED_NOW = ("vllm:spec_decode_num_accepted_tokens", "vllm:spec_decode_num_accepted_tokens_total",
              "vllm:spec_decode_num_draft_tokens", "vllm:spec_decode_num_draft_tokens_total",
              "vllm:spec_decode_num_drafts", "vllm:spec_decode_num_drafts_total")


def _workspace(tmp_path):
    for name in ("specs", "fixtures", "tests"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "docs").mkdir()
    # the maintainer's other YAML edit: names the new family maps leave the not_mapped list
    vllm = tmp_path / "specs" / "metrics" / "vllm.yaml"
    text = vllm.read_text()
    for name in MAPPED_NOW:
        line = f'      - "{name}"\n'
        assert line in text, name
        text = text.replace(line, "", 1)
    vllm.write_text(text)
    return tmp_path


def test_a_new_surface_is_yaml_plus_an_inline_test(tmp_path):
    ws = _workspace(tmp_path)
    (ws / "specs" / "spec_decoding.yaml").write_text(SPEC_DECODING)

    lint = run_cli("specs", "lint", "--root", str(ws), str(ws / "specs"))
    assert lint.returncode == 0, lint.stdout + lint.stderr

    tested = run_cli("specs", "test", "--root", str(ws), "--specs", str(ws / "specs"), "--row", "vllm.spec_decoding")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert re.search(r"pass\s+vllm\.spec_decoding\s+\(inline\) seventy percent", tested.stdout), tested.stdout
    assert "1 passed, 0 failed" in tested.stdout

    built = run_cli("docs", "build", "--root", str(ws), "--specs", str(ws / "specs"))
    assert built.returncode == 0, built.stdout + built.stderr
    matrix = (ws / "docs" / "coverage-matrix.md").read_text()
    assert "`vllm.spec_decoding`" in matrix


@pytest.mark.parametrize("change,message", [
    ("value: 0.7, tolerance: 0.0001", "derived vllm.spec_decode_acceptance_rate: expected 0.6"),
    ("status: covered", "status: expected partial, got covered"),
    ("gaps: []", "gaps: expected ['vllm.spec_decode'], got []"),
])
def test_an_inline_test_fails_when_its_expectation_is_wrong(tmp_path, change, message):
    wrong = {"value: 0.7, tolerance: 0.0001": "value: 0.6, tolerance: 0.0001",
             "status: covered": "status: partial",
             "gaps: []": "gaps: [vllm.spec_decode]"}[change]
    ws = _workspace(tmp_path)
    (ws / "specs" / "spec_decoding.yaml").write_text(SPEC_DECODING.replace(change, wrong))
    tested = run_cli("specs", "test", "--root", str(ws), "--specs", str(ws / "specs"), "--row", "vllm.spec_decoding")
    assert tested.returncode == 1, tested.stdout
    assert "FAIL  vllm.spec_decoding" in tested.stdout and message in tested.stdout, tested.stdout


def test_expanding_notation():
    from inferguard.flow.matrix import expand_values

    assert expand_values("1 _ 3+2x3 10-1x2 4x2") == [1, None, 3, 5, 7, 9, 10, 9, 8, 4, 4, 4]
    with pytest.raises(ValueError):
        expand_values("1 two")


def test_unknown_row_and_nothing_to_run_are_errors(tmp_path):
    proc = run_cli("specs", "test", "--row", "no.such.row")
    assert proc.returncode == 2 and "unknown row or rule id(s): no.such.row" in proc.stderr
