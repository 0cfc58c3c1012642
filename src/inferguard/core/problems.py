"""Problems (things a reader or loader could not use) and input errors (exit code 2)."""
from __future__ import annotations

from inferguard.core.record import FrozenRecord


class Problem(FrozenRecord):
    """One thing that could not be used. `line` is 1-based; `offset` is a byte offset."""

    _fields = ("source", "path", "message", "line", "col", "offset", "rule")

    def __init__(self, source: str, path: str, message: str, line: int | None = None, col: int | None = None,
                 offset: int | None = None, rule: str | None = None) -> None:
        set_ = object.__setattr__
        set_(self, "source", source)
        set_(self, "path", path)
        set_(self, "message", message)
        set_(self, "line", line)
        set_(self, "col", col)
        set_(self, "offset", offset)
        set_(self, "rule", rule)

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
        """`path:line:col: check-id: message` (the check id only where there is one)."""
        rule = f"{self.rule}: " if self.rule else ""
        return f"{self.location()}: {rule}{self.message}"

    def to_json(self) -> dict:
        return {k: v for k in self._fields if (v := getattr(self, k)) is not None}


class InputError(Exception):
    """Bad input or usage: the CLI prints one line and exits 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        loc = ""
        if path:
            loc = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(loc + message)


# Exit codes of every command (documented in the README and in `inferguard --help`).
EXIT_OK = 0          # ran; nothing at or above --fail-on
EXIT_FINDINGS = 1    # findings at or above --fail-on
EXIT_INPUT = 2       # usage or input error: one line naming the file (and line)
EXIT_INTERNAL = 3    # a defect of InferGuard or a broken install: one line `internal error: ...`
EXIT_INTERRUPTED = 130

INTERNAL_ERROR_LOG_ENV = "INFERGUARD_INTERNAL_ERROR_LOG"


class InternalError(Exception):
    """A defect of ours or a broken install, raised on purpose; the CLI exits 3."""


def internal_error_line(exc: BaseException, where: str = "") -> str:
    """One line describing an exception raised by InferGuard's own code, and a record of it.

    When INFERGUARD_INTERNAL_ERROR_LOG names a file, one JSON line is appended to it: the test
    suite sets it, so an internal error anywhere (in-process or in a subprocess) fails the test
    in which it happened, even when the command went on and exited cleanly."""
    import json
    import os
    import traceback

    msg = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")
    if where:
        line = f"{where}: {line}"
    log = os.environ.get(INTERNAL_ERROR_LOG_ENV)
    if log:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "error": line, "traceback": tb}) + "\n")
    return line
