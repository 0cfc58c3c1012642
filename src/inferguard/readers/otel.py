"""OpenTelemetry spans (and metrics) exported by LMCache (`--enable-tracing --otlp-endpoint`).

Two on-disk forms are read, line by line, and may be mixed in one file:

* OTLP JSON as the OpenTelemetry Collector's file exporter writes it: one export document per
  line, `{"resourceSpans": [{"resource": .., "scopeSpans": [{"scope": .., "spans": [..]}]}]}`,
  hex `traceId`/`spanId`, `startTimeUnixNano`/`endTimeUnixNano` as strings;
* one span per line, as a receiver flattens an OTLP/gRPC export (protobuf JSON mapping: ids in
  base64, attributes as OTLP key/value lists, `_scope` / `_resource` added beside the span).

Metric exports (`{"resourceMetrics": ..}` documents, or one metric per line with `gauge`, `sum`,
`histogram` ...) are counted as metric records, never as spans. A file that holds one
pretty-printed export document (or a JSON array) is parsed whole when it is small enough.

Per span name the summary keeps the count, error spans, roots, orphans, the duration p50 / p95 /
max (ms) and sums of the token and count attributes LMCache puts on its spans. Durations are kept
exactly for up to 100,000 spans per name; beyond that a uniform reservoir sample of 100,000 (fixed
seed, so a file always gives the same answer) stands in for the quantiles, while count, sum, min
and max stay exact. Parent/child integrity (orphans, roots, traces without a root) is tracked for
up to 1,000,000 span ids and as many trace ids; past that the summary says the check is
incomplete (`integrity_complete: false`, orphans / traces null).

The reader never evaluates; bad lines become problems with their line numbers.
"""
from __future__ import annotations

import base64
import binascii
import math
import os
import random
from array import array
from datetime import datetime, timezone
from typing import Any

from inferguard.readers.base import ReadResult, bounded_lines, open_input

READER_ID = "lmcache_otel"

MAX_LINE_BYTES = 64 * 1024 * 1024   # one export document per line can be large
WHOLE_FILE_BYTES = 64 * 1024 * 1024  # a pretty-printed document is parsed whole up to this size
MAX_DURATIONS = 100_000             # exact durations kept per span name (then a reservoir sample)
MAX_SPAN_IDS = 1_000_000            # span ids tracked for the parent/child check
MAX_NAMES = 1_000                   # distinct span names kept; the rest are counted as "(other)"
MAX_VALUES = 20                     # distinct values kept per string field
MAX_METRIC_NAMES = 500

LIMITS = {
    "max_line_bytes": MAX_LINE_BYTES,
    "max_durations_per_name": MAX_DURATIONS,
    "max_span_ids": MAX_SPAN_IDS,
    "max_names": MAX_NAMES,
    "max_values": MAX_VALUES,
    "max_metric_names": MAX_METRIC_NAMES,
}

OTHER_NAME = "(other)"

# Integer-valued span attributes LMCache sets (lmcache-surfaces.md section 5), summed per span
# name. On `request` / `cb.request` they are typed; on the child spans they are stringified.
NUMERIC_ATTRIBUTES = (
    "hit_tokens", "requested_tokens", "l1_hit_tokens", "l2_hit_tokens", "l1_hit_keys", "l2_hit_keys",
    "found_count", "stored_count", "retrieved_count", "num_tokens", "total_bytes",
    "prefix_hits", "prefix_hit_tokens", "segmented_prefix_hit_tokens", "non_prefix_hit_tokens",
    "fingerprint_hits", "storage_hits", "stale_chunks", "num_chunks", "nbytes", "num_steps",
    "scattered_tokens",
)
_NUMERIC_SET = frozenset(NUMERIC_ATTRIBUTES)
# Root spans that carry the request-level lookup result.
REQUEST_SPANS = ("request", "cb.request")
REQUEST_FIELDS = ("hit_tokens", "requested_tokens", "l1_hit_tokens", "l2_hit_tokens")
RESOURCE_KEYS = ("service.name", "service.instance.id")
METRIC_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")
_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR", "ERROR")


# --------------------------------------------------------------------------- small helpers

def _attr_value(v: Any) -> Any:
    """An OTLP AnyValue as a plain value (ints from their string form)."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in v:
        return v["doubleValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "bytesValue" in v:
        return v["bytesValue"]
    if "arrayValue" in v:
        values = _dict(v["arrayValue"]).get("values") or []
        return [_attr_value(x) for x in values] if isinstance(values, list) else None
    if "kvlistValue" in v:
        return _attributes(_dict(v["kvlistValue"]).get("values"))
    return None


def _attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for kv in items:
            if isinstance(kv, dict) and isinstance(kv.get("key"), str):
                out[kv["key"]] = _attr_value(kv.get("value"))
    elif isinstance(items, dict):        # tolerate a plain mapping
        out.update(items)
    return out


def _hex_id(value: Any, nbytes: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex, from hex or base64 text."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == nbytes * 2:
        try:
            int(value, 16)
            return value.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == nbytes else None


def _nanos(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and value:
        try:
            return int(value)
        except ValueError:
            try:
                f = float(value)
            except ValueError:
                return None
            return f if math.isfinite(f) else None
    return None


def _iso(nanos: int | None) -> str | None:
    if nanos is None:
        return None
    try:
        return datetime.fromtimestamp(nanos / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _bounded(counter: dict[str, int], key: str, limit: int = MAX_VALUES) -> None:
    if key in counter or len(counter) < limit:
        counter[key] = counter.get(key, 0) + 1
    else:
        counter[OTHER_NAME] = counter.get(OTHER_NAME, 0) + 1


def _quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[k - 1]


# --------------------------------------------------------------------------- state

class _Name:
    __slots__ = ("count", "errors", "roots", "orphans", "durations", "dur_count", "dur_sum",
                 "dur_min", "dur_max", "invalid_durations", "attributes", "kinds", "scopes", "exceptions")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.roots = 0
        self.orphans = 0
        self.durations = array("d")
        self.dur_count = 0
        self.dur_sum = 0.0
        self.dur_min = math.inf
        self.dur_max = -math.inf
        self.invalid_durations = 0
        self.attributes: dict[str, list] = {}   # attr -> [count, sum, min, max]
        self.kinds: dict[str, int] = {}
        self.scopes: dict[str, int] = {}
        self.exceptions = 0

    def duration(self, ms: float, rng: random.Random) -> None:
        self.dur_count += 1
        self.dur_sum += ms
        if ms < self.dur_min:
            self.dur_min = ms
        if ms > self.dur_max:
            self.dur_max = ms
        if len(self.durations) < MAX_DURATIONS:
            self.durations.append(ms)
        else:
            j = rng.randrange(self.dur_count)
            if j < MAX_DURATIONS:
                self.durations[j] = ms

    def to_json(self) -> dict[str, Any]:
        values = sorted(self.durations)
        dur: dict[str, Any] = {
            "count": self.dur_count,
            "p50": _round(_quantile(values, 0.50)),
            "p95": _round(_quantile(values, 0.95)),
            "max": _round(self.dur_max) if self.dur_count else None,
            "min": _round(self.dur_min) if self.dur_count else None,
            "mean": _round(self.dur_sum / self.dur_count) if self.dur_count else None,
            "sampled": self.dur_count > MAX_DURATIONS,
            "kept": len(values),
        }
        attrs = {k: {"count": c, "sum": _round(s), "min": lo, "max": hi}
                 for k, (c, s, lo, hi) in sorted(self.attributes.items())}
        return {
            "count": self.count,
            "error_spans": self.errors,
            "exception_events": self.exceptions,
            "roots": self.roots,
            "orphans": self.orphans,
            "invalid_durations": self.invalid_durations,
            "duration_ms": dur,
            "kinds": dict(sorted(self.kinds.items())),
            "scopes": dict(sorted(self.scopes.items())),
            "attributes": attrs,
        }


def _round(v: float | int | None) -> float | int | None:
    if v is None or isinstance(v, int):
        return v
    return round(v, 6)


class _State:
    def __init__(self, result: ReadResult) -> None:
        self.result = result
        self.rng = random.Random(0x5EED)
        self.lines = 0
        self.records = 0
        self.formats = {"otlp_traces": 0, "otlp_metrics": 0, "otlp_logs": 0, "span_per_line": 0,
                        "metric_per_line": 0, "whole_file": 0}
        self.spans = 0
        self.errors = 0
        self.names: dict[str, _Name] = {}
        self.span_ids: set[int] = set()
        self.duplicate_ids = 0
        self.invalid_ids = 0
        self.children: dict[int, list[str]] = {}      # parent span id -> child span names
        self.traces: set[str] = set()
        self.traces_with_root: set[str] = set()
        self.traces_capped = False
        self.integrity_complete = True
        self.first_start: int | None = None
        self.last_end: int | None = None
        self.resources: dict[str, dict[str, int]] = {k: {} for k in RESOURCE_KEYS}
        self.request: dict[str, Any] = {"spans": 0, "with_hit_attributes": 0, "with_hits": 0,
                                        "early_exit_reasons": {}, **{f: 0 for f in REQUEST_FIELDS}}
        self.metric_records = 0
        self.metric_points = 0
        self.metric_kinds: dict[str, int] = {}
        self.metric_names: dict[str, int] = {}
        self.other_records = 0

    # ---- documents --------------------------------------------------------------------

    def document(self, doc: Any, line: int | None) -> None:
        if isinstance(doc, list):
            for item in doc:
                self.document(item, line)
            return
        if not isinstance(doc, dict):
            self.result.problem("not a JSON object (expected an OTLP export document, a span or a metric)", line=line)
            return
        if "resourceSpans" in doc:
            self.records += 1
            self.formats["otlp_traces"] += 1
            for rs in _list(doc.get("resourceSpans")):
                rs = _dict(rs)
                resource = _attributes(_dict(rs.get("resource")).get("attributes"))
                for ss in _list(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")):
                    ss = _dict(ss)
                    scope = _dict(ss.get("scope") or ss.get("instrumentationLibrary")).get("name")
                    for span in _list(ss.get("spans")):
                        self.span(span, scope if isinstance(scope, str) else None, resource, line)
            return
        if "resourceMetrics" in doc:
            self.records += 1
            self.formats["otlp_metrics"] += 1
            for rm in _list(doc.get("resourceMetrics")):
                rm = _dict(rm)
                for sm in _list(rm.get("scopeMetrics") or rm.get("instrumentationLibraryMetrics")):
                    for metric in _list(_dict(sm).get("metrics")):
                        self.metric(metric)
            return
        if "resourceLogs" in doc:
            self.records += 1
            self.formats["otlp_logs"] += 1
            self.other_records += 1
            return
        if "spanId" in doc or "traceId" in doc:
            self.records += 1
            self.formats["span_per_line"] += 1
            resource = _attributes(_dict(doc.get("_resource")).get("attributes"))
            scope = doc.get("_scope")
            if isinstance(scope, dict):
                scope = scope.get("name")
            self.span(doc, scope if isinstance(scope, str) else None, resource, line)
            return
        if isinstance(doc.get("name"), str) and any(k in doc for k in METRIC_KINDS):
            self.records += 1
            self.formats["metric_per_line"] += 1
            self.metric(doc)
            return
        self.result.problem("JSON object is not an OTLP export document, a span or a metric", line=line)

    def metric(self, metric: Any) -> None:
        if not isinstance(metric, dict):
            return
        self.metric_records += 1
        name = metric.get("name")
        if isinstance(name, str):
            _bounded(self.metric_names, name, MAX_METRIC_NAMES)
        for kind in METRIC_KINDS:
            body = metric.get(kind)
            if isinstance(body, dict):
                self.metric_kinds[kind] = self.metric_kinds.get(kind, 0) + 1
                self.metric_points += len(_list(body.get("dataPoints")))
                break

    def span(self, span: Any, scope: str | None, resource: dict[str, Any], line: int | None) -> None:
        if not isinstance(span, dict):
            self.result.problem("span is not a JSON object", line=line)
            return
        self.spans += 1
        name = span.get("name")
        if not isinstance(name, str) or not name:
            name = "(unnamed)"
        st = self.names.get(name)
        if st is None:
            if len(self.names) >= MAX_NAMES:
                name = OTHER_NAME
                st = self.names.get(name)
            if st is None:
                st = self.names[name] = _Name()
        st.count += 1
        kind = span.get("kind")
        if kind is not None:
            _bounded(st.kinds, str(kind))
        if scope:
            _bounded(st.scopes, scope)
        for key in RESOURCE_KEYS:
            val = resource.get(key)
            if isinstance(val, str):
                _bounded(self.resources[key], val)
        status = span.get("status")
        if isinstance(status, dict) and status.get("code") in _ERROR_CODES:
            st.errors += 1
            self.errors += 1
        for ev in _list(span.get("events")):
            if isinstance(ev, dict) and ev.get("name") == "exception":
                st.exceptions += 1
        # ---- time
        start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
        if start is None or end is None or end < start:
            st.invalid_durations += 1
        else:
            st.duration((end - start) / 1e6, self.rng)
            if self.first_start is None or start < self.first_start:
                self.first_start = start
            if self.last_end is None or end > self.last_end:
                self.last_end = end
        # ---- ids and integrity
        trace_id = _hex_id(span.get("traceId"), 16)
        span_id = _hex_id(span.get("spanId"), 8)
        parent_raw = span.get("parentSpanId")
        parent_id = _hex_id(parent_raw, 8) if parent_raw not in (None, "") else None
        if trace_id is None or span_id is None or (parent_raw not in (None, "") and parent_id is None):
            self.invalid_ids += 1
            if self.invalid_ids <= 20:
                self.result.problem(f"span {name!r} has a missing or malformed trace/span/parent id", line=line)
        if trace_id is not None and (trace_id in self.traces or len(self.traces) < MAX_SPAN_IDS):
            self.traces.add(trace_id)
        elif trace_id is not None:
            self.traces_capped = True
        if parent_id is None and parent_raw in (None, ""):
            st.roots += 1
            if trace_id is not None and trace_id in self.traces:
                self.traces_with_root.add(trace_id)
        if span_id is not None and self.integrity_complete:
            if len(self.span_ids) >= MAX_SPAN_IDS:
                self.integrity_complete = False
                self.span_ids.clear()
                self.children.clear()
            else:
                sid = int(span_id, 16)
                if sid in self.span_ids:
                    self.duplicate_ids += 1
                self.span_ids.add(sid)
                if parent_id is not None:
                    self.children.setdefault(int(parent_id, 16), []).append(name)
        # ---- attributes
        attrs = _attributes(span.get("attributes"))
        for key, value in attrs.items():
            if key not in _NUMERIC_SET:
                continue
            num = _number(value)
            if num is None:
                continue
            agg = st.attributes.get(key)
            if agg is None:
                st.attributes[key] = [1, num, num, num]
            else:
                agg[0] += 1
                agg[1] += num
                if num < agg[2]:
                    agg[2] = num
                if num > agg[3]:
                    agg[3] = num
        if name in REQUEST_SPANS:
            req = self.request
            req["spans"] += 1
            values = {f: _number(attrs.get(f)) for f in REQUEST_FIELDS}
            if values["hit_tokens"] is not None:
                req["with_hit_attributes"] += 1
                if values["hit_tokens"] > 0:
                    req["with_hits"] += 1
                for f, v in values.items():
                    if v is not None:
                        req[f] += v
                reason = attrs.get("early_exit_reason")
                if isinstance(reason, str):
                    _bounded(req["early_exit_reasons"], reason or "(none)")

    # ---- result -----------------------------------------------------------------------

    def finish(self) -> None:
        r = self.result
        orphans = 0
        if self.integrity_complete:
            for parent, names in self.children.items():
                if parent not in self.span_ids:
                    orphans += len(names)
                    for n in names:
                        st = self.names.get(n)
                        if st is not None:
                            st.orphans += 1
        traces = None if self.traces_capped else len(self.traces)
        without_root = None if self.traces_capped else len(self.traces - self.traces_with_root)
        roots = sum(st.roots for st in self.names.values())
        req = self.request
        hit_tokens = None
        if req["spans"]:
            hit_tokens = {
                "source_spans": list(REQUEST_SPANS),
                "requests": req["spans"],
                "with_hit_attributes": req["with_hit_attributes"],
                "with_hits": req["with_hits"],
                **{f: _round(req[f]) for f in REQUEST_FIELDS},
                "early_exit_reasons": dict(sorted(req["early_exit_reasons"].items())),
            }
        r.records = self.records
        r.summary = {
            "lines": self.lines,
            "records": self.records,
            "formats": self.formats,
            "spans": self.spans,
            "traces": traces,
            "roots": roots,
            "orphans": orphans if self.integrity_complete else None,
            "traces_without_root": without_root,
            "duplicate_span_ids": self.duplicate_ids,
            "invalid_ids": self.invalid_ids,
            "error_spans": self.errors,
            "integrity_complete": self.integrity_complete,
            "time_range": {"first_start": _iso(self.first_start), "last_end": _iso(self.last_end)},
            "by_name": {name: st.to_json() for name, st in sorted(self.names.items())},
            "resources": {k: dict(sorted(v.items())) for k, v in self.resources.items()},
            "hit_tokens": hit_tokens,
            "metrics": {
                "records": self.metric_records,
                "points": self.metric_points,
                "kinds": dict(sorted(self.metric_kinds.items())),
                "names": dict(sorted(self.metric_names.items())),
            },
            "other_records": self.other_records,
            "quantiles": "nearest-rank over exact durations, or over a seeded uniform reservoir "
                         f"of {MAX_DURATIONS} per span name when more spans carry that name",
            "limits": dict(LIMITS),
        }
        r.signals["spans"] = self.spans
        r.signals["traces"] = len(self.traces)       # a lower bound when more traces than the cap
        r.signals["orphan_spans"] = orphans
        r.signals["root_spans"] = roots
        r.signals["error_spans"] = self.errors
        r.signals["metrics"] = self.metric_records
        for name, st in self.names.items():
            r.signals[f"span.{name}"] = st.count


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- streaming

def _parse(raw: bytes, lineno: int, st: _State, offset: int = 0) -> Any:
    """One JSON document, or _SKIP after its problem (line and byte offset) is recorded."""
    from inferguard.readers.jsonio import JsonInputError, loads

    if not raw.strip():
        return _SKIP
    try:
        return loads(raw)
    except JsonInputError as exc:
        at = offset + (exc.offset or 0)
        st.result.problem(f"{exc.message}; skipped", line=lineno, offset=at)
        return _SKIP


_SKIP = object()


def _looks_pretty(head: bytes) -> bool:
    """A pretty-printed document or a JSON array: the first line is not a whole JSON value."""
    stripped = head.lstrip()
    if stripped[:1] == b"[":
        return True
    first = stripped.split(b"\n", 1)[0].strip()
    return first in (b"{", b"{\r")


def _stream(fh: Any, st: _State, size: int | None) -> None:
    head = fh.read(4096)
    fh.seek(0)
    if size is not None and size <= WHOLE_FILE_BYTES and _looks_pretty(head):
        data = fh.read()
        st.lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        doc = _parse(data, 1, st)
        if doc is not _SKIP:
            st.formats["whole_file"] += 1
            st.document(doc, None)
        return
    lineno = 0
    for lineno, start, raw in bounded_lines(fh, MAX_LINE_BYTES):
        if raw is None:
            st.result.problem(f"line longer than {MAX_LINE_BYTES} bytes; skipped", line=lineno, offset=start)
            continue
        doc = _parse(raw, lineno, st, start)
        if doc is not _SKIP:
            st.document(doc, lineno)
    st.lines = lineno


def read(path: str, *, specs: Any = None) -> ReadResult:
    """Read one OTLP JSON / span-per-line file. Never raises on bad input."""
    result = ReadResult(READER_ID, str(path))
    st = _State(result)
    try:
        size = os.path.getsize(path)
        with open_input(str(path)) as fh:
            _stream(fh, st, size)
    except OSError as exc:
        result.problem(f"cannot read: {exc.strerror or exc}")
    except (MemoryError, RecursionError) as exc:  # pathological input: keep what was read
        result.problem(f"stopped reading: {type(exc).__name__}")
    st.finish()
    return result
