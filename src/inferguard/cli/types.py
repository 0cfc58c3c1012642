"""Click parameter types shared by the commands (click and the standard library only)."""
from __future__ import annotations

from typing import Any

import click

from inferguard.cli.sizes import SIZE_HELP, parse_size


class SizeType(click.ParamType):
    """A byte count: `1048576`, `512K`, `256M`, `1G` (powers of 1024)."""

    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        size = parse_size(str(value))
        if size is None:
            self.fail(f"{value!r} {SIZE_HELP}", param, ctx)
        return size
