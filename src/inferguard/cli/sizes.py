"""Byte counts on the command line: `1048576`, `512K`, `256M`, `1G` (powers of 1024). No click."""
from __future__ import annotations

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
SIZE_HELP = "is not a size of at least 1K (e.g. 1048576, 512M, 2G)"


def parse_size(text: str) -> int | None:
    """The byte count `text` names, or None when it is not a size of at least 1 KiB."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in ("K", "M", "G") else ""
    number = text[: len(text) - len(unit)]
    if not (number.isascii() and number.isdigit()) or int(number) * _UNITS[unit] < 1024:
        return None
    return int(number) * _UNITS[unit]
