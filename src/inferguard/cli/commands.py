"""What the evaluating commands do once their options are parsed. No click here.

`observability-coverage`, `lmcache-compat` and `evaluate` are declared as click commands in
`inferguard.cli.app`, whose callbacks call the functions below; the start-up fast path
(`inferguard.cli.fast`) calls the same functions with the same arguments when it has parsed
the command line itself. `kw` is the mapping of option destinations to converted values that
click would pass; `given` is the set of destinations written on the command line.
"""
from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Callable, Collection


def registry() -> dict[str, Any]:
    """The compiled vocabulary of the bundled spec set (JSON, no YAML on the help path)."""
    from inferguard.spec.registry import bundled

    return bundled()


def lane_flags() -> dict[str, str]:
    """lane id -> option name of its evidence flag (--lmcache-log-evidence-file ...)."""
    from inferguard.spec.registry import flag_dest

    return {lane["id"]: flag_dest(lane["evidence_flag"]) for lane in registry()["lanes"]}


def echo(message: str = "", err: bool = False) -> None:
    """`click.echo(message, err=err)` without importing click where the result is the same.

    On a UTF-8 stream a message with no escape code is written with its newline and flushed,
    which is all click.echo does with it. Anything else (an escape code click strips when the
    stream is not a terminal, another encoding, no stream) goes to click.echo itself."""
    stream = sys.stderr if err else sys.stdout
    encoding = getattr(stream, "encoding", None) or ""
    if "\x1b" in message or encoding.lower().replace("-", "").replace("_", "") != "utf8":
        import click

        click.echo(message, err=err)
        return
    stream.write(message + "\n")
    stream.flush()


def emit(report: dict[str, Any], fmt: str, output: str | None, text: Callable[[], str], markdown: Callable[[], str]) -> None:
    """Print the report; with --output also write its JSON there (`-`: standard output).

    The file is written before anything is printed, so a refused or failed write (a FIFO, a
    directory, a full device) is the one line on stderr and exit 2. With `--output -` the
    JSON alone goes to standard output and a text or markdown rendering goes to stderr."""
    body = json.dumps(report, indent=2, ensure_ascii=False)
    if output == "-":
        if fmt == "markdown":
            echo(markdown(), err=True)
        elif fmt != "json":
            echo(text(), err=True)
        echo(body)
        return
    if output:
        from inferguard.packet import write_text_atomic

        write_text_atomic(output, body + "\n")
    if fmt == "json":
        echo(body)
    elif fmt == "markdown":
        echo(markdown())
    else:
        echo(text())
        if output:
            echo(f"Wrote {output}")


def context_from(kw: dict[str, Any], command: str, *, override: bool = False,
                 given: Collection[str] = ()) -> dict[str, Any]:
    """The context keys the command line set (all of this command's, or with `override` only
    those in `given`, the destinations written on the command line), with the keys they imply.
    Pops the context destinations (`ctx_<key>`) from `kw`."""
    ctx: dict[str, Any] = {}
    for c in registry()["context"]:
        dest = "ctx_" + c["key"]
        if dest not in kw:
            continue
        value = kw.pop(dest)
        if override and dest not in given:
            continue
        if c["type"] == "boolean" and not value and not override:
            ctx.setdefault(c["key"], False)
            continue
        ctx[c["key"]] = value
        if value is True:
            for implied in c["implies"]:
                ctx[implied] = True
    return ctx


def fail_exit(findings: list[dict[str, Any]], fail_on: str) -> None:
    """Exit 1 when the engine says `findings` fail under `--fail-on fail_on`."""
    from inferguard.engine.findings import fails

    if fails(fail_on, findings, registry()["fail_on"]):
        sys.exit(1)


def inputs(kw: dict[str, Any], context: dict[str, Any]):
    from inferguard.core.problems import InputError
    from inferguard.flow.coverage import Inputs

    lanes = {lane: list(kw.get(dest) or ()) for lane, dest in lane_flags().items() if kw.get(dest)}
    argv = {}
    if kw.get("engine_argv_file"):
        argv["engine"] = kw["engine_argv_file"]
    if kw.get("lmcache_argv_file"):
        argv["lmcache"] = kw["lmcache_argv_file"]
    if not any([kw.get("engine_metrics_file"), kw.get("engine_metrics_url"), kw.get("lmcache_metrics_file"),
                kw.get("lmcache_metrics_url"), lanes, kw.get("collect_metrics_dir")]):
        raise InputError("give at least one metrics file or URL, or an evidence file (see --help)")
    if kw.get("collect_metrics_dir") and any(kw.get(k) for k in ("engine_metrics_file", "engine_metrics_url",
                                                                  "lmcache_metrics_file", "lmcache_metrics_url")):
        raise InputError("give --collect-metrics-dir or single scrapes (--*-metrics-file/-url), not both")
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
        metrics_window_dir=kw.get("collect_metrics_dir"),
    )


def _finish(report: dict[str, Any], title: str, kw: dict[str, Any]) -> None:
    """Print a coverage-shaped report as --format and --output ask, then apply --fail-on."""
    from inferguard.render.markdown import coverage_markdown
    from inferguard.render.text import coverage_text

    emit(report, kw["fmt"], kw["output"], lambda: coverage_text(report, title), lambda: coverage_markdown(report, title))
    fail_exit(report["findings"], kw["fail_on"])


def observability_coverage(kw: dict[str, Any], given: Collection[str] = ()) -> None:
    from inferguard.flow.coverage import default_context, observability_coverage as run
    from inferguard.spec import default_specs

    ctx = default_context(**context_from(kw, "observability-coverage"))
    report = run(inputs(kw, ctx), default_specs())
    _finish(report, "InferGuard observability coverage", kw)


def lmcache_compat(kw: dict[str, Any], given: Collection[str] = ()) -> None:
    from inferguard.flow.coverage import default_context, lmcache_compat as run
    from inferguard.spec import default_specs

    ctx = default_context(**context_from(kw, "lmcache-compat"))
    report = run(inputs(kw, ctx), default_specs(), ctx["expected_lmcache_mode"])
    _finish(report, "InferGuard LMCache compatibility", kw)


def evaluate(kw: dict[str, Any], given: Collection[str] = ()) -> None:
    """`kw` holds packet_dir, output, fmt, fail_on and the context destinations; only the
    context keys in `given` override what the packet recorded."""
    from inferguard.flow.packet import evaluate_packet
    from inferguard.spec import default_specs

    packet_dir = kw["packet_dir"]
    overrides = context_from(kw, "evaluate", override=True, given=given)
    report = evaluate_packet(packet_dir, default_specs(), overrides or None)
    _finish(report, f"InferGuard evaluation of {packet_dir}", kw)


# command name -> its body, for the click commands and the fast path alike
COMMANDS: dict[str, Callable[[dict[str, Any], Collection[str]], None]] = {
    "observability-coverage": observability_coverage,
    "lmcache-compat": lmcache_compat,
    "evaluate": evaluate,
}
