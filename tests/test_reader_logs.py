"""The log reader (lmcache_log) and the LogPatterns specs it runs.

Expected counts were taken by hand from the fixture files with grep on the ANSI-stripped text
(e.g. `sed 's/\\x1b\\[[0-9;]*m//g' run2_server.log | grep -c 'Failed to batched allocate'`).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferguard.readers import logs
from inferguard.readers.base import ReadResult
from inferguard.spec.kinds import log_patterns as lp
from inferguard.spec.yamlload import load_all

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "lmcache" / "logs-0.5.6-cpu"
SPEC_FILES = sorted((ROOT / "specs" / "logs").glob("*.yaml"))


@pytest.fixture(scope="module")
def patterns():
    docs = []
    for f in SPEC_FILES:
        docs.extend(load_all(f.read_text(encoding="utf-8")))
    return lp.compile(docs)


@pytest.fixture(scope="module")
def validator():
    from inferguard.spec.loader import schema_validator

    return schema_validator("evidence.lmcache_log.v1.schema.json")


def _read(path, patterns, **kw) -> ReadResult:
    return logs.read(str(path), specs=patterns, **kw)


def _nonzero(result: ReadResult) -> dict[str, int]:
    return {k: v for k, v in result.signals.items() if v}


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def _schema_errors(validator, doc) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:160]}" for e in validator.iter_errors(doc)]


# --------------------------------------------------------------------------- specs

def test_log_pattern_specs_validate():
    for f in SPEC_FILES:
        docs = load_all(f.read_text(encoding="utf-8"))
        assert len(docs) == 1 and docs[0]["kind"] == "LogPatterns"
        problems = lp.validate(docs[0], str(f))
        assert not problems, [p.format() for p in problems]


def test_log_pattern_specs_pass_the_loader():
    from inferguard.spec.loader import load_specs

    spec = load_specs(SPEC_FILES, strict=False)
    assert not spec.problems, [p.format() for p in spec.problems[:5]]
    assert len(spec.docs("LogPatterns")) == 3


def test_compiled_patterns_cover_required_categories(patterns):
    cats = set(patterns.categories)
    required = {"prefix_hits", "lmcache_hit_tokens", "stored_tokens", "retrieved_tokens", "l1_allocation_failure",
                "watermark_eviction", "connector", "pythonhashseed", "p2p", "p2p_failure", "pd", "pd_failure",
                "vllm_stats", "sglang_stats", "server_start", "http_server_start", "error", "traceback"}
    assert required <= cats
    assert not patterns.problems
    assert all(p.bregex is not None for p in patterns.patterns if p.regex is not None)


def _doc(patterns_list):
    return {"apiVersion": "inferguard.dev/v1", "kind": "LogPatterns", "runtime": "lmcache", "patterns": patterns_list}


@pytest.mark.parametrize("pattern, rule", [
    ({"id": "lmcache.x", "category": "x", "regex": "^Stored (?P<n>\\d+"}, "log_patterns/bad-regex"),
    ({"id": "lmcache.x", "category": "x", "regex": "^Stored (?P<n>\\d+)", "captures": {"m": "int"}}, "log_patterns/undeclared-group"),
    ({"id": "lmcache.x", "category": "x", "regex": "^Stored (?P<n>\\d+)"}, "log_patterns/undeclared-capture"),
    ({"id": "lmcache.x", "category": "x", "regex": "(?P<n>\\d+) tokens", "captures": {"n": "int"}}, "log_patterns/no-prefilter"),
    ({"id": "lmcache.x", "category": "x", "regex": "^St\\w+", "examples": ["Stored"]}, "log_patterns/no-prefilter"),
    ({"id": "lmcache.x", "category": "x", "regex": "^Stored (?P<n>\\d+)", "captures": {"n": "int"},
      "examples": ["Retrieved 5"]}, "log_patterns/example-mismatch"),
    ({"id": "vllm.x", "category": "x", "regex": "^Stored"}, "log_patterns/id-namespace"),
    ({"id": "lmcache.x", "category": "x", "regex": "(?i)^stored"}, "log_patterns/inline-flags"),
    ({"id": "lmcache.x", "category": "x", "regex": "^Stored", "value_signals": "name"}, "log_patterns/value-signals"),
])
def test_validate_reports_semantic_errors_with_lines(pattern, rule):
    text = yaml.safe_dump(_doc([pattern]), sort_keys=False)
    doc = load_all(text)[0]
    problems = lp.validate(doc, "x.yaml")
    assert rule in {p.rule for p in problems}, [p.format() for p in problems]
    assert all(p.line is not None and p.line >= 5 for p in problems if p.rule == rule)


def test_validate_reports_duplicate_ids():
    doc = load_all("apiVersion: inferguard.dev/v1\nkind: LogPatterns\nruntime: lmcache\npatterns:\n"
                   "  - {id: lmcache.a, category: x, regex: '^Stored'}\n"
                   "  - {id: lmcache.a, category: x, regex: '^Retrieved'}\n")[0]
    problems = lp.validate(doc, "x.yaml")
    dup = [p for p in problems if p.rule == "log_patterns/duplicate-id"]
    assert len(dup) == 1 and dup[0].line == 6


def test_validate_reports_capture_type_conflicts():
    doc = load_all("apiVersion: inferguard.dev/v1\nkind: LogPatterns\nruntime: lmcache\npatterns:\n"
                   "  - {id: lmcache.a, category: x, regex: '^Stored (?P<n>\\d+)', captures: {n: int}}\n"
                   "  - {id: lmcache.b, category: x, regex: '^Retrieved (?P<n>\\S+)', captures: {n: str}}\n")[0]
    problems = lp.validate(doc, "x.yaml")
    assert [(p.rule, p.line) for p in problems] == [("log_patterns/capture-type-conflict", 6)]


def test_literal_prefix():
    assert lp.literal_prefix(r"^Prefetch request completed \(L1\+L2\): (?P<a>\d+)") == "Prefetch request completed (L1+L2): "
    assert lp.literal_prefix(r"^ab?c") == "a"
    assert lp.literal_prefix(r"^abc|def") == ""
    assert lp.literal_prefix(r"^[x]abc") == ""
    assert lp.literal_prefix(r"Stored") == ""
    assert lp.literal_prefix(r"^\[req_id=[^\]]*\] Stored") == "[req_id="


# --------------------------------------------------------------------------- real fixtures

EXPECTED = {
    "run1_server.log": {
        "prefix_hits": 3, "stored_tokens": 4, "retrieved_tokens": 3, "accelerator": 1, "http_server_start": 2,
        "server_start": 1, "process_start": 1, "http_access": 29, "lines": 102,
        # MP server start-up: 4 storage controllers + the lookup-hash subscriber, 6 periodic threads
        "mp_server_startup": 5, "periodic_thread_start": 6,
    },
    "run2_server.log": {
        "prefix_hits": 2, "prefetch_hit_cells": 5, "retrieved_tokens": 2, "l1_allocation_failure": 10,
        "l1_reserve_write_failure": 48, "watermark_eviction": 1, "evicted_keys": 3, "http_access": 3, "lines": 181,
    },
    "run4_server.log": {"stored_tokens": 1, "error": 1, "traceback": 1, "lines": 23},
    "h100_lmcache_log_snippets.log": {"prefix_hits": 6, "stored_tokens": 2, "accelerator": 1, "http_server_start": 2, "lines": 15,
                                      # the connector's lmcache-heartbeat thread (x2 workers), MP start-up lines
                                      "mp_heartbeat": 2, "periodic_thread_start": 2, "mp_server_startup": 2},
}
LEVELS = {
    "run1_server.log": {"DEBUG": 0, "INFO": 99, "WARNING": 1, "ERROR": 0, "CRITICAL": 0},
    "run2_server.log": {"DEBUG": 163, "INFO": 8, "WARNING": 10, "ERROR": 0, "CRITICAL": 0},
    "run4_server.log": {"DEBUG": 0, "INFO": 15, "WARNING": 1, "ERROR": 1, "CRITICAL": 0},
    "h100_lmcache_log_snippets.log": {"DEBUG": 0, "INFO": 15, "WARNING": 0, "ERROR": 0, "CRITICAL": 0},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_counts(name, patterns, validator):
    r = _read(FIX / name, patterns)
    assert r.reader == "lmcache_log"
    assert _nonzero(r) == EXPECTED[name]
    assert r.summary["levels"] == LEVELS[name]
    assert r.records == EXPECTED[name]["lines"]
    assert r.problems == []
    # every category of the pattern set has a signal, zero when nothing matched
    assert set(patterns.categories) <= set(r.signals)
    assert _schema_errors(validator, r.to_json()) == []


def test_h100_prefix_hits_captures(patterns):
    r = _read(FIX / "h100_lmcache_log_snippets.log", patterns)
    cat = r.summary["categories"]["prefix_hits"]
    assert cat["patterns"] == {"lmcache.prefetch_prefix_hits": 6}
    caps = cat["captures"]
    assert caps["hits"] == {"type": "int", "count": 6, "sum": 48, "min": 8, "max": 8}
    assert caps["requested"] == {"type": "int", "count": 6, "sum": 48, "min": 8, "max": 8}
    assert caps["l1"]["sum"] == 48 and caps["l2"]["sum"] == 0
    assert caps["duration_ms"] == {"type": "float", "count": 6, "sum": 6.0, "min": 0.9, "max": 1.1}
    assert (cat["first_line"], cat["last_line"]) == (7, 12)
    assert (cat["first_ts"], cat["last_ts"]) == ("2026-05-07T23:03:01.475", "2026-05-07T23:03:09.693")


def test_single_prefix_hit_line_yields_8_8_8_0_1(tmp_path, patterns):
    line = (FIX / "h100_lmcache_log_snippets.log").read_bytes().splitlines(keepends=True)[6]
    assert b"8/8 prefix hits (8 L1, 0 L2) in 1.0 ms" in line
    r = _read(_write(tmp_path, "one.log", line), patterns)
    caps = r.summary["categories"]["prefix_hits"]["captures"]
    got = tuple(caps[k]["sum"] for k in ("hits", "requested", "l1", "l2", "duration_ms"))
    assert got == (8, 8, 8, 0, 1.0)
    assert isinstance(caps["duration_ms"]["sum"], float) and isinstance(caps["hits"]["sum"], int)


def test_retained_keys_with_l2_split(patterns):
    r = _read(FIX / "run2_server.log", patterns)
    caps = r.summary["categories"]["prefix_hits"]["captures"]
    assert (caps["hits"]["sum"], caps["requested"]["sum"], caps["l1"]["sum"], caps["l2"]["sum"]) == (32, 32, 0, 32)
    assert caps["duration_ms"] == {"type": "float", "count": 2, "sum": 106.5, "min": 53.0, "max": 53.5}
    alloc = r.summary["categories"]["l1_allocation_failure"]
    assert alloc["patterns"] == {"lmcache.batched_allocate_failed": 7, "lmcache.l1_reservations_oom": 3}
    assert alloc["captures"]["failed_reservations"]["sum"] == 48
    assert alloc["captures"]["short_blocks"] == {"type": "int", "count": 7, "sum": 14, "min": 2, "max": 2}
    wm = r.summary["categories"]["watermark_eviction"]
    assert wm["captures"]["usage"]["max"] == 0.89 and wm["captures"]["tier"]["values"] == {"L1": 1}


def test_stored_retrieved_tokens(patterns):
    r = _read(FIX / "run1_server.log", patterns)
    cats = r.summary["categories"]
    assert cats["stored_tokens"]["captures"]["tokens"] == {"type": "int", "count": 4, "sum": 256, "min": 64, "max": 64}
    assert cats["retrieved_tokens"]["captures"]["tokens"]["sum"] == 192
    assert cats["http_access"]["captures"]["method"]["values"] == {"GET": 22, "POST": 7}
    assert cats["accelerator"]["captures"]["accelerator_available"]["values"] == {"False": 1}


def test_ansi_stripped_in_examples(patterns):
    raw = (FIX / "run1_server.log").read_bytes()
    assert b"\x1b[32;20m" in raw
    r = _read(FIX / "run1_server.log", patterns)
    examples = [ex for cat in r.summary["categories"].values() for ex in cat["examples"]]
    assert examples
    for ex in examples:
        assert "\x1b" not in ex["text"] and len(ex["text"]) <= 300
    first = r.summary["categories"]["stored_tokens"]["examples"][0]
    assert first == {"line": 86, "text": "[2026-11-29 08:27:08,383] LMCache INFO: Stored 64 tokens in 0.008 seconds "
                     "(lmcache_driven_transfer.py:834:lmcache.v1.multiprocess.modules.lmcache_driven_transfer)"}


def test_error_and_traceback(patterns):
    r = _read(FIX / "run4_server.log", patterns)
    err = r.summary["categories"]["error"]
    assert (err["first_line"], err["examples"][0]["text"][:40]) == (11, "[2026-11-29 08:34:43,425] LMCache ERROR:")
    assert r.summary["categories"]["traceback"]["first_line"] == 12


# --------------------------------------------------------------------------- lines built from real format strings

def _lmc(msg: str, level: str = "INFO", ts: str = "2026-05-07 23:03:01,475", pid: str | None = None) -> str:
    color = {"INFO": "\x1b[32;20m", "WARNING": "\x1b[33;20m", "ERROR": "\x1b[31;20m"}[level]
    prefix = f"(EngineCore_DP0 pid={pid}) " if pid else ""
    return f"{prefix}{color}[{ts}] LMCache {level}:\x1b[0m {msg} \x1b[3m(x.py:1:lmcache.x)\x1b[0m\n"


def test_connectors_named_exactly(tmp_path, patterns):
    text = "".join([
        "(EngineCore_DP0 pid=84) INFO 05-07 23:02:50 [factory.py:51] Creating v1 connector with name: LMCacheConnectorV1 and engine_id: 6f0c\n",
        "(APIServer pid=71) INFO 05-07 23:02:40 [utils.py:1] non-default args: {'kv_transfer_config': KVTransferConfig(kv_connector='LMCacheConnectorV1Dynamic', kv_role='kv_both')}\n",
        "(APIServer pid=71) INFO 05-07 23:02:41 [x.py:1] Using external LMCacheMPConnector from lmcache.integration.vllm.lmcache_mp_connector\n",
        "(APIServer pid=71) INFO 05-07 23:02:42 [x.py:1] Force use builtin LMCacheMPConnectorUpstream in vLLM.\n",
        _lmc("UnifiedLMCacheMPConnector initialized succeed."),
        _lmc("Starting LMCacheConnector shutdown..."),
        "(APIServer pid=71) INFO 05-07 23:02:43 [x.py:1] kv_connector=LMCacheConnector\n",
    ])
    r = _read(_write(tmp_path, "c.log", text), patterns)
    sig = r.signals
    assert sig["connector"] == 4
    assert {k: v for k, v in sig.items() if k.startswith("connector.")} == {
        "connector.LMCacheConnectorV1": 1, "connector.LMCacheConnectorV1Dynamic": 1,
        "connector.LMCacheMPConnector": 1, "connector.LMCacheConnector": 1,
    }
    assert sig["kv_connector.LMCacheConnectorV1"] == 1
    assert sig["lmcache_connector_impl"] == 2
    assert r.summary["categories"]["kv_role"]["captures"]["kv_role"]["values"] == {"kv_both": 1}


def test_pythonhashseed_per_process(tmp_path, patterns):
    warn = ("Using builtin hash without PYTHONHASHSEED set. For production environments (non-testing scenarios), "
            "you MUST set PYTHONHASHSEED to ensure consistent hashing across processes. Example: export PYTHONHASHSEED=0")
    text = _lmc(warn, "WARNING", pid="84") + _lmc(warn, "WARNING", pid="85") + _lmc(
        "P/D Disaggregation detected but PYTHONHASHSEED not set. For consistent caching, set: export "
        "PYTHONHASHSEED=0 before the engine starts. This will cause incorrect KV cache transfer.", "ERROR", pid="85"
    ) + "PYTHONHASHSEED=42\n"
    r = _read(_write(tmp_path, "h.log", text), patterns)
    cat = r.summary["categories"]["pythonhashseed"]
    assert cat["count"] == 4
    assert cat["captures"]["pythonhashseed"]["values"] == {"unset": 3, "42": 1}   # never "0" from the example text
    assert cat["by_process"] == {
        "84": {"process": "EngineCore_DP0", "count": 1, "values": {"pythonhashseed": {"unset": 1}}},
        "85": {"process": "EngineCore_DP0", "count": 2, "values": {"pythonhashseed": {"unset": 2}}},
        "unknown": {"process": None, "count": 1, "values": {"pythonhashseed": {"42": 1}}},
    }
    assert r.signals["error"] == 1


def test_embedded_hit_tokens_and_p2p_pd(tmp_path, patterns):
    text = "".join([
        _lmc("Reqid: cmpl-1-0, Total tokens 2048, Inference Engine computed tokens: 0, LMCache hit tokens: 1792, need to load: 1792"),
        _lmc("Reqid: cmpl-2-0, Total tokens 300, Inference Engine computed tokens: 256, LMCache hit tokens: 272, but need to load: 16 < min_retrieve 256, skip retrieve but record for save skip"),
        _lmc("Reqid: cmpl-3-0, Total tokens 1024, LMCache hit tokens: 512, need to load: -256"),
        _lmc("P2P transfer finished for request 17"),
        _lmc("P2P lookup task 12 timed out; treating as a miss", "WARNING"),
        _lmc("Cache query: 12/16 keys cached"),
        _lmc("NIXL read failed in worker thread: NIXL_ERR_BACKEND", "ERROR"),
        _lmc("[req_id=cmpl-1-0] Stored 1792 out of total 2048 tokens. size: 0.2188 GB, cost 12.3456 ms, throughput: 17.7215 GB/s"),
    ])
    r = _read(_write(tmp_path, "e.log", text), patterns)
    cats = r.summary["categories"]
    hit = cats["lmcache_hit_tokens"]["captures"]
    assert hit["hit_tokens"] == {"type": "int", "count": 3, "sum": 2576, "min": 272, "max": 1792}
    assert hit["need_to_load"] == {"type": "int", "count": 3, "sum": 1552, "min": -256, "max": 1792}
    assert hit["outcome"]["values"] == {"load": 2, "below_min_retrieve": 1}
    assert (r.signals["p2p"], r.signals["p2p_failure"], r.signals["pd"], r.signals["pd_failure"]) == (1, 1, 1, 1)
    assert cats["stored_tokens"]["captures"]["tokens"]["sum"] == 1792
    assert r.signals["error"] == 1


def test_vllm_and_sglang_stats(tmp_path, patterns):
    text = "\n".join([
        "(APIServer pid=71) INFO 05-07 23:03:01 [loggers.py:123] Engine 000: Avg prompt throughput: 1843.2 tokens/s, Avg generation throughput: 96.4 tokens/s, Running: 4 reqs, Waiting: 0 reqs, GPU KV cache usage: 12.5%, Prefix cache hit rate: 87.1%",
        "(APIServer pid=71) INFO 05-07 23:03:06 [loggers.py:123] Engine 000: Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 51.0 tokens/s, Running: 2 reqs, Waiting: 1 reqs, Deferred: 0 reqs, Preemptions: 0, GPU KV cache usage: 3.1%, Prefix cache hit rate: 50.0%, External prefix cache hit rate: 90.0%",
        "INFO 10-01 12:00:00 metrics.py:351] Avg prompt throughput: 512.0 tokens/s, Avg generation throughput: 40.2 tokens/s, Running: 3 reqs, Swapped: 0 reqs, Pending: 1 reqs, GPU KV cache usage: 22.4%, CPU KV cache usage: 0.0%.",
        "[2025-01-01 12:00:00 TP0] Prefill batch, #new-seq: 2, #new-token: 1024, #cached-token: 3072, token usage: 0.05, #running-req: 1, #queue-req: 0, #pending-token: 0, cuda graph: False, input throughput (token/s): 8123.45",
        "[2025-01-01 12:00:01 DP0 TP0] Decode batch, #running-req: 3, #token: 4096, token usage: 0.08, cuda graph: True, gen throughput (token/s): 312.50, #queue-req: 2",
        "[2025-01-01 12:00:02] The server is fired up and ready to roll!",
    ]) + "\n"
    r = _read(_write(tmp_path, "v.log", text), patterns)
    v = r.summary["categories"]["vllm_stats"]
    assert v["patterns"] == {"vllm.v1_stats": 2, "vllm.v0_stats": 1}
    assert v["captures"]["running"] == {"type": "int", "count": 3, "sum": 9, "min": 2, "max": 4}
    assert v["captures"]["prefix_cache_hit_rate_pct"]["max"] == 87.1
    assert v["captures"]["external_prefix_cache_hit_rate_pct"]["sum"] == 90.0
    assert (v["first_ts"], v["last_ts"]) == ("05-07T23:03:01", "10-01T12:00:00")
    s = r.summary["categories"]["sglang_stats"]
    assert s["captures"]["cached_token"]["sum"] == 3072 and s["captures"]["new_token"]["sum"] == 1024
    assert s["captures"]["queue_req"]["sum"] == 2 and s["captures"]["running_req"]["sum"] == 3
    assert r.signals["server_start"] == 1
    assert r.summary["levels"]["INFO"] == 3


def test_runtime_hint_narrows_the_pattern_set(tmp_path, patterns):
    p = _write(tmp_path, "s.log", "[2025-01-01 12:00:02] The server is fired up and ready to roll!\n")
    r = _read(p, patterns, runtime_hint="sglang")
    assert r.summary["runtimes"] == ["lmcache", "sglang"]
    assert "vllm_stats" not in r.signals and r.signals["server_start"] == 1
    assert "vllm_stats" in _read(p, patterns).signals


def test_message_with_ansi_inside_takes_the_text_path(tmp_path, patterns):
    line = "\x1b[32;20m[2026-11-29 08:27:08,383] LMCache INFO:\x1b[0m Stored \x1b[1m64\x1b[0m tokens in 0.008 seconds\n"
    r = _read(_write(tmp_path, "a.log", line), patterns)
    assert r.summary["categories"]["stored_tokens"]["captures"]["tokens"]["sum"] == 64


def test_crlf_and_no_trailing_newline(tmp_path, patterns):
    data = "INFO:     Uvicorn running on http://127.0.0.1:18080 (Press CTRL+C to quit)\r\n" \
           "[2026-11-29 08:27:08,383] LMCache INFO: Retrieved 512 tokens"
    r = _read(_write(tmp_path, "crlf.log", data), patterns)
    assert r.signals["http_server_start"] == 1
    assert r.summary["categories"]["http_server_start"]["captures"]["url"]["values"] == {"http://127.0.0.1:18080": 1}
    assert r.summary["categories"]["retrieved_tokens"]["patterns"] == {"lmcache.adapter_retrieved": 1}
    assert [p.line for p in r.problems] == [2]


# --------------------------------------------------------------------------- bad input

def test_truncated_file_yields_problems(tmp_path, patterns, validator):
    raw = (FIX / "run2_server.log").read_bytes()
    cut = raw[: len(raw) // 2]
    cut = cut[: cut.rfind(b"\x1b[") + 3]          # stop inside an ANSI escape, mid-line
    r = _read(_write(tmp_path, "cut.log", cut + b"\xe2\x82"), patterns)   # and a dangling UTF-8 lead
    msgs = [p.message for p in r.problems]
    assert any("no newline at the end" in m for m in msgs)
    assert any("not valid UTF-8" in m for m in msgs)
    assert r.records == cut.count(b"\n") + 1
    assert _schema_errors(validator, r.to_json()) == []


def test_garbage_and_overlong_lines(tmp_path, patterns, validator):
    data = (b"\x00\xff\xfe garbage \x80\x81\n" + b"x" * (logs.MAX_LINE_BYTES + 10) + b"\n"
            + _lmc("Stored 64 tokens in 0.008 seconds").encode() + b"\xc3\x28 bad utf8\n")
    r = _read(_write(tmp_path, "g.log", data), patterns)
    by_line = {p.line: p.message for p in r.problems}
    assert "not valid UTF-8" in by_line[1]
    assert "longer than" in by_line[2]
    assert "not valid UTF-8" in by_line[4]
    assert r.signals["stored_tokens"] == 1 and r.records == 4
    assert r.summary["undecodable_lines"] == 2 and r.summary["overlong_lines"] == 1
    assert _schema_errors(validator, r.to_json()) == []


def test_missing_file_is_a_problem(tmp_path, patterns):
    r = _read(tmp_path / "nope.log", patterns)
    assert r.problems and "cannot read" in r.problems[0].message and r.records == 0


def test_problem_cap(tmp_path, patterns):
    r = _read(_write(tmp_path, "many.log", b"\xff\n" * 500), patterns)
    assert len(r.problems) == 200 and r.problems_dropped == 300


def test_default_specs_path(tmp_path):
    r = logs.read(str(_write(tmp_path, "d.log", _lmc("Stored 64 tokens in 0.008 seconds"))))
    assert r.signals["stored_tokens"] == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(tmp_path_factory, patterns, validator, data):
    p = tmp_path_factory.mktemp("h") / "x.log"
    p.write_bytes(data)
    r = logs.read(str(p), specs=patterns)
    assert isinstance(r, ReadResult) and isinstance(r.problems, list)
    assert _schema_errors(validator, r.to_json()) == []


LINE_PIECES = st.sampled_from([
    "\x1b[32;20m", "\x1b[0m", "[2026-05-07 23:01:06,264] LMCache INFO: ", "(EngineCore pid=84) ", "INFO 05-07 23:02:56 [x.py:1] ",
    "INFO:     ", "[2025-01-01 12:00:00 TP0] ", "Prefetch request completed (L1+L2): ", "8/8 prefix hits (8 L1, 0 L2) in 1.0 ms",
    "Stored ", "64 tokens in 0.008 seconds", "LMCacheMPConnector", "PYTHONHASHSEED=", "ERROR", " HTTP/1.", "\r", "\n", " (x.py:1:a)",
    "Engine 000: Avg prompt throughput: ", "9" * 30, "\xff", "é", "",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(LINE_PIECES, max_size=60))
def test_log_shaped_noise_never_raises(tmp_path_factory, patterns, validator, pieces):
    p = tmp_path_factory.mktemp("n") / "x.log"
    p.write_text("".join(pieces), encoding="utf-8")
    r = logs.read(str(p), specs=patterns)
    assert isinstance(r.problems, list)
    assert _schema_errors(validator, r.to_json()) == []


def test_streaming_keeps_block_boundaries(tmp_path, patterns, monkeypatch):
    """Counts and line numbers do not depend on where the 1 MiB reads cut the file."""
    raw = (FIX / "run2_server.log").read_bytes()
    p = _write(tmp_path, "rep.log", raw * 3)
    whole = _read(p, patterns)
    monkeypatch.setattr(logs, "READ_SIZE", 997)
    small = _read(p, patterns)
    assert small.signals == whole.signals
    assert small.summary["categories"] == whole.summary["categories"]
    assert whole.summary["categories"]["prefix_hits"]["last_line"] == 181 * 2 + 172


def _no_bulk(patterns_docs):
    compiled = lp.compile(patterns_docs)
    for runtime_hint in (None,):
        compiled.select(runtime_hint).without_bulk()
    return compiled


def test_bulk_and_line_paths_agree(tmp_path):
    """Matching lines in bulk gives exactly what matching them one by one gives."""
    import importlib.util

    docs = []
    for f in SPEC_FILES:
        docs.extend(load_all(f.read_text(encoding="utf-8")))
    spec = importlib.util.spec_from_file_location("bench_logs", ROOT / "benchmarks" / "bench_logs.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    big = tmp_path / "gen.log"
    bench.generate(big, 3 * 1024 * 1024)
    files = [big] + sorted(FIX.glob("*.log"))
    fast, slow = lp.compile(docs), _no_bulk(docs)
    for f in files:
        a, b = logs.read(str(f), specs=fast), logs.read(str(f), specs=slow)
        assert a.signals == b.signals, f.name
        assert a.summary == b.summary, f.name
    assert fast.select(None).bulk and not slow.select(None).bulk   # the first did match in bulk


def test_bulk_timestamps_skip_lines_without_one(tmp_path):
    """First/last timestamps come from the first/last matched lines that carry one, in both paths."""
    docs = []
    for f in SPEC_FILES:
        docs.extend(load_all(f.read_text(encoding="utf-8")))
    text = ("Stored 1 tokens in 0.1 seconds\n" + _lmc("Stored 2 tokens in 0.1 seconds", ts="2026-05-07 23:00:01,000")
            + _lmc("Stored 3 tokens in 0.1 seconds", ts="2026-05-07 23:00:02,000") + "Stored 4 tokens in 0.1 seconds\n")
    p = _write(tmp_path, "ts.log", text)
    a, b = logs.read(str(p), specs=lp.compile(docs)), logs.read(str(p), specs=_no_bulk(docs))
    cat = a.summary["categories"]["stored_tokens"]
    assert (cat["first_line"], cat["last_line"]) == (1, 4)
    assert (cat["first_ts"], cat["last_ts"]) == ("2026-05-07T23:00:01.000", "2026-05-07T23:00:02.000")
    assert a.summary == b.summary
