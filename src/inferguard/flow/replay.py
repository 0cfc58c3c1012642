"""Replay of live captures through the commands that make a matrix row `live_validated`.

The Checklist spec's `live_validation` section declares the commands (in order, with their
arguments) and, per live fixture, what each command must produce. For each fixture the
captured HTTP bodies are served from a loopback server (collect/replay_server.py), the
commands run in-process against it and against the packet `collect-lmcache` wrote, and every
expectation is checked. A declared command that this build does not have is `pending`: the
replay is then not validated, whatever the other commands did. Nothing here decides a
capability; engine/capability.py reads `validated`.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSED, FAILED, PENDING, NOT_RUN = "passed", "failed", "pending", "not_run"


@dataclass
class CommandResult:
    command: str
    status: str
    exit_code: int | None = None
    failures: list[str] = field(default_factory=list)


@dataclass
class ReplayResult:
    """One live fixture replayed through the declared commands."""

    path: str
    origin: str | None
    commands: list[CommandResult] = field(default_factory=list)
    error: str | None = None

    @property
    def validated(self) -> bool:
        """Every declared command ran and met its expectations: the only way to live_validated."""
        return not self.error and bool(self.commands) and all(c.status == PASSED for c in self.commands)

    @property
    def failed(self) -> bool:
        """A command ran and did not meet its expectations, or the replay could not run.
        Pending commands are not failures (the build lacks them) but never count as passes."""
        return bool(self.error) or any(c.status in (FAILED, NOT_RUN) for c in self.commands)

    @property
    def pending(self) -> list[str]:
        return [c.command for c in self.commands if c.status == PENDING]

    def diff(self) -> list[str]:
        out = [f"error: {self.error}"] if self.error else []
        for c in self.commands:
            out.extend(f"{c.command}: {line}" for line in c.failures)
        return out


def live_validation(spec) -> dict[str, Any] | None:
    docs = spec.docs("Checklist")
    return docs[0].get("live_validation") if docs else None


def command_names(group) -> set[str]:
    """Every command of the click group `group`, subcommands as `group sub`."""
    import click

    names: set[str] = set()

    def walk(g: click.Group, prefix: str) -> None:
        for name, cmd in g.commands.items():
            names.add(f"{prefix}{name}")
            if isinstance(cmd, click.Group):
                walk(cmd, f"{prefix}{name} ")

    walk(group, "")
    return names


def _subst(text: str, values: dict[str, str]) -> str:
    # Longest names first, so $PACKET never eats part of a longer placeholder.
    for key in sorted(values, key=len, reverse=True):
        text = text.replace(f"${key}", values[key])
    return text


def _check(expect: dict[str, Any], exit_code: int, report: Any, report_path: str) -> list[str]:
    from inferguard.spec.expr import ExprError, search

    fails: list[str] = []
    want_exit = int(expect.get("exit", 0))
    if exit_code != want_exit:
        fails.append(f"exit code: expected {want_exit}, got {exit_code}")
    checks = expect.get("json") or {}
    if checks and report is None:
        fails.append(f"no JSON report at {report_path}")
        return fails
    for expr, want in checks.items():
        try:
            got = search(expr, report)
        except ExprError as exc:
            fails.append(f"{expr}: jmespath does not compile: {exc}")
            continue
        if isinstance(want, float) or isinstance(got, float):
            ok = isinstance(got, (int, float)) and not isinstance(got, bool) and isinstance(want, (int, float)) \
                and abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
        else:
            ok = got == want
        if not ok:
            fails.append(f"{expr}: expected {want!r}, got {got!r}")
    return fails


def _read_report(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def replay_fixture(spec, root: Path, cli_group, fixture: dict[str, Any], section: dict[str, Any]) -> ReplayResult:
    """Serve one live fixture's captured HTTP bodies on 127.0.0.1 and run every declared
    command, in order, against it; check each command's exit code and JSON report."""
    from click.testing import CliRunner

    from inferguard.collect.replay_server import ReplayServer
    from inferguard.core.provenance import fixture_origin

    fdir = (root / fixture["path"]).resolve()
    res = ReplayResult(fixture["path"], fixture_origin(fdir) if fdir.is_dir() else None)
    if not fdir.is_dir():
        res.error = f"fixture {fixture['path']} does not exist"
        return res
    if res.origin != "live":
        res.error = f"fixture {fixture['path']} is not a live capture (provenance origin {res.origin})"
        return res
    if not (fdir / "http").is_dir():
        res.error = f"fixture {fixture['path']} has no http/ folder of captured bodies to serve"
        return res
    names = command_names(cli_group)
    expects = fixture.get("expect") or {}
    extra = fixture.get("extra_args") or {}
    deadline = float(section.get("timeout_seconds", 60))
    runner = CliRunner()
    with tempfile.TemporaryDirectory(prefix="inferguard-replay-") as tmp, ReplayServer(fdir, deadline) as server:
        values = {"URL": server.url, "FIXTURE": str(fdir), "PACKET": str(Path(tmp) / "packet")}
        broken: str | None = None
        for cmd in section["commands"]:
            name = cmd["command"]
            if name not in names:
                res.commands.append(CommandResult(name, PENDING, failures=[
                    f"pending: `{name}` does not exist in this build; the replay is not validated until it does and passes"]))
                continue
            if broken:
                res.commands.append(CommandResult(name, NOT_RUN, failures=[f"not run: {broken} failed"]))
                continue
            values["OUT"] = str(Path(tmp) / f"{name.replace(' ', '-')}.json")
            args = [_subst(a, values) for a in list(cmd.get("args") or []) + list(extra.get(name) or [])]
            report_path = Path(_subst(cmd.get("report", "$OUT"), values))
            out = runner.invoke(cli_group, name.split() + args, catch_exceptions=True)
            code = out.exit_code if out.exit_code is not None else 3
            if name not in expects:
                cr = CommandResult(name, FAILED, code, [f"no expectation declared for {name} on {fixture['path']}"])
            else:
                fails = _check(expects[name], code, _read_report(report_path), str(report_path))
                if fails and out.output.strip():
                    fails.append("output: " + " | ".join(out.output.strip().splitlines()[-3:])[:400])
                cr = CommandResult(name, FAILED if fails else PASSED, code, fails)
            res.commands.append(cr)
            if cr.status == FAILED and name == section["commands"][0]["command"]:
                broken = name  # the later commands read what the first one collected
    return res


def run_live_replays(spec, root: Path, cli_group, only_paths: set[str] | None = None) -> list[ReplayResult]:
    section = live_validation(spec)
    if not section:
        return []
    out = []
    for fx in section.get("fixtures") or []:
        if only_paths is not None and fx["path"] not in only_paths:
            continue
        out.append(replay_fixture(spec, Path(root), cli_group, fx, section))
    return out
