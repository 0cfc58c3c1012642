"""The .lct reader on the two real LMCache 0.5.6 trace recordings, cut and corrupted copies, and noise."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from inferguard._data import schemas_dir
from inferguard.readers import lct
from conftest import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "lmcache" / "trace-0.5.6-cpu"
STORAGE = FIXTURE / "storage_trace.lct"
EVENTS = FIXTURE / "events_trace.lct"
PAIRS = [(STORAGE, FIXTURE / "trace_info_storage.txt"), (EVENTS, FIXTURE / "trace_info_events.txt")]

VALIDATOR = Draft202012Validator(json.loads((schemas_dir() / "evidence.lct.v1.schema.json").read_text()))


def assert_valid(doc: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


def parse_trace_info(text: str) -> dict:
    """A small independent parser of `lmcache trace info` text, written for the test."""
    out: dict = {"ops": {}, "batches": {}, "entries": {}, "meta": {}}
    section = None
    for line in text.splitlines():
        m = re.match(r"^  (\w[\w ]*?):\s*(.*)$", line)
        if m:
            key, value = m.group(1), m.group(2).strip()
            section = key if not value else None
            if key == "total_records":
                out["total_records"] = int(value)
            elif key == "duration":
                out["duration"] = float(value.rstrip("s"))
            elif key in ("level", "sm_config_digest"):
                out[key] = value
            elif value and key not in ("format_version", "trace_schema_version"):
                out["meta"][key] = value
            continue
        if section == "ops":
            m = re.match(r"^    (\S+): (\d+)$", line)
            if m:
                out["ops"][m.group(1)] = int(m.group(2))
        elif section == "events":
            m = re.match(r"^    (\w+):\s*(.*)$", line)
            if m:
                sub = m.group(1)
                out["_sub"] = sub
                if sub in ("store_bytes", "entries_with_tokens"):
                    out[sub] = int(m.group(2))
                elif sub == "lifecycle":
                    out["lifecycle"] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
                continue
            if re.match(r"^    batches ", line):
                out["_sub"] = "batches"
                continue
            m = re.match(r"^      (\S+): (.*)$", line)
            if m and out.get("_sub") == "batches":
                out["batches"][m.group(1)] = int(m.group(2))
            elif m and out.get("_sub") == "entries":
                out["entries"][m.group(1)] = int(m.group(2))
            elif m and out.get("_sub") == "instances":
                inc = re.search(r"incarnations=\[([^\]]*)\] restarts=(\d+)", m.group(2))
                out.setdefault("instances", {})[m.group(1)] = (
                    [int(x) for x in re.findall(r"\d+", inc.group(1))], int(inc.group(2)))
    return out


def frame_offsets(data: bytes) -> list[int]:
    offs, o = [], 0
    while o < len(data):
        offs.append(o)
        o += 4 + int.from_bytes(data[o:o + 4], "big")
    return offs


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------- real recordings

@pytest.mark.parametrize("lct_path,info_path", PAIRS, ids=["storage", "events"])
def test_counts_equal_trace_info(lct_path, info_path):
    info = parse_trace_info(info_path.read_text())
    assert info["total_records"] > 0 and info["ops"]
    r = lct.read(lct_path)
    assert r.problems == []
    s = r.summary
    assert r.records == s["records"] == info["total_records"]
    assert s["ops"] == info["ops"]
    assert r.signals["records"] == info["total_records"]
    assert {k[3:]: v for k, v in r.signals.items() if k.startswith("op.")} == info["ops"]
    assert r.signals["header"] == 1
    assert s["header"]["level"] == info["level"]
    assert s["header"]["sm_config_digest"] == info["sm_config_digest"]
    assert s["header"]["sm_config_digest_verified"] is True
    assert s["header"]["magic"] == "LMCT" and s["header"]["magic_ok"] is True
    assert s["header"]["format_version"] == 1 and s["header"]["trace_schema_version"] == 1
    assert round(s["duration_s"], 3) == info["duration"]
    assert {k: str(v) for k, v in s["header"]["level_meta"].items()} == info["meta"]
    assert s["complete"] is True and s["bytes_understood"] == s["file_bytes"] == lct_path.stat().st_size
    assert s["frames"] == s["records"] + 1
    assert s["unknown_ops"] == {"records": 0, "names": []}
    assert_valid(r.to_json())


def test_events_statistics_equal_trace_info():
    info = parse_trace_info((FIXTURE / "trace_info_events.txt").read_text())
    ev = lct.read(EVENTS).summary["events"]
    assert ev["batches"] == info["batches"]
    assert ev["entries"] == info["entries"]
    assert ev["store_bytes"] == info["store_bytes"]
    assert ev["entries_with_tokens"] == info["entries_with_tokens"]
    assert ev["lifecycle"] == info["lifecycle"]
    assert {i["id"]: (i["incarnations"], i["restarts"]) for i in ev["instances"]} == info["instances"]
    assert ev["seq_gaps"] == 0 and ev["malformed"] == 0


def test_storage_requests_match_an_independent_decode():
    data = STORAGE.read_bytes()
    ids, per_op = [], {}
    for off in frame_offsets(data)[1:]:
        n = int.from_bytes(data[off:off + 4], "big")
        rec = msgpack.unpackb(data[off + 4:off + 4 + n])
        per_op[rec["qualname"]] = per_op.get(rec["qualname"], 0) + 1
        rid = rec["args"].get("external_request_id")
        if rid:
            ids.append(rid)
    s = lct.read(STORAGE).summary
    req = s["requests"]
    assert req["count"] == len(set(ids)) == 8
    assert req["records_with_id"] == len(ids)
    assert req["records_with_id"] + req["records_attributed"] + req["records_unattributed"] == s["records"]
    assert req["id_fields"] == {"external_request_id": 8}
    opr = req["ops_per_request"]
    assert opr["min"] <= opr["mean"] <= opr["max"]
    assert sum(int(k) * v for k, v in opr["distribution"].items()) == s["records"]
    assert sum(opr["distribution"].values()) == 8
    assert s["ops"] == per_op
    assert lct.read(STORAGE).signals["requests"] == 8


def test_request_view_is_bounded(monkeypatch):
    full = lct.read(STORAGE).summary["requests"]
    monkeypatch.setattr(lct, "MAX_TRACKED_REQUESTS", 3)
    s = lct.read(STORAGE).summary
    req = s["requests"]
    assert req["truncated"] is True and req["count"] == 3
    assert req["records_with_id"] == full["records_with_id"]
    assert req["records_untracked"] > 0
    tracked = sum(int(k) * v for k, v in req["ops_per_request"]["distribution"].items())
    assert tracked + req["records_untracked"] + req["records_unattributed"] == s["records"]


def test_events_trace_has_no_request_ids():
    s = lct.read(EVENTS).summary
    assert s["requests"]["count"] == 0
    assert s["requests"]["records_unattributed"] == s["records"]
    assert s["requests"]["ops_per_request"] is None


def test_no_hashes_or_token_ids_in_the_summary():
    for path in (STORAGE, EVENTS):
        text = json.dumps(lct.read(path).to_json())
        assert "token_ids" not in text
        assert not re.search(r"[0-9a-f]{64}", text.replace(lct.read(path).summary["header"]["sm_config_digest"], ""))
        assert "req-0-cold" not in text


def test_whole_decode_path_gives_the_same_summary(monkeypatch):
    fast = {p: lct.read(p).to_json() for p in (STORAGE, EVENTS)}
    monkeypatch.setattr(lct, "FAST_FRAME_BYTES", 1)
    for p, doc in fast.items():
        assert lct.read(p).to_json() == doc


# --------------------------------------------------------------------------- damage

@pytest.mark.parametrize("frame_index,cut_into", [(6, 100), (6, 2), (1, 4), (20, 1)])
def test_truncated_mid_frame_keeps_earlier_frames(tmp_path, frame_index, cut_into):
    data = STORAGE.read_bytes()
    offs = frame_offsets(data)
    cut = offs[frame_index] + cut_into
    r = lct.read(write(tmp_path, "cut.lct", data[:cut]))
    assert r.records == frame_index - 1          # frame 0 is the header
    assert len(r.problems) == 1
    p = r.problems[0]
    assert p.offset == offs[frame_index]
    assert "truncated" in p.message
    assert r.summary["complete"] is False
    assert r.summary["bytes_understood"] == offs[frame_index]
    assert r.summary["header"]["level"] == "storage"
    assert_valid(r.to_json())


def test_corrupt_msgpack_body_keeps_earlier_frames(tmp_path):
    data = bytearray(STORAGE.read_bytes())
    offs = frame_offsets(bytes(data))
    data[offs[8] + 4] = 0xC1                      # never-used msgpack type byte
    r = lct.read(write(tmp_path, "bad.lct", bytes(data)))
    assert r.records == 7
    assert [p.offset for p in r.problems] == [offs[8]]
    assert "corrupt" in r.problems[0].message
    assert r.summary["bytes_understood"] == offs[8]
    assert_valid(r.to_json())


def test_corrupt_inside_a_record_body(tmp_path):
    data = bytearray(EVENTS.read_bytes())
    offs = frame_offsets(bytes(data))
    body = offs[30] + 4
    data[body + 40:body + 48] = b"\xc1" * 8
    r = lct.read(write(tmp_path, "bad.lct", bytes(data)))
    assert r.records == 29
    assert [p.offset for p in r.problems] == [offs[30]]


def test_length_prefix_that_disagrees_with_the_body(tmp_path):
    data = bytearray(STORAGE.read_bytes())
    offs = frame_offsets(bytes(data))
    n = int.from_bytes(data[offs[3]:offs[3] + 4], "big")
    data[offs[3]:offs[3] + 4] = (n - 1).to_bytes(4, "big")
    r = lct.read(write(tmp_path, "short.lct", bytes(data)))
    assert r.records == 2
    assert [p.offset for p in r.problems] == [offs[3]]


def test_absurd_length_prefix(tmp_path):
    data = STORAGE.read_bytes()
    offs = frame_offsets(data)
    bad = data[:offs[2]] + (2**32 - 1).to_bytes(4, "big") + data[offs[2] + 4:]
    r = lct.read(write(tmp_path, "huge.lct", bad))
    assert r.records == 1
    assert r.problems[0].offset == offs[2]


def test_empty_and_missing_files(tmp_path):
    r = lct.read(write(tmp_path, "empty.lct", b""))
    assert r.records == 0 and r.problems and r.signals["header"] == 0
    assert_valid(r.to_json())
    r = lct.read(tmp_path / "nope.lct")
    assert r.problems and r.records == 0
    assert_valid(r.to_json())
    r = lct.read(tmp_path)
    assert r.problems
    assert_valid(r.to_json())


def _frame(obj) -> bytes:
    body = msgpack.packb(obj)
    return len(body).to_bytes(4, "big") + body


def test_unusual_but_valid_records(tmp_path):
    q = lct._SM + "submit_prefetch_task"
    header = {"type": "header", "magic": b"XXXX", "format_version": 2, "level": "gpu",
              "trace_schema_version": 1, "t_mono_start": 1.0, "t_wall_start": 2.0,
              "sm_config_json": "{}", "sm_config_digest": "00" * 32}
    frames = [
        _frame(header),
        _frame({"type": "record", "args": {"request_id": 7}, "qualname": "custom.op", "t_mono": 1, "t_wall": 10}),
        _frame({"type": "record", "t_mono": 2.0, "t_wall": 11.0, "qualname": q,
                "args": {"external_request_id": "r1", "spec": {"x": [1, 2, 3]}}}),
        _frame({"type": "record", "t_mono": 1.5, "t_wall": 11.5, "qualname": lct._SM + "finish_write",
                "args": [1, 2]}),
        _frame({"type": "record", "t_mono": 3.0, "t_wall": 12.0, "qualname": q, "args": "not-a-map"}),
        _frame({"type": "mystery"}),
        _frame({"type": "record", "t_mono": 4.0, "t_wall": 13.0}),
    ]
    r = lct.read(write(tmp_path, "odd.lct", b"".join(frames)))
    s = r.summary
    assert r.records == 5
    assert s["other_frames"] == 1
    assert s["records_without_qualname"] == 1
    assert s["unknown_ops"] == {"records": 1, "names": ["custom.op"]}
    assert s["time"]["out_of_order"] == 1
    assert s["duration_s"] == 4.0
    assert s["requests"]["count"] == 2                  # 7 and "r1"
    assert s["requests"]["id_fields"] == {"external_request_id": 1, "request_id": 1}
    messages = " | ".join(p.message for p in r.problems)
    assert "magic" in messages and "format_version" in messages and "level" in messages
    assert "digest" in messages and "unknown type" in messages
    assert_valid(r.to_json())


def test_short_frames_between_records(tmp_path, monkeypatch):
    data = STORAGE.read_bytes()
    offs = frame_offsets(data) + [len(data)]
    tiny = _frame({"type": "x"})                  # shorter than a record head
    mixed = data[:offs[3]] + tiny + data[offs[3]:offs[9]] + tiny + tiny + data[offs[9]:]
    r = lct.read(write(tmp_path, "mixed.lct", mixed))
    s = r.summary
    assert r.records == 20 and s["other_frames"] == 3 and s["frames"] == 24
    assert s["ops"] == lct.read(STORAGE).summary["ops"]
    assert s["requests"] == lct.read(STORAGE).summary["requests"]
    assert [p.offset for p in r.problems] == [offs[3], offs[9] + len(tiny), offs[9] + 2 * len(tiny)]
    monkeypatch.setattr(lct, "FAST_FRAME_BYTES", 1)
    assert lct.read(write(tmp_path, "mixed.lct", mixed)).to_json() == r.to_json()


def test_first_frame_not_a_header(tmp_path):
    r = lct.read(write(tmp_path, "nohdr.lct", _frame({"type": "record", "qualname": "events.batch",
                                                          "t_mono": 0.0, "t_wall": 0.0, "args": {}}) * 3))
    assert r.records == 3
    assert r.signals["header"] == 0
    assert any("not a header" in p.message for p in r.problems)
    assert_valid(r.to_json())


def test_reading_does_not_import_msgpack_at_module_import():
    code = "import sys, inferguard.readers.lct; print('msgpack' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# --------------------------------------------------------------------------- any bytes

def _scratch() -> Path:
    return scratch_dir("lct-hyp")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data):
    p = _scratch() / "any.lct"
    p.write_bytes(data)
    r = lct.read(p)
    assert isinstance(r.problems, list)
    if data:
        assert r.problems or r.summary["complete"]
    assert_valid(r.to_json())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=16222), st.binary(max_size=64))
def test_real_prefix_plus_noise_never_raises(cut, noise):
    data = STORAGE.read_bytes()[:cut] + noise
    p = _scratch() / "prefix.lct"
    p.write_bytes(data)
    r = lct.read(p)
    assert isinstance(r.problems, list)
    offs = [o for o in frame_offsets(STORAGE.read_bytes()) if o + 4 <= cut]
    # Every whole frame before the cut is kept.
    whole = [o for o in offs if o + 4 + int.from_bytes(STORAGE.read_bytes()[o:o + 4], "big") <= cut]
    assert r.records >= max(len(whole) - 1, 0)
    assert_valid(r.to_json())

