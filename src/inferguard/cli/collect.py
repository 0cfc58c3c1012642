"""The `collect-lmcache` command: build an LMCache evidence packet directory.

Only click and the standard library are imported at module level; the pipeline, the
readers and jsonschema load when the command runs.
"""
from __future__ import annotations

import json

import click

from inferguard.cli.types import SizeType


def _registry() -> dict:
    """The compiled vocabulary (JSON): lanes with their file flags, the HTTP body flags."""
    from inferguard.spec.registry import bundled

    return bundled()

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
Exit codes: 0 packet written (state complete), 2 usage or input error (one
line on stderr), 3 internal error (a lane could not run: the packet is left
with state failed and names the lane and the reason).
"""


def _file_option(flag: str):
    return click.option(
        f"--lmcache-{flag}-file", f"lmcache_{flag.replace('-', '_')}_file", metavar="FILE",
        default=None,
        help=f"Saved body of the {flag} route (wins over --lmcache-http-base-url).",
    )


def _with_file_options(fn):
    for flag in reversed(_registry()["http_body_flags"]):
        fn = _file_option(flag)(fn)
    return fn


def _with_lane_inputs(fn):
    """One option per file input of each lane (specs/vocabulary.yaml, collect_inputs)."""
    from inferguard.spec.registry import flag_dest

    inputs = [ci for lane in _registry()["lanes"] for ci in lane["collect_inputs"]]
    for ci in reversed(inputs):
        fn = click.option(ci["flag"], flag_dest(ci["flag"]), metavar="PATH" if ci["directory"] else "FILE",
                          default=None, help=ci["help"])(fn)
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
@_with_lane_inputs
@click.option("--expect-mode", type=click.Choice(["auto", "mp", "embedded"]), default="auto", show_default=True,
              help="Which LMCache HTTP server the base URL points at.")
@click.option("--l2-configured", is_flag=True, help="The deployment has an L2 tier configured.")
@click.option("--cacheblend-configured", is_flag=True, help="LMCache CacheBlend is configured (recorded for evaluate).")
@click.option("--timeout-seconds", type=float, default=5.0, show_default=True,
              help="Deadline for each request: connect, headers and the whole body, retries included.")
@click.option("--budget-seconds", type=float, default=60.0, show_default=True,
              help="Time budget for all network collection of the run; requests it leaves no time for are not "
                   "sent and are recorded as errors.")
@click.option("--max-scrape-bytes", type=SizeType(), default="1G", show_default=True,
              help="Largest /metrics scrape kept (e.g. 512M, 2G); a larger one is kept up to this and reported as cut.")
@click.option("--include-sensitive", is_flag=True, help="Also call /env and /loglevel (bodies redacted).")
@click.option("--keep-raw", is_flag=True, help="Copy raw sources (logs, traces, lookup hashes) into raw/.")
@click.option("--force", is_flag=True,
              help="Collect into an existing folder that holds files this tool did not write (they are kept).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def collect_lmcache(**kw) -> None:
    """Collect LMCache evidence (metrics, HTTP API, logs, OTel, traces) into a packet directory."""
    from inferguard.cli.errors import fail, internal_failure
    from inferguard.core.problems import EXIT_INTERRUPTED, InputError

    try:
        from inferguard.collect.lmcache import CollectOptions, collect_lmcache as run, summarize

        from inferguard.spec.registry import flag_dest

        http_files = {}
        for flag in _registry()["http_body_flags"]:
            v = kw.pop(f"lmcache_{flag.replace('-', '_')}_file")
            if v:
                http_files[flag] = v
        files = {}
        for ci in (ci for lane in _registry()["lanes"] for ci in lane["collect_inputs"]):
            v = kw.pop(flag_dest(ci["flag"]))
            if v:
                files[flag_dest(ci["flag"])] = v
        fmt = kw.pop("fmt")
        opts = CollectOptions(http_files=http_files, files=files, **kw)
        manifest = run(opts)
    except InputError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; partial packet in {kw.get('output_dir')} (state: interrupted)", EXIT_INTERRUPTED)
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except Exception as exc:  # noqa: BLE001 - a defect of ours: one line, exit 3
        internal_failure(exc)
    s = summarize(manifest)
    s["output_dir"] = str(opts.output_dir)
    if fmt == "json":
        click.echo(json.dumps(s, indent=2, ensure_ascii=False))
    else:
        click.echo(_render_text(str(opts.output_dir), s))
