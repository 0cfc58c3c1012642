"""Path texts as pathlib writes them, without importing pathlib.

Importing pathlib (with urllib.parse and ipaddress behind it) costs about 6 ms, paid by every
command that only needs to list a folder, join a name and show a path. These functions give
the strings `pathlib.PurePosixPath` would: `pure(p)` is `str(PurePath(p))`, `parts(p)` its
`.parts`, `join(base, name)` is `str(PurePath(base) / name)` for a plain name, and
`relative_to(p, base)` is `str(PurePath(p).relative_to(base))` or None where pathlib raises.
On a system whose separator is not `/` they ask pathlib itself.
"""
from __future__ import annotations

import os

_POSIX = os.sep == "/" and not os.altsep


def pure(p: str | os.PathLike[str]) -> str:
    """The text of PurePath(p): repeated and trailing separators and `.` parts dropped (`..`
    kept), `.` for an empty path, and POSIX's `//` root kept."""
    s = os.fspath(p)
    if not _POSIX:
        from pathlib import PurePath

        return str(PurePath(s))
    root = "//" if s.startswith("//") and not s.startswith("///") else "/" if s.startswith("/") else ""
    rest = "/".join(x for x in s.split("/") if x and x != ".")
    return root + rest if (root or rest) else "."


def parts(p: str) -> tuple[str, ...]:
    """PurePath(p).parts."""
    if not _POSIX:
        from pathlib import PurePath

        return PurePath(p).parts
    s = pure(p)
    root = "//" if s.startswith("//") else "/" if s.startswith("/") else ""
    rest = tuple(x for x in s[len(root):].split("/") if x and x != ".")
    return ((root,) if root else ()) + rest


def join(base: str, name: str) -> str:
    """str(PurePath(base) / name) for a single name (no separator in it)."""
    b = pure(base)
    if b == ".":
        return name
    return b + name if b.endswith("/") else b + "/" + name if _POSIX else os.path.join(b, name)


def relative_to(p: str, base: str) -> str | None:
    """str(PurePath(p).relative_to(base)), or None when `p` is not under `base`."""
    pp, bp = parts(p), parts(base)
    if pp[:len(bp)] != bp or (not bp and pure(p).startswith("/")):   # "." holds no absolute path
        return None
    rest = pp[len(bp):]
    return "/".join(rest) if rest else "."


def within(p: str, base: str) -> bool:
    """PurePath(base) in PurePath(p).parents."""
    pp, bp = parts(p), parts(base)
    if not bp:                      # "." is a parent of every relative path, of no absolute one
        return bool(pp) and not pure(p).startswith("/")
    return len(pp) > len(bp) and pp[:len(bp)] == bp
