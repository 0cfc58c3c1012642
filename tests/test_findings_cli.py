"""Findings through the command line: every evaluating command reports its gaps, mode check,
health verdict and problems as findings of checks the specs declare, and `--fail-on SEVERITY`
decides exit 1 from them (the engine's decision), the same input passing or failing by
threshold alone."""
from __future__ import annotations

import json
import re
import shutil

import click
import pytest
from click.testing import CliRunner

from conftest import FIXTURES, H100, ROOT, run_cli, validate
from inferguard.engine.findings import SEVERITIES, report_findings, severity_rank
from inferguard.spec import default_specs, load_specs
from inferguard.spec.registry import registry_of

ZERO = FIXTURES / "sglang" / "all-zero-counters-0.5.23"
UNHEALTHY = FIXTURES / "lmcache" / "http-unhealthy-synthetic"


@pytest.fixture(scope="module")
def declared():
    """check id -> severity, as the bundled specs declare them."""
    return {c["id"]: c["severity"] for c in registry_of(default_specs())["checks"]}


def _json(proc) -> dict:
    return json.loads(proc.stdout)


def _assert_declared(report: dict, declared: dict[str, str]) -> None:
    assert report["findings"], "expected findings"
    for f in report["findings"]:
        assert f["check"] in declared, f
        assert f["severity"] == declared[f["check"]], f  # the severity is the spec's, never the code's
    ranks = [severity_rank(f["severity"]) for f in report["findings"]]
    assert ranks == sorted(ranks, reverse=True)  # worst first


# ------------------------------------------------------------------ one input, two thresholds


@pytest.mark.parametrize("args,fails_at,passes_at", [
    (("observability-coverage", "--engine-metrics-file", str(H100 / "engine.prom"),
      "--lmcache-metrics-file", str(H100 / "lmcache.prom")), "info", "warning"),
    (("observability-coverage", "--engine-metrics-file", str(ZERO / "engine.prom")), "warning", "error"),
    (("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "mp"), "info", "warning"),
    (("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "embedded"),
     "error", "critical"),
    (("evaluate", str(H100)), "info", "warning"),
    (("evaluate", str(UNHEALTHY)), "error", "critical"),
], ids=["coverage-h100", "coverage-zero", "compat-match", "compat-mismatch", "evaluate-h100", "evaluate-unhealthy"])
def test_fail_on_threshold_decides_the_exit_code(args, fails_at, passes_at, declared, report_validator):
    failed = run_cli(*args, "--fail-on", fails_at, "--format", "json")
    assert failed.returncode == 1, failed.stderr
    passed = run_cli(*args, "--fail-on", passes_at, "--format", "json")
    assert passed.returncode == 0, passed.stderr
    report = _json(failed)
    assert report == {**_json(passed), "tool": report["tool"]}  # the threshold changes the exit code, nothing else
    validate(report_validator, report)
    _assert_declared(report, declared)
    worst = report["findings"][0]["severity"]
    assert worst == fails_at  # exactly the threshold that fails is the worst finding here
    assert run_cli(*args).returncode == 0  # the default is never


def test_each_evaluating_command_offers_the_severities():
    for cmd in ("observability-coverage", "lmcache-compat", "evaluate"):
        out = run_cli(cmd, "--help").stdout
        assert re.search(r"--fail-on\s+\[never\|info\|warning\|error\|critical", out), (cmd, out)
    bad = run_cli("evaluate", str(H100), "--fail-on", "mode-mismatch")
    assert bad.returncode == 2 and "mode-mismatch" in bad.stderr  # the aliases are lmcache-compat's


# ------------------------------------------------------------------ the aliases of lmcache-compat


def test_aliases_select_checks_not_severities(tmp_path):
    """`missing-required` fails on an absent required family of a scrape that was read, which
    `mode-mismatch` does not; neither fails on the info findings `--fail-on info` fails on."""
    args = ("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "mp")
    assert run_cli(*args, "--fail-on", "info").returncode == 1
    assert run_cli(*args, "--fail-on", "mode-mismatch").returncode == 0
    assert run_cli(*args, "--fail-on", "missing-required").returncode == 0
    l2 = run_cli(*args, "--l2-configured", "--fail-on", "missing-required", "--format", "json")
    assert l2.returncode == 1
    assert {"coverage/missing-required"} <= {f["check"] for f in _json(l2)["findings"]}
    assert run_cli(*args, "--l2-configured", "--fail-on", "mode-mismatch").returncode == 0


def test_aliases_are_declared_as_check_selections(declared):
    reg = registry_of(default_specs())
    aliases = {a["id"]: a for a in reg["fail_on"]}
    assert set(aliases) == {"mode-mismatch", "missing-required"}
    for a in aliases.values():
        assert set(a["checks"]) <= set(declared)
        assert a["commands"] == ["lmcache-compat"]
    assert set(aliases["mode-mismatch"]["checks"]) < set(aliases["missing-required"]["checks"])


# ------------------------------------------------------------------ evidence pointers


def test_findings_point_at_the_evidence(tmp_path, declared):
    # a family gap names the family's metrics and the scrape it was looked for in
    proc = run_cli("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "mp",
                   "--l2-configured", "--format", "json")
    gap = next(f for f in _json(proc)["findings"] if f["check"] == "coverage/missing-required")
    assert gap["subject"] == "lmcache.mp_prometheus" and gap["next_command"].startswith("inferguard ")
    metrics = [e for e in gap["evidence"] if "metric" in e]
    assert len(metrics) > 3 and all(e["family"] == "lmcache_mp.l2" and e["status"] == "absent" for e in metrics)
    # a metric not seen: the names the spec knows it by, none of which is in the scrape
    scraped = (H100 / "lmcache.prom").read_text()
    assert all(e["looked_for"] and not any(re.search(rf"^{re.escape(n)}[{{ ]", scraped, re.M) for n in e["looked_for"])
               for e in metrics)
    assert {"family": "lmcache_mp.l2", "artifact": str(H100 / "lmcache.prom"), "looked_in": True} in gap["evidence"]
    # a zero family names the series it saw, with the scrape and line
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(ZERO / "engine.prom"), "--format", "json")
    zero = next(f for f in _json(proc)["findings"] if f["check"] == "coverage/zero")
    seen = [e for e in zero["evidence"] if "line" in e]
    assert seen and all(e["artifact"] == str(ZERO / "engine.prom") and e["names"] for e in seen)
    lines = (ZERO / "engine.prom").read_text().splitlines()
    for e in seen:
        assert lines[e["line"] - 1].startswith(e["names"][0]), e
    # a reader problem names the file and line
    bad = tmp_path / "engine.prom"
    text = (ZERO / "engine.prom").read_text().splitlines()
    bad.write_text("\n".join(text[:3] + ["this is not a sample line {"] + text[3:]) + "\n")
    proc = run_cli("observability-coverage", "--engine-metrics-file", str(bad), "--format", "json")
    prob = next(f for f in _json(proc)["findings"] if f["check"] == "reader/prometheus-problem")
    assert prob["severity"] == declared["reader/prometheus-problem"]
    assert prob["evidence"] == [{"artifact": str(bad), "line": 4}] and prob["subject"] == "prometheus"
    # no LMCache where some mode was expected: the scrape it was looked for in
    proc = run_cli("lmcache-compat", "--engine-metrics-file", str(ZERO / "engine.prom"), "--format", "json")
    mode = next(f for f in _json(proc)["findings"] if f["check"] == "mode/no-lmcache")
    assert mode["evidence"] == [{"detected": "none", "artifact": str(ZERO / "engine.prom"), "looked_in": True}]
    # the health verdict names the lane, the route and why
    proc = run_cli("evaluate", str(UNHEALTHY), "--format", "json")
    health = next(f for f in _json(proc)["findings"] if f["check"] == "lmcache/server-unhealthy")
    ev = health["evidence"][0]
    assert ev["lane"] == "lmcache_http" and ev["route"] == "mp.healthcheck" and ev["reasons"]


def test_an_incomplete_packet_is_a_finding(tmp_path, declared):
    packet = tmp_path / "packet"
    shutil.copytree(H100, packet)
    (packet / "packet_manifest.json").write_text(json.dumps({"state": "interrupted"}))
    proc = run_cli("evaluate", str(packet), "--format", "json", "--fail-on", "error")
    assert proc.returncode == 1
    found = [f for f in _json(proc)["findings"] if f["check"] == "packet/incomplete"]
    assert len(found) == 1 and found[0]["severity"] == declared["packet/incomplete"]
    assert found[0]["evidence"] == [{"artifact": str(packet / "packet_manifest.json")}]
    # the problem it comes from is one finding, not two
    assert not [f for f in _json(proc)["findings"] if f["check"] == "packet/problem"]


def test_text_and_markdown_list_the_findings():
    args = ("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--expect-mode", "embedded")
    text = run_cli(*args).stdout
    assert re.search(r"^Findings: \d+ \(\d+ error, \d+ info\)$", text, re.M), text
    assert re.search(r"^  error\s+mode/mismatch\s+mode_check: expected LMCache mode embedded, detected mp", text, re.M)
    md = run_cli(*args, "--format", "markdown").stdout
    assert "## Findings" in md and "| error | `mode/mismatch` | mode_check |" in md


# ------------------------------------------------------------------ severities live in the spec


def test_a_severity_changed_in_the_vocabulary_changes_the_findings(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    vocab = specs / "vocabulary.yaml"
    text = vocab.read_text()
    edited = text.replace("  - id: coverage/not-collected\n    severity: info\n",
                          "  - id: coverage/not-collected\n    severity: critical\n")
    assert edited != text
    vocab.write_text(edited)
    gap = {"row": "r", "item": "lane lmcache_otel", "status": "absent", "collected": False, "why": "not collected",
           "next_command": "inferguard evaluate ."}
    before = report_findings({"gaps": [gap]}, registry_of(default_specs())["checks"])
    after = report_findings({"gaps": [gap]}, registry_of(load_specs([specs]))["checks"])
    assert [(f.check, f.severity) for f in before] == [("coverage/not-collected", "info")]
    assert [(f.check, f.severity) for f in after] == [("coverage/not-collected", "critical")]


def test_no_severity_is_written_in_the_engine_or_the_flows():
    """Severities are data: the modules that build findings never spell one as a string."""
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(SEVERITIES))
    for rel in ("engine/findings.py", "engine/verdicts.py", "flow/coverage.py", "flow/packet.py"):
        text = (ROOT / "src" / "inferguard" / rel).read_text()
        body = text.split("SEVERITIES: tuple[str, ...] = ", 1)
        body = body[1].split("\n", 1)[1] if len(body) == 2 else text
        assert not pattern.findall(body), rel


def test_check_ids_named_in_code_are_declared(declared):
    """A problem may name its check (packet/incomplete); each such name is declared."""
    named = set()
    for path in (ROOT / "src" / "inferguard").rglob("*.py"):
        named |= set(re.findall(r'"check":\s*"([a-z0-9_]+/[a-z0-9_-]+)"', path.read_text()))
    assert named and named <= set(declared)


# ------------------------------------------------------------------ the shared option


def test_the_shared_option_serves_another_command():
    """diagnose-bottleneck and collect-metrics reuse one option: severities, plus the aliases
    the Vocabulary offers that command (none here), decided by the engine."""
    from inferguard.cli.options import fail_on_option
    from inferguard.cli.commands import fail_exit

    @click.command()
    @fail_on_option("diagnose-bottleneck")
    @click.option("--severity", default="warning")
    def cmd(fail_on: str, severity: str) -> None:
        fail_exit([{"check": "lmcache/zero-hits-after-warmup", "severity": severity}], fail_on)

    runner = CliRunner()
    assert runner.invoke(cmd, ["--fail-on", "warning"]).exit_code == 1
    assert runner.invoke(cmd, ["--fail-on", "error"]).exit_code == 0
    assert runner.invoke(cmd, []).exit_code == 0
    assert runner.invoke(cmd, ["--fail-on", "critical", "--severity", "critical"]).exit_code == 1
    assert runner.invoke(cmd, ["--fail-on", "missing-required"]).exit_code == 2  # an alias of lmcache-compat only


# ------------------------------------------------------------------ lint resolves the checks


def test_lint_resolves_every_check_reference(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    vocab = specs / "vocabulary.yaml"
    text = vocab.read_text()
    bad = text.replace("    checks: [mode/mismatch, mode/no-lmcache]\n", "    checks: [mode/mismatch, mode/no-lmcahce]\n", 1)
    bad = bad.replace("    match: {statuses: [registered_no_samples]}\n", "    match: {statuses: [present_zero]}\n", 1)
    bad = bad.replace("    match: {sources: [lmcache_otel]}\n", "    match: {sources: [otel]}\n", 1)
    bad = bad.replace("  - id: reader/argv-problem\n", "  - id: reader/prometheus-problem\n", 1)
    assert bad.count("\n") == text.count("\n") and bad != text
    vocab.write_text(bad)
    proc = run_cli("specs", "lint", str(specs))
    assert proc.returncode == 2, proc.stdout
    lines = bad.splitlines()

    def at(needle: str, nth: int = 0) -> int:
        return [i for i, s in enumerate(lines, 1) if needle in s][nth]

    out = proc.stdout
    assert re.search(rf"vocabulary\.yaml:{at('no-lmcahce')}:\d+: vocabulary/unknown-check: --fail-on mode-mismatch "
                     r"names check 'mode/no-lmcahce'", out), out
    assert re.search(r"vocabulary\.yaml:\d+:\d+: vocabulary/uncovered-finding: no check of `from: gap` matches "
                     r"status registered_no_samples, collected True", out), out
    assert re.search(rf"vocabulary\.yaml:{at('- id: lmcache_otel')}:\d+: vocabulary/uncovered-finding: lane "
                     r"'lmcache_otel': no check of `from: problem` names it", out), out
    assert re.search(rf"vocabulary\.yaml:{at('- id: reader/prometheus-problem', 1)}:\d+: vocabulary/duplicate-id: "
                     r"duplicate check 'reader/prometheus-problem'", out), out
    assert run_cli("specs", "lint").returncode == 0


# ------------------------------------------------------------------ the README tells the truth


def _readme_table() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    head = "| command | `--format` | `--output` | `--fail-on` | exit 1 when |"
    assert head in text
    rows = {}
    for line in text.split(head, 1)[1].splitlines()[2:]:
        if not line.startswith("| `"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_readme_table_of_flags_matches_every_command():
    from inferguard.cli.app import main

    def command(path: str) -> click.Command:
        cmd = main
        for part in path.split():
            cmd = cmd.commands[part]
        return cmd

    def leaves(group: click.Group, prefix: str = "") -> set[str]:
        out = set()
        for name, cmd in group.commands.items():
            out |= leaves(cmd, f"{prefix}{name} ") if isinstance(cmd, click.Group) else {f"{prefix}{name}"}
        return out

    rows = _readme_table()
    assert set(rows) == leaves(main)  # every command is in the table, and nothing else
    for path, (fmt, output, fail_on, _exit1) in rows.items():
        params = {p.opts[0]: p for p in command(path).params if p.opts}
        if fmt == "none":
            assert "--format" not in params, path
        else:
            assert list(params["--format"].type.choices) == re.findall(r"`(\w+)`", fmt), path
        assert ("--output" in params) == (not output.startswith("none")), path
        if fail_on.startswith("none"):
            assert "--fail-on" not in params, path
        else:
            choices = list(params["--fail-on"].type.choices)
            assert choices[:5] == ["never", *SEVERITIES], path
            aliases = re.findall(r"`([a-z-]+)`", fail_on.split("aliases", 1)[1]) if "aliases" in fail_on else []
            assert choices[5:] == aliases, path
