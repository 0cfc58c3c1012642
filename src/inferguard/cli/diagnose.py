"""The `diagnose-bottleneck` command: the DiagnosisRules spec applied to a job directory.

Only click, the standard library and the command line's shared options are imported at
module level; the pipeline loads when the command runs.
"""
from __future__ import annotations

import json

import click

from inferguard.cli.options import fail_on_option
from inferguard.cli.commands import fail_exit
from inferguard.cli.errors import handle_errors

EPILOG = """\b
Examples:
  inferguard diagnose-bottleneck --job-dir fixtures/packets/vllm-lmcache-mp-h100 --output-dir out
  inferguard diagnose-bottleneck --job-dir packet --output-dir out --fail-on error
  inferguard diagnose-bottleneck --job-dir packet --output-dir out --rule-config thresholds.yaml

\b
A rule config overrides thresholds by rule id and name (see docs/diagnosis-rules.md):
  thresholds:
    lmcache/hit-rate-below-floor: {hit_rate_floor: 0.5}
"""


@click.command("diagnose-bottleneck", epilog=EPILOG)
@click.option("--job-dir", required=True, type=click.Path(file_okay=False),
              help="A packet (collect-lmcache, or files named as `evaluate` recognises them) or a collect-metrics "
                   "output. Every input in it is optional; missing ones are listed and lower confidence.")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False),
              help="Where bottleneck_diagnosis.json and bottleneck_diagnosis.md are written (created if needed).")
@click.option("--rule-config", type=click.Path(dir_okay=False),
              help="YAML overriding rule thresholds: {thresholds: {RULE_ID: {NAME: VALUE}}}. An unknown rule or "
                   "threshold, or a value of the wrong type, is an error (exit 2).")
@fail_on_option("diagnose-bottleneck")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="What to print (the files are written either way).")
@handle_errors
def diagnose_bottleneck(job_dir: str, output_dir: str, rule_config: str | None, fail_on: str, fmt: str) -> None:
    """Diagnose the bottleneck of a deployment from whatever evidence a job directory holds.

    Every rule of the DiagnosisRules spec (specs/diagnosis/*.yaml) is evaluated over the
    evidence: each finding carries its rule id, severity, confidence, the message with the
    measured values and the thresholds in force, evidence pointers (artifact, metric and
    series, log lines, HTTP bodies), remediation and the next command. The verdict is the
    first finding by the documented priority (measured before evidence gaps, then severity,
    then rule order).
    """
    from pathlib import Path

    from inferguard.core.problems import InputError
    from inferguard.engine.diagnosis import OverrideError
    from inferguard.flow.diagnosis import REPORT_JSON, REPORT_MD, diagnose_job, override_line, read_rule_config
    from inferguard.packet import write_text_atomic
    from inferguard.render.diagnosis import diagnosis_markdown, diagnosis_text
    from inferguard.spec import default_specs

    spec = default_specs()
    config = read_rule_config(rule_config) if rule_config else None
    try:
        report = diagnose_job(job_dir, spec, config)
    except OverrideError as exc:
        raise InputError(str(exc), rule_config, override_line(config, exc.where)) from None
    from inferguard.core.problems import InternalError
    from inferguard.spec.loader import schema_validator

    errors = list(schema_validator("report.diagnosis.v1.schema.json").iter_errors(report))
    if errors:  # the report is ours: a report that breaks its schema is our defect
        where = "/".join(map(str, errors[0].absolute_path)) or "(top)"
        raise InternalError(f"bottleneck_diagnosis.json breaks its schema at {where}: {errors[0].message[:200]}")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError("not a directory", output_dir)
    out.mkdir(parents=True, exist_ok=True)
    body = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    md = diagnosis_markdown(report) + "\n"
    written = [str(write_text_atomic(out / REPORT_JSON, body)), str(write_text_atomic(out / REPORT_MD, md))]
    if fmt == "json":
        click.echo(body, nl=False)
    elif fmt == "markdown":
        click.echo(md, nl=False)
    else:
        click.echo(diagnosis_text(report, written))
    fail_exit(report["findings"], fail_on)
