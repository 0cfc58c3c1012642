"""The contract every reader keeps: bytes in, an evidence fragment plus problems out.

A reader never evaluates (no thresholds, no statuses), never raises on bad input, and
streams its input so memory stays bounded. What it understood goes into `summary`
(lane-specific, JSON-serializable) and into `signals` (named counts: how many records of
each kind were seen). The engine judges lanes only through `signals`, with the names the
Surfaces spec lists, so a count of 0 is `present_zero` and a missing lane is `absent`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

from inferguard.problems import Problem

MAX_PROBLEMS = 200  # problems kept per source; the rest are counted in `problems_dropped`


@dataclass
class ReadResult:
    reader: str                       # reader id, e.g. "prometheus", "lmcache_log", "lct"
    path: str                         # what was read (a file path or a URL)
    summary: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    records: int = 0                  # records (lines, frames, rows, samples) understood
    problems_dropped: int = 0

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


def iter_json_objects(path: str, res: ReadResult, max_line_chars: int) -> Iterator[tuple[int, dict | None]]:
    """(line number, object) for each non-blank line of a JSONL file, streamed.

    A line that is not a JSON object yields (line, None) after its problem is recorded, so a
    caller can count it; an overlong line is recorded and skipped; an unreadable file is one
    problem. Never raises on bad input."""
    import json

    lineno = 0
    try:
        with open(path, "r", encoding="utf-8", errors="replace", newline="\n") as f:
            for lineno, line in enumerate(f, 1):
                if len(line) > max_line_chars:
                    res.problem(f"line longer than {max_line_chars} characters skipped", lineno, path=path)
                    continue
                s = line.strip()
                if not s:
                    continue
                try:
                    obj = json.loads(s)
                except (ValueError, RecursionError) as exc:
                    # ValueError: not JSON, or an integer past Python's digit limit;
                    # RecursionError: nested deeper than the decoder's stack.
                    msg = getattr(exc, "msg", None) or ("nested too deeply" if isinstance(exc, RecursionError)
                                                        else str(exc).split(";")[0][:120])
                    if not line.endswith("\n"):
                        res.problem(f"last line is cut short (no newline, not JSON: {msg})", lineno, path=path)
                    else:
                        res.problem(f"not JSON: {msg}", lineno, path=path)
                    yield lineno, None
                    continue
                if not isinstance(obj, dict):
                    res.problem("not a JSON object", lineno, path=path)
                    yield lineno, None
                    continue
                yield lineno, obj
    except OSError as exc:
        res.problem(f"cannot read: {exc.strerror or exc}", lineno + 1, path=path)
