"""The OTel reader (lmcache_otel): span-per-line JSONL, collector OTLP JSON, metric records.

Expected numbers were taken by hand from the fixtures (grep -c on span names and parentSpanId,
the request spans' hit_tokens / requested_tokens attributes, the durations end-start).
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferguard.readers import otel
from inferguard.readers.base import ReadResult

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "lmcache" / "otel-0.5.6-cpu"


@pytest.fixture(scope="module")
def validator():
    from inferguard.spec.loader import schema_validator

    return schema_validator("evidence.lmcache_otel.v1.schema.json")


def _errors(validator, doc) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:160]}" for e in validator.iter_errors(doc)]


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


# --------------------------------------------------------------------------- real span-per-line slice

def test_real_span_slice(validator):
    r = otel.read(str(FIX / "otlp_spans.slice.jsonl"))
    assert r.reader == "lmcache_otel" and r.problems == []
    assert r.records == 20
    assert r.signals == {
        "spans": 20, "traces": 7, "orphan_spans": 2, "root_spans": 6, "error_spans": 0, "metrics": 0,
        "span.mp.lookup_prefetch": 7, "span.mp.store": 5, "span.mp.retrieve": 2, "span.request": 6,
    }
    s = r.summary
    assert s["formats"]["span_per_line"] == 20
    assert (s["roots"], s["orphans"], s["traces_without_root"], s["duplicate_span_ids"]) == (6, 2, 1, 0)
    assert s["integrity_complete"] is True
    # the 7th trace was cut after its lookup and store: both are orphans
    assert s["by_name"]["mp.lookup_prefetch"]["orphans"] == 1 and s["by_name"]["mp.store"]["orphans"] == 1
    assert s["by_name"]["request"]["roots"] == 6
    assert s["hit_tokens"] == {
        "source_spans": ["request", "cb.request"], "requests": 6, "with_hit_attributes": 6, "with_hits": 2,
        "hit_tokens": 512, "requested_tokens": 1536, "l1_hit_tokens": 512, "l2_hit_tokens": 0,
        "early_exit_reasons": {"(none)": 6},
    }
    req = s["by_name"]["request"]["duration_ms"]
    # request durations (ms): 70.4384 4.462592 64.580352 7.074304 10.586112 14.839552 -> nearest rank
    assert (req["p50"], req["p95"], req["max"], req["min"]) == (10.586112, 70.4384, 70.4384, 4.462592)
    assert req["sampled"] is False and req["kept"] == 6
    # stringified attributes on the child spans are summed too
    # (num_tokens of the five stores: 256, 0, 256, 256, 256)
    assert s["by_name"]["mp.store"]["attributes"]["num_tokens"] == {"count": 5, "sum": 1024, "min": 0, "max": 256}
    assert s["by_name"]["mp.lookup_prefetch"]["scopes"] == {"lmcache_mp.server": 7}
    assert s["resources"]["service.instance.id"] == {"cpu-probe-3": 20}
    assert s["time_range"]["first_start"].startswith("2026-11-29T08:31:49")
    assert _errors(validator, r.to_json()) == []


def test_real_metrics_slice_counts_metrics_not_spans(validator):
    r = otel.read(str(FIX / "otlp_metrics.slice.jsonl"))
    assert r.problems == []
    assert r.signals == {"spans": 0, "traces": 0, "orphan_spans": 0, "root_spans": 0, "error_spans": 0, "metrics": 12}
    m = r.summary["metrics"]
    assert m["records"] == 12 and sum(m["kinds"].values()) == 12
    assert m["names"]["lmcache_mp.l1_eviction_loop_ticks"] == 1
    assert r.summary["formats"]["metric_per_line"] == 12
    assert _errors(validator, r.to_json()) == []


# --------------------------------------------------------------------------- collector format (synthetic)

def test_collector_otlp_json(validator):
    r = otel.read(str(FIX / "collector_otlp.synthetic.jsonl"))
    assert r.problems == []
    assert r.signals == {
        "spans": 4, "traces": 2, "orphan_spans": 1, "root_spans": 1, "error_spans": 1, "metrics": 2,
        "span.mp.lookup_prefetch": 1, "span.mp.retrieve": 1, "span.request": 1, "span.timeout": 1,
    }
    s = r.summary
    assert s["formats"] == {"otlp_traces": 2, "otlp_metrics": 1, "otlp_logs": 0, "span_per_line": 0,
                            "metric_per_line": 0, "whole_file": 0}
    assert s["traces_without_root"] == 1 and s["orphans"] == 1
    t = s["by_name"]["timeout"]
    assert (t["error_spans"], t["exception_events"], t["orphans"], t["duration_ms"]["max"]) == (1, 1, 1, 0.0)
    assert s["by_name"]["request"]["duration_ms"]["p50"] == 12.5
    assert s["by_name"]["request"]["kinds"] == {"1": 1}
    assert s["hit_tokens"]["hit_tokens"] == 512 and s["hit_tokens"]["requested_tokens"] == 1024
    assert s["by_name"]["mp.retrieve"]["attributes"]["total_bytes"] == {"count": 1, "sum": 8192, "min": 8192, "max": 8192}
    assert s["metrics"]["points"] == 2
    assert _errors(validator, r.to_json()) == []


def test_hex_and_base64_ids_agree():
    raw = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert otel._hex_id(base64.b64encode(raw).decode(), 16) == raw.hex()
    assert otel._hex_id(raw.hex().upper(), 16) == raw.hex()
    assert otel._hex_id("HxG3kHcCOcM=", 8) == base64.b64decode("HxG3kHcCOcM=").hex()
    assert otel._hex_id("not-an-id", 8) is None and otel._hex_id("", 8) is None and otel._hex_id(7, 8) is None


def test_same_spans_in_both_forms_give_the_same_integrity(tmp_path):
    """The real slice rewritten into collector documents (hex ids) reads the same."""
    spans = [json.loads(line) for line in (FIX / "otlp_spans.slice.jsonl").read_text().splitlines()]
    docs = []
    for sp in spans:
        sp = dict(sp)
        for key, n in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
            if sp.get(key):
                sp[key] = base64.b64decode(sp[key]).hex()
        scope, resource = sp.pop("_scope"), sp.pop("_resource")
        docs.append({"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": scope}, "spans": [sp]}]}]})
    p = _write(tmp_path, "c.jsonl", "".join(json.dumps(d) + "\n" for d in docs))
    a, b = otel.read(str(FIX / "otlp_spans.slice.jsonl")), otel.read(str(p))
    assert a.signals == b.signals
    for key in ("spans", "traces", "roots", "orphans", "traces_without_root", "hit_tokens", "by_name"):
        assert a.summary[key] == b.summary[key], key


def test_pretty_printed_document_is_read_whole(tmp_path):
    doc = json.loads((FIX / "collector_otlp.synthetic.jsonl").read_text().splitlines()[0])
    r = otel.read(str(_write(tmp_path, "pretty.json", json.dumps(doc, indent=2))))
    assert r.problems == [] and r.summary["formats"]["whole_file"] == 1 and r.signals["spans"] == 3


def test_reservoir_bounds_durations(tmp_path, monkeypatch):
    monkeypatch.setattr(otel, "MAX_DURATIONS", 10)
    lines = []
    for i in range(100):
        lines.append(json.dumps({"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "request",
                                 "startTimeUnixNano": "1000000000", "endTimeUnixNano": str(1000000000 + (i + 1) * 1_000_000)}))
    r = otel.read(str(_write(tmp_path, "many.jsonl", "\n".join(lines) + "\n")))
    d = r.summary["by_name"]["request"]["duration_ms"]
    assert (d["count"], d["kept"], d["sampled"], d["max"], d["min"]) == (100, 10, True, 100.0, 1.0)
    assert d["mean"] == 50.5


# --------------------------------------------------------------------------- bad input

def test_truncated_and_garbage_lines(tmp_path, validator):
    good = (FIX / "otlp_spans.slice.jsonl").read_bytes().splitlines(keepends=True)
    data = good[0] + good[1][: len(good[1]) // 2] + b"\n" + b"\xff\xfe\x00garbage\n" + b"[1, 2]\n" + b'{"x": 1}\n' + good[2][:-1]
    r = otel.read(str(_write(tmp_path, "t.jsonl", data)))
    by_line = {p.line: p.message for p in r.problems}
    assert "not JSON" in by_line[2]
    assert "not valid UTF-8" in by_line[3]
    assert "not a JSON object" in by_line[4]
    assert "not an OTLP export document" in by_line[5]
    assert r.signals["spans"] == 2 and r.records == 2
    assert _errors(validator, r.to_json()) == []


def test_spans_with_bad_fields(tmp_path, validator):
    lines = [
        {"traceId": "zz", "spanId": 5, "name": "request", "startTimeUnixNano": "x", "endTimeUnixNano": None},
        {"traceId": "0" * 32, "spanId": "1" * 16, "parentSpanId": "bad!", "name": 7, "status": {"code": [1]},
         "attributes": [{"key": "hit_tokens", "value": {"intValue": "nope"}}, {"key": 3}, "x"], "events": "e"},
        {"resourceSpans": [{"resource": [], "scopeSpans": [{"scope": "s", "spans": [1, {"name": "x"}]}]}, 5]},
        {"resourceMetrics": {"x": 1}},
    ]
    r = otel.read(str(_write(tmp_path, "b.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")))
    assert r.signals["spans"] == 3          # the bare `1` in a spans list is a problem, not a span
    assert any(p.line == 3 and "span is not a JSON object" in p.message for p in r.problems)
    assert r.summary["invalid_ids"] == 3
    assert r.summary["by_name"]["request"]["invalid_durations"] == 1
    assert _errors(validator, r.to_json()) == []


def test_missing_file(tmp_path):
    r = otel.read(str(tmp_path / "nope.jsonl"))
    assert r.problems and "cannot read" in r.problems[0].message and r.signals["spans"] == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(tmp_path_factory, validator, data):
    p = tmp_path_factory.mktemp("o") / "x.jsonl"
    p.write_bytes(data)
    r = otel.read(str(p))
    assert isinstance(r, ReadResult) and isinstance(r.problems, list)
    assert _errors(validator, r.to_json()) == []


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from(["request", "mp.store", "HxG3kHcCOcM=", "0" * 32, "1795941109447470336", "STATUS_CODE_ERROR"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "resource", "scope", "name", "traceId", "spanId",
                         "parentSpanId", "startTimeUnixNano", "endTimeUnixNano", "attributes", "key", "value",
                         "intValue", "stringValue", "status", "code", "events", "resourceMetrics", "scopeMetrics",
                         "metrics", "gauge", "sum", "dataPoints", "_scope", "_resource", "kind"]),
        children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(JSONISH, max_size=5))
def test_otlp_shaped_json_never_raises(tmp_path_factory, validator, docs):
    p = tmp_path_factory.mktemp("j") / "x.jsonl"
    p.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    r = otel.read(str(p))
    assert isinstance(r.problems, list)
    assert _errors(validator, r.to_json()) == []


def test_integrity_cap(tmp_path, monkeypatch, validator):
    monkeypatch.setattr(otel, "MAX_SPAN_IDS", 5)
    lines = [json.dumps({"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "request",
                         "startTimeUnixNano": "1", "endTimeUnixNano": "2"}) for i in range(12)]
    r = otel.read(str(_write(tmp_path, "cap.jsonl", "\n".join(lines) + "\n")))
    s = r.summary
    assert s["integrity_complete"] is False and s["orphans"] is None and s["traces"] is None
    assert r.signals["spans"] == 12 and r.signals["traces"] == 5 and r.signals["root_spans"] == 12
    assert _errors(validator, r.to_json()) == []
