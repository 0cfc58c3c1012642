"""The contract every reader keeps: bytes in, an evidence fragment plus problems out.

A reader never evaluates (no thresholds, no statuses), never raises on bad input, and
streams its input so memory stays bounded. What it understood goes into `summary`
(lane-specific, JSON-serializable) and into `signals` (named counts: how many records of
each kind were seen). The engine judges lanes only through `signals`, with the names the
Surfaces spec lists, so a count of 0 is `present_zero` and a missing lane is `absent`.
"""
from __future__ import annotations

import math

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Iterator

from inferguard.core.problems import Problem
from inferguard.core.record import Record

MAX_PROBLEMS = 200  # problems kept per source; the rest are counted in `problems_dropped`


class ReadResult(Record):
    """What one reader made of one source.

    reader: reader id, e.g. "prometheus", "lmcache_log", "lct"; path: what was read (a file
    path or a URL); records: records (lines, frames, rows, samples) understood.
    `facts` holds what a verdict is made from but is not itself written (e.g. each
    healthcheck answer the LMCache HTTP reader saw): the engine reads it
    (inferguard.engine.verdicts.judge) and writes its verdict into `summary` and `signals`.
    Never serialized."""

    _fields = ("reader", "path", "summary", "signals", "problems", "records", "problems_dropped", "facts")

    def __init__(self, reader: str, path: str, summary: dict[str, Any] | None = None,
                 signals: dict[str, int] | None = None, problems: list[Problem] | None = None,
                 records: int = 0, problems_dropped: int = 0, facts: dict[str, Any] | None = None) -> None:
        self.reader = reader
        self.path = path
        self.summary = {} if summary is None else summary
        self.signals = {} if signals is None else signals
        self.problems = [] if problems is None else problems
        self.records = records
        self.problems_dropped = problems_dropped
        self.facts = {} if facts is None else facts

    def problem(self, message: str, line: int | None = None, offset: int | None = None,
                path: str | None = None) -> None:
        """Record a problem; `path` names the file when the source is a folder of files."""
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems_dropped += 1
            return
        self.problems.append(Problem(self.reader, path or self.path, message, line=line, offset=offset))

    def bump(self, signal: str, n: int = 1) -> None:
        self.signals[signal] = self.signals.get(signal, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {
            "reader": self.reader,
            "path": self.path,
            "records": self.records,
            "signals": dict(sorted(self.signals.items())),
            "summary": self.summary,
            "problems": [p.to_json() for p in self.problems],
            "problems_dropped": self.problems_dropped,
        }


def json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


def open_input(path: str):
    """Open an input file for binary reading; a collection that hashes its inputs gets a
    file object that hashes the bytes as the reader reads them (see inferguard.readers.tap)."""
    from inferguard.readers.tap import open_tapped

    return open_tapped(path)


def bounded_lines(fh: Any, max_bytes: int) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, byte offset, raw line) for each line of a binary file, never holding more
    than `max_bytes` of one line: a longer line is read past in blocks and yielded as None."""
    lineno = 0
    offset = 0
    while True:
        raw = fh.readline(max_bytes + 1)
        if not raw:
            return
        lineno += 1
        start = offset
        offset += len(raw)
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while not raw.endswith(b"\n"):
                raw = fh.readline(1 << 20)
                if not raw:
                    break
                offset += len(raw)
            yield lineno, start, None
            continue
        yield lineno, start, raw


def iter_json_objects(path: str, res: ReadResult, max_line_chars: int) -> Iterator[tuple[int, dict | None]]:
    """(line number, object) for each non-blank line of a JSONL file, streamed.

    A line that is not a JSON object (invalid UTF-8, not JSON, an integer too long to
    convert, nested too deeply, not an object) yields (line, None) after its problem is
    recorded with the line and its byte offset, so a caller can count it; an overlong line
    is recorded and skipped; an unreadable file is one problem. Never raises on bad input."""
    from inferguard.readers.jsonio import JsonInputError, loads

    max_bytes = max_line_chars * 4  # a character is at most four UTF-8 bytes
    lineno = 0
    try:
        with open_input(path) as f:
            for lineno, start, line in bounded_lines(f, max_bytes):
                if line is None or (len(line) > max_line_chars
                                    and len(line.decode("utf-8", "replace")) > max_line_chars):
                    res.problem(f"line longer than {max_line_chars} characters skipped", lineno, offset=start, path=path)
                    continue
                if not line.strip():
                    continue
                try:
                    obj = loads(line)
                except JsonInputError as exc:
                    at = start + (exc.offset or 0)
                    if not line.endswith(b"\n") and exc.message.startswith("not JSON"):
                        res.problem(f"last line is cut short (no newline, {exc.message})", lineno, offset=at, path=path)
                    else:
                        res.problem(f"{exc.message}; line skipped", lineno, offset=at, path=path)
                    yield lineno, None
                    continue
                if not isinstance(obj, dict):
                    res.problem("not a JSON object", lineno, offset=start, path=path)
                    yield lineno, None
                    continue
                yield lineno, obj
    except OSError as exc:
        res.problem(f"cannot read: {exc.strerror or exc}", lineno + 1, path=path)
