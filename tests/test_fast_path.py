"""The start-up fast path (inferguard.cli.fast) runs exactly what click would run, or steps aside.

Every command line below is run twice in a fresh interpreter: through the console script's
entry (`inferguard.cli.run`, fast path first) and through the click group alone. Standard
output, standard error and the exit code must be the same; the lines the fast path is meant
to take must not import click, and every other line must be left to click.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import H100, ROOT

PACKET = str(H100)
ENGINE_PROM = str(H100 / "engine.prom")
LMCACHE_PROM = str(H100 / "lmcache.prom")
PROG = "inferguard"

# Run one command line; report on stderr's last line whether click was imported.
ENTRY = """
import sys
sys.argv = ["inferguard", *sys.argv[1:]]
import inferguard.cli as cli
try:
    {call}
except SystemExit as exc:
    code = exc.code
    sys.stdout.flush()
    sys.stderr.write("\\n@@click=%s exit=%r\\n" % ("click" in sys.modules, code))
    sys.stderr.flush()
    raise
"""
FAST = ENTRY.format(call="cli.run()")
CLICK_ONLY = ENTRY.format(call=f"from inferguard.cli.app import main; main(prog_name={PROG!r})")


def _run(code: str, args: list[str], cwd, extra_env=None) -> tuple[int, str, str, bool]:
    env = dict(os.environ)
    env.pop("INFERGUARD_DEBUG", None)
    env.update(extra_env or {})
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=300, encoding="utf-8", errors="replace")
    err, _, tail = r.stderr.rpartition("\n@@click=")
    assert tail, f"no exit marker: {r.stderr[-500:]}"
    return r.returncode, r.stdout, err, tail.startswith("True")


def _both(args: list[str], cwd, extra_env=None) -> tuple[tuple[int, str, str], bool]:
    fast_code, fast_out, fast_err, fast_click = _run(FAST, args, cwd, extra_env)
    click_code, click_out, click_err, _ = _run(CLICK_ONLY, args, cwd, extra_env)
    assert (fast_code, fast_out, fast_err) == (click_code, click_out, click_err), args
    return (fast_code, fast_out, fast_err), fast_click


# Lines the fast path takes (no click imported), with the exit code click gives them too.
TAKEN = [
    (["evaluate", PACKET, "--format", "json"], 0),
    (["evaluate", PACKET], 0),
    (["evaluate", "--format=markdown", PACKET], 0),
    (["evaluate", PACKET, "--format", "json", "--l2-configured", "--expect-lmcache-mode", "mp"], 0),
    (["evaluate", PACKET, "--format", "json", "--fail-on", "info"], 1),
    (["evaluate", PACKET, "--format", "json", "--fail-on", "warning"], 0),
    (["evaluate", PACKET, "--output", "-", "--format", "text"], 0),
    (["evaluate", PACKET, "--output", "OUT/eval.json"], 0),
    (["evaluate", "no-such-packet"], 2),                                        # the command's own input error
    (["observability-coverage", "--engine-metrics-file", ENGINE_PROM, "--format", "json"], 0),
    (["observability-coverage", "--engine-metrics-file", ENGINE_PROM, "--lmcache-metrics-file", LMCACHE_PROM,
      "--cpu-offload-configured", "--expected-engine", "vllm", "--timeout-seconds", "2.5",
      "--max-scrape-bytes", "64M", "--format", "json"], 0),
    (["observability-coverage", "--lmcache-log-evidence-file", str(ROOT / "fixtures" / "lmcache" / "logs-0.5.6-cpu"
                                                                     / "run1_server.log"), "--format", "json"], 0),
    (["observability-coverage"], 2),                                            # no evidence: the command says so
    (["observability-coverage", "--engine-metrics-file", "missing.prom"], 2),
    (["lmcache-compat", "--lmcache-metrics-file", LMCACHE_PROM, "--expect-mode", "mp", "--format", "json"], 0),
    (["lmcache-compat", "--lmcache-metrics-file", LMCACHE_PROM, "--expect-mode", "embedded",
      "--fail-on", "mode-mismatch"], 1),
]

# Lines left to click, with the exit code click gives them: help, usage errors, and lines
# click accepts but that the fast path does not try to read as click does (a repeated
# option, `--`, a value that looks like an option, a NaN deadline).
LEFT = [
    (["evaluate"], 2),
    (["evaluate", "--help"], 0),
    (["evaluate", "-h"], 0),
    (["evaluate", PACKET, "extra"], 2),
    (["evaluate", PACKET, "--bogus"], 2),
    (["evaluate", PACKET, "--form", "json"], 2),                  # click does not expand prefixes
    (["evaluate", PACKET, "--format"], 2),
    (["evaluate", PACKET, "--format", "yaml"], 2),
    (["evaluate", PACKET, "--format", "json", "--format", "text"], 0),
    (["evaluate", PACKET, "--l2-configured=yes"], 2),
    (["evaluate", PACKET, "--output", PACKET], 2),                # a directory where a file is asked
    (["evaluate", ENGINE_PROM], 2),                               # a file where a folder is asked
    (["evaluate", "--", PACKET], 0),
    (["evaluate", PACKET, "--output", "-x"], 0),
    (["observability-coverage", "--engine-metrics-file", ENGINE_PROM, "--timeout-seconds", "0"], 2),
    (["observability-coverage", "--engine-metrics-file", ENGINE_PROM, "--timeout-seconds", "nan"], 0),
    (["observability-coverage", "--engine-metrics-file", ENGINE_PROM, "--max-scrape-bytes", "12"], 2),
    (["observability-coverage", "--engine-metrics-file", PACKET], 2),
    (["lmcache-compat", "--lmcache-metrics-file", LMCACHE_PROM, "--expect-mode", "MP"], 2),
]


@pytest.mark.parametrize("args,exit_code", TAKEN, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(TAKEN)])
def test_the_fast_path_runs_what_click_runs(tmp_path, args, exit_code):
    (tmp_path / "OUT").mkdir()
    (code, out, err), imported_click = _both(args, tmp_path)
    assert code == exit_code, err
    assert not imported_click, "the fast path imported click"
    if "--output" in args and args[args.index("--output") + 1] != "-":
        target = tmp_path / args[args.index("--output") + 1]
        assert json.loads(target.read_text())["findings"] is not None
        assert f"Wrote {args[args.index('--output') + 1]}" in out


@pytest.mark.parametrize("args,exit_code", LEFT, ids=[" ".join(a[1:3]) + f" #{i}" for i, (a, _) in enumerate(LEFT)])
def test_every_other_line_is_left_to_click(tmp_path, args, exit_code):
    (code, out, err), imported_click = _both(args, tmp_path)
    assert imported_click, "the fast path took a line click should parse"
    assert code == exit_code, err
    if "--help" in args or "-h" in args:
        assert "Usage:" in out
    elif code == 2:
        assert err.startswith("inferguard: error:"), err


def test_output_click_would_change_is_printed_by_click(tmp_path):
    """An escape code (click strips it when the output is not a terminal) or a stream that is
    not UTF-8 goes through click.echo itself: the same text as the click path."""
    packet = tmp_path / "p\x1b[31mred"
    packet.mkdir()
    (packet / "engine.prom").write_bytes((H100 / "engine.prom").read_bytes())
    (code, out, err), imported_click = _both(["evaluate", str(packet)], tmp_path)
    assert code == 0 and imported_click and "\x1b" not in out and "p[31mred" not in out and "pred" in out
    (code, out, err), imported_click = _both(["evaluate", PACKET, "--format", "json"], tmp_path,
                                             {"PYTHONIOENCODING": "latin-1"})
    assert code == 0 and imported_click and json.loads(out)["findings"] is not None


def test_the_table_is_compiled_from_the_click_commands():
    from inferguard._data import data_dir
    from inferguard.cli.app import main
    from inferguard.cli.fast import TABLE_FILE, compile_table, render_table

    assert (data_dir() / TABLE_FILE).read_text(encoding="utf-8") == render_table(compile_table(main))


def test_a_parameter_the_fast_path_cannot_reproduce_fails_the_build():
    import click

    from inferguard.cli.fast import FAST_COMMANDS, compile_table
    from inferguard.core.problems import InternalError

    group = click.Group("inferguard")
    for name in FAST_COMMANDS:
        group.add_command(click.Command(name, params=[click.Option(["--count"], type=click.INT)]))
    with pytest.raises(InternalError, match="count: type"):
        compile_table(group)


def _spec(*params):
    return {"params": list(params)}


def _opt(name, opts, kind="string", multiple=False, absent=None, **extra):
    return {"name": name, "kind": "option", "opts": opts, "required": False, "multiple": multiple,
            "absent": absent if absent is not None else ([] if multiple else None), "type": {"kind": kind, **extra}}


def test_parse_gives_click_s_values_and_the_written_destinations():
    from inferguard.cli.fast import parse

    spec = _spec(
        {"name": "packet_dir", "kind": "argument", "required": True,
         "type": {"kind": "path", "exists": False, "file_okay": False, "dir_okay": True, "readable": True,
                  "writable": False, "executable": False, "allow_dash": False}},
        _opt("files", ["--file"], multiple=True),
        _opt("flag", ["--flag"], kind="flag", absent=False),
        _opt("size", ["--size"], kind="size", absent=1 << 30),
        _opt("timeout", ["--timeout"], kind="float_range", absent=5.0, min=0.1, max=600, min_open=False, max_open=False),
    )
    kw, given = parse(spec, ["p", "--file", "a", "--file=b", "--flag", "--size", "2m"])
    assert kw == {"packet_dir": "p", "files": ("a", "b"), "flag": True, "size": 2 << 20, "timeout": 5.0}
    assert given == {"packet_dir", "files", "flag", "size"}
    kw, given = parse(spec, ["--timeout", "600", "p"])
    assert kw["files"] == () and kw["flag"] is False and kw["timeout"] == 600.0 and given == {"timeout", "packet_dir"}


@pytest.mark.parametrize("args", [
    [], ["p", "q"], ["p", "--flag", "--flag"], ["p", "--size", "1"], ["p", "--size", "²K"],
    ["p", "--timeout", "600.5"], ["p", "--timeout", "inf"], ["p", "--file"], ["p", "--file", "-x"],
    ["p", "-f", "x"], ["p", "--"], ["p", "--fil", "x"],
])
def test_parse_refuses_what_it_cannot_decide(args):
    from inferguard.cli.fast import _Refuse, parse

    spec = _spec(
        {"name": "packet_dir", "kind": "argument", "required": True, "type": {"kind": "string"}},
        _opt("files", ["--file"], multiple=True),
        _opt("flag", ["--flag"], kind="flag", absent=False),
        _opt("size", ["--size"], kind="size", absent=1 << 30),
        _opt("timeout", ["--timeout"], kind="float_range", absent=5.0, min=0.1, max=600, min_open=False, max_open=False),
    )
    with pytest.raises(_Refuse):
        parse(spec, args)


def test_an_unreadable_table_leaves_the_line_to_click(tmp_path, monkeypatch):
    from inferguard.cli import fast

    (tmp_path / fast.TABLE_FILE).write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(fast, "data_path", lambda: str(tmp_path))
    assert fast.try_fast(["evaluate", PACKET]) is None      # returned: no exit, nothing run
    (tmp_path / fast.TABLE_FILE).write_text(json.dumps({"format": fast.TABLE_FORMAT + 1, "commands": {}}))
    assert fast.try_fast(["evaluate", PACKET]) is None


# What an evaluating command must not import on its way: each one was, before, a share of its
# start-up (click and what it imports, jmespath through inspect, dataclasses, typing, hashlib,
# pathlib)
# or is a heavy dependency needed only to parse and check the spec YAML (a warm cache has it).
NOT_ON_THE_PATH = ("click", "jmespath", "inspect", "dataclasses", "typing", "hashlib", "pathlib", "yaml", "jsonschema",
                   "prometheus_client", "msgpack")

IMPORTS = """
import atexit, sys
before = set(sys.modules)   # what the interpreter itself loaded (an editable install's finder imports pathlib)
def report():
    sys.stderr.write("\\n@@" + " ".join(sorted(m for m in sys.modules
                                                if m.split(".")[0] in {names!r} and m not in before)) + "\\n")
atexit.register(report)
sys.argv = ["inferguard", *sys.argv[1:]]
from inferguard.cli import run
run()
"""


@pytest.mark.parametrize("args", [
    ["evaluate", PACKET, "--format", "json"],
    ["evaluate", PACKET],
    ["observability-coverage", "--engine-metrics-file", ENGINE_PROM, "--lmcache-metrics-file", LMCACHE_PROM,
     "--format", "json", "--output", "out.json"],
    ["lmcache-compat", "--lmcache-metrics-file", LMCACHE_PROM, "--expect-mode", "mp", "--format", "json"],
], ids=["evaluate-json", "evaluate-text", "coverage", "compat"])
def test_an_evaluating_command_imports_only_what_it_uses(tmp_path, args):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("INFERGUARD_DEBUG", None)
    code = IMPORTS.format(names=set(NOT_ON_THE_PATH))
    cold = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert cold.returncode == 0, cold.stderr
    assert "yaml" in cold.stderr.rpartition("@@")[2].split()     # the first run parsed and checked the specs
    warm = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout
    assert warm.stderr.rpartition("@@")[2].split() == [], warm.stderr.rpartition("@@")[2]
