"""Problems (things a reader or loader could not use) and input errors (exit code 2)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing that could not be used. `line` is 1-based; `offset` is a byte offset."""

    source: str
    path: str
    message: str
    line: int | None = None
    col: int | None = None
    offset: int | None = None
    rule: str | None = None

    def location(self) -> str:
        loc = self.path or "<input>"
        if self.line is not None:
            loc += f":{self.line}"
            if self.col is not None:
                loc += f":{self.col}"
        elif self.offset is not None:
            loc += f"@{self.offset}"
        return loc

    def format(self) -> str:
        tail = f" ({self.rule})" if self.rule else ""
        return f"{self.location()}: {self.message}{tail}"

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


class InputError(Exception):
    """Bad input or usage: the CLI prints one line and exits 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        loc = ""
        if path:
            loc = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(loc + message)
