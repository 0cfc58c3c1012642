"""Time InferGuard's Prometheus path against prometheus_client and promtool, in one run.

On one exposition file (default: the one gen_vllm_exposition.py writes), each timing the
median of N runs:

  (a) the whole process: python -m inferguard observability-coverage --engine-metrics-file F
      --format json --output OUT  (subprocess wall time: start-up, imports, spec loading,
      parsing, evaluation, rendering)
  (b) prometheus_client's parser alone, in this process:
      list(text_string_to_metric_families(open(F).read()))
  (c) promtool check metrics < F  (when promtool is on PATH)
  (d) inferguard --help against a bare `python -c pass`
  (e) python -X importtime -m inferguard --help: which heavy modules --help imports
  (f) peak RSS of (a), against the file size (kernel-measured, wait4 of the child)
  (g) the same on the high-cardinality scrape of gen_high_cardinality.py, when it exists
      (the H100 vLLM scrape plus 3 M series of families no spec knows, about 130 MB)

Targets: (a)/(b) <= 0.25 (required); (a) < (c) (aimed for); (d) under 150 ms over the bare
interpreter; (e) none of jsonschema, prometheus_client, msgpack, jmespath; (f) and (g) under
RSS_TARGET_MIB. Prints a table and PASS/FAIL per target; always exits 0.

    python benchmarks/gen_vllm_exposition.py
    python benchmarks/bench_prom.py [FILE] [--runs N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _rss import measure  # noqa: E402
ROOT = os.path.dirname(HERE)
DEFAULT_FILE = os.path.join(HERE, "data", "vllm_20mb.prom")
HIGH_CARDINALITY_FILE = os.path.join(HERE, "data", "high_cardinality_3m.prom")
HEAVY = ("jsonschema", "prometheus_client", "msgpack", "jmespath")
RSS_TARGET_MIB = 150.0

RATIO_TARGET = 0.25
STARTUP_TARGET_MS = 150.0


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env.pop("INFERGUARD_DEBUG", None)
    # Run this checkout's package (src layout) even when another copy is installed.
    src = os.path.join(ROOT, "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def wall(cmd: list[str], runs: int, stdin_path: str | None = None, fresh_cache: bool = False) -> tuple[float, int]:
    """Median wall time (seconds) of running `cmd`, and the exit code of the last run.

    With fresh_cache, every run gets an empty XDG_CACHE_HOME (no spec set cached yet)."""
    times = []
    rc = 0
    for _ in range(runs):
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        cache = tempfile.TemporaryDirectory() if fresh_cache else None
        try:
            env = _env({"XDG_CACHE_HOME": cache.name} if cache else None)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  cwd=ROOT, env=env)
            times.append(time.perf_counter() - t0)
        finally:
            if stdin_path:
                stdin.close()
            if cache is not None:
                cache.cleanup()
        rc = proc.returncode
        if rc != 0 and cmd[:3] == [sys.executable, "-m", "inferguard"]:
            sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-2000:])
    return statistics.median(times), rc


def time_client_parser(path: str, runs: int) -> tuple[float, int]:
    from prometheus_client.parser import text_string_to_metric_families

    times = []
    families = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        with open(path, encoding="utf-8") as fh:
            families = len(list(text_string_to_metric_families(fh.read())))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), families


def heavy_imports_of_help() -> list[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "inferguard", "--help"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=_env())
    found = set()
    for line in proc.stderr.decode("utf-8", "replace").splitlines():
        if not line.startswith("import time:"):
            continue
        module = line.rsplit("|", 1)[-1].strip()
        top = module.split(".", 1)[0]
        if top in HEAVY:
            found.add(top)
    return sorted(found)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Time InferGuard's Prometheus path against prometheus_client and promtool.")
    ap.add_argument("file", nargs="?", default=DEFAULT_FILE, help="exposition file (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs per timing; the median is reported (default: %(default)s)")
    args = ap.parse_args(argv)
    runs = max(1, args.runs)
    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        print(f"{path} does not exist; write it first with: python benchmarks/gen_vllm_exposition.py")
        return 0
    size_mb = os.path.getsize(path) / 1e6
    with open(path, "rb") as fh:
        samples = sum(1 for line in fh if line.strip() and not line.startswith(b"#"))
    print(f"file: {path} ({size_mb:.1f} MB, {samples} samples), median of {runs} runs, Python {sys.version.split()[0]}")
    print()

    rows: list[tuple[str, str, str]] = []
    checks: list[tuple[str, bool | None, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "x.json")
        cmd = [sys.executable, "-m", "inferguard", "observability-coverage", "--engine-metrics-file", path,
               "--format", "json", "--output", out]
        wall(cmd, 1)  # once, so that the spec set cache is warm: (a) is the steady state
        a, a_rc = wall(cmd, runs)
        a_cold, _ = wall(cmd, runs, fresh_cache=True)
        mem = measure(cmd, env=_env())
        hc_path = HIGH_CARDINALITY_FILE if os.path.isfile(HIGH_CARDINALITY_FILE) else None
        hc = None
        if hc_path:
            hc = measure([sys.executable, "-m", "inferguard", "observability-coverage", "--engine-metrics-file", hc_path,
                          "--format", "json", "--output", out], env=_env())
    rows.append(("(a) inferguard observability-coverage (process)", f"{a * 1000:8.0f} ms", f"exit {a_rc}"))
    rows.append(("    same, spec set cache empty (first run)", f"{a_cold * 1000:8.0f} ms",
                 f"+{(a_cold - a) * 1000:.0f} ms: spec YAML, schema and semantic checks, cache write (not a target)"))

    b, families = time_client_parser(path, runs)
    rows.append(("(b) prometheus_client text_string_to_metric_families", f"{b * 1000:8.0f} ms", f"{families} families"))

    promtool = shutil.which("promtool")
    c = None
    if promtool:
        c, c_rc = wall([promtool, "check", "metrics"], runs, stdin_path=path)
        rows.append(("(c) promtool check metrics < F", f"{c * 1000:8.0f} ms", f"exit {c_rc} (lint findings exit non-zero)"))
    else:
        rows.append(("(c) promtool check metrics < F", "     n/a", "promtool not installed"))

    startup_runs = max(runs, 5)
    bare, _ = wall([sys.executable, "-c", "pass"], startup_runs)
    helpt, help_rc = wall([sys.executable, "-m", "inferguard", "--help"], startup_runs)
    over_ms = (helpt - bare) * 1000
    rows.append(("(d) python -c pass", f"{bare * 1000:8.0f} ms", f"median of {startup_runs}"))
    rows.append(("(d) python -m inferguard --help", f"{helpt * 1000:8.0f} ms", f"+{over_ms:.0f} ms over bare, exit {help_rc}"))

    heavy = heavy_imports_of_help()
    rows.append(("(e) heavy modules imported by --help", "", ", ".join(heavy) or "none"))
    rows.append(("(f) peak RSS of (a)", f"{mem['peak_rss_mib']:7.1f} MiB", f"file {size_mb:.1f} MB, exit {mem['rc']}"))
    if hc is not None:
        hc_mb = os.path.getsize(hc_path) / 1e6
        rows.append(("(g) peak RSS of (a) on the high-cardinality scrape", f"{hc['peak_rss_mib']:7.1f} MiB",
                     f"file {hc_mb:.1f} MB, {hc['seconds']:.1f} s, exit {hc['rc']}"))
    else:
        rows.append(("(g) peak RSS on the high-cardinality scrape", "     n/a",
                     "write it first: python benchmarks/gen_high_cardinality.py"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(width)}  {'time':>11}  note")
    print(f"{'-' * width}  {'-' * 11}  {'-' * 30}")
    for name, t, note in rows:
        print(f"{name.ljust(width)}  {t:>11}  {note}")
    print()

    ratio = a / b if b else float("inf")
    checks.append((f"(a)/(b) = {ratio:.3f}  (target <= {RATIO_TARGET}, required)", ratio <= RATIO_TARGET and a_rc == 0, ""))
    if c is not None:
        checks.append((f"(a)/(c) = {a / c:.3f}  (target < 1, aimed for)", a < c, ""))
    else:
        checks.append(("(a) < (c)  (aimed for)", None,
                       "promtool is not installed: on Debian/Ubuntu `apt-get install prometheus` "
                       "(it ships /usr/bin/promtool), or take promtool from a Prometheus release archive"))
    checks.append((f"--help start-up +{over_ms:.0f} ms over `python -c pass`  (target < {STARTUP_TARGET_MS:.0f} ms)",
                   over_ms < STARTUP_TARGET_MS and help_rc == 0, ""))
    checks.append((f"--help imports none of {', '.join(HEAVY)}", not heavy, ", ".join(heavy)))
    checks.append((f"(f) peak RSS {mem['peak_rss_mib']:.0f} MiB  (target < {RSS_TARGET_MIB:.0f} MiB)",
                   mem["peak_rss_mib"] < RSS_TARGET_MIB and mem["rc"] == 0, ""))
    if hc is not None:
        checks.append((f"(g) peak RSS {hc['peak_rss_mib']:.0f} MiB on {hc_mb:.0f} MB  (target < {RSS_TARGET_MIB:.0f} MiB)",
                       hc["peak_rss_mib"] < RSS_TARGET_MIB and hc["rc"] == 0, ""))
    for text, ok, note in checks:
        mark = "SKIP" if ok is None else verdict(ok)
        print(f"{mark}  {text}" + (f"\n      {note}" if note else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
