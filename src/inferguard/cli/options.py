"""The click options the evaluating commands share, declared from the compiled vocabulary.

Only click, the standard library and the compiled registry (JSON) are read here, so building
the command line parses no YAML.
"""
from __future__ import annotations

from typing import Any, Callable

import click

from inferguard.cli.commands import registry
from inferguard.cli.types import SizeType


def lane_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One evidence flag per lane of the Vocabulary spec."""
    from inferguard.spec.registry import flag_dest

    for lane in reversed(registry()["lanes"]):
        flag = lane["evidence_flag"]
        fn = click.option(
            flag, flag_dest(flag), multiple=True, type=click.Path(dir_okay=False),
            help=f"{lane['title']}: a LaneEvidence JSON from collect-lmcache, or the raw artifact (repeatable).",
        )(fn)
    return fn


def context_options(command: str, *, override: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The context flags of `command`, declared by the Vocabulary spec (context keys).

    With `override`, an option not given on the command line leaves the key alone (so that
    `evaluate` keeps what the packet recorded), instead of setting its default."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for c in reversed(registry()["context"]):
            if command not in c["commands"] or not c.get("flag"):
                continue
            flag = c["flags_by_command"].get(command, c["flag"])
            dest = "ctx_" + c["key"]
            if c["type"] == "boolean":
                opt = click.option(flag, dest, is_flag=True, default=False, help=c["help"])
            else:
                opt = click.option(flag, dest, type=click.Choice(c["values"]), default=c["default"],
                                   show_default=not override, help=c["help"])
            fn = opt(fn)
        return fn

    return deco


def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                        show_default=True, help="How to print the report.")(fn)


def fail_on_option(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--fail-on SEVERITY` for an evaluating command (dest `fail_on`): never or a severity
    (info < warning < error < critical), plus the aliases the Vocabulary offers `command`
    (named selections of checks). Whether the command exits 1 is the engine's decision:
    `fail_exit(report["findings"], kw["fail_on"])` after the report is printed."""
    from inferguard.engine.findings import SEVERITIES, fail_on_choices

    aliases = [a for a in registry()["fail_on"] if command in a["commands"]]
    text = (f"Exit 1 when a finding at or above this severity exists ({' < '.join(SEVERITIES)}; "
            "never: do not fail on findings).")
    for a in aliases:
        text += f" {a['id']}: {a['help']} (a finding of {', '.join(a['checks'])}, whatever its severity)."

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        return click.option("--fail-on", "fail_on", type=click.Choice(fail_on_choices(aliases, command)),
                            default="never", show_default=True, help=text)(fn)

    return deco


def scrape_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--engine-metrics-file", type=click.Path(dir_okay=False), help="vLLM or SGLang /metrics saved to a file."),
        click.option("--engine-metrics-url", help="Scrape the engine's /metrics live."),
        click.option("--lmcache-metrics-file", type=click.Path(dir_okay=False), help="LMCache /metrics saved to a file."),
        click.option("--lmcache-metrics-url", help="Scrape LMCache's /metrics live."),
        click.option("--collect-metrics-dir", type=click.Path(file_okay=False),
                     help="A collect-metrics output folder: judge its window (a counter flat over the window is present_zero)."),
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


def scrape_command_options(command: str, output_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Every option of a command that judges scrapes and lane evidence (observability-coverage,
    lmcache-compat), in the order its help lists them."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            scrape_options,
            context_options(command),
            lane_options,
            click.option("--output", type=click.Path(dir_okay=False, allow_dash=True), help=output_help),
            fail_on_option(command),
            format_option,
        ]):
            fn = option(fn)
        return fn

    return deco
