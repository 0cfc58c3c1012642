"""The `collect-metrics` command: follow a running engine (and LMCache) over a window.

Only click and the standard library are imported at module level; the collector, the
readers and the specs load when the command runs.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from inferguard.cli.options import fail_on_option
from inferguard.cli.commands import fail_exit
from inferguard.cli.errors import handle_errors
from inferguard.cli.types import SizeType

EPILOG = """\b
Examples:
  # live: scrape vLLM and LMCache every 2 s for 5 minutes
  inferguard collect-metrics --output-dir window/ --engine vllm \\
      --engine-metrics-url http://127.0.0.1:8000/metrics \\
      --lmcache-metrics-url http://127.0.0.1:8080/metrics \\
      --duration-seconds 300 --interval-seconds 2 --label run=baseline

\b
  # offline: saved scrapes, timestamps from the file names (or the order given,
  # spaced by --interval-seconds)
  inferguard collect-metrics --output-dir window/ --engine vllm \\
      --engine-metrics-file scrapes/vllm-2026-12-03T12:00:00Z.prom \\
      --engine-metrics-file scrapes/vllm-2026-12-03T12:00:10Z.prom
  inferguard collect-metrics --output-dir window/ --engine sglang --engine-metrics-file scrapes/

\b
  # judge the window
  inferguard evaluate window/
  inferguard observability-coverage --collect-metrics-dir window/

\b
File names of saved scrapes may carry an ISO 8601 UTC time (2026-12-03T12:22:09Z,
2026-12-03T12-22-09.5Z, 20261203T122209Z, with an optional +hh:mm offset) or Unix time
(10 digits: seconds, optionally with a fraction; 13 digits: milliseconds). A folder's files
must all carry one; files given one by one without timestamps are taken in the order given.
"""


def _runtimes() -> dict[str, str]:
    """runtime id -> kind (engine | kv_cache), from the compiled Vocabulary (JSON, no YAML)."""
    from inferguard.spec.registry import bundled

    return {r["id"]: r["kind"] for r in bundled()["runtimes"]}


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        key, eq, val = v.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"{v!r} is not key=value", param_hint="--label")
        out[key.strip()] = val
    return out


@click.command("collect-metrics", epilog=EPILOG)
@click.option("--output-dir", required=True, type=click.Path(file_okay=False),
              help="Folder for engine_metrics_timeline.jsonl, metrics_summary.json (and raw_samples.jsonl).")
@click.option("--engine", required=True, type=click.Choice(list(_runtimes())),
              help="What serves --engine-metrics-url/-file (lmcache: an LMCache server's own /metrics).")
@click.option("--engine-metrics-url", help="The engine's /metrics, scraped live.")
@click.option("--lmcache-metrics-url", help="LMCache's /metrics, scraped live beside the engine.")
@click.option("--engine-metrics-file", multiple=True, type=click.Path(),
              help="Offline: a saved scrape (repeat, in time order) or one folder of timestamped scrapes.")
@click.option("--lmcache-metrics-file", multiple=True, type=click.Path(),
              help="Offline: saved LMCache scrapes (repeat, in time order) or one folder of them.")
@click.option("--duration-seconds", type=click.FloatRange(0, 7 * 24 * 3600), default=60.0, show_default=True,
              help="How long to collect (live); ticks at 0, S, 2S ... up to this.")
@click.option("--interval-seconds", type=click.FloatRange(0.05, 3600), default=5.0, show_default=True,
              help="Time between ticks (live), or between saved scrapes without timestamps (offline).")
@click.option("--timeout-seconds", type=click.FloatRange(0.05, 600), default=5.0, show_default=True,
              help="Deadline of each scrape (connect, headers, body); a later answer is a timeout for that tick.")
@click.option("--max-scrape-bytes", type=SizeType(), default="64M", show_default=True,
              help="Largest scrape read per target and tick; a larger one is read up to this and reported as cut.")
@click.option("--keep-raw-samples", is_flag=True, help="Also write raw_samples.jsonl: every series of every tick.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Recorded in every timeline row and the summary (repeatable), e.g. --label run=baseline.")
@fail_on_option("collect-metrics")
@click.option("--force", is_flag=True, help="Replace the outputs of an earlier run in --output-dir.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print the summary.")
@handle_errors
def collect_metrics(**kw: Any) -> None:
    """Scrape an engine (and LMCache) on a fixed schedule and summarize the window: rates,
    hit rates, gauge ranges and latency quantiles, with every failed scrape listed.

    Writes engine_metrics_timeline.jsonl (one row per tick, target and metric group),
    metrics_summary.json (the window per metric and the hit rates, each naming the metrics
    it came from) and, with --keep-raw-samples, raw_samples.jsonl. Ctrl-C stops early and
    keeps everything collected. A failed scrape is recorded for its tick and listed; it
    does not stop the run (exit 1 only with --fail-on).
    """
    from inferguard.collect.metrics import RunOptions, TargetSpec, offline_files, run_live, run_offline
    from inferguard.collect.urls import check_url
    from inferguard.core.problems import InputError
    from inferguard.spec import default_specs

    engine = kw["engine"]
    kv_cache = _runtimes()[engine] == "kv_cache"   # an LMCache server's own /metrics
    urls = {"engine": kw["engine_metrics_url"], "lmcache": kw["lmcache_metrics_url"]}
    files = {"engine": list(kw["engine_metrics_file"]), "lmcache": list(kw["lmcache_metrics_file"])}
    live = any(urls.values())
    offline = any(files.values())
    if live and offline:
        raise InputError("give live URLs or saved files, not both")
    if not live and not offline:
        raise InputError("give --engine-metrics-url (live) or --engine-metrics-file (offline)")
    if kv_cache and (urls["lmcache"] or files["lmcache"]):
        raise InputError(f"--engine {engine}: that server is --engine-metrics-url/-file; drop the --lmcache-metrics-* option")
    labels = _labels(kw["labels"])
    context = {"expected_engine": "auto" if kv_cache else engine}
    targets = []
    for who in ("engine", "lmcache"):
        role = "lmcache_metrics" if who == "lmcache" or kv_cache else "engine_metrics"
        name = "lmcache" if role == "lmcache_metrics" else "engine"
        if urls[who]:
            check_url(urls[who], f"--{who}-metrics-url")
            targets.append(TargetSpec(name, role, url=urls[who]))
        elif files[who]:
            targets.append(TargetSpec(name, role, files=offline_files(files[who], f"--{who}-metrics-file")))
    opts = RunOptions(output_dir=kw["output_dir"], duration_seconds=kw["duration_seconds"],
                      interval_seconds=kw["interval_seconds"], timeout_seconds=kw["timeout_seconds"],
                      keep_raw_samples=kw["keep_raw_samples"], labels=labels, context=context,
                      max_scrape_bytes=kw["max_scrape_bytes"], force=kw["force"])
    spec = default_specs()
    bar = None
    if sys.stderr.isatty() and kw["fmt"] != "json":
        planned = (max(len(t.files) for t in targets) if offline
                   else int(kw["duration_seconds"] / kw["interval_seconds"] + 1e-9) + 1)
        bar = click.progressbar(length=planned, label="collecting", file=sys.stderr, show_eta=True)
        bar.__enter__()

    def on_tick(done: int, total: int) -> None:
        if bar is not None:
            bar.update(1)

    try:
        summary = run_offline(targets, opts, spec, on_tick) if offline else run_live(targets, opts, spec, on_tick)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    written = summary.pop("_written", [])
    if kw["fmt"] == "json":
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        from inferguard.render.text import window_text

        click.echo(window_text(summary, written))
    fail_exit(summary.get("findings", []), kw["fail_on"])
