"""Speed and memory of the log reader on a large LMCache + vLLM log.

    python benchmarks/bench_logs.py                      # 1 GiB file in a temporary directory
    python benchmarks/bench_logs.py --size-mb 200        # smaller
    python benchmarks/bench_logs.py --output big.log     # keep the generated file (reused if present)

The generator writes a deterministic mix of line shapes taken from real logs
(shared/data/real/lmcache-0.5.6-cpu/run*/server.log: ANSI-coloured LMCache MP server lines at
INFO and DEBUG, uvicorn access lines; vllm-lmcache-mp-h100: `(APIServer pid=N)` / `(EngineCore
pid=N)` prefixed vLLM lines) and from vLLM format strings (periodic stats, access lines,
embedded-connector lookups), with the numbers varied. About two lines in three match a pattern,
as in a busy server log.

The reader runs in a fresh child process, so its peak RSS is its own (the generator's memory is
not counted); with --tracemalloc the child also reports the Python heap peak (slower).
`grep -c` over the same file is timed as a reference floor. Targets: >= 50 MB/s and < 200 MB
peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB_S = 50.0
TARGET_RSS_MB = 200.0

G, Y, R, BOLD, RST, IT = "\x1b[32;20m", "\x1b[33;20m", "\x1b[31;20m", "\x1b[1m", "\x1b[0m", "\x1b[3m"


class _Clock:
    """Timestamps that move forward a few milliseconds per line."""

    def __init__(self) -> None:
        self.ms = 0

    def lmc(self) -> str:
        self.ms += 3
        s, ms = divmod(self.ms, 1000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"2026-11-29 {8 + h % 12:02d}:{m:02d}:{s:02d},{ms:03d}"

    def vllm(self) -> str:
        self.ms += 3
        s = self.ms // 1000
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"11-29 {8 + h % 12:02d}:{m:02d}:{s:02d}"


def _lmc(c: _Clock, level: str, msg: str, src: str, prefix: str = "") -> str:
    color = {"INFO": G, "WARNING": Y, "ERROR": R, "DEBUG": BOLD}[level]
    return f"{prefix}{color}[{c.lmc()}] LMCache {level}:{RST} {msg} {IT}({src}){RST}\n"


def _shapes(rng: random.Random, c: _Clock):
    """(weight, line factory) pairs."""
    sm = "lmcache_driven_transfer.py:834:lmcache.v1.multiprocess.modules.lmcache_driven_transfer"
    rt = "lmcache_driven_transfer.py:1100:lmcache.v1.multiprocess.modules.lmcache_driven_transfer"
    pf = "storage_manager.py:651:lmcache.v1.distributed.storage_manager"
    ev = "eviction_controller.py:179:lmcache.v1.distributed.storage_controllers.eviction_controller"
    sub = "l1.py:57:lmcache.v1.mp_observability.subscribers.logging.l1"
    api, eng = "(APIServer pid=71) ", "(EngineCore_DP0 pid=84) "

    def stored():
        return _lmc(c, "INFO", f"Stored {rng.choice((64, 256, 2048))} tokens in {rng.random() / 50:.3f} seconds", sm)

    def retrieved():
        return _lmc(c, "INFO", f"Retrieved {rng.choice((64, 256, 2048))} tokens in {rng.random() / 50:.3f} seconds", rt)

    def prefetch():
        n = rng.choice((4, 8, 16))
        h = rng.randint(0, n)
        l2 = rng.randint(0, h)
        return _lmc(c, "INFO", f"Prefetch request completed (L1+L2): {h}/{n} retained keys ({h - l2} L1, {l2} L2) in "
                    f"{rng.random() * 60:.1f} ms (external_request_id=cmpl-{rng.getrandbits(64):016x}-0, "
                    f"prefetch_request_id={rng.randint(0, 99999)})", pf)

    def hit_cells():
        n = rng.choice((0, 16))
        return _lmc(c, "DEBUG", f"Prefetch request {rng.randint(0, 99999)} completed: {n} hit cells ({n} from L1, 0 from L2)",
                    "prefetch_controller.py:1213:lmcache.v1.distributed.storage_controllers.prefetch_controller")

    def l1_debug():
        return _lmc(c, "DEBUG", f"L1 {rng.choice(('read reserved', 'write reserved', 'read finished'))}: {rng.randint(1, 32)} keys", sub)

    def session():
        return _lmc(c, "DEBUG", f"Created session for request_id=req-{rng.randint(0, 9999)}-warm",
                    "session.py:212:lmcache.v1.multiprocess.session")

    def mp_store():
        return _lmc(c, "DEBUG", f"MP store start: session=req-{rng.randint(0, 9999)}-cold device=cpu",
                    "mp_server.py:48:lmcache.v1.mp_observability.subscribers.logging.mp_server")

    def usage():
        return _lmc(c, "INFO", f"L1 memory usage: 0.00/0.00 GiB ({rng.random() * 100:.1f}%)", ev)

    def watermark():
        return _lmc(c, "INFO", f"L1 memory usage {0.8 + rng.random() / 5:.2f} above watermark 0.80; triggering eviction.", ev)

    def alloc_fail():
        return _lmc(c, "WARNING", f"Failed to batched allocate 16 memory blocks of size 16384 because no enough memory is "
                    f"available (short by {rng.randint(1, 8)} blocks)", "memory_management.py:1540:lmcache.v1.memory_management")

    def periodic():
        return _lmc(c, "INFO", "Started PeriodicThread: lmcache-heartbeat (level=critical, interval=10.0s, init_wait=0.0s)",
                    "periodic_thread.py:239:lmcache.v1.periodic_thread", eng)

    def alloc_check():
        return _lmc(c, "INFO", f" - Total free size: {rng.random() * 512:.6f} MB",
                    "tensor_memory_allocator.py:306:lmcache.v1.memory_management")

    def mp_access():
        return f'INFO:     127.0.0.1:{rng.randint(30000, 60000)} - "GET /metrics HTTP/1.1" 200 OK\n'

    def vllm_access():
        return f'{api}INFO:     10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}:{rng.randint(30000, 60000)} - ' \
               f'"POST /v1/completions HTTP/1.1" 200 OK\n'

    def vllm_stats():
        return (f"{api}INFO {c.vllm()} [loggers.py:123] Engine 000: Avg prompt throughput: {rng.random() * 5000:.1f} tokens/s, "
                f"Avg generation throughput: {rng.random() * 200:.1f} tokens/s, Running: {rng.randint(0, 64)} reqs, "
                f"Waiting: {rng.randint(0, 8)} reqs, GPU KV cache usage: {rng.random() * 100:.1f}%, "
                f"Prefix cache hit rate: {rng.random() * 100:.1f}%, External prefix cache hit rate: {rng.random() * 100:.1f}%\n")

    def vllm_noise():
        return f"{api}INFO {c.vllm()} [logger.py:71] Received request cmpl-{rng.getrandbits(64):016x}-0: prompt: '', params: SamplingParams(n=1, temperature=0.0, max_tokens=16)\n"

    def embedded_hit():
        t = rng.choice((1024, 2048, 4096))
        h = rng.randrange(0, t, 256)
        return _lmc(c, "INFO", f"Reqid: cmpl-{rng.getrandbits(32):08x}-0, Total tokens {t}, Inference Engine computed tokens: 0, "
                    f"LMCache hit tokens: {h}, need to load: {h}", "vllm_v1_adapter.py:1476:lmcache.integration.vllm.vllm_v1_adapter", eng)

    def error():
        return _lmc(c, "ERROR", "Error in blocking handler", "mq.py:738:lmcache.v1.multiprocess.transport.zmq_impl.mq") + \
            "Traceback (most recent call last):\n" \
            '  File "/opt/venv/lib/python3.11/site-packages/lmcache/v1/platform/event_notifier.py", line 119, in notify\n' \
            "ValueError: file descriptor cannot be a negative integer (-1)\n"

    return [
        (12, stored), (10, retrieved), (12, prefetch), (6, hit_cells), (8, l1_debug), (4, session), (4, mp_store),
        (2, usage), (0.5, watermark), (0.5, alloc_fail), (1, periodic), (2, alloc_check), (2, mp_access),
        (12, vllm_access), (2, vllm_stats), (6, vllm_noise), (3, embedded_hit), (0.05, error),
    ]


def generate(path: Path, size_bytes: int, seed: int = 20261129) -> None:
    rng = random.Random(seed)
    clock = _Clock()
    shapes = _shapes(rng, clock)
    weights = [w for w, _ in shapes]
    makers = [m for _, m in shapes]
    written = 0
    with open(path, "wb") as out:
        while written < size_bytes:
            picks = rng.choices(makers, weights, k=20000)
            data = "".join(m() for m in picks).encode("utf-8")
            if written + len(data) > size_bytes:
                cut = data.rfind(b"\n", 0, size_bytes - written)
                data = data[: cut + 1] if cut >= 0 else data[: data.find(b"\n") + 1]
            out.write(data)
            written += len(data)


_CHILD = r"""
import json, resource, sys, time
use_tm = sys.argv[2] == "1"
if use_tm:
    import tracemalloc
    tracemalloc.start()
from inferguard.readers import logs
pats = logs.compiled_patterns()
t0 = time.perf_counter()
r = logs.read(sys.argv[1], specs=pats)
dt = time.perf_counter() - t0
out = {"seconds": dt, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
       "lines": r.summary.get("lines"), "matched_lines": r.summary.get("matched_lines"),
       "problems": len(r.problems), "signals": {k: v for k, v in r.signals.items() if v}}
if use_tm:
    out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
print(json.dumps(out))
"""


def run_reader(path: Path, tracemalloc: bool) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), "1" if tracemalloc else "0"],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_grep(path: Path) -> dict | None:
    grep = shutil.which("grep")
    if grep is None:
        return None
    t0 = time.perf_counter()
    proc = subprocess.run([grep, "-c", "-F", "LMCache", str(path)], capture_output=True, text=True)
    return {"seconds": time.perf_counter() - t0, "count": int(proc.stdout.strip() or 0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=1024.0, help="size of the generated log in MiB (default 1024)")
    ap.add_argument("--output", help="where to write the log (kept; reused when it already has the requested size)")
    ap.add_argument("--tracemalloc", action="store_true", help="also report the Python heap peak (slower)")
    ap.add_argument("--repeat", type=int, default=1, help="run the reader N times (fresh process each) and report the median")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    size = int(args.size_mb * 1024 * 1024)
    tmpdir = None
    if args.output:
        path = Path(args.output)
    else:
        tmpdir = tempfile.mkdtemp(prefix="inferguard-bench-")
        path = Path(tmpdir) / "bench.log"
    try:
        t0 = time.perf_counter()
        if not (path.is_file() and abs(path.stat().st_size - size) < 64 * 1024):
            generate(path, size)
        gen_s = time.perf_counter() - t0
        mb = path.stat().st_size / (1024 * 1024)
        # warm the page cache so both tools read from memory
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
        runs = [run_reader(path, args.tracemalloc) for _ in range(max(1, args.repeat))]
        runs.sort(key=lambda r: r["seconds"])
        reader = runs[len(runs) // 2]
        reader["maxrss_kb"] = max(r["maxrss_kb"] for r in runs)
        grep = run_grep(path)
        mb_s = mb / reader["seconds"]
        rss_mb = reader["maxrss_kb"] / 1024
        result = {
            "file": str(path), "size_mib": round(mb, 1), "generate_seconds": round(gen_s, 1),
            "reader": {"seconds": round(reader["seconds"], 2), "mib_per_s": round(mb_s, 1), "peak_rss_mib": round(rss_mb, 1),
                       "runs_seconds": [round(r["seconds"], 2) for r in runs],
                       "lines": reader["lines"], "matched_lines": reader["matched_lines"], "problems": reader["problems"]},
            "grep_c": grep and {"seconds": round(grep["seconds"], 2), "mib_per_s": round(mb / grep["seconds"], 1),
                                "count": grep["count"]},
            "targets": {"mib_per_s": TARGET_MB_S, "peak_rss_mib": TARGET_RSS_MB},
            "meets": {"speed": mb_s >= TARGET_MB_S, "memory": rss_mb < TARGET_RSS_MB},
        }
        if args.tracemalloc:
            result["reader"]["tracemalloc_peak_mib"] = round(reader["tracemalloc_peak"] / (1024 * 1024), 1)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            r = result["reader"]
            print(f"file        {result['file']} ({result['size_mib']} MiB, {r['lines']:,} lines, generated in {result['generate_seconds']} s)")
            runs_note = f"  median of {len(runs)}: {r['runs_seconds']} s" if len(runs) > 1 else ""
            print(f"logs.read   {r['seconds']:>7.2f} s  {r['mib_per_s']:>7.1f} MiB/s  peak RSS {r['peak_rss_mib']:.1f} MiB"
                  f"  ({r['matched_lines']:,} lines matched, {r['problems']} problems){runs_note}")
            if "tracemalloc_peak_mib" in r:
                print(f"            Python heap peak (tracemalloc) {r['tracemalloc_peak_mib']} MiB")
            if grep:
                g = result["grep_c"]
                print(f"grep -c     {g['seconds']:>7.2f} s  {g['mib_per_s']:>7.1f} MiB/s  (reference floor; {g['count']:,} lines with 'LMCache')")
            print(f"targets     >= {TARGET_MB_S:.0f} MiB/s: {'met' if result['meets']['speed'] else 'NOT met'};"
                  f"  < {TARGET_RSS_MB:.0f} MiB peak: {'met' if result['meets']['memory'] else 'NOT met'}")
        return 0
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
