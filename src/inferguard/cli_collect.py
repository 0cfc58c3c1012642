"""The `collect-lmcache` command: build an LMCache evidence packet directory.

Only click and the standard library are imported at module level; the pipeline, the
readers and jsonschema load when the command runs.
"""
from __future__ import annotations

import json
import os
import sys

import click

from inferguard.cli_types import SizeType

HTTP_FILE_FLAGS = (
    "health", "status", "conf", "config", "version", "lmc-version", "commit-id",
    "threads", "periodic-threads", "periodic-threads-health", "quota",
)

EPILOG = """\b
Examples:
  # live: a running LMCache MP server (only safe GET routes are called)
  inferguard collect-lmcache --output-dir packet \\
      --lmcache-http-base-url http://127.0.0.1:8080 \\
      --engine-metrics-url http://127.0.0.1:8000/metrics \\
      --lmcache-log-file lmcache_server.log --expect-mode mp

\b
  # offline: saved bodies and files (a saved body wins over the live URL)
  inferguard collect-lmcache --output-dir packet \\
      --lmcache-metrics-file lmcache.prom \\
      --lmcache-health-file GET_healthcheck.body --lmcache-status-file GET_status.body \\
      --lmcache-version-file GET_version.body --lmcache-trace-file storage_trace.lct

\b
Destructive routes (cache clear, DELETE routes, /metrics/reset, /run_script,
reconfigure operations, quota PUT, prefetch and checksum POSTs) are never called;
they are listed in packet_manifest.json as destructive_skipped. /env and /loglevel
are called only with --include-sensitive, and their bodies are redacted.
Exit codes: 0 packet written, 2 usage or input error (one line on stderr).
"""


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"inferguard: error: {message}", err=True)
    sys.exit(code)


def _file_option(flag: str):
    return click.option(
        f"--lmcache-{flag}-file", f"lmcache_{flag.replace('-', '_')}_file", metavar="FILE",
        default=None,
        help=f"Saved body of the {flag} route (wins over --lmcache-http-base-url).",
    )


def _with_file_options(fn):
    for flag in reversed(HTTP_FILE_FLAGS):
        fn = _file_option(flag)(fn)
    return fn


def _render_text(out_dir: str, s: dict) -> str:
    lanes = ", ".join(f"{k.replace('lmcache_', '')}={v}" for k, v in s["lanes"].items())
    reasons = s["endpoints_by_reason"]
    skipped = {k: v for k, v in reasons.items() if k not in ("safe", "sensitive_opt_in")}
    skipped_txt = ", ".join(f"{k} {v}" for k, v in skipped.items()) or "none"
    lines = [
        f"packet: {out_dir} ({s['state']}, {s['artifacts']} artifacts)",
        f"lanes: {lanes or 'none'}",
        f"endpoints: {s['endpoints_called']} called ({s['endpoints_errors']} with errors); skipped: {skipped_txt}",
        f"health: {s['health']}" + (f"; lmcache version: {s['lmcache_version']}" if s.get("lmcache_version") else "")
        + (" (inferred from routes)" if s.get("lmcache_version_source") == "routes" else ""),
        f"problems: {s['problems']}",
    ]
    return "\n".join(lines)


@click.command("collect-lmcache", epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option("--output-dir", metavar="DIR", required=True, help="Packet directory to write.")
@click.option("--engine-metrics-file", metavar="FILE", help="Engine Prometheus scrape (saved).")
@click.option("--engine-metrics-url", metavar="URL", help="Engine /metrics URL to scrape.")
@click.option("--lmcache-metrics-file", metavar="FILE", help="LMCache Prometheus scrape (saved).")
@click.option("--lmcache-metrics-url", metavar="URL", help="LMCache /metrics URL to scrape.")
@click.option("--lmcache-http-base-url", metavar="URL", help="Base URL of the LMCache HTTP API, e.g. http://127.0.0.1:8080.")
@_with_file_options
@click.option("--engine-log-file", metavar="FILE", help="Engine (vLLM/SGLang) log.")
@click.option("--lmcache-log-file", metavar="FILE", help="LMCache server log.")
@click.option("--lmcache-otel-file", metavar="FILE", help="OTel spans (OTLP JSON or span-per-line JSONL).")
@click.option("--lmcache-trace-file", metavar="FILE", help="LMCache .lct trace recording.")
@click.option("--lmcache-trace-replay-output", metavar="PATH", help="`lmcache trace replay` output file or directory.")
@click.option("--lmcache-lookup-hash-path", metavar="PATH", help="Lookup-hash JSONL file or directory.")
@click.option("--lmcache-cacheblend-boundary-evidence-file", metavar="FILE", help="CacheBlend boundary JSONL.")
@click.option("--expect-mode", type=click.Choice(["auto", "mp", "embedded"]), default="auto", show_default=True,
              help="Which LMCache HTTP server the base URL points at.")
@click.option("--l2-configured", is_flag=True, help="The deployment has an L2 tier configured.")
@click.option("--timeout-seconds", type=float, default=5.0, show_default=True,
              help="Deadline for each request: connect, headers and the whole body, retries included.")
@click.option("--budget-seconds", type=float, default=60.0, show_default=True,
              help="Time budget for all network collection of the run; requests it leaves no time for are not "
                   "sent and are recorded as errors.")
@click.option("--max-scrape-bytes", type=SizeType(), default="1G", show_default=True,
              help="Largest /metrics scrape kept (e.g. 512M, 2G); a larger one is kept up to this and reported as cut.")
@click.option("--include-sensitive", is_flag=True, help="Also call /env and /loglevel (bodies redacted).")
@click.option("--keep-raw", is_flag=True, help="Copy raw sources (logs, traces, lookup hashes) into raw/.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def collect_lmcache(**kw) -> None:
    """Collect LMCache evidence (metrics, HTTP API, logs, OTel, traces) into a packet directory."""
    from inferguard.problems import InputError

    try:
        from inferguard.collect.lmcache import CollectOptions, collect_lmcache as run, summarize

        http_files = {}
        for flag in HTTP_FILE_FLAGS:
            v = kw.pop(f"lmcache_{flag.replace('-', '_')}_file")
            if v:
                http_files[flag] = v
        fmt = kw.pop("fmt")
        opts = CollectOptions(http_files=http_files, **kw)
        manifest = run(opts)
    except InputError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail(f"interrupted; partial packet in {kw.get('output_dir')} (state: interrupted)", 130)
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        if os.environ.get("INFERGUARD_DEBUG"):
            raise
        msg = str(exc).strip().splitlines()
        _fail(f"internal error: {type(exc).__name__}: {msg[0] if msg else ''} "
              f"(partial packet in {kw.get('output_dir')}; set INFERGUARD_DEBUG=1 for a traceback)")
    s = summarize(manifest)
    s["output_dir"] = str(opts.output_dir)
    if fmt == "json":
        click.echo(json.dumps(s, indent=2, ensure_ascii=False))
    else:
        click.echo(_render_text(str(opts.output_dir), s))
