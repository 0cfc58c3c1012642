"""The `inferguard` command line. Thin: parse options, call one pipeline function, render.

Heavy modules (jsonschema, prometheus_client, msgpack, jmespath) are imported inside the
commands that need them, so `inferguard --help` stays fast.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import click

from inferguard.cli import commands
from inferguard.cli.errors import check_install_or_exit, fail, handle_errors  # noqa: F401
from inferguard.cli.options import context_options, fail_on_option, format_option, scrape_command_options

EPILOG_COVERAGE = """\b
Examples:
  inferguard observability-coverage --engine-metrics-file vllm.prom \\
      --lmcache-metrics-file lmcache.prom --output observability_coverage.json
  inferguard observability-coverage --engine-metrics-url http://127.0.0.1:8000/metrics \\
      --expected-engine vllm --cpu-offload-configured --format json
  inferguard observability-coverage --engine-metrics-file vllm.prom --fail-on warning
"""

EPILOG_COMPAT = """\b
Examples:
  inferguard lmcache-compat --lmcache-metrics-file lmcache.prom --expect-mode mp
  inferguard lmcache-compat --lmcache-metrics-url http://127.0.0.1:8080/metrics \\
      --expect-mode mp --l2-configured --fail-on missing-required
"""

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


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="inferguard", prog_name="inferguard")
def main() -> None:
    """InferGuard: which observability evidence an LLM serving stack really exposes.

    \b
    Start with:
      inferguard evaluate fixtures/packets/vllm-lmcache-mp-h100
      inferguard observability-coverage --engine-metrics-file vllm.prom --lmcache-metrics-file lmcache.prom

    \b
    Exit codes (every command):
      0  ok
      1  findings at or above --fail-on (observability-coverage, lmcache-compat, evaluate);
         a failed test (specs test); drift (docs build --check)
      2  usage or input error (one line naming the file and line)
      3  internal error: a defect of InferGuard or a broken install (one line)
    """
    check_install_or_exit()


def _given() -> set[str]:
    """The parameters of the running command that were written on its command line."""
    ctx = click.get_current_context()
    return {name for name in ctx.params
            if (src := ctx.get_parameter_source(name)) is not None and src.name == "COMMANDLINE"}


@main.command("observability-coverage", epilog=EPILOG_COVERAGE)
@scrape_command_options("observability-coverage", "Write observability_coverage.json here (`-`: standard output).")
@handle_errors
def observability_coverage_cmd(**kw: Any) -> None:
    """Which surfaces a vLLM/SGLang (+ LMCache) deployment covers, what is missing and why."""
    commands.observability_coverage(kw)


@main.command("lmcache-compat", epilog=EPILOG_COMPAT)
@scrape_command_options("lmcache-compat", "Write the report JSON here (`-`: standard output).")
@handle_errors
def lmcache_compat_cmd(**kw: Any) -> None:
    """Check the LMCache lanes and that the expected LMCache mode is the one running."""
    commands.lmcache_compat(kw)


from inferguard.cli.collect import collect_lmcache  # noqa: E402  (click and stdlib only)

main.add_command(collect_lmcache)

from inferguard.cli.disagg import disagg_group  # noqa: E402  (click and stdlib only)

main.add_command(disagg_group)

from inferguard.cli.metrics import collect_metrics  # noqa: E402  (click and stdlib only)

main.add_command(collect_metrics)


@main.command("evaluate")
@click.argument("packet_dir", type=click.Path(file_okay=False))
@context_options("evaluate", override=True)
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True), help="Write the evaluation JSON here (`-`: standard output).")
@fail_on_option("evaluate")
@format_option
@handle_errors
def evaluate_cmd(**kw: Any) -> None:
    """Run every evaluation that the files found in PACKET_DIR allow, and print one summary.

    \b
    Files are recognised by the patterns in specs/specset.yaml (scrapes, argv, context) and
    specs/vocabulary.yaml (one set per evidence lane), e.g. engine.prom, lmcache.prom,
    *_command.json, lmcache_*_evidence.json, *.log, *.lct, context.yaml. The context
    collect-lmcache recorded in packet_manifest.json (--expect-mode, --l2-configured, ...)
    is used; a context file, then the context flags given here, add to it.

    \b
    Example:
      inferguard evaluate fixtures/packets/vllm-lmcache-mp-h100 --output evaluation.json
      inferguard evaluate packet/ --cacheblend-configured
    """
    commands.evaluate(kw, given=_given())


@main.group("specs")
def specs_group() -> None:
    """Lint, list and test the spec set."""


@specs_group.command("lint")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--root", type=click.Path(file_okay=False, exists=True), default=None,
              help="Checkout whose fixture folders the specs name (default: the one holding the specs or "
                   "the current folder).")
@click.option("--list-checks", is_flag=True, help="Print every check (id, severity, description) and exit.")
@handle_errors
def specs_lint(paths: tuple[str, ...], root: str | None, list_checks: bool) -> None:
    """Run every named check on spec files: schema, references, expressions, next commands.

    Each problem is one line, `path:line:col: check-id: message`. Exit 2 on any error
    (warnings are printed and do not fail).

    \b
    Example:
      inferguard specs lint                # the bundled spec set
      inferguard specs lint specs/ my.yaml # files or folders
      inferguard specs lint --list-checks
    """
    from pathlib import Path

    from inferguard.core.filecheck import input_problem
    from inferguard.spec import load_specs
    from inferguard.spec.checks import CHECKS, ERROR, severity_of
    from inferguard.spec.semantic import check_fixture_paths, check_next_commands

    if list_checks:
        for c in CHECKS.values():
            click.echo(f"{c.id:<38} {c.severity:<8} {c.description}")
        return
    for p in paths:
        why = input_problem(p, allow_dir=True)
        if why is not None:
            fail(f"{p}: {why}")
    spec = load_specs(list(paths) or None, strict=False)
    problems = list(spec.problems)
    rootp = None
    if root is not None:
        rootp = _checkout(root)
    else:
        start = Path(paths[0]).resolve() if paths else Path.cwd()
        from inferguard.core.problems import InputError

        try:
            rootp = _checkout(None, start=start)
        except InputError:  # not in a checkout: fixture folders are not checked (said below)
            rootp = None
    if rootp is not None:
        problems += check_fixture_paths(spec, rootp)
    problems += check_next_commands(spec, main)
    errors = [p for p in problems if severity_of(p.rule) == ERROR]
    for p in problems:
        click.echo(p.format())
    n = sum(len(v) for v in spec.docs_by_kind.values())
    if errors:
        click.echo(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s) in {len(spec.files)} file(s)", err=True)
        sys.exit(2)
    where = f"fixtures checked in {rootp}" if rootp else "fixture folders not checked (no checkout; pass --root)"
    click.echo(f"ok: {len(spec.files)} file(s), {n} document(s), spec set {spec.version} {spec.digest}; {where}")


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
                      help="Spec folder or file to use instead of the checkout's specs/.")(fn)
    return click.option("--root", type=click.Path(file_okay=False, exists=True), default=None,
                        help="InferGuard checkout whose fixtures/ and docs/ are used "
                             "(default: the checkout that holds the current folder).")(fn)


def _checkout(root: str | None, start=None):
    """The InferGuard checkout to work on: --root, else the one holding the current folder.

    Fixtures and generated docs live only in a checkout; outside one these commands refuse
    rather than compute a matrix without fixtures or write docs/ into a random folder."""
    from pathlib import Path

    from inferguard.core.problems import InputError

    def is_checkout(d: Path) -> bool:
        pp = d / "pyproject.toml"
        if not (pp.is_file() and (d / "specs").is_dir() and (d / "fixtures").is_dir()):
            return False
        return 'name = "inferguard"' in pp.read_text(encoding="utf-8", errors="replace")

    if root is not None:
        d = Path(root).resolve()
        if not is_checkout(d):
            raise InputError("not an InferGuard checkout (expected pyproject.toml of inferguard, specs/ and fixtures/)", root)
        return d
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if is_checkout(d):
            return d
    raise InputError("not inside an InferGuard checkout; run from one or pass --root PATH", str(here))


def _spec_for(specs_path: str | None, root=None):
    """--specs, else the checkout's own specs/ (so an installed tool judges the checkout's
    specs, not the copy it was installed with)."""
    from inferguard.spec import default_specs, load_specs

    if specs_path:
        return load_specs([specs_path])
    if root is not None:
        return load_specs([root / "specs"], trust_cache=True)
    return default_specs()


@specs_group.command("test")
@_root_option
@click.option("--row", "rows", multiple=True, help="Only this row id, or diagnosis rule id (repeatable).")
@handle_errors
def specs_test(root: str, specs_path: str | None, rows: tuple[str, ...]) -> None:
    """Run every fixture and inline test named in the Surfaces and DiagnosisRules specs.

    Fixture folders (real captures) are evaluated as packets; inline tests (`tests:` on a
    row: series in the exposition format or promtool's notation, a context, expectations on
    row and item statuses, derived values, detections and gaps) are read and judged the way
    observability-coverage does. Each diagnosis rule's inline cases (packet files as text)
    and the DiagnosisRules fixture folders are diagnosed as diagnose-bottleneck does, and
    whether each rule fires, its message and its named causes are checked. Live fixtures
    listed in the Checklist's `live_validation` are replayed: their saved HTTP bodies served
    from a loopback server (127.0.0.1, bounded in time), collect-lmcache run against it and
    the other listed commands on the packet, each checked against the fixture's
    expectations; a listed command this build lacks is PEND (not a failure, never a pass: no
    row is live_validated through it). Prints expected versus got for each failure; exit 1
    if any.

    \b
    Example:
      inferguard specs test
      inferguard specs test --row lmcache.mp_prometheus
    """

    from inferguard.flow.matrix import run_fixtures, run_inline_tests
    from inferguard.flow.replay import run_live_replays

    from inferguard.flow.diagnosis import run_diagnosis_tests

    rootp = _checkout(root)
    spec = _spec_for(specs_path, rootp)
    known = {row["id"] for doc in spec.docs("Surfaces") for row in doc.get("rows", [])}
    rule_ids = {rule["id"] for doc in spec.docs("DiagnosisRules") for rule in doc.get("rules", [])}
    unknown = sorted(set(rows) - known - rule_ids)
    if unknown:
        fail(f"unknown row or rule id(s): {', '.join(unknown)} (see `inferguard specs list --kind Surfaces`)")
    only_rows = set(rows) & known
    only_rules = set(rows) & rule_ids
    results = []
    if not rows or only_rows:
        results += run_fixtures(spec, rootp, only_rows or None) + run_inline_tests(spec, only_rows or None)
    if not rows or only_rules:
        results += run_diagnosis_tests(spec, rootp, only_rules or None)
    if not results:
        # Nothing was tested: that is not a pass.
        fail("no fixtures or inline tests to test" + (f" for row(s) {', '.join(rows)}" if rows else " in the Surfaces spec"))
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = "pass" if r.passed else "FAIL"
        click.echo(f"{mark}  {r.row:<32} {r.path}")
        for line in ([] if r.passed else r.diff()):
            click.echo(f"        {line}")
    only = {r.path for r in results} if rows else None
    replays = run_live_replays(spec, rootp, main, only)
    marks = {"passed": "pass", "failed": "FAIL", "pending": "PEND", "not_run": "SKIP"}
    for rp in replays:
        if rp.error:
            click.echo(f"FAIL  {'(live replay)':<32} {rp.path}")
            click.echo(f"        error: {rp.error}")
        for c in rp.commands:
            click.echo(f"{marks[c.status]}  {'(live replay) ' + c.command:<32} {rp.path}")
            for line in ([] if c.status == "passed" else c.failures):
                click.echo(f"        {line}")
    bad_replays = [rp for rp in replays if rp.failed]
    pending = sorted({c for rp in replays for c in rp.pending})
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    if replays:
        summary += (f"; live replay: {sum(rp.validated for rp in replays)} validated, {len(bad_replays)} failed, "
                    f"{sum(1 for rp in replays if rp.pending and not rp.failed)} pending")
        if pending:
            summary += f" (missing command(s): {', '.join(pending)}; no row is live_validated until they pass)"
    click.echo(summary)
    if failed or bad_replays:
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
    """Write docs/coverage-matrix.md, docs/cli.md, docs/spec-checks.md, docs/diagnosis-rules.md, the
    compiled registry and the fast path's option table (generated; never edit them by hand).

    \b
    Example:
      inferguard docs build
      inferguard docs build --check   # in CI: fails when the specs changed but the docs did not
    """
    import difflib

    from inferguard.flow.matrix import build_matrix, fixture_inventory
    from inferguard.packet import write_text_atomic
    from inferguard.render.docs import cli_reference, coverage_matrix, diagnosis_rules, disagg_reference, spec_checks

    rootp = _checkout(root)
    spec = _spec_for(specs_path, rootp)
    matrix = build_matrix(spec, rootp, main)
    from inferguard.cli.fast import TABLE_FILE, compile_table, render_table
    from inferguard.spec.registry import REGISTRY_FILE, compile_registry, render

    files = {
        rootp / "docs" / "coverage-matrix.md": coverage_matrix(spec, matrix, fixture_inventory(rootp)),
        rootp / "docs" / "cli.md": cli_reference(_cli_sections()),
        rootp / "docs" / "spec-checks.md": spec_checks(spec),
        rootp / "docs" / "disagg.md": disagg_reference(spec),
        rootp / "docs" / "diagnosis-rules.md": diagnosis_rules(spec),
        # the compiled vocabulary the command line reads at start-up (no YAML on the help path)
        rootp / "src" / "inferguard" / "_data" / REGISTRY_FILE: render(compile_registry(spec)),
        # the option table of the start-up fast path (inferguard.cli.fast)
        rootp / "src" / "inferguard" / "_data" / TABLE_FILE: render_table(compile_table(main)),
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


from inferguard.cli.diagnose import diagnose_bottleneck  # noqa: E402  (click and stdlib only)

main.add_command(diagnose_bottleneck)
