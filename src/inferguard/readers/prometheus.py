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
- a line that cannot be parsed (bad name, malformed label set, value or timestamp that is not
  a number) is a problem with its line number; the rest is still used. Each distinct label
  text is checked once, so the check costs one set lookup per line.

Memory is bounded whatever the scrape holds: series of indexed families are what the specs
need and are kept; of every other family only the sample count is kept. The working sets
(label texts already checked, sample names already resolved, series keys checked for
duplicates, names of unindexed families, TYPE lines of unindexed families) each have a
fixed budget: past it a cache starts over, and a check that would need unbounded memory
(duplicate series of unindexed families, counts per unindexed family) stops and says so in
the summary (`unchecked_series`, `uncounted_families_samples`).

prometheus_client renders `_created` as a family of its own (`# TYPE x_created gauge` after
the counter `x_total` or the histogram `x`); such a family is recognised by the declared type
of its base and counted as `_created` metadata of that base. Without TYPE lines, `x_bucket`
series start a histogram `x`, and `x_sum`/`x_count` that follow are grouped into it; `x_sum` or
`x_count` seen first are grouped into `x` when the spec index knows `x` (and not the name itself).
Every family named by a HELP or TYPE line is recorded with its line (`declared`), so a family that
is registered but has no sample is still seen.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Callable, Iterable

from inferguard.core import recache

from inferguard.readers.base import ReadResult
from inferguard.readers.exposition import PLAIN_LABELS_RE, Exposition, FamilyData, parse_float, parse_labels

# Possessive quantifiers (no backtracking state): a regex over a long line needs constant
# memory, where the backtracking form kept about 100 bytes per character of a label set.
_LABEL_BLOCK_RE = recache.compile(r'\{(?:[^"}]++|"(?:[^"\\]++|\\.)*+")*+\}')
_METRIC_NAME_RE = recache.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
# The canonical label text (`a="x",b="y"`, no escapes, no blanks); anything else goes through parse_labels.
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram"}

# Budgets of the working sets (entries). A cache past its budget starts over; a check past
# its budget stops and the summary says how much went unchecked.
CACHE_BUDGET = 50_000          # label texts known good; sample names resolved
OTHER_KEYS_BUDGET = 100_000    # series keys of unindexed families checked for duplicates
OTHER_FAMILIES_BUDGET = 10_000  # unindexed families counted one by one
TYPES_BUDGET = 50_000          # TYPE lines kept for families the index does not know


_CREATED_OF = ("counter", "histogram", "summary", "gaugehistogram")


def _resolve(name: str, types: dict[str, str], inferred: dict[str, str]) -> tuple[str, str, str]:
    """(family name, role, type) for a sample name. role: value|sum|count|bucket|quantile|created.

    `inferred` holds histograms seen without a TYPE line (from their `_bucket` series)."""
    t = types.get(name)
    if t is not None and t not in ("histogram", "summary", "gaugehistogram"):
        if name.endswith("_created") and t in ("gauge", "untyped", "unknown"):
            # prometheus_client's 0.0.4 output: `x_created` declared as a gauge of its own.
            base = name[:-8]
            bt = types.get(base)
            if bt in _CREATED_OF:
                return base, "created", bt
            if types.get(base + "_total") == "counter":
                return base + "_total", "created", "counter"
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
        base = name[:-8]
        if types.get(base + "_total") == "counter":
            return base + "_total", "created", "counter"
        return base, "created", types.get(base, "unknown")
    # No TYPE line for the name or its base: group histogram series by their suffixes.
    if name.endswith("_bucket"):
        base = name[:-7]
        if base not in types:
            if len(inferred) < TYPES_BUDGET:
                inferred[base] = "histogram"
            return base, "bucket", "histogram"
    elif name.endswith("_sum") or name.endswith("_count"):
        base, _, suffix = name.rpartition("_")
        if base in inferred and base not in types:
            return base, suffix, inferred[base]
    return name, "value", "untyped"


def read(
    path: str,
    lookup: Callable[[str], Any] | None = None,
    *,
    lines: Iterable[str] | None = None,
    cut: str | None = None,
) -> tuple[Exposition, ReadResult]:
    """Parse one exposition. `lookup(exposed family name)` returns a metric id or None.

    `lines` may be given instead of opening `path` (a fetched scrape); `cut` says why the
    input is known to be incomplete (a body cut short by the transport or the size cap).
    A scrape whose last line has no newline was cut mid-line. Either way the cut is a
    problem, and `summary["cut"]` names the family whose samples may be cut (the family of
    the last sample line, unless a comment line for the next family came after it)."""
    result = ReadResult("prometheus", path)
    expo = Exposition(path)
    types = expo.types
    declared = expo.declared
    inferred: dict[str, str] = {}
    # sample name -> (kind, target, family data, family name); kind: 0 store in a dict,
    # 1 append to a list (bucket/quantile), 2 `_created`, 3 a family the index does not know.
    resolved: dict[str, tuple[int, Any, FamilyData | None, str]] = {}
    other = expo.other_families
    families = expo.families
    seen_other: set[str] = set()
    labels_ok: set[str] = set()  # label texts already checked (one regex per distinct text)
    samples = 0
    created = 0
    lineno = 0
    line = ""
    last_fam: str | None = None  # family of the last sample line; None after a comment line
    fh = None
    if lines is None:
        try:
            fh = open(path, "r", encoding="utf-8", errors="replace", newline=None)
        except OSError as exc:
            result.problem(f"cannot read: {exc.strerror}")
            return expo, result
        lines = fh
    label_block = _LABEL_BLOCK_RE.match
    valid_name = _METRIC_NAME_RE.match
    plain_labels = PLAIN_LABELS_RE.match
    problem = result.problem
    try:
        for lineno, line in enumerate(lines, 1):
            # The line ending stays on: every token below comes out of str.split().
            if line[:1] == "#":
                last_fam = None
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] == "TYPE":
                    if len(parts) < 4 or parts[3].strip() not in _TYPES:
                        problem("malformed TYPE line", line=lineno)
                        continue
                    fam, typ = parts[2], parts[3].strip()
                    if fam in types and types[fam] != typ:
                        problem(f"family {fam!r} declared twice with different types", line=lineno)
                    if len(types) < TYPES_BUDGET or fam in types or (lookup is not None and lookup(fam) is not None):
                        types[fam] = typ
                        declared.setdefault(fam, lineno)
                    resolved.clear()
                elif len(parts) >= 2 and parts[1] == "HELP":
                    expo.helps += 1
                    if len(parts) >= 3:
                        declared.setdefault(parts[2], lineno)
                elif len(parts) >= 2 and parts[1] == "EOF":
                    expo.format = "openmetrics-1.0.0"
                continue
            name, brace, rest = line.partition("{")
            if brace and " " not in name:
                # Fast path: the text up to the first `}` is a known-good label text, or is one
                # in the plain form (`a="x",b="y"`: no escapes, so that `}` is outside quotes).
                raw, close, rest = rest.partition("}")
                if raw not in labels_ok:
                    if not close or plain_labels(raw) is None:
                        m = label_block(line, len(name))
                        if m is None:
                            problem("unterminated or malformed label set", line=lineno)
                            continue
                        raw = line[len(name) + 1 : m.end() - 1]
                        rest = line[m.end():]
                        if raw not in labels_ok and parse_labels(raw) is None:
                            problem("malformed label set", line=lineno)
                            continue
                    if len(labels_ok) >= CACHE_BUDGET:
                        labels_ok.clear()
                    labels_ok.add(raw)
            else:
                parts = line.split(None, 1)
                if len(parts) < 2:
                    if parts:
                        problem("sample has no value", line=lineno)
                    continue  # else a blank line
                name, rest = parts
                raw = ""
            # Most samples are `value` alone: float() takes the blanks around it.
            try:
                value = float(rest)
                tok = rest
            except ValueError:
                tokens = rest.split()
                if not tokens:
                    problem("sample has no value", line=lineno)
                    continue
                tok = tokens[0]
                try:
                    value = float(tok)
                except ValueError:
                    value = None
                if value is not None and len(tokens) > 1 and tokens[1] != "#":
                    if parse_float(tokens[1]) is None:
                        problem(f"timestamp {tokens[1][:40]!r} is not a number", line=lineno)
                        continue
                    if len(tokens) > 2 and tokens[2] != "#":
                        problem(f"unexpected text after the timestamp: {tokens[2][:40]!r}", line=lineno)
                        continue
            if value is None or "_" in tok:
                problem(f"value {tok.strip()[:40]!r} is not a number", line=lineno)
                continue
            info = resolved.get(name)
            if info is None:
                if valid_name(name) is None:
                    problem(f"invalid metric name {name[:80]!r}", line=lineno)
                    continue
                fam, role, typ = _resolve(name, types, inferred)
                if role == "value" and typ == "untyped" and lookup is not None and name.endswith(("_sum", "_count")):
                    # `x_sum` / `x_count` pasted without TYPE lines and without buckets first: the
                    # series of a histogram or summary `x` when the index knows `x` and not the name.
                    base, _, suffix = name.rpartition("_")
                    if lookup(name) is None and lookup(base) is not None:
                        fam, role = base, suffix
                        inferred.setdefault(base, "untyped")
                fdata = families.get(fam)
                if role == "created":
                    # Metadata of a family already read; never the reason to keep one.
                    if fdata is None:
                        fdata = families.get(fam + "_total")
                    info = (2, None, fdata, fam)
                else:
                    if fdata is None and lookup is not None:
                        mid = lookup(fam)
                        if mid is None and fam != name:
                            mid = lookup(name)
                        if mid is not None:
                            fdata = FamilyData(fam, typ, mid, first_line=lineno)
                            families[fam] = fdata
                    if fdata is None:
                        info = (3, None, None, fam)
                    elif role == "value":
                        info = (0, fdata.samples, fdata, fam)
                    elif role == "sum":
                        info = (0, fdata.sums, fdata, fam)
                    elif role == "count":
                        info = (0, fdata.counts, fdata, fam)
                    elif role == "bucket":
                        info = (1, fdata.buckets, fdata, fam)
                    else:
                        info = (1, fdata.quantiles, fdata, fam)
                if len(resolved) >= CACHE_BUDGET:
                    resolved.clear()
                resolved[name] = info
            kind, store, fdata, fam = info
            last_fam = fam
            if kind == 0:
                samples += 1
                if raw in store:
                    problem(f"duplicate series {name}{{{raw[:80]}}}", line=lineno)
                    continue
                store[raw] = value
            elif kind == 1:
                samples += 1
                listed = fdata.listed_keys
                if raw in listed:
                    problem(f"duplicate series {name}{{{raw[:80]}}}", line=lineno)
                    continue
                listed.add(raw)
                store.append((raw, value))
            elif kind == 2:
                created += 1
                if fdata is not None:
                    fdata.created += 1
            else:
                samples += 1
                if fam in other:
                    other[fam] += 1
                elif len(other) < OTHER_FAMILIES_BUDGET:
                    other[fam] = 1
                else:
                    expo.other_overflow_samples += 1
                key = name + "{" + raw
                if key in seen_other:
                    problem(f"duplicate series {name}{{{raw[:80]}}}", line=lineno)
                elif len(seen_other) < OTHER_KEYS_BUDGET:
                    seen_other.add(key)
                else:
                    expo.unchecked_series += 1
    except OSError as exc:
        problem(f"read error: {exc.strerror}", line=lineno)
    finally:
        if fh is not None:
            fh.close()
    if line and not line.endswith("\n") and cut is None:
        cut = "the scrape ends mid-line (no newline after the last line)"
    if cut is not None:
        problem(f"{cut}; line {lineno} and what follows it may be missing or cut short", line=lineno or None)
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
    if expo.unchecked_series:
        result.summary["unchecked_series"] = expo.unchecked_series
    if expo.other_overflow_samples:
        result.summary["uncounted_families_samples"] = expo.other_overflow_samples
    if cut is not None:
        result.summary["cut"] = {"reason": cut, "line": lineno, "family": last_fam}
    result.signals = {"samples": samples, "families": len(families) + len(other)}
    return expo, result
