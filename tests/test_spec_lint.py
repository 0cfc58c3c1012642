"""A broken spec gives path:line errors from `specs lint` and exit 2; the bundled set lints clean."""
from __future__ import annotations

import re

from conftest import run_cli


def test_bundled_specs_lint_clean():
    proc = run_cli("specs", "lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok: ")


BROKEN = """\
apiVersion: inferguard.dev/v1
kind: Surfaces
rows:
  - id: demo.row
    runtime: vLLM
    surface: Demo
    artifacts: [x]
    entrypoints: [y]
    sources: [prometheus]
    requires:
      - {family: vllm.no_such_family}
      - {family: vllm.prefix_cache, required_when: "context.(("}
    missing_proof: m
    next_command: inferguard evaluate x
  - id: demo.row
    runtime: Nowhere
    surface: Demo
"""


def test_broken_surfaces_spec_reports_each_error_with_path_line(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN)
    proc = run_cli("specs", "lint", str(f))
    assert proc.returncode == 2
    out = proc.stdout
    # schema error on the second row (bad runtime, missing fields), at its line
    assert re.search(r"broken\.yaml:15:\d+: .*rows\[1\]", out), out
    assert re.search(r"broken\.yaml:16:\d+: spec/schema: \$\.rows\[1\]\.runtime: 'Nowhere' is not one of", out), out


def test_semantic_errors_have_lines(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN.split("  - id: demo.row\n    runtime: Nowhere")[0])
    proc = run_cli("specs", "lint", str(f), "specs/metrics")
    assert proc.returncode == 2
    assert re.search(r"broken\.yaml:11:\d+: surfaces/unknown-family: unknown family 'vllm.no_such_family'", proc.stdout), proc.stdout
    assert re.search(r"broken\.yaml:12:\d+: expr/syntax: jmespath does not compile", proc.stdout), proc.stdout


def test_invalid_yaml_is_located(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: inferguard.dev/v1\nkind: Surfaces\nrows: [\n  - a: b: c\n")
    proc = run_cli("specs", "lint", str(f))
    assert proc.returncode == 2
    assert re.search(r"bad\.yaml:\d+:\d+: spec/yaml: invalid YAML", proc.stdout), proc.stdout


def test_lint_missing_path_exit_2():
    proc = run_cli("specs", "lint", "no/such/dir")
    assert proc.returncode == 2
    assert "No such file" in proc.stderr


RULES = """\
apiVersion: inferguard.dev/v1
kind: DiagnosisRules
rules:
  - {id: lmcache/zero-hits-after-warmup, title: t, severity: error, basis: measured, inputs: [lmcache_metrics],
     values: {requested: 'metrics."lmcache_mp.lookup_requested_tokens".value'},
     when: "values.requested > thresholds.min_requested_tokens",
     thresholds: {min_requested_tokens: {value: 4096, type: integer, unit: tokens, description: d}},
     message: "looked up {requested}, more than {thresholds.min_requested_tokens} tokens", remediation: r,
     next_command: inferguard evaluate ., tests: [{name: a, expect: {fires: true}}, {name: b, expect: {fires: false}}]}
  - id: lmcache/zero-hits-after-warmup
    title: t
    severity: warning
    basis: measured
    inputs: [lmcache_metrics]
    when: "values.x > thresholds.undeclared"
    message: "uses {thresholds.also_missing}"
    remediation: r
    next_command: inferguard evaluate .
    tests: [{name: a, expect: {fires: true}}, {name: b, expect: {fires: false}}]
"""


def test_diagnosis_rules_unknown_thresholds_and_duplicates(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text(RULES)
    proc = run_cli("specs", "lint", str(f))
    assert proc.returncode == 2
    out = proc.stdout
    assert re.search(r"rules\.yaml:10:\d+: diagnosis/duplicate-id: duplicate rule id 'lmcache/zero-hits-after-warmup'", out), out
    assert re.search(r"rules\.yaml:15:\d+: diagnosis/unknown-threshold: rule .* uses unknown threshold 'undeclared'", out), out
    assert re.search(r"rules\.yaml:15:\d+: diagnosis/unknown-value: rule .* reads unknown value 'x'", out), out
    assert re.search(r"rules\.yaml:16:\d+: diagnosis/unknown-threshold: rule .* uses unknown threshold 'also_missing' in message", out), out
    # the first rule is clean: nothing reported on its lines
    assert not re.search(r"rules\.yaml:[4-9]:", out), out
