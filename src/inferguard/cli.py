"""The `inferguard` command line. Thin: parse options, call one pipeline function, render.

Heavy modules (jsonschema, prometheus_client, msgpack, jmespath) are imported inside the
commands that need them, so `inferguard --help` stays fast.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any, Callable

import click

from inferguard.cli_types import SizeType

EPILOG_COVERAGE = """\b
Examples:
  inferguard observability-coverage --engine-metrics-file vllm.prom \\
      --lmcache-metrics-file lmcache.prom --output observability_coverage.json
  inferguard observability-coverage --engine-metrics-url http://127.0.0.1:8000/metrics \\
      --expected-engine vllm --cpu-offload-configured --format json
"""

EPILOG_COMPAT = """\b
Examples:
  inferguard lmcache-compat --lmcache-metrics-file lmcache.prom --expect-mode mp
  inferguard lmcache-compat --lmcache-metrics-url http://127.0.0.1:8080/metrics \\
      --expect-mode mp --l2-configured --fail-on missing-required
"""

LANE_FLAGS = {
    "lmcache_http": "lmcache_http_evidence_file",
    "lmcache_log": "lmcache_log_evidence_file",
    "lmcache_otel": "lmcache_otel_evidence_file",
    "lmcache_trace": "lmcache_trace_evidence_file",
    "lmcache_trace_replay": "lmcache_trace_replay_evidence_file",
    "lmcache_lookup_hash": "lmcache_lookup_hash_evidence_file",
}


def fail(message: str) -> None:
    click.echo(f"inferguard: error: {message}", err=True)
    sys.exit(2)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Input and spec errors become one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from inferguard.problems import InputError

        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("inferguard: interrupted", err=True)
            sys.exit(130)
        except InputError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        except Exception as exc:  # spec errors and anything else: one line, exit 2
            from inferguard.spec.loader import SpecError

            if isinstance(exc, SpecError):
                fail(f"invalid spec: {exc}")
            if os.environ.get("INFERGUARD_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set INFERGUARD_DEBUG=1 for a traceback)")

    return wrapper


class OneLineErrors(click.Group):
    """Usage errors as one line (`inferguard: error: ...`) with exit code 2, not click's block."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as click shows it
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "inferguard"
            click.echo(f"inferguard: error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"inferguard: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("inferguard: interrupted", err=True)
            sys.exit(130)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def emit(report: dict[str, Any], fmt: str, output: str | None, text: Callable[[], str], markdown: Callable[[], str]) -> None:
    if output:
        from inferguard.packet import write_json_atomic

        write_json_atomic(output, report)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(markdown())
    else:
        click.echo(text())
        if output:
            click.echo(f"Wrote {output}")


def lane_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for lane, dest in reversed(list(LANE_FLAGS.items())):
        flag = "--" + dest.replace("_", "-")
        fn = click.option(
            flag, dest, multiple=True, type=click.Path(dir_okay=False),
            help=f"{lane} evidence: a LaneEvidence JSON from collect-lmcache, or the raw artifact (repeatable).",
        )(fn)
    return fn


def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                        show_default=True, help="How to print the report.")(fn)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="inferguard", prog_name="inferguard")
def main() -> None:
    """InferGuard: which observability evidence an LLM serving stack really exposes.

    \b
    Start with:
      inferguard evaluate fixtures/packets/vllm-lmcache-mp-h100
      inferguard observability-coverage --engine-metrics-file vllm.prom --lmcache-metrics-file lmcache.prom
    """


def _inputs(kw: dict[str, Any], context: dict[str, Any]):
    from inferguard.pipeline import Inputs

    lanes = {lane: list(kw.get(dest) or ()) for lane, dest in LANE_FLAGS.items() if kw.get(dest)}
    argv = {}
    if kw.get("engine_argv_file"):
        argv["engine"] = kw["engine_argv_file"]
    if kw.get("lmcache_argv_file"):
        argv["lmcache"] = kw["lmcache_argv_file"]
    from inferguard.problems import InputError

    if not any([kw.get("engine_metrics_file"), kw.get("engine_metrics_url"), kw.get("lmcache_metrics_file"),
                kw.get("lmcache_metrics_url"), lanes]):
        raise InputError("give at least one metrics file or URL, or an evidence file (see --help)")
    for who in ("engine", "lmcache"):
        if kw.get(f"{who}_metrics_file") and kw.get(f"{who}_metrics_url"):
            raise InputError(f"give --{who}-metrics-file or --{who}-metrics-url, not both")
    for who in ("engine", "lmcache"):
        url = kw.get(f"{who}_metrics_url")
        if url:
            from inferguard.collect.urls import check_url

            check_url(url, f"--{who}-metrics-url")
    return Inputs(
        engine_metrics_file=kw.get("engine_metrics_file"),
        engine_metrics_url=kw.get("engine_metrics_url"),
        lmcache_metrics_file=kw.get("lmcache_metrics_file"),
        lmcache_metrics_url=kw.get("lmcache_metrics_url"),
        timeout_seconds=kw.get("timeout_seconds") or 5.0,
        max_scrape_bytes=kw.get("max_scrape_bytes"),
        lane_files=lanes,
        argv_files=argv,
        context=context,
    )


def scrape_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--engine-metrics-file", type=click.Path(dir_okay=False), help="vLLM or SGLang /metrics saved to a file."),
        click.option("--engine-metrics-url", help="Scrape the engine's /metrics live."),
        click.option("--lmcache-metrics-file", type=click.Path(dir_okay=False), help="LMCache /metrics saved to a file."),
        click.option("--lmcache-metrics-url", help="Scrape LMCache's /metrics live."),
        click.option("--timeout-seconds", type=click.FloatRange(0.1, 600), default=5.0, show_default=True,
                     help="Deadline for each live scrape: connect, headers and the whole body, retries included."),
        click.option("--max-scrape-bytes", type=SizeType(), default="1G", show_default=True,
                     help="Largest live scrape read (e.g. 512M, 2G); a larger one is read up to this and reported as cut."),
        click.option("--engine-argv-file", type=click.Path(dir_okay=False), help="The engine's argv as a JSON list (e.g. vllm_command.json)."),
        click.option("--lmcache-argv-file", type=click.Path(dir_okay=False), help="The LMCache server's argv as a JSON list."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@main.command("observability-coverage", epilog=EPILOG_COVERAGE)
@scrape_options
@click.option("--expected-engine", type=click.Choice(["auto", "vllm", "sglang"]), default="auto", show_default=True,
              help="auto: only detected engines' families apply.")
@click.option("--expect-lmcache-mode", type=click.Choice(["auto", "mp", "embedded"]), default="auto", show_default=True)
@click.option("--external-cache-configured", is_flag=True, help="An external KV cache (connector) is configured.")
@click.option("--cpu-offload-configured", is_flag=True, help="vLLM native CPU offload is configured.")
@click.option("--l2-configured", is_flag=True, help="LMCache L2 storage is configured.")
@click.option("--disaggregated-or-external-cache", is_flag=True, help="Disaggregated prefill or an external cache is in use.")
@lane_options
@click.option("--output", type=click.Path(dir_okay=False), help="Write observability_coverage.json here.")
@format_option
@handle_errors
def observability_coverage_cmd(**kw: Any) -> None:
    """Which surfaces a vLLM/SGLang (+ LMCache) deployment covers, what is missing and why."""
    from inferguard.pipeline import default_context, observability_coverage
    from inferguard.render.markdown import coverage_markdown
    from inferguard.render.text import coverage_text
    from inferguard.spec import default_specs

    ctx = default_context(
        expected_engine=kw["expected_engine"],
        expected_lmcache_mode=kw["expect_lmcache_mode"],
        l2_configured=kw["l2_configured"],
        external_cache_configured=kw["external_cache_configured"] or kw["disaggregated_or_external_cache"],
        cpu_offload_configured=kw["cpu_offload_configured"],
        disaggregated=kw["disaggregated_or_external_cache"],
    )
    spec = default_specs()
    report = observability_coverage(_inputs(kw, ctx), spec)
    title = "InferGuard observability coverage"
    emit(report, kw["fmt"], kw["output"], lambda: coverage_text(report, title), lambda: coverage_markdown(report, title))


@main.command("lmcache-compat", epilog=EPILOG_COMPAT)
@scrape_options
@click.option("--expect-mode", type=click.Choice(["auto", "mp", "embedded"]), default="auto", show_default=True,
              help="The LMCache mode you expect to be running.")
@click.option("--l2-configured", is_flag=True, help="LMCache L2 storage is configured.")
@lane_options
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report JSON here.")
@click.option("--fail-on", type=click.Choice(["never", "mode-mismatch", "missing-required"]), default="never",
              show_default=True, help="Exit 1 on a mode mismatch; missing-required also on a required family absent from a scrape that was read.")
@format_option
@handle_errors
def lmcache_compat_cmd(**kw: Any) -> None:
    """Check the LMCache lanes and that the expected LMCache mode is the one running."""
    from inferguard.pipeline import default_context, lmcache_compat
    from inferguard.render.markdown import coverage_markdown
    from inferguard.render.text import coverage_text
    from inferguard.spec import default_specs

    ctx = default_context(expected_lmcache_mode=kw["expect_mode"], l2_configured=kw["l2_configured"])
    spec = default_specs()
    report = lmcache_compat(_inputs(kw, ctx), spec, kw["expect_mode"])
    title = "InferGuard LMCache compatibility"
    emit(report, kw["fmt"], kw["output"], lambda: coverage_text(report, title), lambda: coverage_markdown(report, title))
    mismatch = report["mode_check"]["result"] in ("mismatch", "no_lmcache")
    # Required evidence absent from what was collected (a lane never collected is not counted).
    missing = any(g["collected"] and g["status"] == "absent" for g in report["gaps"])
    if kw["fail_on"] == "mode-mismatch" and mismatch:
        sys.exit(1)
    if kw["fail_on"] == "missing-required" and (mismatch or missing):
        sys.exit(1)


from inferguard.cli_collect import collect_lmcache  # noqa: E402  (click and stdlib only)

main.add_command(collect_lmcache)


@main.command("evaluate")
@click.argument("packet_dir", type=click.Path(file_okay=False))
@click.option("--output", type=click.Path(dir_okay=False), help="Write the evaluation JSON here.")
@format_option
@handle_errors
def evaluate_cmd(packet_dir: str, output: str | None, fmt: str) -> None:
    """Run every evaluation that the files found in PACKET_DIR allow, and print one summary.

    \b
    Files are recognised by the patterns in specs/specset.yaml (packet_files), e.g.
    engine.prom, lmcache.prom, *_command.json, lmcache_*_evidence.json, context.yaml.

    \b
    Example:
      inferguard evaluate fixtures/packets/vllm-lmcache-mp-h100 --output evaluation.json
    """
    from inferguard.packet_eval import evaluate_packet
    from inferguard.render.markdown import coverage_markdown
    from inferguard.render.text import coverage_text
    from inferguard.spec import default_specs

    spec = default_specs()
    report = evaluate_packet(packet_dir, spec)
    title = f"InferGuard evaluation of {packet_dir}"
    emit(report, fmt, output, lambda: coverage_text(report, title), lambda: coverage_markdown(report, title))


@main.group("specs")
def specs_group() -> None:
    """Lint, list and test the spec set."""


@specs_group.command("lint")
@click.argument("paths", nargs=-1, type=click.Path())
@handle_errors
def specs_lint(paths: tuple[str, ...]) -> None:
    """Validate spec files (schema + semantic checks). Exit 2 on any error.

    \b
    Example:
      inferguard specs lint                # the bundled spec set
      inferguard specs lint specs/ my.yaml # files or folders
    """
    from inferguard.spec import load_specs

    from inferguard.filecheck import input_problem

    for p in paths:
        why = input_problem(p, allow_dir=True)
        if why is not None:
            fail(f"{p}: {why}")
    spec = load_specs(list(paths) or None, strict=False)
    for p in spec.problems:
        click.echo(p.format())
    n = sum(len(v) for v in spec.docs_by_kind.values())
    if spec.problems:
        click.echo(f"{len(spec.problems)} problem(s) in {len(spec.files)} file(s)", err=True)
        sys.exit(2)
    click.echo(f"ok: {len(spec.files)} file(s), {n} document(s), spec set {spec.version} {spec.digest}")


@specs_group.command("list")
@click.option("--kind", help="Only this kind (e.g. MetricFamilies, Surfaces).")
@handle_errors
def specs_list(kind: str | None) -> None:
    """List the spec documents and what they define."""
    from inferguard.spec import default_specs
    from inferguard.spec.metrics import catalog

    spec = default_specs()
    cat = catalog(spec)
    for k, docs in sorted(spec.docs_by_kind.items()):
        if kind and k != kind:
            continue
        for d in docs:
            click.echo(f"{k:<16} {d.path}")
    if not kind or kind == "MetricFamilies":
        click.echo(f"{len(cat.families)} families, {len(cat.metrics)} metrics, {len(cat.index)} exposed names, {len(cat.derived)} derived values")


def _root_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--specs", "specs_path", type=click.Path(exists=True),
                      help="Spec folder or file to use instead of the bundled spec set.")(fn)
    return click.option("--root", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
                        help="Project root: fixture paths in the specs are relative to it.")(fn)


def _spec_for(specs_path: str | None):
    from inferguard.spec import default_specs, load_specs

    return load_specs([specs_path]) if specs_path else default_specs()


@specs_group.command("test")
@_root_option
@click.option("--row", "rows", multiple=True, help="Only this row id (repeatable).")
@handle_errors
def specs_test(root: str, specs_path: str | None, rows: tuple[str, ...]) -> None:
    """Run every fixture named in the Surfaces spec through the real pipeline.

    Prints expected versus got per row id for each failure and exits 1 if any fails.

    \b
    Example:
      inferguard specs test
      inferguard specs test --row lmcache.mp_prometheus
    """
    from pathlib import Path

    from inferguard.matrix import run_fixtures

    spec = _spec_for(specs_path)
    known = {row["id"] for doc in spec.docs("Surfaces") for row in doc.get("rows", [])}
    unknown = sorted(set(rows) - known)
    if unknown:
        fail(f"unknown row id(s): {', '.join(unknown)} (see `inferguard specs list --kind Surfaces`)")
    results = run_fixtures(spec, Path(root), set(rows) or None)
    if not results:
        # Nothing was tested: that is not a pass.
        fail("no fixtures to test" + (f" for row(s) {', '.join(rows)}" if rows else " in the Surfaces spec"))
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = "pass" if r.passed else "FAIL"
        click.echo(f"{mark}  {r.row:<32} {r.path}")
        for line in ([] if r.passed else r.diff()):
            click.echo(f"        {line}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


def _cli_sections() -> list[tuple[str, str]]:
    out = []

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(cmd, info_name=path[-1], parent=parent, terminal_width=100, max_content_width=100)
        out.append((" ".join(path), cmd.get_help(ctx)))
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], path + [name], ctx)

    walk(main, ["inferguard"], None)
    return out


@main.group("docs")
def docs_group() -> None:
    """Generate docs/coverage-matrix.md and docs/cli.md from the specs."""


@docs_group.command("build")
@_root_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a diff summary if the docs drift.")
@handle_errors
def docs_build(root: str, specs_path: str | None, check: bool) -> None:
    """Write docs/coverage-matrix.md and docs/cli.md (generated; never edit them by hand).

    \b
    Example:
      inferguard docs build
      inferguard docs build --check   # in CI: fails when the specs changed but the docs did not
    """
    import difflib
    from pathlib import Path

    from inferguard.matrix import build_matrix, fixture_inventory
    from inferguard.packet import write_text_atomic
    from inferguard.render.docs import cli_reference, coverage_matrix

    spec = _spec_for(specs_path)
    rootp = Path(root)
    matrix = build_matrix(spec, rootp)
    files = {
        rootp / "docs" / "coverage-matrix.md": coverage_matrix(spec, matrix, fixture_inventory(rootp)),
        rootp / "docs" / "cli.md": cli_reference(_cli_sections()),
    }
    drift = []
    for path, text in files.items():
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old == text:
            continue
        if check:
            diff = list(difflib.unified_diff((old or "").splitlines(), text.splitlines(), str(path), "generated", lineterm="", n=0))
            changed = sum(1 for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---")))
            drift.append(f"{path}: {'missing' if old is None else f'{changed} line(s) differ'}")
            for d in diff[2:8]:
                drift.append(f"    {d[:160]}")
        else:
            write_text_atomic(path, text)
            click.echo(f"wrote {path}")
    if check:
        if drift:
            click.echo("generated docs drift from the specs (run `inferguard docs build`):")
            for d in drift:
                click.echo(f"  {d}")
            sys.exit(1)
        click.echo("docs are up to date")
    score = matrix["checklist"]["score"] if matrix["checklist"] else "n/a"
    click.echo(f"score: {score} / 100")
