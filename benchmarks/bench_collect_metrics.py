"""collect-metrics at fleet scale: N loopback targets, each serving a ~50 KB vLLM exposition,
scraped every interval for a duration; prints tick latency p50/p95/max and drift.

The targets are served by a separate process (so that serving does not share the collector's
interpreter lock), one ThreadingHTTPServer per target on 127.0.0.1. Each answer is the same
vLLM page (rendered by prometheus_client through gen_vllm_exposition.py, 2 models x 1 engine,
about 53 KB) with its counters moved forward per request, so every tick has new values.

    python benchmarks/bench_collect_metrics.py                       # 64 targets, 1 s, 60 s
    python benchmarks/bench_collect_metrics.py --targets 8 --duration 10

Tick latency: from the tick's slot on the schedule to the moment every target's scrape was
fetched, parsed and written to the timeline. Drift: how late each tick started after its slot
(start lag); a schedule that drifts shows a start lag growing tick after tick.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SERVER = r'''
import http.server, sys, threading, re
body = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
# every counter sample line ("..._total{...} value") moves forward by the request number
parts = re.split(rb"(_total\{[^}]*\} )([0-9.e+]+)\n", body)
def render(k):
    out = []
    for i in range(0, len(parts) - 2, 3):
        out.append(parts[i]); out.append(parts[i + 1]); out.append(b"%r\n" % (float(parts[i + 2]) + 10.0 * k))
    out.append(parts[-1])
    return b"".join(out)
pages = [render(k) for k in range(8)]  # pre-rendered: serving costs little CPU beside the collector
servers = []
for i in range(n):
    count = [0]
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        c = count
        def do_GET(self):
            self.c[0] += 1
            b = pages[self.c[0] % len(pages)]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        def log_message(self, *a): pass
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
    servers.append(s)
print(" ".join(str(s.server_address[1]) for s in servers), flush=True)
sys.stdin.read()
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=64)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--exposition", help="page each target serves (default: generated, 2 models x 1 engine)")
    args = ap.parse_args()

    sys.path.insert(0, os.path.join(ROOT, "src"))
    from inferguard.collect.metrics import RunOptions, TargetSpec, run_live
    from inferguard.spec import default_specs

    with tempfile.TemporaryDirectory() as tmp:
        page = args.exposition
        if page is None:
            page = os.path.join(tmp, "vllm_50k.prom")
            subprocess.run([sys.executable, os.path.join(HERE, "gen_vllm_exposition.py"), page, "--models", "2",
                            "--engines", "1"], check=True, capture_output=True)
        srv = subprocess.Popen([sys.executable, "-c", SERVER, page, str(args.targets)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        try:
            ports = srv.stdout.readline().split()
            targets = [TargetSpec(f"t{i}", "engine_metrics", url=f"http://127.0.0.1:{p}/metrics") for i, p in enumerate(ports)]
            spec = default_specs()
            opts = RunOptions(output_dir=os.path.join(tmp, "out"), duration_seconds=args.duration,
                              interval_seconds=args.interval, timeout_seconds=args.interval)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            summary = run_live(targets, opts, spec)
            wall = time.monotonic() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            srv.stdin.close()
            srv.wait(timeout=10)
        sch = summary["schedule"]
        failed = sum(t["failed_ticks"] for t in summary["targets"])
        rows = summary["outputs"]["timeline_rows"]
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        size = os.path.getsize(page)
        lags = sch["start_lag_ms"]
        print(f"targets {args.targets} x {size / 1024:.0f} KB, interval {args.interval:g} s, duration {args.duration:g} s, "
              f"cpus {os.cpu_count()}")
        print(f"ticks {sch['ticks']}/{sch['planned_ticks']}, skipped {sch['skipped_ticks']}, failed scrapes {failed}, "
              f"timeline rows {rows}")
        print(f"tick latency ms: p50 {sch['tick_ms']['p50']:.1f}  p95 {sch['tick_ms']['p95']:.1f}  max {sch['tick_ms']['max']:.1f}")
        print(f"start lag (drift) ms: p50 {lags['p50']:.2f}  p95 {lags['p95']:.2f}  max {lags['max']:.2f}")
        print(f"wall {wall:.1f} s for {sch['ticks']} ticks (expected {(sch['planned_ticks'] - 1) * args.interval:.1f} s + last tick); "
              f"collector CPU {cpu:.1f} s ({100 * cpu / wall:.0f}% of one core)")
        print(json.dumps({"tick_ms": sch["tick_ms"], "start_lag_ms": lags, "skipped": sch["skipped_ticks"],
                          "failed": failed, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}))


if __name__ == "__main__":
    main()
