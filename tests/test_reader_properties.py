"""Properties every reader keeps on any input: arbitrary bytes, real fixture files cut at any
byte, and real files with bytes spliced in.

For each reader (prometheus, lmcache_http, logs, otel, lct, trace_replay, lookup_hash,
cacheblend):
- no exception escapes;
- the result is JSON (no NaN or Infinity);
- every problem names the file it is about and a line or a byte offset in it;
- memory stays bounded: the Python heap peak while reading (tracemalloc) stays under a fixed
  allowance plus a small multiple of the input size.

The per-reader tests next to each reader check what the reader understood; these check only
that it never breaks, never loses its place, and never grows without bound.
"""
from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, scratch_dir

LMC = FIXTURES / "lmcache"

# Fixed allowance (reader state, compiled tables, the result) plus a multiple of the input:
# a reader may hold one line or one frame, never the whole history of the file.
BASE_BUDGET = 3 * 1024 * 1024
PER_BYTE = 8


def _catalog_lookup():
    from inferguard.spec import default_specs
    from inferguard.spec.metrics import catalog

    cat = catalog(default_specs())
    return lambda n: (cat.lookup(n) or (None,))[0]


def _read_prometheus(path: str):
    from inferguard.readers import prometheus

    _expo, res = prometheus.read(path, _LOOKUP[0])
    return res


def _read_logs(path: str):
    from inferguard.readers import logs

    return logs.read(path, specs=_PATTERNS[0])


def _simple(module: str) -> Callable[[str], object]:
    def read(path: str):
        import importlib

        return importlib.import_module(f"inferguard.readers.{module}").read(path)

    return read


_LOOKUP: list = [None]
_PATTERNS: list = [None]

# reader -> (read function, fixture files, file names the input is written under)
READERS: dict[str, tuple[Callable[[str], object], list[Path], list[str]]] = {
    "prometheus": (_read_prometheus,
                   [FIXTURES / "packets" / "vllm-lmcache-mp-h100" / "engine.prom",
                    LMC / "mp-0.5.6-cpu-l2" / "lmcache.prom",
                    FIXTURES / "sglang" / "healthy-hicache-pd-prefill-0.5.23" / "engine.prom"],
                   ["x.prom"]),
    "lmcache_http": (_simple("lmcache_http"),
                     [LMC / "http-0.5.6-cpu" / "http" / n for n in
                      ("GET_status_after_traffic.body", "GET_healthcheck.body", "GET_version.body",
                       "GET_periodic-threads.body", "GET_config.body")],
                     ["GET_status.body", "GET_healthcheck.body", "GET_version.body", "GET_periodic-threads.body",
                      "GET_config.body", "GET_metrics.body"]),
    "logs": (_read_logs,
             [LMC / "logs-0.5.6-cpu" / "run1_server.log", LMC / "logs-0.5.6-cpu" / "h100_lmcache_log_snippets.log"],
             ["server.log"]),
    "otel": (_simple("otel"),
             [LMC / "otel-0.5.6-cpu" / "otlp_spans.slice.jsonl", LMC / "otel-0.5.6-cpu" / "collector_otlp.synthetic.jsonl",
              LMC / "otel-0.5.6-cpu" / "otlp_metrics.slice.jsonl"],
             ["spans.jsonl"]),
    "lct": (_simple("lct"),
            [LMC / "trace-0.5.6-cpu" / "storage_trace.lct", LMC / "trace-0.5.6-cpu" / "events_trace.lct"],
            ["trace.lct"]),
    "trace_replay": (_simple("trace_replay"),
                     [LMC / "replay-0.5.6-cpu" / "replay" / n for n in
                      ("replay_records.jsonl", "trace_replay_ops.csv", "trace_replay_summary.json", "replay_stdout.log")]
                     + [LMC / "trace-0.5.6-cpu" / "trace_info_storage.txt"],
                     ["out.jsonl", "ops.csv", "summary.json", "replay.log", "info.txt"]),
    "lookup_hash": (_simple("lookup_hash"),
                    [LMC / "lookup-hash-0.5.6-cpu" / "lookup_hashes" / "lookup_hashes_20261129_082823_000000.jsonl"],
                    ["lookup_hashes_20261129_082823_000000.jsonl"]),
    "cacheblend": (_simple("cacheblend"),
                   [LMC / "cacheblend-synthetic" / "blend_boundaries.jsonl"],
                   ["blend_boundaries.jsonl"]),
}


def _existing(files: list[Path]) -> list[Path]:
    missing = [str(f) for f in files if not f.is_file()]
    assert not missing, f"fixture files missing: {missing}"
    return files


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Load the spec tables once, outside any measured read."""
    from inferguard.readers import logs

    _LOOKUP[0] = _catalog_lookup()
    _PATTERNS[0] = logs.compiled_patterns()
    d = scratch_dir("warm")
    for name, (read, _files, names) in READERS.items():
        for n in names:
            p = d / f"{name}-{n}"
            p.write_bytes(b"")
            read(str(p))
    yield


def _inputs(reader: str):
    _read, files, names = READERS[reader]
    blobs = [f.read_bytes() for f in _existing(files)]
    arbitrary = st.binary(max_size=4096)
    cut = st.tuples(st.sampled_from(blobs), st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])])
    spliced = st.tuples(st.sampled_from(blobs), st.floats(0, 1), st.binary(min_size=1, max_size=64)).map(
        lambda t: t[0][: int(len(t[0]) * t[1])] + t[2] + t[0][int(len(t[0]) * t[1]):])
    return st.tuples(st.one_of(arbitrary, cut, spliced), st.sampled_from(names))


def _check(reader: str, data: bytes, name: str):
    read = READERS[reader][0]
    d = scratch_dir(f"prop-{reader}")
    p = d / name
    p.write_bytes(data)
    tracemalloc.start()
    try:
        res = read(str(p))
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    doc = res.to_json()
    json.dumps(doc, allow_nan=False)
    for prob in res.problems:
        where = Path(prob.path) if prob.path else None
        assert where is not None and (where == p or p in where.parents), f"problem names no file: {prob}"
        assert prob.line is not None or prob.offset is not None, f"problem has no line or offset: {prob.format()}"
    budget = BASE_BUDGET + PER_BYTE * len(data)
    assert peak <= budget, f"{reader}: heap peak {peak} bytes for {len(data)} bytes of input (budget {budget})"
    return res


SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(case=_inputs("prometheus"))
def test_prometheus_any_bytes(case):
    _check("prometheus", *case)


@SETTINGS
@given(case=_inputs("lmcache_http"))
def test_lmcache_http_any_bytes(case):
    _check("lmcache_http", *case)


@SETTINGS
@given(case=_inputs("logs"))
def test_logs_any_bytes(case):
    _check("logs", *case)


@SETTINGS
@given(case=_inputs("otel"))
def test_otel_any_bytes(case):
    _check("otel", *case)


@SETTINGS
@given(case=_inputs("lct"))
def test_lct_any_bytes(case):
    _check("lct", *case)


@SETTINGS
@given(case=_inputs("trace_replay"))
def test_trace_replay_any_bytes(case):
    _check("trace_replay", *case)


@SETTINGS
@given(case=_inputs("lookup_hash"))
def test_lookup_hash_any_bytes(case):
    _check("lookup_hash", *case)


@SETTINGS
@given(case=_inputs("cacheblend"))
def test_cacheblend_any_bytes(case):
    _check("cacheblend", *case)


# ---------------------------------------------------------------- shapes random bytes seldom hit


HOSTILE = {
    "json_big_int": b'{"a": ' + b"9" * 5000 + b"}\n",
    "json_deep": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "json_deep_object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n",
    "nul_bytes": b"\x00" * 10_000,
    "utf16": "{\"name\": \"x\"}\n".encode("utf-16"),
    "invalid_utf8": b'{"name": "\xff\xfe"}\n',
    "crlf": b'{"name": "a"}\r\n{"name": "b"}\r\n',
    "long_line": b"x" * (3 * 1024 * 1024) + b"\n",
    "gzip": bytes.fromhex("1f8b0800000000000003cb48cdc9c95728cf2fca49e1020045c0e3920c000000"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_hostile_shapes(reader, shape):
    for name in READERS[reader][2][:3]:
        _check(reader, HOSTILE[shape], name)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_fixture_cut_at_every_line_end_is_read(reader):
    """Cut each real fixture after each of its first lines (and seven bytes into the next):
    the reader never breaks, and the records it understood never go down as more is given."""
    _read, files, names = READERS[reader]
    for i, f in enumerate(_existing(files)):
        blob = f.read_bytes()
        ends = [j + 1 for j, b in enumerate(blob) if b == 0x0A][:40] or [len(blob) // 2]
        cuts = sorted({c for e in ends for c in (e, min(len(blob), e + 7))} | {len(blob)})
        last = 0
        for cut in cuts:
            res = _check(reader, blob[:cut], names[min(i, len(names) - 1)])
            assert (res.records or 0) >= last, f"{f.name} cut at {cut}: {res.records} records, {last} before"
            last = res.records or 0


def test_prometheus_heap_stays_flat_when_unindexed_series_grow(monkeypatch):
    """Ten times more series of families no spec knows: the heap peak hardly moves. The
    budgets are made small so that both sizes are past them (tracemalloc is slow)."""
    from inferguard.readers import prometheus

    monkeypatch.setattr(prometheus, "OTHER_KEYS_BUDGET", 500)
    monkeypatch.setattr(prometheus, "CACHE_BUDGET", 250)
    d = scratch_dir("prom-flat")

    def peak_for(n: int) -> tuple[int, dict]:
        p = d / f"hc{n}.prom"
        with open(p, "w", encoding="utf-8") as fh:
            fh.write("# TYPE fleet_blk_total counter\n")
            for i in range(n):
                fh.write(f'fleet_blk_total{{b="{i:07x}",s="{i % 64}"}} {i}\n')
        tracemalloc.start()
        try:
            _expo, res = prometheus.read(str(p), _LOOKUP[0])
            _c, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        os.unlink(p)
        assert res.records == n
        return peak, res.summary

    small, _ = peak_for(2_000)
    large, summary = peak_for(20_000)
    assert large < 1.5 * small + 256 * 1024, (small, large)
    # Past the duplicate-check budget the summary says how many series went unchecked.
    assert summary["unchecked_series"] == 20_000 - 500
