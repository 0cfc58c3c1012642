"""`inferguard disagg status`: one look at a prefill/decode disaggregated deployment.

Click and the standard library only at import time (`inferguard --help` stays light)."""
from __future__ import annotations

import sys

import click

from inferguard.cli.errors import handle_errors
from inferguard.cli.types import SizeType

EPILOG_STATUS = """\b
Exit codes of this command (they differ from the tool-wide 1 = --fail-on):
  0  no finding at or above warning
  1  a warning or an error (transfer failures, a stalled transfer, an imbalance, ...)
  2  a critical finding: a role unreachable (refused, timed out, HTTP error) or unreadable;
     also a usage or input error (an invalid URL or flag), with a one-line reason
  3  internal error (a defect of InferGuard)

\b
Examples:
  inferguard disagg status --prefill http://10.0.0.1:8100/metrics --decode http://10.0.0.2:8200/metrics
  inferguard disagg status --prefill http://p:30000/metrics --decode http://d:30001/metrics \\
      --engine sglang --duration-seconds 15 --format json --output disagg.json
  inferguard disagg status --prefill URL --decode URL --duration-seconds 5 \\
      --threshold stall_min_window_seconds=5
"""


@click.group("disagg")
def disagg_group() -> None:
    """Prefill/decode disaggregated deployments (vLLM KV connectors, SGLang PD)."""


@disagg_group.command("status", epilog=EPILOG_STATUS)
@click.option("--prefill", "prefill_url", required=True, metavar="URL", help="The prefill instance's /metrics URL.")
@click.option("--decode", "decode_url", required=True, metavar="URL", help="The decode instance's /metrics URL.")
@click.option("--transfer", "transfer_url", metavar="URL",
              help="Optional: the /metrics URL of a KV transfer or cache component between them.")
@click.option("--engine", type=click.Choice(["auto", "vllm", "sglang"]), default="auto", show_default=True,
              help="The engine of the roles; auto detects it per role from its metrics.")
@click.option("--timeout-seconds", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Deadline of each round of scrapes (connect, headers, body and retries of every role).")
@click.option("--duration-seconds", type=click.FloatRange(0, 600), default=0.0, show_default=True,
              help="Watch a window: scrape at the start and at the end (and every --interval-seconds); "
                   "0 scrapes once, which shows totals since start but not whether KV is moving.")
@click.option("--interval-seconds", type=click.FloatRange(0.1, 600), default=None,
              help="Scrape every this many seconds during --duration-seconds (default: only at both ends).")
@click.option("--max-scrape-bytes", type=SizeType(), default="256M", show_default=True,
              help="Largest scrape read per role (e.g. 64M); a larger one is read up to this and reported as cut.")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a threshold of specs/disagg.yaml (repeatable), e.g. stall_min_window_seconds=5.")
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the report JSON here (`-`: standard output).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print the report.")
@handle_errors
def disagg_status_cmd(prefill_url: str, decode_url: str, transfer_url: str | None, engine: str,
                      timeout_seconds: float, duration_seconds: float, interval_seconds: float | None,
                      max_scrape_bytes: int, thresholds: tuple[str, ...], output: str | None, fmt: str) -> None:
    """Scrape the prefill and decode roles (and a transfer role) concurrently and show, per role,
    the engine and version, KV connector, running and waiting requests, KV cache usage, TTFT and
    inter-token latency, KV transferred and transfer failures; with findings for a role that is
    down, transfer failures, a stalled transfer (requests in flight, no KV moving: judged only
    over a window), a prefill/decode imbalance and a URL whose server says it plays the other
    part. Metric names, thresholds and severities come
    from specs/ (disagg.yaml and the MetricFamilies specs)."""
    from inferguard.cli.commands import emit
    from inferguard.collect.urls import check_url
    from inferguard.core.problems import InputError
    from inferguard.flow.disagg import DisaggInputs, disagg_status
    from inferguard.render.disagg import disagg_text
    from inferguard.spec import default_specs

    urls = {"prefill": prefill_url, "decode": decode_url}
    if transfer_url:
        urls["transfer"] = transfer_url
    for role, url in urls.items():
        check_url(url, f"--{role}")
    if len(set(urls.values())) < len(urls):
        raise InputError("two roles name the same URL; give each role its own server's /metrics")
    if interval_seconds is not None and duration_seconds == 0:
        raise InputError("--interval-seconds needs --duration-seconds")
    if interval_seconds is not None and duration_seconds / interval_seconds > 120:
        raise InputError("--duration-seconds / --interval-seconds is more than 120 scrapes per role; "
                         "take a longer interval")
    spec = default_specs()
    report = disagg_status(DisaggInputs(urls=urls, engine=engine, timeout_seconds=timeout_seconds,
                                        duration_seconds=duration_seconds, interval_seconds=interval_seconds,
                                        max_scrape_bytes=max_scrape_bytes, threshold_overrides=list(thresholds)),
                           spec)
    from inferguard.spec.loader import schema_validator

    validator = schema_validator("report.disagg_status.v1.schema.json")
    errors = sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        from inferguard.core.problems import InternalError

        where = "/".join(map(str, errors[0].absolute_path)) or "(top)"
        raise InternalError(f"the report does not match its schema at {where}: {errors[0].message[:200]}")
    emit(report, fmt, output, lambda: disagg_text(report), lambda: disagg_text(report))
    sys.exit(report["exit_code"])
