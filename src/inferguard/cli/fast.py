"""Start-up fast path: run an evaluating command without importing click.

Importing click (and the modules it imports: inspect, uuid, datetime, gettext) and building
every command's options is about a third of what `evaluate` costs on a small packet. For
`evaluate`, `observability-coverage` and `lmcache-compat`, the options of each command are
compiled from the click commands into `inferguard/_data/commands.json` (by `inferguard docs
build`, checked by `docs build --check` and the tests): name, option strings, type and
checks, and the value click passes when the option is not given.

`try_fast(args)` parses a command line against that table only when every token is plainly
valid: a known long option with its value, a flag, the command's positional argument, each
value passing the same checks click's type makes. Then it runs the command body
(`inferguard.cli.commands`) under the same error handling, and exits. Anything else (help, a
short or unknown option, a missing or repeated value, a value click would refuse or might
read differently, a table that cannot be read) returns without a side effect, and the line
goes to click, which prints its own usage error or help. So the fast path never decides an
error message: it either runs exactly what click would run, or steps aside.
"""
from __future__ import annotations

import json
import math
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard._data import data_path

TABLE_FILE = "commands.json"
TABLE_FORMAT = 1
FAST_COMMANDS = ("evaluate", "lmcache-compat", "observability-coverage")


class _Refuse(Exception):
    """This line is not for the fast path: let click parse it."""


# ---------------------------------------------------------------------------------------------
# Compiling the table from the click commands (docs build; imports click)


def compile_table(group: Any) -> dict[str, Any]:
    """The option table of FAST_COMMANDS, from the click group `group`.

    A parameter the fast path cannot reproduce exactly (another type, a callback, an
    environment variable, a secondary flag, nargs other than 1) is our defect: it raises, so
    `docs build` fails rather than writing a table that would parse differently from click."""
    import click

    from inferguard.cli.types import SizeType
    from inferguard.core.problems import InternalError

    commands: dict[str, Any] = {}
    for name in FAST_COMMANDS:
        cmd = group.commands[name]
        if cmd.allow_extra_args or not cmd.allow_interspersed_args or cmd.ignore_unknown_options:
            raise InternalError(f"{name}: context settings the fast path does not reproduce")
        placeholder = [f"__{p.name}__" for p in cmd.params if isinstance(p, click.Argument)]
        absent = cmd.make_context(name, list(placeholder), parent=click.Context(group, info_name="inferguard")).params
        params = []
        for p in cmd.params:
            where = f"{name} {p.name}"
            if p.callback is not None or p.envvar or not p.expose_value or p.is_eager or p.nargs != 1:
                raise InternalError(f"{where}: a parameter the fast path does not reproduce")
            entry: dict[str, Any] = {"name": p.name}
            if isinstance(p, click.Argument):
                entry["kind"] = "argument"
                entry["required"] = bool(p.required)
            else:
                if p.secondary_opts or p.deprecated or getattr(p, "prompt", None) or p.count:
                    raise InternalError(f"{where}: a parameter the fast path does not reproduce")
                entry["kind"] = "option"
                entry["opts"] = sorted(p.opts)
                entry["required"] = bool(p.required)
                entry["multiple"] = bool(p.multiple)
                if p.multiple:
                    entry["absent"] = list(absent[p.name])
                else:
                    entry["absent"] = absent[p.name]
            entry["type"] = _type_entry(p, where, click, SizeType, InternalError)
            if entry["type"]["kind"] == "flag":
                # what click passes when the flag is written, asked of click itself
                parent = click.Context(group, info_name="inferguard")
                if cmd.make_context(name, placeholder + [p.opts[0]], parent=parent).params[p.name] is not True:
                    raise InternalError(f"{where}: a flag that does not pass True")
            if any(o[:2] != "--" for o in entry.get("opts", ())):
                raise InternalError(f"{where}: only long options are parsed by the fast path")
            params.append(entry)
        commands[name] = {"params": params}
    return {"format": TABLE_FORMAT, "commands": commands}


def _type_entry(p: Any, where: str, click: Any, size_type: type, error: type) -> dict[str, Any]:
    t = p.type
    if getattr(p, "is_flag", False):
        if not p.is_bool_flag:
            raise error(f"{where}: only plain boolean flags are parsed by the fast path")
        return {"kind": "flag"}
    if isinstance(t, click.Path):
        if t.resolve_path or getattr(t, "type", None) is not None:
            raise error(f"{where}: a path type the fast path does not reproduce")
        return {"kind": "path", "exists": t.exists, "file_okay": t.file_okay, "dir_okay": t.dir_okay,
                "readable": t.readable, "writable": t.writable, "executable": t.executable,
                "allow_dash": t.allow_dash}
    if isinstance(t, click.Choice):
        if not t.case_sensitive or not all(isinstance(c, str) for c in t.choices):
            raise error(f"{where}: a choice the fast path does not reproduce")
        return {"kind": "choice", "choices": list(t.choices)}
    if isinstance(t, click.FloatRange):
        if t.clamp:
            raise error(f"{where}: a clamped range the fast path does not reproduce")
        return {"kind": "float_range", "min": t.min, "max": t.max, "min_open": t.min_open, "max_open": t.max_open}
    if isinstance(t, size_type):
        return {"kind": "size"}
    if t is click.STRING:
        return {"kind": "string"}
    raise error(f"{where}: type {t!r} is not parsed by the fast path")


def render_table(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------------------------
# Using it (every start of the console script)


def try_fast(args: list[str]) -> None:
    """Run `args` (sys.argv[1:]) and exit, when the fast path can; else return."""
    if not args or args[0] not in FAST_COMMANDS:
        return
    try:
        with open(os.path.join(data_path(), TABLE_FILE), "rb") as fh:
            table = json.loads(fh.read())
        if table.get("format") != TABLE_FORMAT:
            return
        spec = table["commands"][args[0]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # no usable table: click parses the line and reports what is wrong
    try:
        kw, given = parse(spec, args[1:])
    except _Refuse:
        return
    from inferguard.cli.errors import check_install_or_exit, handle_errors
    from inferguard.cli.commands import COMMANDS

    check_install_or_exit()
    handle_errors(COMMANDS[args[0]])(kw, given)
    sys.exit(0)


def parse(spec: dict[str, Any], args: list[str]) -> tuple[dict[str, Any], set[str]]:
    """(values as click passes them, destinations written on the line); _Refuse otherwise."""
    by_opt: dict[str, dict[str, Any]] = {}
    positional = []
    for p in spec["params"]:
        if p["kind"] == "argument":
            positional.append(p)
        else:
            for o in p["opts"]:
                by_opt[o] = p
    values: dict[str, Any] = {}
    given: set[str] = set()
    next_positional = 0
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token[:1] == "-" and token != "-":
            name, eq, value = token.partition("=")
            p = by_opt.get(name)
            if p is None or name[:2] != "--":
                raise _Refuse()  # help, a short option, `--`, an unknown or abbreviated option
            dest = p["name"]
            if p["type"]["kind"] == "flag":
                if eq or dest in given:
                    raise _Refuse()
                values[dest] = True
            else:
                if not eq:
                    if i >= len(args):
                        raise _Refuse()
                    value = args[i]
                    i += 1
                    if value[:1] == "-" and value != "-":
                        raise _Refuse()  # click decides whether that is a value or an option
                converted = convert(p["type"], value)
                if p["multiple"]:
                    values.setdefault(dest, []).append(converted)
                elif dest in given:
                    raise _Refuse()
                else:
                    values[dest] = converted
            given.add(dest)
        else:
            if next_positional >= len(positional):
                raise _Refuse()  # an extra argument: click's usage error
            p = positional[next_positional]
            next_positional += 1
            values[p["name"]] = convert(p["type"], token)
            given.add(p["name"])
    kw: dict[str, Any] = {}
    for p in spec["params"]:
        dest = p["name"]
        if dest in values:
            kw[dest] = tuple(values[dest]) if p.get("multiple") else values[dest]
        elif p["required"]:
            raise _Refuse()
        else:
            kw[dest] = tuple(p["absent"]) if p.get("multiple") else p["absent"]
    return kw, given


def convert(t: dict[str, Any], value: str) -> Any:
    """`value` as click's type would convert it, when click would accept it; else _Refuse."""
    kind = t["kind"]
    if kind == "string":
        return value
    if kind == "choice":
        if value not in t["choices"]:
            raise _Refuse()
        return value
    if kind == "path":
        if t["file_okay"] and t["allow_dash"] and value == "-":
            return value
        try:
            st = os.stat(value)
        except (OSError, ValueError):
            if t["exists"]:
                raise _Refuse() from None
            return value
        if (not t["file_okay"] and stat.S_ISREG(st.st_mode)) or (not t["dir_okay"] and stat.S_ISDIR(st.st_mode)):
            raise _Refuse()
        for flag, mode in (("readable", os.R_OK), ("writable", os.W_OK), ("executable", os.X_OK)):
            if t[flag] and not os.access(value, mode):
                raise _Refuse()
        return value
    if kind == "float_range":
        try:
            number = float(value)
        except ValueError:
            raise _Refuse() from None
        if not math.isfinite(number):
            raise _Refuse()
        lo, hi = t["min"], t["max"]
        if lo is not None and (number < lo or (t["min_open"] and number == lo)):
            raise _Refuse()
        if hi is not None and (number > hi or (t["max_open"] and number == hi)):
            raise _Refuse()
        return number
    if kind == "size":
        from inferguard.cli.sizes import parse_size

        size = parse_size(value)
        if size is None:
            raise _Refuse()
        return size
    raise _Refuse()  # a kind this build does not know: click parses it
