"""The lookup-hash JSONL reader: real 0.5.6 lines, a hand-computed reuse estimate, rotation flags."""
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
from inferguard.readers import lookup_hash as lh
from conftest import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "lmcache" / "lookup-hash-0.5.6-cpu"
RUN1 = FIXTURE / "run1"
RUN2 = FIXTURE / "lookup_hashes"
REAL = ROOT / "fixtures" / "real"  # copies of shared/data/real files

# The lookup-hash part of the argv in shared/data/real/vllm-lmcache-mp-h100/lmcache_command.json.
H100_ARGV = [
    "lmcache", "server", "--host", "127.0.0.1", "--port", "6555", "--l1-size-gb", "8",
    "--lookup-hash-log-dir", "/out/packet-a/20260507T230057Z/lookup_hashes",
    "--lookup-hash-log-rotation-interval", "21600",
    "--lookup-hash-log-rotation-max-size", "104857600",
    "--lookup-hash-log-max-files", "10",
]

VALIDATOR = Draft202012Validator(
    json.loads((schemas_dir() / "evidence.lmcache_lookup_hash.v1.schema.json").read_text()))


def assert_valid(doc: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


def row(rid: str, hashes: list[str], seq_len: int, chunk_size: int = 16, ts: float = 1.0) -> str:
    return json.dumps({"timestamp": ts, "request_id": rid, "model_name": "m", "chunk_size": chunk_size,
                       "seq_len": seq_len, "dtypes": ["torch.float16"], "shapes": [[2, 2, 16, 128]],
                       "chunk_hashes": hashes}) + "\n"


# --------------------------------------------------------------------------- reuse estimate

def test_reuse_estimate_by_hand(tmp_path):
    p = tmp_path / "lookup_hashes_20260101_000000_000000.jsonl"
    p.write_text(
        row("r1", ["0xa", "0xb", "0xc"], 50, ts=1.0)          # nothing seen yet
        + row("r2", ["0xa", "0xb", "0xd"], 50, ts=2.0)        # a, b seen (leading run 2); d new
        + row("r3", ["0xx", "0xa", "0xb"], 50, ts=3.0)        # a, b seen, but x is new first: run 0
        + row("r4", ["0xa", "0xb", "0xd", "0xe"], 70, ts=4.0)  # a, b, d seen (run 3); e new
    )
    # By hand: 13 hashes, 0 + 2 + 2 + 3 = 7 seen before; leading runs 0 + 2 + 0 + 3 = 5;
    # prefix tokens min(0,50) + min(32,50) + min(0,50) + min(48,70) = 80 of 220 submitted.
    r = lh.read(p)
    assert r.problems == []
    u = r.summary["reuse"]
    assert u["chunk_hashes_considered"] == 13
    assert u["seen_before"] == 7
    assert u["share"] == round(7 / 13, 6)
    assert u["prefix_seen_before"] == 5
    assert u["prefix_share"] == round(5 / 13, 6)
    assert u["prefix_tokens"] == 80 and u["tokens_considered"] == 220
    assert u["prefix_token_share"] == round(80 / 220, 6)
    assert u["distinct_hashes"] == 6
    assert u["truncated"] is False and u["rows_considered"] == 4
    s = r.summary
    assert s["rows"] == 4 and s["chunk_hashes"] == 13
    assert s["seq_len"] == {"min": 50, "max": 70, "mean": 55.0, "total": 220}
    assert s["time"] == {"first": 1.0, "last": 4.0, "span_s": 3.0, "out_of_order": 0}
    assert_valid(r.to_json())


def test_reuse_estimate_truncates_at_the_limit(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(row("r1", ["0x1", "0x2", "0x3"], 48) + row("r2", ["0x1", "0x4", "0x5"], 48)
                 + row("r3", ["0x1", "0x2"], 32))
    r = lh.read(p, max_tracked_hashes=4)
    u = r.summary["reuse"]
    assert u["truncated"] is True
    assert u["rows_considered"] == 1 and u["chunk_hashes_considered"] == 3 and u["seen_before"] == 0
    assert r.summary["rows"] == 3 and r.summary["chunk_hashes"] == 8
    assert_valid(r.to_json())


# --------------------------------------------------------------------------- real lines

@pytest.mark.parametrize("folder,rows,chunks,seq", [(RUN1, 8, 4, 65), (RUN2, 12, 16, 257)])
def test_real_files(folder, rows, chunks, seq):
    lines = [json.loads(x) for f in sorted(folder.glob("*.jsonl")) for x in f.read_text().splitlines() if x]
    r = lh.read(folder)
    assert r.problems == []
    s = r.summary
    assert r.records == s["rows"] == len(lines) == rows
    assert r.signals == {"rows": rows, "files": 1, "chunk_hashes": rows * chunks}
    assert s["models"] == {"test-model": rows}
    assert s["chunk_sizes"] == {"16": rows}
    assert s["dtypes"] == {"torch.float16": rows}
    assert s["seq_len"] == {"min": seq, "max": seq, "mean": float(seq), "total": rows * seq}
    assert s["files"][0]["rows"] == rows and s["files"][0]["name"].startswith("lookup_hashes_")
    # Each request is looked up cold then warm: every warm lookup repeats the cold one's hashes.
    seen, again = set(), 0
    for line in lines:
        for h in line["chunk_hashes"]:
            again += h in seen
            seen.add(h)
    assert s["reuse"]["seen_before"] == again == rows // 2 * chunks
    assert s["reuse"]["share"] == 0.5
    assert s["reuse"]["distinct_hashes"] == len(seen)
    assert s["rotation"] is None
    assert_valid(r.to_json())


def test_raw_hashes_only_when_asked():
    hashes = {h for f in FIXTURE.rglob("*.jsonl") for x in f.read_text().splitlines() if x
              for h in json.loads(x)["chunk_hashes"]}
    plain = json.dumps(lh.read(RUN2).to_json())
    assert not any(h in plain for h in hashes)
    assert not re.search(r"0x[0-9a-f]{16,}", plain)
    assert "req-0-cold" not in plain
    kept = lh.read(RUN2, keep_raw=True)
    examples = kept.summary["raw_examples"]["chunk_hashes"]
    assert 0 < len(examples) <= 5 and set(examples) <= hashes
    assert_valid(kept.to_json())


def test_fixture_folder_reads_the_packet_stream_only():
    # The fixture folder itself: only top-level *.jsonl are read; none are there, run1/ is not entered.
    r = lh.read(FIXTURE)
    assert r.records == 0 and r.problems
    assert lh.read(RUN2).records == 12


def test_directory_of_two_files(tmp_path):
    d = tmp_path / "lh"
    d.mkdir()
    for f in list(RUN1.glob("*.jsonl")) + list(RUN2.glob("*.jsonl")):
        shutil.copy(f, d / f.name)
    (d / "notes.txt").write_text("not read")
    r = lh.read(d)
    s = r.summary
    assert r.signals["files"] == 2 and s["files_total"] == 2
    assert [f["name"] for f in s["files"]] == sorted(p.name for p in d.glob("*.jsonl"))
    assert s["rows"] == 20
    assert s["seq_len"]["min"] == 65 and s["seq_len"]["max"] == 257
    assert_valid(r.to_json())


def test_against_lmcache_cache_simulator_on_the_full_real_file():
    report = (REAL / "lmcache-0.5.6-cpu" / "run2" / "cache_simulator_report.txt").read_text()
    loaded = int(re.search(r"Loaded (\d+) event", report).group(1))
    total_tokens = int(re.search(r"Total tokens\s*:\s*([\d,]+)", report).group(1).replace(",", ""))
    hit_tokens = int(re.search(r"Hit tokens\s*:\s*([\d,]+)", report).group(1).replace(",", ""))
    r = lh.read(REAL / "lmcache-0.5.6-cpu" / "run2" / "lookup_hash")
    s = r.summary
    assert s["rows"] == loaded
    assert s["seq_len"]["total"] == total_tokens
    # The simulator ran a 131-chunk LRU cache; the estimate assumes no eviction: an upper bound.
    assert s["reuse"]["prefix_tokens"] >= hit_tokens


# --------------------------------------------------------------------------- rotation flags

def test_rotation_from_argv():
    r = lh.read(RUN1, argv=H100_ARGV)
    rot = r.summary["rotation"]
    assert rot["rotation_interval_s"] == 21600
    assert rot["rotation_max_size_bytes"] == 104857600
    assert rot["max_files"] == 10
    assert rot["defaulted"] == []
    assert rot["log_dir"] == "/out/packet-a/20260507T230057Z/lookup_hashes" and rot["logging_enabled"] is True
    assert set(rot["flags"]) == {"--lookup-hash-log-rotation-interval", "--lookup-hash-log-rotation-max-size",
                                 "--lookup-hash-log-max-files"}
    assert_valid(r.to_json())


def test_rotation_from_the_real_h100_argv():
    argv = json.loads((REAL / "vllm-lmcache-mp-h100" / "lmcache_command.json").read_text())
    assert lh.read(RUN1, argv=argv).summary["rotation"] == lh.read(RUN1, argv=H100_ARGV).summary["rotation"]


def test_rotation_defaults_equals_form_and_bad_values():
    r = lh.read(RUN1, argv=["lmcache", "server", "--lookup-hash-log-max-files=7",
                            "--lookup-hash-log-rotation-interval", "soon"])
    rot = r.summary["rotation"]
    assert rot["max_files"] == 7
    assert rot["rotation_interval_s"] == 21600 and rot["rotation_max_size_bytes"] == 104857600
    assert set(rot["defaulted"]) == {"--lookup-hash-log-rotation-interval", "--lookup-hash-log-rotation-max-size"}
    assert rot["log_dir"] is None and rot["logging_enabled"] is False
    assert any("soon" in p.message for p in r.problems)
    assert_valid(r.to_json())
    r = lh.read(RUN1, argv=["--lookup-hash-log-max-files"])
    assert any("no value" in p.message for p in r.problems)


# --------------------------------------------------------------------------- bad input

def test_bad_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(row("r1", ["0x1"], 16) + "garbage\n[]\n" + json.dumps({"request_id": "r"}) + "\n"
                 + row("r2", ["0x1"], 16)[:-20])
    r = lh.read(p)
    lines = sorted((x.line, x.message) for x in r.problems)
    assert [ln for ln, _ in lines] == [2, 3, 4, 5]
    assert "cut short" in lines[-1][1]
    assert r.summary["rows"] == 2 and r.summary["rows_incomplete"] == 1
    assert_valid(r.to_json())


def test_missing_and_empty(tmp_path):
    for p in (tmp_path / "none", tmp_path):
        r = lh.read(p)
        assert r.problems and r.records == 0
        assert_valid(r.to_json())
    e = tmp_path / "e.jsonl"
    e.write_text("")
    r = lh.read(e)
    assert r.records == 0 and r.summary["reuse"]["share"] is None
    assert_valid(r.to_json())


def _scratch() -> Path:
    return scratch_dir("lh-hyp")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data):
    p = _scratch() / "any.jsonl"
    p.write_bytes(data)
    r = lh.read(p, argv=["--lookup-hash-log-max-files", "x"])
    assert isinstance(r.problems, list)
    assert_valid(r.to_json())


_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                       max_leaves=10)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(["timestamp", "request_id", "model_name", "chunk_size", "seq_len",
                                                 "dtypes", "shapes", "chunk_hashes"]), _VALUES), max_size=8))
def test_arbitrary_rows_never_raise(rows):
    p = _scratch() / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = lh.read(p, keep_raw=True)
    assert r.records == len(rows)
    assert_valid(r.to_json())

