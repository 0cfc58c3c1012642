"""Strict JSON decoding for inputs: every way a JSON input can be bad is one error with a
byte offset, never a silent repair and never an exception that escapes as our defect.

- invalid UTF-8 is an error at the byte where it starts (never replaced by U+FFFD);
- an integer longer than Python converts (4,300 digits) is an error at that number;
- nesting deeper than the decoder can follow is an error at the bracket that goes too deep;
- anything else that is not JSON is an error at the position the decoder gave.
"""
from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.core import recache

_LONG_INT_RE = recache.compile(rb"-?\d{%d,}" % 4301)


class JsonInputError(ValueError):
    """Not usable JSON. `offset` is a byte offset into the input (None when unknown)."""

    def __init__(self, message: str, offset: int | None = None):
        self.message = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte {offset})")


def _int_limit() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)
    return get() if get else 0


def _depth_offset(data: bytes, limit: int) -> int | None:
    """Byte offset of the first bracket nested deeper than `limit`, outside strings."""
    depth = 0
    in_str = False
    esc = False
    for i, c in enumerate(data):
        if in_str:
            if esc:
                esc = False
            elif c == 0x5C:
                esc = True
            elif c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return i
        elif c in (0x5D, 0x7D):
            depth -= 1
    return None


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Decode one JSON document from bytes (UTF-8, an optional BOM). Raises JsonInputError."""
    raw = bytes(data)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError("not valid UTF-8", exc.start) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not JSON: {exc.msg}", len(text[: exc.pos].encode("utf-8"))) from None
    except RecursionError:
        limit = max(1, sys.getrecursionlimit() // 2)
        at = _depth_offset(raw, limit)
        what = f"nested too deeply to read (more than {limit} levels)" if at is not None else "nested too deeply to read"
        raise JsonInputError(what, at) from None
    except ValueError as exc:
        # the only other ValueError json raises: an integer over the int/str conversion limit
        m = _LONG_INT_RE.search(raw)
        limit = _int_limit()
        what = f"an integer of more than {limit} digits" if limit else f"a number it cannot convert ({exc})"
        raise JsonInputError(what, m.start() if m else None) from None


def load_file(path: str, max_bytes: int | None = None) -> Any:
    """Decode a whole JSON file. Raises JsonInputError (bad content) or OSError."""
    with open(path, "rb") as fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonInputError(f"larger than {max_bytes} bytes; not read", max_bytes)
    return loads(data)
