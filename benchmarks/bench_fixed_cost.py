"""The fixed cost of a command, and coverage against promtool from 1 MB up, in one run.

Side by side, each figure the median of N runs, the two commands of a comparison run in
turn (A B A B ...) so that a machine that slows down mid-run slows both:

  (h) inferguard evaluate fixtures/packets/vllm-lmcache-mp-h100 --format json
      against a bare `python -c pass` (the median of the per-pair differences), with the
      user cache warm (the steady state), and, for information, with an empty cache
      directory on every run (YAML parsing, schema, plugin and semantic checks, cache write)
  (i) inferguard observability-coverage --engine-metrics-file F --format json --output OUT
      against `promtool check metrics < F`, for generated vLLM expositions of about 1, 4
      and 21 MB (gen_vllm_exposition.py; written to benchmarks/data/ when missing), with
      prometheus_client's parser alone beside them for scale, and (--high-cardinality) the
      same on a scrape of 0.5 M unindexed series (gen_high_cardinality.py)

Targets: (h) under 100 ms over the bare interpreter; (i) coverage faster than promtool at
every size. Without promtool on PATH, (i) compares against prometheus_client's parser only
and says that the promtool target was not measured. Prints PASS/FAIL; always exits 0.

By default the child processes run this checkout (src on PYTHONPATH, `python -m
inferguard`). With --python, they run the package installed in that interpreter's
environment instead (`python -m venv /tmp/ig && /tmp/ig/bin/pip install .`, then
`--python /tmp/ig/bin/python`), from a folder outside the checkout, through the
`inferguard` console script beside it: what a user runs. Byte-code caching is on (a
PYTHONDONTWRITEBYTECODE in the environment is dropped), every command runs once before
timing, and the user cache directory is a fresh one shared by the warm runs.

    python benchmarks/bench_fixed_cost.py [--runs N] [--python PY] [--high-cardinality]
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
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
PACKET = os.path.join(ROOT, "fixtures", "packets", "vllm-lmcache-mp-h100")
# name -> (file, gen_vllm_exposition.py arguments)
SIZES = {
    "1 MB": (os.path.join(DATA, "vllm_1mb.prom"), ["--models", "4", "--engines", "11"]),
    "4 MB": (os.path.join(DATA, "vllm_4mb.prom"), ["--models", "8", "--engines", "22"]),
    "21 MB": (os.path.join(DATA, "vllm_20mb.prom"), []),
}
FIXED_TARGET_MS = 100.0


INSTALLED = False   # --python: run the installed package from a folder outside the checkout
CWD = ROOT


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("INFERGUARD_DEBUG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not INSTALLED:
        src = os.path.join(ROOT, "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def _once(cmd: list[str], env: dict[str, str], stdin_path: str | None = None) -> tuple[float, int]:
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=CWD, env=env)
        return time.perf_counter() - t0, proc.returncode
    finally:
        if stdin_path:
            stdin.close()


def paired(a: list[str], b: list[str], runs: int, *, a_env: dict[str, str] | None = None, a_stdin: str | None = None,
           b_stdin: str | None = None, fresh_cache_a: bool = False) -> dict[str, float]:
    """Medians of A, of B and of A - B over `runs` pairs run in turn, after one of each untimed."""
    base = _env(a_env)
    _once(a, base, a_stdin)
    _once(b, base, b_stdin)
    ta, tb, rc_a = [], [], 0
    for _ in range(runs):
        env = base
        tmp = tempfile.TemporaryDirectory() if fresh_cache_a else None
        if tmp is not None:
            env = dict(base, XDG_CACHE_HOME=tmp.name)
        try:
            t, rc_a = _once(a, env, a_stdin)
        finally:
            if tmp is not None:
                tmp.cleanup()
        ta.append(t)
        tb.append(_once(b, base, b_stdin)[0])
    return {"a": statistics.median(ta), "b": statistics.median(tb),
            "diff": statistics.median(x - y for x, y in zip(ta, tb)), "rc_a": rc_a}


def client_parser(path: str, runs: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        with open(path, encoding="utf-8") as fh:
            list(text_string_to_metric_families(fh.read()))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ensure(path: str, args: list[str], generator: str = "gen_vllm_exposition.py") -> None:
    if not os.path.isfile(path):
        subprocess.run([sys.executable, os.path.join(HERE, generator), path, *args], check=True,
                       stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fixed cost of a command, and coverage against promtool.")
    ap.add_argument("--runs", type=int, default=11, help="pairs per comparison; medians are reported (default: %(default)s)")
    ap.add_argument("--python", help="an interpreter whose environment has inferguard installed (pip install .): "
                                     "time that install, run from outside the checkout")
    ap.add_argument("--high-cardinality", action="store_true",
                    help="also compare on a scrape of 0.5 M unindexed series (gen_high_cardinality.py, about 20 MB)")
    args = ap.parse_args(argv)
    runs = max(1, args.runs)
    global INSTALLED, CWD
    py = sys.executable
    ig = [py, "-m", "inferguard"]
    where = "this checkout (src on PYTHONPATH)"
    if args.python:
        py = os.path.abspath(args.python)
        script = os.path.join(os.path.dirname(py), "inferguard")
        ig = [script] if os.path.isfile(script) else [py, "-m", "inferguard"]
        INSTALLED = True
        CWD = tempfile.mkdtemp(prefix="ig-bench-")
        where = f"the package installed beside {py}, run from {CWD}"
    version = subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip()
    print(f"median of {runs} pairs per comparison, Python {version}, {os.cpu_count()} CPUs; inferguard from {where}")
    promtool_path = shutil.which("promtool")
    if promtool_path:
        pv = subprocess.run([promtool_path, "--version"], capture_output=True, text=True)
        print(f"promtool: {promtool_path}, {((pv.stdout or pv.stderr).splitlines() or ['?'])[0]}")
    print()
    checks: list[tuple[str, bool | None]] = []
    rows: list[tuple[str, str, str, str]] = []

    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        warm = {"XDG_CACHE_HOME": cache}
        ev = [*ig, "evaluate", PACKET, "--format", "json"]
        bare = [py, "-c", "pass"]
        h = paired(ev, bare, runs, a_env=warm)
        rows.append(("(h) evaluate (bundled packet), cache warm", f"{h['a'] * 1000:.0f} ms",
                     f"bare {h['b'] * 1000:.0f} ms", f"+{h['diff'] * 1000:.0f} ms over bare (exit {h['rc_a']})"))
        hc = paired(ev, bare, runs, a_env=warm, fresh_cache_a=True)
        rows.append(("    same, empty cache directory every run", f"{hc['a'] * 1000:.0f} ms",
                     f"bare {hc['b'] * 1000:.0f} ms", f"+{hc['diff'] * 1000:.0f} ms over bare (information)"))
        checks.append((f"(h) evaluate +{h['diff'] * 1000:.0f} ms over a bare interpreter (target < {FIXED_TARGET_MS:.0f} ms)",
                       h["diff"] * 1000 < FIXED_TARGET_MS and h["rc_a"] in (0, 1)))

        promtool = promtool_path
        sizes = dict((k, (p, a, "gen_vllm_exposition.py")) for k, (p, a) in SIZES.items())
        if args.high_cardinality:
            sizes["0.5 M unindexed series"] = (os.path.join(DATA, "high_cardinality_500k.prom"), ["--series", "500000"],
                                               "gen_high_cardinality.py")
        for name, (path, gen_args, generator) in sizes.items():
            ensure(path, gen_args, generator)
            mb = os.path.getsize(path) / 1e6
            cov = [*ig, "observability-coverage", "--engine-metrics-file", path,
                   "--format", "json", "--output", os.path.join(out, "c.json")]
            parser = client_parser(path, max(3, runs // 3))
            if promtool:
                r = paired(cov, [promtool, "check", "metrics"], runs, a_env=warm, b_stdin=path)
                ratio = r["a"] / r["b"]
                rows.append((f"(i) {name} ({mb:.1f} MB) coverage vs promtool", f"{r['a'] * 1000:.0f} ms",
                             f"promtool {r['b'] * 1000:.0f} ms",
                             f"ratio {ratio:.2f}; prometheus_client parser {parser * 1000:.0f} ms (exit {r['rc_a']})"))
                checks.append((f"(i) {name}: coverage / promtool = {ratio:.2f} (target < 1)", ratio < 1 and r["rc_a"] == 0))
            else:
                r = paired(cov, bare, runs, a_env=warm)
                rows.append((f"(i) {name} ({mb:.1f} MB) coverage", f"{r['a'] * 1000:.0f} ms",
                             f"parser {parser * 1000:.0f} ms", f"promtool not installed (exit {r['rc_a']})"))
                checks.append((f"(i) {name}: promtool not installed, target not measured "
                               f"(coverage / prometheus_client parser = {r['a'] / parser:.2f})", None))

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print()
    for text, ok in checks:
        print(("SKIP" if ok is None else "PASS" if ok else "FAIL") + "  " + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
