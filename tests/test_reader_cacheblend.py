"""The CacheBlend boundary JSONL reader (experimental format, synthetic fixture only)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from inferguard._data import schemas_dir
from inferguard.readers import cacheblend as cb
from conftest import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "lmcache" / "cacheblend-synthetic"
FILE = FIXTURE / "blend_boundaries.jsonl"

VALIDATOR = Draft202012Validator(
    json.loads((schemas_dir() / "evidence.lmcache_cacheblend.v1.schema.json").read_text()))


def assert_valid(doc: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


def test_fixture_is_marked_synthetic():
    prov = yaml.safe_load((FIXTURE / "PROVENANCE.yaml").read_text())
    assert prov["origin"] == "synthetic"
    assert prov["versions"]["lmcache"] == "0.5.6"


def test_synthetic_fixture():
    rows = [json.loads(x) for x in FILE.read_text().splitlines() if x]
    r = cb.read(FILE)
    assert r.problems == []
    s = r.summary
    assert s["format_status"] == "experimental"
    assert r.records == s["records"] == len(rows) == 10
    assert r.signals == {"records": 10, "sessions": 3}
    assert s["kind_field"] == "event"
    assert s["kinds"] == {"cb.lookup": 3, "cb.retrieve": 3, "cb.scatter": 3, "cb.chunks.evicted": 1}
    assert s["sessions"] == {"field": "session_id", "distinct": 3, "truncated": False}
    assert s["fields"]["event"] == 10 and s["fields"]["session_id"] == 9 and s["fields"]["ts"] == 10
    assert s["list_items"]["boundaries"] == sum(len(x.get("boundaries", [])) for x in rows)
    assert s["list_items"]["segments"] == sum(len(x.get("segments", [])) for x in rows)
    # Known numeric fields are summed, including the stringified form the blend spans use.
    assert s["totals"]["num_chunks"] == sum(int(x["num_chunks"]) for x in rows if "num_chunks" in x)
    assert s["totals"]["hit_tokens"] == sum(x.get("hit_tokens", 0) for x in rows)
    assert "hit_tokens" in s["known_fields"]
    assert s["time"]["field"] == "ts"
    assert s["time"]["span_s"] == round(max(x["ts"] for x in rows) - min(x["ts"] for x in rows), 6)
    assert_valid(r.to_json())


def test_values_never_copied(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"event": "cb.lookup", "token_ids": [31337, 42424], "prompt": "secret words",
                             "chunk_hash": "0xdeadbeefcafe", "meta": {"inner": "hidden"}}) + "\n")
    r = cb.read(p)
    text = json.dumps(r.to_json())
    for needle in ("31337", "secret words", "deadbeefcafe", "hidden"):
        assert needle not in text
    assert r.summary["fields"]["meta.inner"] == 1
    assert r.summary["list_items"]["token_ids"] == 2


def test_bad_lines_and_directory(tmp_path):
    d = tmp_path / "cb"
    d.mkdir()
    shutil.copy(FILE, d / FILE.name)
    (d / "more.jsonl").write_text('{"type": "boundary", "request_id": "q"}\nnope\n[1, 2]\n\n')
    r = cb.read(d)
    assert r.summary["files"] == 2
    assert r.records == 11 and r.summary["non_object_lines"] == 2
    assert sorted(p.line for p in r.problems) == [2, 3]
    assert_valid(r.to_json())


def test_missing_and_empty(tmp_path):
    for p in (tmp_path / "none.jsonl", tmp_path):
        r = cb.read(p)
        assert r.problems and r.records == 0
        assert r.summary["format_status"] == "experimental"
        assert_valid(r.to_json())


def _scratch() -> Path:
    return scratch_dir("cb-hyp")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data):
    p = _scratch() / "any.jsonl"
    p.write_bytes(data)
    r = cb.read(p)
    assert isinstance(r.problems, list)
    assert_valid(r.to_json())


_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                       max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(list(cb.KIND_FIELDS + cb.SESSION_FIELDS + cb.TIME_FIELDS
                                                     + cb.KNOWN_NUMERIC[:6]) + ["x", "boundaries"]),
                                _VALUES), max_size=8))
def test_arbitrary_objects_never_raise(rows):
    p = _scratch() / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cb.read(p)
    assert r.records == len(rows)
    assert_valid(r.to_json())

