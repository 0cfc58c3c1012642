"""The commonest context file, read without PyYAML: a flat mapping of plain words.

A packet's `context.yaml` is a few lines such as `expected_lmcache_mode: mp` or
`l2_configured: false`. Importing PyYAML costs more than the rest of reading a small packet,
so `read_flat` reads exactly that form and declines anything else (returns NOT_FLAT), which
then goes to the full safe loader. What it accepts it reads as PyYAML's safe loader does
(YAML 1.1 resolution of plain scalars): every key and value is a plain scalar that starts
with a letter, so it can only resolve to a boolean, null or a string.

Accepted, line by line (the whole text printable ASCII and `\\n` only):
  - a blank line, or a comment line (`#` after optional blanks);
  - `key: value` at column 0, with an optional ` # comment` after the value, where key is
    `[A-Za-z_][A-Za-z0-9_]*` and not a boolean or null word, and value is
    `[A-Za-z][A-Za-z0-9_-]*`.
Anything else (a BOM, a tab, `\\r`, indentation, flow or block collections, quotes, numbers,
a key given twice, document markers, directives) is NOT_FLAT.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.core import recache

NOT_FLAT = object()

# PyYAML's implicit resolvers for a plain scalar starting with a letter (YAML 1.1).
_BOOL = {"yes": True, "Yes": True, "YES": True, "true": True, "True": True, "TRUE": True,
         "on": True, "On": True, "ON": True,
         "no": False, "No": False, "NO": False, "false": False, "False": False, "FALSE": False,
         "off": False, "Off": False, "OFF": False}
_NULL = {"null", "Null", "NULL"}

_LINE = recache.compile(r"([A-Za-z_][A-Za-z0-9_]*): +([A-Za-z][A-Za-z0-9_-]*)(?: +#.*)? *\Z")
_OTHER = recache.compile(r"[^\x20-\x7e\n]")


def read_flat(text: str) -> Any:
    """The mapping `text` declares (None for no document), or NOT_FLAT when it is not in
    the flat form above."""
    if _OTHER.search(text) is not None:
        return NOT_FLAT
    out: dict[str, Any] = {}
    match = _LINE.match
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if not stripped or stripped.rstrip(" ") == "" or stripped[0] == "#":
            continue
        m = match(line)
        if m is None:
            return NOT_FLAT
        key, value = m.group(1), m.group(2)
        if key in _BOOL or key in _NULL or key in out:
            return NOT_FLAT
        if value in _BOOL:
            out[key] = _BOOL[value]
        elif value in _NULL:
            out[key] = None
        else:
            out[key] = value
    return out or None
