"""Regular expressions compiled once per machine, not once per process.

Python compiles a regex in Python (parse, then code generation), which for the log
patterns' line scanner and its bulk groups costs more than reading a small log. `compile`
keeps the generated code of every pattern it compiles in the user cache directory
(`$XDG_CACHE_HOME/inferguard/regex-<key>.marshal`) and builds the next process's pattern
from it directly, with the same engine call `re.compile` ends with: the pattern object is
the one `re.compile` returns (same pattern, flags, groups, group names and code).

The entry is keyed by the interpreter (version, implementation, the regex engine's magic
number and code size): another Python never reads it. It is sealed as every per-user entry
is (core/usercache.py: its whole key, a CRC-32 of its payload), and is used only when both
match and it is a regular file of the current user. Anything unexpected (no cache directory, an unreadable, foreign or corrupt
entry, an interpreter whose regex internals differ) falls back to `re.compile` and costs
nothing else; the entry is written at exit, atomically, when this process compiled
patterns it did not hold. Each pattern's code is kept as its own marshal string, decoded
only when that pattern is asked for, so a large entry costs little more to open than a
small one; past MAX_ENTRIES patterns or TABLE_BYTES, only the patterns this process used
are written back.
"""
from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

FORMAT = 3
MAX_ENTRIES = 2000
TABLE_BYTES = 8 * 1024 * 1024
MAX_BYTES = 64 * 1024 * 1024
_MAGIC = b"inferguard-regex\n"

_table: dict[tuple[Any, int], bytes] | None = None   # (pattern, flags) -> marshal of the engine arguments
_used: set[tuple[Any, int]] = set()                  # patterns this process asked for
_added = 0
_disabled = False


def _key() -> str:
    import _sre

    impl = sys.implementation
    return (f"{FORMAT}|{sys.version}|{impl.name}|{getattr(impl, 'cache_tag', '')}|{sys.hexversion}|"
            f"{_sre.MAGIC}|{_sre.CODESIZE}|{sys.maxunicode}")


def _path() -> str | None:
    from inferguard.core.usercache import cache_dir, short_name

    base = cache_dir()
    if base is None:
        return None
    return os.path.join(base, "regex-" + short_name(_key().encode()) + ".marshal")


def _load() -> dict[tuple[Any, int], tuple]:
    global _table
    _table = {}
    path = _path()
    if path is None:
        return _table
    from inferguard.core.usercache import read_own_file, unseal

    payload = unseal(read_own_file(path, MAX_BYTES + 1), _MAGIC, _key().encode())
    if payload is None:
        return _table
    import marshal

    try:
        data = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return _table
    if isinstance(data, dict):
        _table = data
    return _table


def _save() -> None:
    """Write the table back (atexit); best effort, atomic, never raises."""
    if not _added or _table is None:
        return
    try:
        import marshal

        path = _path()
        if path is None:
            return
        table = _table
        if len(table) > MAX_ENTRIES or sum(len(v) for v in table.values()) > TABLE_BYTES:
            table = {k: v for k, v in table.items() if k in _used}
        from inferguard.core.usercache import seal, write_own_file

        blob = seal(_MAGIC, _key().encode(), marshal.dumps(table))
        if len(blob) > MAX_BYTES:
            return
        write_own_file(path, blob, ".regex-")
    except (OSError, ValueError):
        pass  # no writable cache: patterns are compiled in every process


def _build(pattern: Any, flags: int) -> tuple:
    """The arguments re.compile hands the regex engine for `pattern` (what re._compiler.compile computes)."""
    from re import _compiler, _parser  # type: ignore[attr-defined]

    p = _parser.parse(pattern, flags)
    code = _compiler._code(p, flags)
    groupindex = dict(p.state.groupdict)
    indexgroup = [None] * p.state.groups
    for k, i in groupindex.items():
        indexgroup[i] = k
    # plain ints: the opcodes are int subclasses, which marshal does not write
    return (int(flags | p.state.flags), [int(c) for c in code], int(p.state.groups - 1), groupindex, tuple(indexgroup))


def compile(pattern: str | bytes, flags: int = 0) -> re.Pattern:  # noqa: A001 - re.compile's name
    """re.compile(pattern, flags), its code taken from the cache when this machine compiled it before."""
    global _added, _disabled
    flags = int(flags)
    if _disabled:
        return re.compile(pattern, flags)
    table = _table if _table is not None else _load()
    k = (pattern, flags)
    _used.add(k)
    blob = table.get(k)
    import _sre

    if blob is not None:
        import marshal

        try:
            return _sre.compile(pattern, *marshal.loads(blob))
        except (TypeError, ValueError, RuntimeError, OverflowError, EOFError):
            del table[k]  # an entry this engine refuses: compiled again below
    try:
        args = _build(pattern, flags)
        compiled = _sre.compile(pattern, *args)
    except re.error:
        raise
    except (ImportError, AttributeError, TypeError, ValueError, RuntimeError, OverflowError):
        # the pattern is refused (re.compile raises the same), or the regex internals are not
        # what this module expects on this interpreter: from now on, the plain way
        compiled = re.compile(pattern, flags)
        _disabled = True
        return compiled
    import marshal

    table[k] = marshal.dumps(args)
    if not _added:
        import atexit

        atexit.register(_save)
    _added += 1
    return compiled
