"""Bounded memory on hostile input, through the command line.

- A YAML alias bomb (nine levels of nine aliases: 9**9 nodes once expanded) given to
  `specs lint`, `specs test --specs`, `docs build --specs` or as a packet's context.yaml is
  refused with `path:line`, exit 2, in a process that stays small.
- A lane file that starts with `{` is sniffed from its head; a span-per-line OTel file is
  streamed through its reader, never read whole.
- The Prometheus reader keeps what the specs need and counts the rest: millions of series of
  unindexed families cost no more memory than thousands.

Memory is the peak RSS of the child process as the kernel measured it (wait4).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

import pytest

from conftest import FIXTURES, H100, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

SPANS = FIXTURES / "lmcache" / "otel-0.5.6-cpu" / "otlp_spans.slice.jsonl"
RSS_CEILING_MIB = 200


def run_measured(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, peak RSS in MiB) of `python -m inferguard ARGS`, the RSS
    as the kernel measured it for that child (wait4). Killed, and failed, past `timeout`, so a
    runaway never takes the machine down with it."""
    e = dict(os.environ)
    e.pop("INFERGUARD_DEBUG", None)
    e.update(env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "inferguard", *args], cwd=ROOT, env=e, stdout=out, stderr=err)
        fired = []
        timer = threading.Timer(timeout, lambda: (fired.append(True), proc.kill()))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if fired:
            pytest.fail(f"inferguard {' '.join(args)} ran past {timeout} s")
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                usage.ru_maxrss / 1024)


def alias_bomb(levels: int = 9, header: str = "apiVersion: inferguard.dev/v1\nkind: Checklist") -> str:
    lines = [header, 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- YAML budgets


@pytest.mark.parametrize("command", [
    ["specs", "lint", "{f}"],
    ["specs", "test", "--specs", "{f}"],
    ["docs", "build", "--check", "--specs", "{f}"],
])
def test_alias_bomb_is_refused_with_path_and_line(tmp_path, command):
    f = tmp_path / "bomb.yaml"
    f.write_text(alias_bomb(), encoding="utf-8")
    rc, out, err, rss = run_measured([c.format(f=f) for c in command])
    assert rc == 2, (out, err)
    text = out + err
    # The line where the budget ran out: one of the alias lines (3 to 10 here), with its column.
    assert f"{f}:" in text and "aliases are expanded" in text, text
    loc = text.split(f"{f}:", 1)[1].split(":")
    assert 3 <= int(loc[0]) <= 10 and int(loc[1]) >= 1, text
    assert "Traceback" not in text
    assert 0 < rss < RSS_CEILING_MIB, rss


def test_alias_bomb_in_a_packet_context_is_refused(tmp_path):
    pk = tmp_path / "packet"
    pk.mkdir()
    for name in ("engine.prom", "lmcache.prom"):
        (pk / name).write_bytes((H100 / name).read_bytes())
    (pk / "context.yaml").write_text(alias_bomb(header="# operator context"), encoding="utf-8")
    # refused, as a problem of the packet with its line: the rest of the packet is still evaluated
    rc, out, err, rss = run_measured(["evaluate", str(pk), "--format", "json"])
    assert rc == 0, err
    rep = json.loads(out)
    probs = [p for p in rep["problems"] if p.get("path") == str(pk / "context.yaml")]
    assert probs and "aliases are expanded" in probs[0]["message"] and probs[0].get("line"), probs
    assert rep["detected"]["lmcache_mode"] == "mp"
    assert 0 < rss < RSS_CEILING_MIB


def test_alias_references_over_budget_are_refused_before_the_expansion_budget(tmp_path):
    # 1,500 references to one small node: tiny once expanded, but over the alias budget.
    body = "x: &x {a: 1}\nitems:\n" + "".join("  - *x\n" for _ in range(1500))
    f = tmp_path / "aliases.yaml"
    f.write_text("apiVersion: inferguard.dev/v1\nkind: Checklist\n" + body, encoding="utf-8")
    rc, out, err, _ = run_measured(["specs", "lint", str(f)])
    assert rc == 2 and "more than 1000 alias references" in out, out + err
    line = int(out.split(f"{f}:", 1)[1].split(":")[0])
    assert line == 3  # an alias is its anchored node: the line given is the anchor's, `x: &x`


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path):
    rec = tmp_path / "rec.yaml"
    rec.write_text("apiVersion: inferguard.dev/v1\nkind: Checklist\nloop: &l [1, *l]\n", encoding="utf-8")
    deep = tmp_path / "deep.yaml"
    deep.write_text("apiVersion: inferguard.dev/v1\nkind: Checklist\nd: " + "[" * 400 + "]" * 400 + "\n",
                    encoding="utf-8")
    rc, out, err, _ = run_measured(["specs", "lint", str(rec), str(deep)])
    assert rc == 2, out + err
    assert f"{rec}:3:" in out and "refers to a node that contains it" in out, out
    assert f"{deep}:3:" in out and "nested deeper than 256 levels" in out, out


def test_spec_file_past_the_size_cap_is_not_read(tmp_path):
    from inferguard.spec.loader import MAX_SPEC_BYTES

    f = tmp_path / "huge.yaml"
    with open(f, "w", encoding="utf-8") as fh:
        fh.write("apiVersion: inferguard.dev/v1\nkind: Checklist\n")
        line = "# " + "x" * 1000 + "\n"
        for _ in range(MAX_SPEC_BYTES // len(line) + 2):
            fh.write(line)
    rc, out, err, rss = run_measured(["specs", "lint", str(f)])
    assert rc == 2 and f"{f}: spec/io: larger than {MAX_SPEC_BYTES} bytes; not read" in out, out + err
    assert rss < 100


def test_bundled_specs_fit_the_budgets():
    """The budgets leave room: the largest bundled document is far below each of them."""
    rc, out, err, _ = run_measured(["specs", "lint"])
    assert rc == 0, out + err


# ---------------------------------------------------------------- lane files: sniffed, streamed


def _otel_jsonl(path: Path, copies: int) -> int:
    lines = [line for line in SPANS.read_text(encoding="utf-8").splitlines() if line.strip()]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(copies):
            for j, line in enumerate(lines):
                span = json.loads(line)
                span["spanId"] = f"{i:08x}{j:08x}"
                fh.write(json.dumps(span) + "\n")
    return copies * len(lines)


def test_span_jsonl_starting_with_a_brace_is_streamed_not_read_whole(tmp_path, spec):
    from inferguard.flow.coverage import load_lane_file

    f = tmp_path / "spans.jsonl"
    n = _otel_jsonl(f, 600)
    size = f.stat().st_size
    assert size > 10 * 1024 * 1024 and f.read_bytes()[:1] == b"{"
    load_lane_file("lmcache_otel", str(_otel_small(tmp_path)), spec)  # warm the reader's tables
    tracemalloc.start()
    try:
        doc = load_lane_file("lmcache_otel", str(f), spec)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert doc["kind"] == "LaneEvidence" and doc["sources"][0]["reader"] == "lmcache_otel"
    assert doc["sources"][0]["records"] == n
    # Read whole, the text alone would be `size` bytes and its decoded objects several times that.
    assert peak < size / 4, (peak, size)


def _otel_small(tmp_path: Path) -> Path:
    f = tmp_path / "one.jsonl"
    f.write_text(SPANS.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    return f


def test_span_jsonl_through_the_cli_is_read_by_the_otel_reader(tmp_path):
    f = tmp_path / "spans.jsonl"
    n = _otel_jsonl(f, 200)
    rc, out, err, rss = run_measured(["observability-coverage", "--lmcache-otel-evidence-file", str(f),
                                      "--format", "json"])
    assert rc == 0, err
    report = json.loads(out)
    src = [s for s in report["inputs"] if s["role"] == "lane:lmcache_otel"]
    assert src and src[0]["records"] > 0 and src[0]["problems"] == 0
    assert 0 < rss < RSS_CEILING_MIB
    assert n > 0


def test_a_span_line_that_mentions_lane_evidence_is_still_a_span(tmp_path, spec):
    from inferguard.flow.coverage import load_lane_file

    span = json.loads(SPANS.read_text(encoding="utf-8").splitlines()[0])
    span["attributes"].append({"key": "note", "value": {"stringValue": '"kind": "LaneEvidence"'}})
    f = tmp_path / "spans.jsonl"
    f.write_text(json.dumps({"kind": "LaneEvidence-ish", **span}) + "\n" + json.dumps(span) + "\n", encoding="utf-8")
    doc = load_lane_file("lmcache_otel", str(f), spec)
    assert doc["sources"][0]["reader"] == "lmcache_otel" and doc["sources"][0]["path"] == str(f)


def test_a_lane_evidence_file_that_is_not_json_names_file_and_line(tmp_path):
    f = tmp_path / "lmcache_otel_evidence.json"
    f.write_text('{\n  "apiVersion": "inferguard.dev/v1",\n  "kind": "LaneEvidence",\n  "lane": oops\n}\n', encoding="utf-8")
    rc, out, err, _ = run_measured(["observability-coverage", "--lmcache-otel-evidence-file", str(f), "--format", "json"])
    assert rc == 0, err
    probs = [p for p in json.loads(out)["problems"] if p.get("path") == str(f)]
    assert probs == [{"source": "lmcache_otel", "path": str(f), "line": 4, "offset": probs[0]["offset"],
                      "message": "lane evidence is not JSON: Expecting value; not used"}], probs


def test_collected_lane_evidence_is_still_recognised(tmp_path):
    out_dir = tmp_path / "packet"
    spans = _otel_small(tmp_path)
    rc, out, err, _ = run_measured(["collect-lmcache", "--output-dir", str(out_dir), "--lmcache-otel-file", str(spans)])
    assert rc == 0, err
    ev = out_dir / "lmcache_otel_evidence.json"
    rc, out, err, _ = run_measured(["observability-coverage", "--lmcache-otel-evidence-file", str(ev), "--format", "json"])
    assert rc == 0, err
    src = [s for s in json.loads(out)["inputs"] if s["role"] == "lane:lmcache_otel"]
    assert src[0]["reader"] == "lane_evidence"


# ---------------------------------------------------------------- Prometheus: keep what the specs need


def test_millions_of_unindexed_series_cost_no_more_than_thousands(tmp_path):
    import gen_high_cardinality

    peaks = {}
    for n in (20_000, 600_000):
        f = tmp_path / f"hc{n}.prom"
        with open(f, "wb") as fh:
            gen_high_cardinality.write(fh, n, 30)
        rc, out, err, rss = run_measured(["observability-coverage", "--engine-metrics-file", str(f), "--format", "json"])
        assert rc == 0, err
        report = json.loads(out)
        engine = [s for s in report["inputs"] if s["role"] == "engine_metrics"][0]
        assert engine["records"] >= n and engine["problems"] == 0
        # What the specs need is still read from the vLLM part of the scrape.
        assert report["derived"]["vllm.prefix_cache_hit_rate"]["value"] == pytest.approx(19824 / 22130, rel=1e-3)
        peaks[n] = rss
        f.unlink()
    assert peaks[600_000] < peaks[20_000] * 1.3 + 10, peaks
    assert peaks[600_000] < RSS_CEILING_MIB
