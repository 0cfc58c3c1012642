"""collect-metrics against real HTTP servers on loopback: rates, resets, windowed histogram
quantiles, failing targets, multi-series aggregation, offline replay, Ctrl-C, the output
schemas, and the window judged by observability-coverage / evaluate."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from conftest import ROOT, run_cli
from metrics_server import MetricsServer

from inferguard.cli.app import main
from inferguard.engine.window import CounterSeries, HistogramSeries, histogram_quantile, histogram_stats


def _cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _summary(d) -> dict:
    return json.loads((d / "metrics_summary.json").read_text())


def _rows(d, name="engine_metrics_timeline.jsonl") -> list[dict]:
    return [json.loads(line) for line in (d / name).read_text().splitlines()]


def _counter(name: str, series: dict[str, float]) -> str:
    out = [f"# HELP {name} c\n# TYPE {name} counter\n"]
    for labels, v in series.items():
        out.append(f"{name}_total{{{labels}}} {v!r}\n")
    return "".join(out)


# --------------------------------------------------------------------------- window math

def test_counter_reset_adds_the_value_after_the_reset():
    s = CounterSeries(0.0, 10.0, 0)
    for t, v in ((1.0, 20.0), (2.0, 5.0), (3.0, 15.0)):
        s.add(t, v)
    got = s.summary()
    assert got["delta"] == 25.0 and got["resets"] == 1
    assert got["rate"] == pytest.approx(25.0 / 3.0)


def test_histogram_quantile_interpolates_inside_the_bucket():
    # 100 observations: 50 in (0, 1], 50 in (1, 2]
    b = [(1.0, 50.0), (2.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, b) == pytest.approx(1.0)
    assert histogram_quantile(0.75, b) == pytest.approx(1.5)
    # a rank in the +Inf bucket gives the highest finite bound
    assert histogram_quantile(0.99, [(1.0, 10.0), (math.inf, 20.0)]) == 1.0
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.5, [(1.0, 3.0)]) is None  # no +Inf bucket


def test_histogram_reset_starts_the_series_afresh():
    s = HistogramSeries(0.0, {"1": 5.0, "+Inf": 10.0}, 10.0, 8.0, 0)
    s.add(1.0, {"1": 2.0, "+Inf": 2.0}, 2.0, 1.0)   # restarted: 2 new observations
    s.add(2.0, {"1": 3.0, "+Inf": 4.0}, 4.0, 3.0)
    assert s.resets == 1 and s.d_count == 4.0 and s.d_sum == 3.0
    st = histogram_stats(s.d_buckets, s.d_count, s.d_sum, [0.5])
    assert st["mean"] == pytest.approx(0.75)
    assert 0 < st["p50"] <= 1.0


def test_gauge_values_past_the_budget_stay_exact_where_it_matters():
    from inferguard.engine.window import GAUGE_VALUES_BUDGET, GaugeValues

    g = GaugeValues()
    n = 5 * GAUGE_VALUES_BUDGET + 3
    for i in range(n):
        g.add(float(i))
    st = g.stats([0.5, 0.95])
    assert (st["min"], st["max"], st["last"], st["samples"]) == (0.0, n - 1.0, n - 1.0, n)
    assert len(g.values) <= GAUGE_VALUES_BUDGET and "quantiles_from" in st
    assert st["p50"] == pytest.approx((n - 1) / 2, rel=0.01) and st["p95"] == pytest.approx(0.95 * (n - 1), rel=0.01)


# --------------------------------------------------------------------------- live, loopback

def test_counter_growing_100_per_second_gives_rate_100(tmp_path):
    def render(t: float) -> bytes:
        return _counter("vllm:prompt_tokens", {'model_name="m",engine="0"': 5000 + 100.0 * t}).encode()

    with MetricsServer(render) as srv:
        r = _cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--engine-metrics-url", srv.url,
                 "--duration-seconds", "1.6", "--interval-seconds", "0.2")
    assert r.exit_code == 0, r.output
    m = _summary(tmp_path)["metrics"]["vllm.prompt_tokens"]
    w = m["window"]
    assert w["rate"] == pytest.approx(100.0, rel=0.05)
    assert w["delta"] == w["last"] - w["first"]
    assert w["resets"] == 0 and m["from"] == ["vllm:prompt_tokens"]
    rows = [r for r in _rows(tmp_path) if r["group"] == "prefill"]
    assert len(rows) == 9 and all("vllm.prompt_tokens" in r["values"] for r in rows)
    assert [r["tick"] for r in rows] == list(range(9))
    # each tick's own rate, from the increase since the tick before
    assert rows[-1]["values"]["vllm.prompt_tokens"]["rate"] == pytest.approx(100.0, rel=0.25)


def test_counter_reset_mid_window_is_detected_and_the_rate_stays_right(tmp_path):
    state = {"hits": 0, "base_t": 0.0, "offset": 7000.0}
    lock = threading.Lock()

    def render(t: float) -> bytes:
        with lock:
            state["hits"] += 1
            if state["hits"] == 5:
                # the process restarted just after the previous scrape: it counts from zero
                state["offset"] = 0.0
                state["base_t"] = state["last_t"]
            state["last_t"] = t
            v = state["offset"] + 100.0 * (t - state["base_t"])
        return _counter("vllm:generation_tokens", {'model_name="m"': v}).encode()

    with MetricsServer(render) as srv:
        r = _cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--engine-metrics-url", srv.url,
                 "--duration-seconds", "1.6", "--interval-seconds", "0.2")
    assert r.exit_code == 0, r.output
    w = _summary(tmp_path)["metrics"]["vllm.generation_tokens"]["window"]
    assert w["resets"] == 1
    assert w["rate"] == pytest.approx(100.0, rel=0.05)
    assert w["last"] < w["first"]  # the plain difference would be negative: the reset is what makes it right


def _histogram(name: str, bounds: list[float], counts: list[float], total_sum: float, labels: str = 'model_name="m"') -> str:
    out = [f"# HELP {name} h\n# TYPE {name} histogram\n"]
    cum = 0.0
    for ub, c in zip(bounds, counts):
        cum += c
        out.append(f'{name}_bucket{{{labels},le="{ub}"}} {cum}\n')
    cum += counts[len(bounds)] if len(counts) > len(bounds) else 0.0
    out.append(f'{name}_bucket{{{labels},le="+Inf"}} {cum}\n{name}_sum{{{labels}}} {total_sum}\n{name}_count{{{labels}}} {cum}\n')
    return "".join(out)


def test_histogram_quantiles_come_from_the_window_not_the_history(tmp_path):
    bounds = [0.05, 0.1, 0.25, 0.5, 1.0, 5.0]

    def render(t: float) -> bytes:
        n = math.floor(t * 200)  # new observations, all 0.2 s (bucket 0.1 < x <= 0.25)
        # a long history before the window: 10000 observations between 1 and 5 s
        counts = [0, 0, float(n), 0, 0, 10000.0, 0]
        return _histogram("vllm:time_to_first_token_seconds", bounds, counts, 30000.0 + 0.2 * n).encode()

    with MetricsServer(render) as srv:
        r = _cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--engine-metrics-url", srv.url,
                 "--duration-seconds", "1.0", "--interval-seconds", "0.2")
    assert r.exit_code == 0, r.output
    s = _summary(tmp_path)
    w = s["metrics"]["vllm.time_to_first_token_seconds"]["window"]
    assert w["count_delta"] > 0
    for q in ("p50", "p95", "p99"):
        assert 0.1 < w[q] <= 0.25, (q, w)
    assert w["mean"] == pytest.approx(0.2)
    d = s["derived"]["vllm.time_to_first_token_mean"]
    assert d["value"] == pytest.approx(0.2) and d["from"] == ["vllm:time_to_first_token_seconds"]


def test_multi_series_are_kept_apart_and_aggregated_as_the_spec_says(tmp_path):
    def render(t: float) -> bytes:
        c = _counter("vllm:prompt_tokens", {'model_name="a"': 100.0 * t, 'model_name="b"': 300.0 * t})
        g = ('# TYPE vllm:kv_cache_usage_perc gauge\n'
             'vllm:kv_cache_usage_perc{engine="0"} 0.2\nvllm:kv_cache_usage_perc{engine="1"} 0.6\n')
        return (c + g).encode()

    with MetricsServer(render) as srv:
        r = _cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--engine-metrics-url", srv.url,
                 "--duration-seconds", "1.0", "--interval-seconds", "0.2")
    assert r.exit_code == 0, r.output
    s = _summary(tmp_path)["metrics"]
    c = s["vllm.prompt_tokens"]
    assert c["aggregate"] == "sum" and c["series_count"] == 2
    per = {x["labels"]["model_name"]: x["rate"] for x in c["series"]}
    assert per["a"] == pytest.approx(100.0, rel=0.05) and per["b"] == pytest.approx(300.0, rel=0.05)
    assert c["window"]["rate"] == pytest.approx(400.0, rel=0.05)
    g = s["vllm.kv_cache_usage_perc"]
    assert g["aggregate"] == "max"
    assert g["window"]["max"] == 0.6 and g["window"]["last"] == 0.6 and g["window"]["min"] == 0.6  # max, never the sum 0.8
    assert sorted(x["last"] for x in g["series"]) == [0.2, 0.6]


def test_failing_targets_are_recorded_per_tick_and_the_run_completes(tmp_path):
    from inferguard.collect.metrics import RunOptions, TargetSpec, run_live
    from inferguard.spec import default_specs

    good = lambda t: _counter("vllm:prompt_tokens", {'model_name="m"': 100.0 * t}).encode()  # noqa: E731
    with MetricsServer(good) as ok, MetricsServer(good, delay=1.0) as slow, \
            MetricsServer(lambda t: (500, b"internal error")) as err, \
            MetricsServer(lambda t: b"<html><body>login required</body></html>\n") as garbage:
        targets = [TargetSpec("engine", "engine_metrics", url=ok.url), TargetSpec("slow", "engine_metrics", url=slow.url),
                   TargetSpec("err", "engine_metrics", url=err.url), TargetSpec("garbage", "engine_metrics", url=garbage.url)]
        opts = RunOptions(output_dir=str(tmp_path), duration_seconds=0.8, interval_seconds=0.4, timeout_seconds=0.3)
        t0 = time.monotonic()
        summary = run_live(targets, opts, default_specs())
        took = time.monotonic() - t0
    assert took < 3.0  # the slow target costs its deadline per tick, never its full delay
    by = {t["name"]: t for t in summary["targets"]}
    assert by["engine"]["ok_ticks"] == 3 and by["engine"]["failed_ticks"] == 0
    assert {e["kind"] for e in by["slow"]["errors"]} == {"timeout"} and by["slow"]["failed_ticks"] == 3
    assert {e["error"] for e in by["err"]["errors"]} == {"HTTP 500"}
    assert {e["kind"] for e in by["garbage"]["errors"]} == {"unparseable"}
    checks = {(f["check"], f["evidence"]["target"]) for f in summary["findings"]}
    assert {("scrape/timeout", "slow"), ("scrape/http-status", "err"), ("scrape/unparseable", "garbage")} <= checks
    assert all(f["severity"] == "warning" for f in summary["findings"])
    rows = _rows(tmp_path)
    failed = [r for r in rows if r["target"] == "slow"]
    assert len(failed) == 3 and all(r["group"] is None and r["scrape"]["error"].startswith("timed out") for r in failed)
    assert all(r["scrape"]["latency_ms"] >= 250 for r in failed)


def test_cli_lists_a_failing_target_and_fails_only_with_fail_on(tmp_path):
    good = lambda t: _counter("vllm:prompt_tokens", {'model_name="m"': 100.0 * t}).encode()  # noqa: E731
    with MetricsServer(good) as ok, MetricsServer(lambda t: (500, b"no")) as err:
        args = ["collect-metrics", "--engine", "vllm", "--engine-metrics-url", ok.url, "--lmcache-metrics-url", err.url,
                "--duration-seconds", "0.4", "--interval-seconds", "0.2"]
        r0 = _cli(*args, "--output-dir", str(tmp_path / "a"))
        r1 = _cli(*args, "--output-dir", str(tmp_path / "b"), "--fail-on", "warning")
        r2 = _cli(*args, "--output-dir", str(tmp_path / "c"), "--fail-on", "error")
    assert r0.exit_code == 0, r0.output
    assert "scrape/http-status lmcache: 3 tick(s)" in r0.output
    assert r1.exit_code == 1 and r2.exit_code == 0
    assert (tmp_path / "b" / "metrics_summary.json").is_file()  # written before the exit code is decided


def test_outputs_match_their_schemas(tmp_path):
    from inferguard.spec.loader import schema_validator

    def render(t: float) -> bytes:
        return (_counter("vllm:prefix_cache_queries", {'model_name="m"': 50.0 * t})
                + _counter("vllm:prefix_cache_hits", {'model_name="m"': 20.0 * t})
                + _histogram("vllm:e2e_request_latency_seconds", [1.0, 2.0], [float(int(t * 10)), 1.0, 0.0], 3.0)
                + "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting NaN\n").encode()

    with MetricsServer(render) as srv:
        r = _cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--engine-metrics-url", srv.url,
                 "--duration-seconds", "0.6", "--interval-seconds", "0.2", "--keep-raw-samples", "--label", "run=a",
                 "--label", "gpu=h100")
    assert r.exit_code == 0, r.output
    for name, schema in (("engine_metrics_timeline.jsonl", "metrics_timeline_row.v1.schema.json"),
                         ("raw_samples.jsonl", "metrics_raw_sample.v1.schema.json")):
        v = schema_validator(schema)
        rows = _rows(tmp_path, name)
        assert rows
        for row in rows:
            errors = list(v.iter_errors(row))
            assert not errors, (name, errors[0].message)
    s = _summary(tmp_path)
    errors = list(schema_validator("metrics_summary.v1.schema.json").iter_errors(s))
    assert not errors, errors[0].message
    assert s["labels"] == {"run": "a", "gpu": "h100"}
    assert all(row["labels"] == {"run": "a", "gpu": "h100"} for row in _rows(tmp_path))
    hr = s["derived"]["vllm.prefix_cache_hit_rate"]
    assert hr["value"] == pytest.approx(0.4, rel=0.05)
    assert hr["from"] == {"numerator": ["vllm:prefix_cache_hits"], "denominator": ["vllm:prefix_cache_queries"]}
    # a NaN gauge is no sample, never a value
    assert s["metrics"]["vllm.num_requests_waiting"]["nonfinite_samples"] == 4
    assert not list(tmp_path.glob("*.part"))


def test_an_earlier_run_is_replaced_only_with_force(tmp_path):
    (tmp_path / "metrics_summary.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    r = run_cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm",
                "--engine-metrics-url", "http://127.0.0.1:9/metrics", "--duration-seconds", "0")
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (tmp_path / "metrics_summary.json").read_text() == "{}"
    # a symlink where an output goes is never replaced, even with --force
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    (tmp_path / "engine_metrics_timeline.jsonl").symlink_to(target)
    r = run_cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--force",
                "--engine-metrics-url", "http://127.0.0.1:9/metrics", "--duration-seconds", "0")
    assert r.returncode == 2 and "not a regular file" in r.stderr
    assert target.read_text() == "keep" and (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "engine_metrics_timeline.jsonl").unlink()
    r = run_cli("collect-metrics", "--output-dir", str(tmp_path), "--engine", "vllm", "--force",
                "--engine-metrics-url", "http://127.0.0.1:9/metrics", "--duration-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "metrics_summary.json").read_text())["kind"] == "MetricsWindowSummary"
    assert (tmp_path / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- Ctrl-C

def test_ctrl_c_stops_cleanly_and_keeps_what_was_collected(tmp_path):
    from inferguard.spec.loader import schema_validator

    def render(t: float) -> bytes:
        return _counter("vllm:prompt_tokens", {'model_name="m"': 100.0 * t}).encode()

    with MetricsServer(render) as srv:
        env = dict(os.environ)
        env.pop("INFERGUARD_DEBUG", None)
        proc = subprocess.Popen([sys.executable, "-m", "inferguard", "collect-metrics", "--output-dir", str(tmp_path),
                                 "--engine", "vllm", "--engine-metrics-url", srv.url, "--duration-seconds", "60",
                                 "--interval-seconds", "0.1"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        part = tmp_path / "engine_metrics_timeline.jsonl.part"
        while time.monotonic() < deadline:  # wait until a few ticks are in
            if part.is_file() and part.read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped early (interrupted)" in out
    s = _summary(tmp_path)
    assert s["stopped_early"] == "interrupted" and 5 <= s["ticks"] < 600
    assert not list(schema_validator("metrics_summary.v1.schema.json").iter_errors(s))
    rows = _rows(tmp_path)
    assert len(rows) == s["ticks"] and not part.exists()
    assert s["metrics"]["vllm.prompt_tokens"]["window"]["rate"] == pytest.approx(100.0, rel=0.1)


# --------------------------------------------------------------------------- offline

def test_offline_from_timestamped_file_names(tmp_path):
    scrapes = tmp_path / "scrapes"
    scrapes.mkdir()
    for i in range(5):  # every 10 s, 50 tokens a second; the folder lists them out of order
        t = 1764760000 + 10 * i
        name = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        (scrapes / f"vllm-{name}.prom").write_text(_counter("vllm:prompt_tokens", {'model_name="m"': 1000 + 500.0 * i}))
    out = tmp_path / "out"
    r = _cli("collect-metrics", "--output-dir", str(out), "--engine", "vllm", "--engine-metrics-file", str(scrapes))
    assert r.exit_code == 0, r.output
    s = _summary(out)
    w = s["metrics"]["vllm.prompt_tokens"]["window"]
    assert w["delta"] == 2000.0 and w["rate"] == pytest.approx(50.0) and w["seconds"] == pytest.approx(40.0)
    assert s["schedule"]["mode"] == "offline" and s["schedule"]["timestamps"] == "file names"
    # files given one by one without timestamps: the order given, spaced by --interval-seconds
    files = []
    for i in range(3):
        p = tmp_path / f"scrape{i}.prom"
        p.write_text(_counter("vllm:prompt_tokens", {'model_name="m"': 10.0 * i}))
        files += ["--engine-metrics-file", str(p)]
    r = _cli("collect-metrics", "--output-dir", str(tmp_path / "out2"), "--engine", "vllm", "--interval-seconds", "2", *files)
    assert r.exit_code == 0, r.output
    assert _summary(tmp_path / "out2")["metrics"]["vllm.prompt_tokens"]["window"]["rate"] == pytest.approx(5.0)


def test_offline_folder_file_without_timestamp_is_one_line_exit_2(tmp_path):
    scrapes = tmp_path / "scrapes"
    scrapes.mkdir()
    (scrapes / "1764760000.prom").write_text(_counter("vllm:prompt_tokens", {"": 1.0}))
    (scrapes / "latest.prom").write_text(_counter("vllm:prompt_tokens", {"": 2.0}))
    r = run_cli("collect-metrics", "--output-dir", str(tmp_path / "o"), "--engine", "vllm",
                "--engine-metrics-file", str(scrapes))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "latest.prom" in r.stderr and "no timestamp" in r.stderr


def test_timestamp_forms():
    from inferguard.collect.metrics import timestamp_of

    base = 1764764529.0  # 2025-12-03T12:22:09Z
    assert timestamp_of("engine-2025-12-03T12:22:09Z.prom") == base
    assert timestamp_of("engine-2025-12-03T12-22-09.5Z.prom") == base + 0.5
    assert timestamp_of("20251203T122209Z.prom") == base
    assert timestamp_of("x-2025-12-03T14:22:09+02:00.prom") == base
    assert timestamp_of("scrape-1764764529.prom") == base
    assert timestamp_of("scrape-1764764529500.prom") == base + 0.5
    assert timestamp_of("latest.prom") is None


# --------------------------------------------------------------------------- the window judged

def _flat_and_moving(tmp_path):
    """Two offline scrapes: prefix-cache counters flat over the window (large cumulative
    values), prompt tokens moving."""
    d = tmp_path / "scrapes"
    d.mkdir()
    for i, t in enumerate((1764760000, 1764760010)):
        (d / f"{t}.prom").write_text(
            _counter("vllm:prefix_cache_queries", {'model_name="m"': 90000.0})
            + _counter("vllm:prefix_cache_hits", {'model_name="m"': 40000.0})
            + _counter("vllm:prompt_tokens", {'model_name="m"': 1000.0 + 100 * i}))
    out = tmp_path / "window"
    r = _cli("collect-metrics", "--output-dir", str(out), "--engine", "vllm", "--engine-metrics-file", str(d))
    assert r.exit_code == 0, r.output
    return d, out


def test_a_counter_flat_over_the_window_is_present_zero(tmp_path, report_validator):
    from conftest import validate

    scrapes, out = _flat_and_moving(tmp_path)
    last = sorted(scrapes.iterdir())[-1]
    single = json.loads(run_cli("observability-coverage", "--engine-metrics-file", str(last), "--format", "json").stdout)
    win_proc = run_cli("observability-coverage", "--collect-metrics-dir", str(out), "--format", "json")
    assert win_proc.returncode == 0, win_proc.stderr
    win = json.loads(win_proc.stdout)
    validate(report_validator, win)

    def status(rep, fam):
        return next(f for f in rep["families"] if f["id"] == fam)["status"]

    assert status(single, "vllm.prefix_cache") == "measured"      # one cumulative snapshot
    assert status(win, "vllm.prefix_cache") == "present_zero"      # nothing happened in the window
    assert status(win, "vllm.tokens") == "measured"
    assert status(win, "vllm.external_prefix_cache") in ("absent", "not_applicable")  # absent stays absent
    assert win["derived"]["vllm.prefix_cache_hit_rate"]["value"] is None
    assert win["window"]["ticks"] == 2
    # evaluate recognises the folder through the SpecSet's metrics_window role
    ev = run_cli("evaluate", str(out), "--format", "json")
    assert ev.returncode == 0, ev.stderr
    rep = json.loads(ev.stdout)
    assert status(rep, "vllm.prefix_cache") == "present_zero"
    assert rep["packet"]["files"]["metrics_window"] == ["engine_metrics_timeline.jsonl", "metrics_summary.json"]


def test_lmcache_compat_judges_the_window(tmp_path):
    d = tmp_path / "scrapes"
    d.mkdir()
    for i, t in enumerate((1764760000, 1764760005, 1764760010)):
        (d / f"{t}.prom").write_text(
            _counter("lmcache_mp_lookup_requested_tokens", {'model_name="m"': 1000.0 + 400 * i})
            + _counter("lmcache_mp_lookup_hit_tokens", {'model_name="m"': 500.0 + 100 * i}))
    out = tmp_path / "w"
    r = _cli("collect-metrics", "--output-dir", str(out), "--engine", "lmcache", "--engine-metrics-file", str(d))
    assert r.exit_code == 0, r.output
    s = _summary(out)
    assert s["targets"][0]["role"] == "lmcache_metrics"
    hr = s["derived"]["lmcache_mp.lookup_hit_rate"]
    assert hr["value"] == pytest.approx(200.0 / 800.0)  # the window's, not the cumulative 700/1800
    rep = run_cli("lmcache-compat", "--collect-metrics-dir", str(out), "--format", "json")
    assert rep.returncode == 0, rep.stderr
    got = json.loads(rep.stdout)
    assert got["derived"]["lmcache_mp.lookup_hit_rate"]["value"] == pytest.approx(0.25)
    fam = next(f for f in got["families"] if f["id"] == "lmcache_mp.lookup")
    assert fam["status"] == "measured"


def test_a_folder_without_a_summary_is_one_line_exit_2(tmp_path):
    (tmp_path / "engine_metrics_timeline.jsonl.part").write_text("")
    r = run_cli("observability-coverage", "--collect-metrics-dir", str(tmp_path))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "killed" in r.stderr


def test_groups_and_quantiles_come_from_the_specs(tmp_path):
    """Moving a family to another timeline group, with its own quantiles, is a spec edit."""
    import shutil

    from inferguard.collect.metrics import RunOptions, TargetSpec, offline_files, run_offline
    from inferguard.spec import load_specs

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    vllm = specs / "metrics" / "vllm.yaml"
    text = vllm.read_text()
    assert "  - id: vllm.scheduler\n    window: {group: queue}\n" in text
    vllm.write_text(text.replace("  - id: vllm.scheduler\n    window: {group: queue}\n",
                                 "  - id: vllm.scheduler\n    window: {group: decode, quantiles: [0.9]}\n"))
    spec = load_specs([specs])
    d = tmp_path / "scrapes"
    d.mkdir()
    for i in range(11):
        (d / f"{1764760000 + i}.prom").write_text(f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting {float(i)}\n")
    out = tmp_path / "out"
    run_offline([TargetSpec("engine", "engine_metrics", files=offline_files([str(d)], "--engine-metrics-file"))],
                RunOptions(output_dir=str(out)), spec)
    rows = _rows(out)
    assert {r["group"] for r in rows} == {"decode"}
    w = _summary(out)["metrics"]["vllm.num_requests_waiting"]["window"]
    assert w["p90"] == pytest.approx(9.0) and "p50" not in w and w["max"] == 10.0


# --------------------------------------------------------------------------- real captures

REAL_HTTP = ROOT / "fixtures" / "real" / "lmcache-0.5.6-cpu" / "run1" / "http"


def test_real_lmcache_window_counts_counters_that_appear_with_their_first_event(tmp_path):
    """LMCache 0.5.6 (real /metrics bodies): at start-up the lookup counters are absent (OTel
    counters appear with their first event); after traffic they hold 192 hit of 512 requested
    tokens. They were created during the window, so all of it is the window's."""
    out = tmp_path / "w"
    files = [str(REAL_HTTP / n) for n in ("GET_metrics.body", "GET_metrics_after_traffic.body",
                                          "GET_metrics_after_clear.body")]
    r = _cli("collect-metrics", "--output-dir", str(out), "--engine", "lmcache", "--interval-seconds", "10",
             *[a for f in files for a in ("--engine-metrics-file", f)])
    assert r.exit_code == 0, r.output
    s = _summary(out)
    hit = s["metrics"]["lmcache_mp.lookup_hit_tokens"]
    assert hit["series"][0]["appeared_in_window"] is True and hit["window"]["delta"] == 192.0
    hr = s["derived"]["lmcache_mp.lookup_hit_rate"]
    assert hr["value"] == pytest.approx(192.0 / 512.0)
    assert hr["from"] == {"numerator": ["lmcache_mp_lookup_hit_tokens_total"],
                          "denominator": ["lmcache_mp_lookup_requested_tokens_total"]}
    # the eviction-loop heartbeat was there from the start: only its increase counts
    beat = s["metrics"]["lmcache_mp.l1_eviction_loop_ticks"]["window"]
    assert beat["first"] > 0 and beat["delta"] == beat["last"] - beat["first"]


def test_real_lmcache_window_after_traffic_is_flat(tmp_path):
    """Between the after-traffic and after-reset bodies nothing was looked up (POST
    /metrics/reset does not reset the counters): the lookup family is present_zero over that
    window, while the last body alone, a cumulative snapshot, says measured."""
    out = tmp_path / "w"
    r = _cli("collect-metrics", "--output-dir", str(out), "--engine", "lmcache",
             "--engine-metrics-file", str(REAL_HTTP / "GET_metrics_after_traffic.body"),
             "--engine-metrics-file", str(REAL_HTTP / "GET_metrics_after_clear.body"))
    assert r.exit_code == 0, r.output
    win = json.loads(run_cli("lmcache-compat", "--collect-metrics-dir", str(out), "--format", "json").stdout)
    snap = json.loads(run_cli("lmcache-compat", "--lmcache-metrics-file", str(REAL_HTTP / "GET_metrics_after_clear.body"),
                              "--format", "json").stdout)

    def status(rep, fam):
        return next(f for f in rep["families"] if f["id"] == fam)["status"]

    assert status(snap, "lmcache_mp.lookup") == "measured"
    assert status(win, "lmcache_mp.lookup") == "present_zero"
    assert status(win, "lmcache_mp.l1_failures") == "absent"
    assert win["derived"]["lmcache_mp.lookup_hit_rate"]["value"] is None
    assert win["mode_check"]["detected"] == "mp"


def test_progress_bar_on_a_terminal_and_quiet_otherwise(tmp_path):
    import pty
    import select

    def render(t: float) -> bytes:
        return _counter("vllm:prompt_tokens", {'model_name="m"': 100.0 * t}).encode()

    with MetricsServer(render) as srv:
        args = [sys.executable, "-m", "inferguard", "collect-metrics", "--engine", "vllm", "--engine-metrics-url", srv.url,
                "--duration-seconds", "0.6", "--interval-seconds", "0.2"]
        master, slave = pty.openpty()
        proc = subprocess.Popen(args + ["--output-dir", str(tmp_path / "tty")], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=slave, text=True)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
        os.close(master)
        quiet = run_cli(*args[3:], "--output-dir", str(tmp_path / "pipe"))
    assert proc.returncode == 0
    assert b"collecting" in seen and b"100%" in seen, seen
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_aggregate_none_keeps_series_apart_with_no_pooled_value(tmp_path):
    import shutil

    from inferguard.collect.metrics import RunOptions, TargetSpec, offline_files, run_offline
    from inferguard.spec import load_specs

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    vllm = specs / "metrics" / "vllm.yaml"
    old = "      - id: vllm.prompt_tokens\n        window: {group: prefill}\n        title: Prompt (prefill) tokens processed\n        type: counter\n        unit: tokens\n        aggregate: sum\n"
    text = vllm.read_text()
    assert old in text
    vllm.write_text(text.replace(old, old.replace("aggregate: sum", "aggregate: none")))
    spec = load_specs([specs])
    d = tmp_path / "scrapes"
    d.mkdir()
    for i in range(3):
        (d / f"{1764760000 + 10 * i}.prom").write_text(
            _counter("vllm:prompt_tokens", {'model_name="a"': 100.0 * i, 'model_name="b"': 300.0 * i}))
    out = tmp_path / "out"
    run_offline([TargetSpec("engine", "engine_metrics", files=offline_files([str(d)], "--engine-metrics-file"))],
                RunOptions(output_dir=str(out)), spec)
    m = _summary(out)["metrics"]["vllm.prompt_tokens"]
    assert m["aggregate"] == "none" and m["window"] is None
    assert {s["labels"]["model_name"]: s["delta"] for s in m["series"]} == {"a": 200.0, "b": 600.0}
    row = [r for r in _rows(out) if r["group"] == "prefill"][-1]
    assert sorted(s["value"] for s in row["values"]["vllm.prompt_tokens"]["series"]) == [200.0, 600.0]
    assert "value" not in row["values"]["vllm.prompt_tokens"]


def test_a_target_slower_than_the_interval_holds_neither_the_others_nor_the_schedule(tmp_path):
    from inferguard.collect.metrics import RunOptions, TargetSpec, run_live
    from inferguard.spec import default_specs

    good = lambda t: _counter("vllm:prompt_tokens", {'model_name="m"': 100.0 * t}).encode()  # noqa: E731
    with MetricsServer(good) as ok, MetricsServer(good, delay=3.0) as slow:
        targets = [TargetSpec("engine", "engine_metrics", url=ok.url), TargetSpec("slow", "engine_metrics", url=slow.url)]
        opts = RunOptions(output_dir=str(tmp_path), duration_seconds=1.0, interval_seconds=0.2, timeout_seconds=0.7)
        summary = run_live(targets, opts, default_specs())
    by = {t["name"]: t for t in summary["targets"]}
    assert summary["schedule"]["skipped_ticks"] == 0 and summary["ticks"] == 6
    assert by["engine"]["ok_ticks"] == 6
    kinds = [e["kind"] for e in sorted(by["slow"]["errors"], key=lambda e: e["tick"])]
    assert kinds[0] == "timeout" and "busy" in kinds and by["slow"]["ticks"] == 6
    engine_rows = [r for r in _rows(tmp_path) if r["target"] == "engine"]
    starts = [r["scrape"]["started"] for r in engine_rows]
    assert all(abs(s - 0.2 * r["tick"]) < 0.2 for s, r in zip(starts, engine_rows))  # on its slot, every tick


def test_engine_other_than_declared_is_a_finding(tmp_path):
    d = tmp_path / "scrapes"
    d.mkdir()
    for i in range(2):
        (d / f"{1764760000 + i}.prom").write_text(_counter("vllm:prompt_tokens", {'model_name="m"': 10.0 * i}))
    r = _cli("collect-metrics", "--output-dir", str(tmp_path / "o"), "--engine", "sglang", "--engine-metrics-file", str(d),
             "--fail-on", "warning")
    assert r.exit_code == 1
    f = [x for x in _summary(tmp_path / "o")["findings"] if x["check"] == "collect/engine-mismatch"]
    assert len(f) == 1 and "--engine sglang" in f[0]["message"] and "vllm" in f[0]["message"]
    r = _cli("collect-metrics", "--output-dir", str(tmp_path / "p"), "--engine", "vllm", "--engine-metrics-file", str(d),
             "--fail-on", "warning")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("engine,num,den,derived", [
    ("sglang", "sglang:cached_tokens", "sglang:prompt_tokens", "sglang.cache_hit_rate_from_tokens"),
    ("vllm", "vllm:external_prefix_cache_hits", "vllm:external_prefix_cache_queries", "vllm.external_prefix_cache_hit_rate"),
])
def test_hit_rates_are_ratios_of_window_deltas(tmp_path, engine, num, den, derived):
    d = tmp_path / "scrapes"
    d.mkdir()
    for i in range(3):  # cumulative 0.9 before the window; 30 of 100 in the window
        (d / f"{1764760000 + 5 * i}.prom").write_text(
            _counter(num, {'model_name="m",cache_source="device"' if engine == "sglang" else 'model_name="m"': 9000.0 + 15 * i})
            + _counter(den, {'model_name="m"': 10000.0 + 50 * i}))
    out = tmp_path / "w"
    r = _cli("collect-metrics", "--output-dir", str(out), "--engine", engine, "--engine-metrics-file", str(d))
    assert r.exit_code == 0, r.output
    hr = _summary(out)["derived"][derived]
    assert hr["value"] == pytest.approx(0.3) and hr["numerator"] == 30.0 and hr["denominator"] == 100.0
    assert hr["from"] == {"numerator": [num], "denominator": [den]}
    assert hr["basis"] == "ratio of counter deltas over the window"


def test_evaluate_uses_the_engine_collect_metrics_was_told(tmp_path):
    """A window in which the engine never answered: `--engine vllm` was recorded, so the
    vLLM rows apply and say what is missing, instead of nothing applying."""
    out = tmp_path / "w"
    r = run_cli("collect-metrics", "--output-dir", str(out), "--engine", "vllm",
                "--engine-metrics-url", "http://127.0.0.1:9/metrics", "--duration-seconds", "0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(run_cli("evaluate", str(out), "--format", "json").stdout)
    assert rep["context"]["expected_engine"] == "vllm"
    row = next(x for x in rep["surfaces"] if x["id"] == "vllm.prefix_cache")
    assert row["status"] == "missing"
    assert any("never answered" in p["message"] for p in rep["problems"])
    rep = json.loads(run_cli("evaluate", str(out), "--expected-engine", "sglang", "--format", "json").stdout)
    assert rep["context"]["expected_engine"] == "sglang"  # the command line still wins


def test_evaluate_reads_a_window_summary_once(tmp_path, monkeypatch):
    """The packet's context and its evidence come from one read (and schema check) of
    metrics_summary.json, not one each."""
    import inferguard.flow.window as window_mod
    from inferguard.flow.diagnosis import write_case
    from inferguard.flow.packet import evaluate_packet
    from inferguard.spec import default_specs

    lm = 'lmcache_mp_lookup_requested_tokens_total{{cache_salt="",model_name="m"}} {n}\n'
    write_case({"name": "w", "scrapes": {"interval_seconds": 10, "lmcache": [lm.format(n=1), lm.format(n=9)]}}, tmp_path)
    calls = []
    real = window_mod.load_summary
    monkeypatch.setattr(window_mod, "load_summary", lambda folder: calls.append(folder) or real(folder))
    report = evaluate_packet(str(tmp_path), default_specs())
    assert len(calls) == 1
    assert report["window"]["ticks"] == 2
