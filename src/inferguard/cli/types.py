"""Click parameter types shared by the commands (click and the standard library only)."""
from __future__ import annotations

from typing import Any

import click


class SizeType(click.ParamType):
    """A byte count: `1048576`, `512K`, `256M`, `1G` (powers of 1024)."""

    name = "SIZE"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in ("K", "M", "G") else ""
        number = text[: len(text) - len(unit)]
        if not number.isdigit() or int(number) * self._UNITS[unit] < 1024:
            self.fail(f"{value!r} is not a size of at least 1K (e.g. 1048576, 512M, 2G)", param, ctx)
        return int(number) * self._UNITS[unit]
