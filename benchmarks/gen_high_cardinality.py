"""Write a large, high-cardinality Prometheus exposition: a real vLLM scrape plus millions of
series of families no spec knows.

A fleet's scrape is mostly series the specs do not ask for (per-handler HTTP counters, per
block or per tenant gauges). The file starts with the vLLM /metrics page of the H100 packet
fixture (the families the specs know, with real values), then `--series` samples spread over
`--families` unindexed families, with distinct label sets, TYPE and HELP lines, and a final
newline. The same arguments give the same bytes.

    python benchmarks/gen_high_cardinality.py                       # ~120 MB, 3 M series
    python benchmarks/gen_high_cardinality.py /tmp/hc.prom --series 200000
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUTPUT = os.path.join(HERE, "data", "high_cardinality_3m.prom")
BASE = os.path.join(ROOT, "fixtures", "packets", "vllm-lmcache-mp-h100", "engine.prom")


def write(out, series: int, families: int) -> int:
    with open(BASE, "rb") as fh:
        base = fh.read()
    out.write(base if base.endswith(b"\n") else base + b"\n")
    per = -(-series // families)
    written = 0
    for f in range(families):
        name = f"fleet_blk_{f:02d}_total"
        out.write(f"# HELP {name} Touches of one KV block (synthetic, unindexed).\n# TYPE {name} counter\n".encode())
        lines = []
        for i in range(per):
            if written >= series:
                break
            lines.append(f'{name}{{b="{written:06x}",s="{i % 64}"}} {(written * 7919) % 100003}\n')
            written += 1
            if len(lines) >= 10000:
                out.write("".join(lines).encode())
                lines = []
        out.write("".join(lines).encode())
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", nargs="?", default=DEFAULT_OUTPUT, help="where to write (default: %(default)s)")
    ap.add_argument("--series", type=int, default=3_000_000, help="unindexed series (default: %(default)s)")
    ap.add_argument("--families", type=int, default=30, help="unindexed families (default: %(default)s)")
    args = ap.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)) or ".", exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as fh:
        n = write(fh, args.series, max(1, args.families))
    os.replace(tmp, args.output)
    print(f"wrote {args.output}: {os.path.getsize(args.output) / 1e6:.1f} MB, {n} unindexed series "
          f"in {args.families} families, after the H100 vLLM scrape", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
