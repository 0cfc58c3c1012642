"""Prometheus text exposition 0.0.4 and OpenMetrics 1.0 reader.

One pass over the lines, streaming. Only families that the spec's exposed-name index knows
are kept sample by sample; every other family is only counted. Labels are kept as the raw
label text per series and decoded lazily (once per distinct series), which is where a
Python exposition parser otherwise spends most of its time.

What the reader guarantees:
- a sample timestamp is never taken as the value (`foo 1.5 1700000000000` is 1.5);
- `_created` series are metadata: recorded apart, never as samples of their family;
- histogram and summary series (`_bucket`, `_sum`, `_count`) are grouped into their family;
- a duplicate series (same name and label text twice) is a problem, the first value kept;
- a line that cannot be parsed is a problem with its line number; the rest is still used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from inferguard.names import fold
from inferguard.readers.base import ReadResult

_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_LABEL_BLOCK_RE = re.compile(r'\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\}')
_UNESCAPE_RE = re.compile(r'\\(.)')
_UNESCAPE = {"n": "\n", "\\": "\\", '"': '"'}
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram"}
_SPECIAL_FLOATS = {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf"), "Inf": float("inf")}


def parse_labels(text: str) -> dict[str, str] | None:
    """Decode the inside of a `{...}` label block; None when it is malformed."""
    if not text.strip():
        return {}
    if "\\" not in text:
        # Without escapes no quote can occur inside a value, so `",` separates pairs exactly.
        out: dict[str, str] = {}
        for part in text.split('",'):
            part = part.strip()
            if not part or part == ",":
                continue
            key, sep, value = part.partition('="')
            if not sep:
                key, sep, value = part.partition("=")
                if not sep:
                    return None
                key = key.strip()
                value = value.strip()
                if not value.startswith('"'):
                    return None
                value = value[1:]
            if value.endswith('"'):
                value = value[:-1]
            elif value.endswith('",'):
                value = value[:-2]
            key = key.strip()
            if not key or '"' in value or not (key[0].isalpha() or key[0] == "_"):
                return None
            out[key] = value
        return out
    out = {}
    pos = 0
    n = len(text)
    while pos < n:
        m = _LABEL_RE.match(text, pos)
        if not m:
            if text[pos:].strip() in ("", ","):
                break
            return None
        out[m.group(1)] = _UNESCAPE_RE.sub(lambda mm: _UNESCAPE.get(mm.group(1), "\\" + mm.group(1)), m.group(2))
        pos = m.end()
    return out


def parse_float(token: str) -> float | None:
    v = _SPECIAL_FLOATS.get(token)
    if v is not None:
        return v
    try:
        return float(token)
    except ValueError:
        return None


@dataclass
class FamilyData:
    """Samples of one exposed family that the spec index knows (raw label text -> value)."""

    name: str
    type: str
    metric_id: str
    samples: dict[str, float] = field(default_factory=dict)              # counter/gauge/info
    sums: dict[str, float] = field(default_factory=dict)                 # histogram/summary
    counts: dict[str, float] = field(default_factory=dict)
    buckets: list[tuple[str, float]] = field(default_factory=list)       # raw labels incl. le
    quantiles: list[tuple[str, float]] = field(default_factory=list)
    created: int = 0
    first_line: int = 0


@dataclass
class Exposition:
    """What one scrape said: indexed families in detail, the rest as counts."""

    path: str
    format: str = "prometheus-text-0.0.4"
    families: dict[str, FamilyData] = field(default_factory=dict)        # by exposed family name
    other_families: dict[str, int] = field(default_factory=dict)         # unindexed: samples
    types: dict[str, str] = field(default_factory=dict)
    helps: int = 0
    samples: int = 0
    created_series: int = 0
    lines: int = 0


def _resolve(name: str, types: dict[str, str]) -> tuple[str, str, str]:
    """(family name, role, type) for a sample name. role: value|sum|count|bucket|quantile|created."""
    t = types.get(name)
    if t is not None and t not in ("histogram", "summary", "gaugehistogram"):
        return name, "value", t
    for suffix, role in (("_bucket", "bucket"), ("_sum", "sum"), ("_count", "count"), ("_created", "created"),
                         ("_total", "value"), ("_gsum", "sum"), ("_gcount", "count"), ("_info", "value")):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            bt = types.get(base)
            if bt is not None:
                if role == "created":
                    return base, "created", bt
                if bt in ("histogram", "gaugehistogram") and role in ("bucket", "sum", "count"):
                    return base, role, bt
                if bt == "summary" and role in ("sum", "count"):
                    return base, role, bt
                if bt == "counter" and role == "value" and suffix == "_total":
                    return base, "value", bt
                if bt == "info" and suffix == "_info":
                    return base, "value", bt
    if t is not None:  # a histogram/summary family name used as a plain sample (quantile line)
        return name, ("quantile" if t == "summary" else "value"), t
    if name.endswith("_created"):
        return name[:-8], "created", "unknown"
    return name, "value", "untyped"


def read(
    path: str,
    lookup: Callable[[str], Any] | None = None,
    *,
    lines: Iterable[str] | None = None,
) -> tuple[Exposition, ReadResult]:
    """Parse one exposition. `lookup(exposed family name)` returns a metric id or None.

    `lines` may be given instead of opening `path` (a fetched scrape)."""
    result = ReadResult("prometheus", path)
    expo = Exposition(path)
    types = expo.types
    resolved: dict[str, tuple[str, str, str, FamilyData | None]] = {}
    other = expo.other_families
    families = expo.families
    seen_other: set[str] = set()
    samples = 0
    created = 0
    lineno = 0
    fh = None
    if lines is None:
        try:
            fh = open(path, "r", encoding="utf-8", errors="replace", newline=None)
        except OSError as exc:
            result.problem(f"cannot read: {exc.strerror}")
            return expo, result
        lines = fh
    label_block = _LABEL_BLOCK_RE.match
    try:
        for lineno, line in enumerate(lines, 1):
            if line.endswith("\n"):
                line = line[:-1]
            if not line:
                continue
            if line[0] == "#":
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] == "TYPE":
                    if len(parts) < 4 or parts[3].strip() not in _TYPES:
                        result.problem("malformed TYPE line", line=lineno)
                        continue
                    fam, typ = parts[2], parts[3].strip()
                    if fam in types and types[fam] != typ:
                        result.problem(f"family {fam!r} declared twice with different types", line=lineno)
                    types[fam] = typ
                    resolved.clear() if resolved else None
                elif len(parts) >= 2 and parts[1] == "HELP":
                    expo.helps += 1
                elif len(parts) >= 2 and parts[1] == "EOF":
                    expo.format = "openmetrics-1.0.0"
                continue
            brace = line.find("{")
            space = line.find(" ")
            if brace != -1 and (space == -1 or brace < space):
                name = line[:brace]
                m = label_block(line, brace)
                if m is None:
                    result.problem("unterminated or malformed label set", line=lineno)
                    continue
                raw = line[brace + 1 : m.end() - 1]
                rest = line[m.end():]
            else:
                if space == -1:
                    result.problem("sample has no value", line=lineno)
                    continue
                name = line[:space]
                raw = ""
                rest = line[space:]
            tokens = rest.split()
            if not tokens:
                result.problem("sample has no value", line=lineno)
                continue
            value = parse_float(tokens[0])
            if value is None:
                result.problem(f"value {tokens[0][:40]!r} is not a number", line=lineno)
                continue
            if len(tokens) > 1 and tokens[1] != "#" and parse_float(tokens[1]) is None:
                result.problem(f"timestamp {tokens[1][:40]!r} is not a number", line=lineno)
                continue
            info = resolved.get(name)
            if info is None:
                fam, role, typ = _resolve(name, types)
                fdata = families.get(fam)
                if fdata is None and lookup is not None:
                    mid = lookup(fam)
                    if mid is None and fam != name:
                        mid = lookup(name)
                    if mid is not None:
                        fdata = FamilyData(fam, typ, mid, first_line=lineno)
                        families[fam] = fdata
                info = (fam, role, typ, fdata)
                resolved[name] = info
            fam, role, typ, fdata = info
            if role == "created":
                created += 1
                if fdata is not None:
                    fdata.created += 1
                continue
            samples += 1
            if fdata is None:
                other[fam] = other.get(fam, 0) + 1
                key = name + "{" + raw
                if key in seen_other:
                    result.problem(f"duplicate series {name}{{{raw[:80]}}}", line=lineno)
                else:
                    seen_other.add(key)
                continue
            if role == "value":
                store = fdata.samples
            elif role == "sum":
                store = fdata.sums
            elif role == "count":
                store = fdata.counts
            elif role == "bucket":
                fdata.buckets.append((raw, value))
                continue
            else:
                fdata.quantiles.append((raw, value))
                continue
            if raw in store:
                result.problem(f"duplicate series {name}{{{raw[:80]}}}", line=lineno)
                continue
            store[raw] = value
    except OSError as exc:
        result.problem(f"read error: {exc.strerror}", line=lineno)
    finally:
        if fh is not None:
            fh.close()
    expo.samples = samples
    expo.created_series = created
    expo.lines = lineno
    result.records = samples
    result.summary = {
        "format": expo.format,
        "lines": lineno,
        "samples": samples,
        "created_series": created,
        "families": len(families) + len(other),
        "indexed_families": len(families),
    }
    result.signals = {"samples": samples, "families": len(families) + len(other)}
    return expo, result
