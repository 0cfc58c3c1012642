"""The trace-replay / trace-info reader on the real LMCache 0.5.6 replay outputs."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from inferguard._data import schemas_dir
from inferguard.engine.verdicts import judge
from inferguard.readers import lct, trace_replay as tr
from conftest import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "fixtures" / "lmcache" / "replay-0.5.6-cpu" / "replay"
TRACE = ROOT / "fixtures" / "lmcache" / "trace-0.5.6-cpu"
INFO_STORAGE = TRACE / "trace_info_storage.txt"
INFO_EVENTS = TRACE / "trace_info_events.txt"
VIEW_FILES = {
    "records_jsonl": "replay_records.jsonl",
    "ops_csv": "trace_replay_ops.csv",
    "summary_json": "trace_replay_summary.json",
    "replay_log": "replay_stdout.log",
}

VALIDATOR = Draft202012Validator(
    json.loads((schemas_dir() / "evidence.lmcache_trace_replay.v1.schema.json").read_text()))


def assert_valid(doc: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


def info_counts(path: Path) -> tuple[int, dict[str, int], str]:
    """total_records, ops and digest from `lmcache trace info` text, parsed here on purpose."""
    text = path.read_text()
    total = int(re.search(r"^  total_records:\s+(\d+)$", text, re.M).group(1))
    block = text.split("\n  ops:\n", 1)[1]
    ops = {}
    for line in block.splitlines():
        m = re.match(r"^    (\S+): (\d+)$", line)
        if not m:
            break
        ops[m.group(1)] = int(m.group(2))
    digest = re.search(r"^  sm_config_digest:\s+(\S+)$", text, re.M).group(1)
    return total, ops, digest


def op_counts(result) -> dict[str, int]:
    return {q: e["count"] for q, e in result.summary["ops"].items()}


def copy_replay(tmp: Path, *names: str) -> Path:
    d = tmp / "replay"
    d.mkdir()
    for n in names or VIEW_FILES.values():
        shutil.copy(REPLAY / n, d / n)
    return d


# --------------------------------------------------------------------------- single views

@pytest.mark.parametrize("view", list(VIEW_FILES))
def test_each_replay_view_matches_trace_info(view):
    total, ops, _ = info_counts(INFO_STORAGE)
    r = tr.read(REPLAY / VIEW_FILES[view])
    assert r.problems == []
    s = r.summary
    assert s["view"] == view == s["authoritative"]
    assert r.records == s["records"] == total == 20
    assert op_counts(r) == ops
    assert s["failed"] == 0
    assert r.signals["records"] == total and r.signals["failed"] == 0
    assert {k[3:]: v for k, v in r.signals.items() if k.startswith("op.")} == ops
    assert_valid(judge(r).to_json())  # as written: judged by the engine


def test_summary_and_csv_latencies():
    js = tr.read(REPLAY / VIEW_FILES["summary_json"]).summary
    cs = tr.read(REPLAY / VIEW_FILES["ops_csv"]).summary
    raw = json.loads((REPLAY / VIEW_FILES["summary_json"]).read_text())
    assert js["duration_s"] == raw["duration_s"]
    for q, stats in raw["ops"].items():
        for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms"):
            assert js["ops"][q][k] == stats[k]
            assert abs(cs["ops"][q][k] - stats[k]) < 1e-6


def test_records_jsonl_stats_are_computed_from_records():
    rows = [json.loads(x) for x in (REPLAY / VIEW_FILES["records_jsonl"]).read_text().splitlines() if x]
    s = tr.read(REPLAY / VIEW_FILES["records_jsonl"]).summary
    for q, e in s["ops"].items():
        lats = [r["latency_ms"] for r in rows if r["qualname"] == q]
        assert e["count"] == len(lats)
        assert e["min_ms"] == min(lats) and e["max_ms"] == max(lats)
        assert abs(e["mean_ms"] - sum(lats) / len(lats)) < 1e-12


def test_replay_log_table_and_digest():
    s = tr.read(REPLAY / VIEW_FILES["replay_log"]).summary
    assert s["level"] == "storage"
    assert s["skipped"] == 0
    assert s["duration_s"] == 67.48
    d = s["config_digest"]
    assert d["replay_reported"] == "mismatch"
    assert d["replay_run_prefix"] == "8838047d"
    _, _, digest = info_counts(INFO_STORAGE)
    assert d["replay_recorded_prefix"] == digest[:8]
    assert d["recording_digest"] is None and d["matches_recording"] is None


# --------------------------------------------------------------------------- trace info alone

@pytest.mark.parametrize("info_path,lct_name", [(INFO_STORAGE, "storage_trace.lct"), (INFO_EVENTS, "events_trace.lct")])
def test_trace_info_view(info_path, lct_name):
    total, ops, digest = info_counts(info_path)
    r = tr.read(info_path)
    assert r.problems == []
    s = r.summary
    assert s["view"] == "trace_info" == s["authoritative"]
    assert r.records == total
    assert op_counts(r) == ops
    ti = s["trace_info"]
    assert ti["file"] == lct_name
    assert ti["total_records"] == total and ti["ops"] == ops
    assert ti["sm_config_digest"] == digest
    assert ti["format_version"] == 1 and ti["trace_schema_version"] == 1
    # The same numbers as the .lct reader gets from the recording itself.
    rec = lct.read(TRACE / lct_name).summary
    assert ti["level"] == rec["header"]["level"]
    assert ti["duration_s"] == round(rec["duration_s"], 3)
    assert ti["level_meta"] == rec["header"]["level_meta"]
    if rec["events"] is not None:
        for k in ("batches", "entries", "store_bytes", "entries_with_tokens", "lifecycle", "instances"):
            assert ti["events"][k] == rec["events"][k], k
    else:
        assert ti["events"] is None
    assert_valid(judge(r).to_json())  # as written: judged by the engine


# --------------------------------------------------------------------------- directories

def test_directory_counts_each_op_once():
    total, ops, _ = info_counts(INFO_STORAGE)
    r = tr.read(REPLAY)
    # the reader counts disagreements; whether the views agree is the engine's verdict
    assert {c["agrees"] for c in r.summary["cross_checks"]} == {None}
    r = judge(r)
    assert r.problems == []
    s = r.summary
    assert s["view"] == "directory"
    assert s["authoritative"] == "records_jsonl"
    assert r.records == total                      # 20, not 4 x 20
    assert op_counts(r) == ops
    assert r.signals["views"] == 4
    assert {k[3:]: v for k, v in r.signals.items() if k.startswith("op.")} == ops
    assert {c["view"] for c in s["cross_checks"]} == {"ops_csv", "summary_json", "replay_log"}
    assert all(c["agrees"] for c in s["cross_checks"])
    assert s["latency_view"] == "summary_json"      # percentiles from the tool's own aggregate
    roles = {f["file"]: f["role"] for f in s["files"]}
    assert roles == {"replay_records.jsonl": "authoritative", "trace_replay_ops.csv": "cross_check",
                     "trace_replay_summary.json": "cross_check", "replay_stdout.log": "cross_check"}
    assert_valid(judge(r).to_json())  # as written: judged by the engine


@pytest.mark.parametrize("present,expected", [
    (("trace_replay_ops.csv", "trace_replay_summary.json", "replay_stdout.log"), "ops_csv"),
    (("trace_replay_summary.json", "replay_stdout.log"), "summary_json"),
    (("replay_stdout.log",), "replay_log"),
])
def test_authoritative_fallback_order(tmp_path, present, expected):
    total, ops, _ = info_counts(INFO_STORAGE)
    r = tr.read(copy_replay(tmp_path, *present))
    assert r.summary["authoritative"] == expected
    assert r.records == total and op_counts(r) == ops
    assert r.problems == []


def test_tied_to_the_recording_by_digest_and_counts():
    r = judge(tr.read(REPLAY, lct=TRACE / "storage_trace.lct"))
    assert r.problems == []
    s = r.summary
    d = s["config_digest"]
    header = lct.read(TRACE / "storage_trace.lct").summary["header"]
    assert d["recording_digest"] == header["sm_config_digest"]
    assert d["recording_source"] == "lct" and d["lct_path"] == "storage_trace.lct"
    assert d["matches_recording"] is True
    assert d["replay_reported"] == "mismatch"       # the replay-side config differed; the trace is the same
    assert s["recording"]["total_records"] == r.records
    assert any(c["view"] == "lct" and c["agrees"] for c in s["cross_checks"])
    assert_valid(judge(r).to_json())  # as written: judged by the engine


def test_directory_with_recording_and_trace_info(tmp_path):
    d = copy_replay(tmp_path)
    for n in ("storage_trace.lct", "trace_info_storage.txt", "events_trace.lct", "trace_info_events.txt"):
        shutil.copy(TRACE / n, d / n)
    r = judge(tr.read(d))
    assert r.problems == []
    s = r.summary
    assert r.records == 20
    assert s["recording"]["file"] == "storage_trace.lct"     # the log names it
    assert s["config_digest"]["matches_recording"] is True
    info_checks = [c for c in s["cross_checks"] if c["view"] == "trace_info"]
    assert len(info_checks) == 2 and all(c["agrees"] for c in info_checks)
    assert_valid(judge(r).to_json())  # as written: judged by the engine


def test_wrong_recording_is_reported():
    r = tr.read(REPLAY, lct=TRACE / "events_trace.lct")
    s = r.summary
    assert s["config_digest"]["matches_recording"] is False
    messages = " | ".join(p.message for p in r.problems)
    assert "not the same trace" in messages
    assert "holds 69" in messages
    assert_valid(judge(r).to_json())  # as written: judged by the engine


def test_disagreements_are_problems(tmp_path):
    d = copy_replay(tmp_path)
    csv_path = d / "trace_replay_ops.csv"
    csv_path.write_text(csv_path.read_text().replace("finish_write,4,0", "finish_write,5,1"))
    jl = d / "replay_records.jsonl"
    lines = jl.read_text().splitlines(keepends=True)
    jl.write_text("".join(lines[:-1]))             # drop the last record (finish_read_prefetched)
    r = judge(tr.read(d))
    s = r.summary
    assert s["authoritative"] == "records_jsonl"
    assert r.records == 19
    by_view = {c["view"]: c for c in s["cross_checks"]}
    assert not by_view["ops_csv"]["agrees"] and by_view["ops_csv"]["disagreements"] >= 3
    assert not by_view["summary_json"]["agrees"]
    assert not by_view["replay_log"]["agrees"]
    messages = [p.message for p in r.problems]
    assert any("finish_write" in m and "5 here, 4" in m for m in messages)
    assert any("errors" in m for m in messages)
    assert_valid(judge(r).to_json())  # as written: judged by the engine


def test_bad_lines_in_views(tmp_path):
    p = tmp_path / "records.jsonl"
    p.write_text('{"qualname": "a.b", "latency_ms": 1.0, "failed": false}\nnot json\n[1]\n'
                 '{"latency_ms": 2}\n{"qualname": "a.b", "latency_ms": 3.0, "failed": true}\n')
    r = tr.read(p)
    assert r.records == 2 and r.summary["failed"] == 1
    assert sorted(x.line for x in r.problems) == [2, 3, 4]
    assert_valid(judge(r).to_json())  # as written: judged by the engine
    c = tmp_path / "ops.csv"
    c.write_text("qualname,count,errors,mean_ms\na.b,x,0,1\nc.d,3,0,zz\n")
    r = tr.read(c)
    assert r.records == 3 and len(r.problems) == 2
    assert_valid(judge(r).to_json())  # as written: judged by the engine


def test_unknown_and_missing_inputs(tmp_path):
    (tmp_path / "x.txt").write_text("hello\n")
    for p in (tmp_path / "x.txt", tmp_path / "missing", TRACE / "storage_trace.lct"):
        r = tr.read(p)
        assert r.problems and r.records == 0
        assert_valid(judge(r).to_json())  # as written: judged by the engine
    empty = tmp_path / "empty"
    empty.mkdir()
    r = tr.read(empty)
    assert r.problems
    assert_valid(judge(r).to_json())  # as written: judged by the engine


# --------------------------------------------------------------------------- any bytes

def _scratch() -> Path:
    return scratch_dir("replay-hyp")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048), st.sampled_from(["out.jsonl", "out.csv", "out.json", "replay.log", "info.txt"]))
def test_arbitrary_bytes_never_raise(data, name):
    p = _scratch() / name
    p.write_bytes(data)
    r = tr.read(p)
    assert isinstance(r.problems, list)
    assert_valid(judge(r).to_json())  # as written: judged by the engine


_LINES = st.sampled_from([
    '{"qualname": "a.b", "latency_ms": 1.5, "failed": false}', "qualname,count,errors,mean_ms",
    "a.b,3,0,1.0", "Trace file: x.lct", "  ops:", "    a.b: 3", "  total_records:  3", "  events:",
    "    entries:", "      store: x", '{"duration_s": 1, "ops": {"a": {"count": 1}}}', "[1/2] OK a.b (0.1ms)",
    "Records replayed:   2", "Config digest:  MISMATCH (rec=ab, run=cd)", "a.b count:  2", "\x1b[31m", "",
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_LINES, st.text(max_size=40)), max_size=30))
def test_arbitrary_line_mixtures_never_raise(lines):
    p = _scratch() / "mix.txt"
    p.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    r = tr.read(p)
    assert isinstance(r.problems, list)
    assert_valid(judge(r).to_json())  # as written: judged by the engine

