"""Peak memory (RSS) of the commands that read user input, against the size of that input.

Each case runs the real command line in a fresh child process at two input sizes and reports
the peak resident set size the kernel measured (wait4), next to the file size. Bounded memory
means the peak stays under a fixed ceiling and hardly moves when the input grows tenfold.

| case | input | command |
|---|---|---|
| yaml-alias-bomb | a spec file with N levels of nine aliases (9**N nodes once expanded) | `inferguard specs lint FILE` |
| context-alias-bomb | the same as a packet's context.yaml | `inferguard evaluate PACKET` |
| otel-jsonl-lane | span-per-line OTel JSONL starting with `{` | `inferguard observability-coverage --lmcache-otel-evidence-file FILE` |
| otel-jsonl-collect | the same file | `inferguard collect-lmcache --lmcache-otel-file FILE` |
| prometheus-high-cardinality | the H100 vLLM scrape plus N unindexed series (gen_high_cardinality.py) | `inferguard observability-coverage --engine-metrics-file FILE` |
| prometheus-indexed-series (no target) | N series of one family the specs know (`vllm:num_requests_running` with a per-request label) | the same |

    python benchmarks/bench_memory.py                  # sizes: small and large per case
    python benchmarks/bench_memory.py --scale 0.1      # ten times smaller inputs (a quick run)
    python benchmarks/bench_memory.py --json

Target (printed PASS/FAIL; the script always exits 0): every command exits as expected and
the peak RSS of the large input is under CEILING_MIB. prometheus-indexed-series has no target
and is printed as INFO: series of the families the specs know are kept one by one (the
aggregates, label values and duplicate checks need them), so that case grows with the
number of such series (about 250 bytes each). The growth from the small to the large
input is printed beside it: flat for the YAML budgets and the Prometheus reader; the OTel
reader's working set grows until its caps (MAX_SPAN_IDS span and trace ids for the parent
and trace checks) and is flat past them.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _rss import ROOT, child_env, measure  # noqa: E402

import gen_high_cardinality  # noqa: E402

CEILING_MIB = 200.0
NO_TARGET = {"prometheus-indexed-series"}
IG = [sys.executable, "-m", "inferguard"]
H100 = ROOT / "fixtures" / "packets" / "vllm-lmcache-mp-h100"
SPANS = ROOT / "fixtures" / "lmcache" / "otel-0.5.6-cpu" / "otlp_spans.slice.jsonl"


def alias_bomb(levels: int, header: str) -> str:
    lines = [header, 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def otel_jsonl(path: Path, size_bytes: int, seed: int = 11) -> None:
    """Span-per-line JSONL: the real spans of the fixture slice, repeated with new ids."""
    spans = [json.loads(line) for line in SPANS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        buf = []
        i = 0
        while written < size_bytes:
            s = dict(spans[i % len(spans)])
            s["spanId"] = f"{rng.getrandbits(64):016x}"
            s["traceId"] = f"{rng.getrandbits(128):032x}"
            line = json.dumps(s) + "\n"
            buf.append(line)
            written += len(line)
            i += 1
            if len(buf) >= 5000:
                fh.write("".join(buf))
                buf = []
        fh.write("".join(buf))


def cases(tmp: Path, scale: float):
    """(case, size label, file, command, expected exit codes) for each case and size."""
    for levels in (7, 9):
        f = tmp / f"bomb{levels}.yaml"
        f.write_text(alias_bomb(levels, "apiVersion: inferguard.dev/v1\nkind: Checklist"), encoding="utf-8")
        yield "yaml-alias-bomb", f"9**{levels} nodes", f, IG + ["specs", "lint", str(f)], {2}
    for levels in (7, 9):
        pk = tmp / f"packet{levels}"
        pk.mkdir()
        for name in ("engine.prom", "lmcache.prom"):
            (pk / name).write_bytes((H100 / name).read_bytes())
        f = pk / "context.yaml"
        f.write_text(alias_bomb(levels, "# context"), encoding="utf-8")
        yield "context-alias-bomb", f"9**{levels} nodes", f, IG + ["evaluate", str(pk), "--format", "json"], {2}
    for mb in (40, 400):
        size = int(mb * scale * 1e6)
        f = tmp / f"spans_{mb}.jsonl"
        otel_jsonl(f, size)
        label = f"{size / 1e6:.0f} MB"
        yield "otel-jsonl-lane", label, f, IG + ["observability-coverage", "--lmcache-otel-evidence-file", str(f),
                                                  "--format", "json"], {0}
        yield "otel-jsonl-collect", label, f, IG + ["collect-lmcache", "--output-dir", str(tmp / f"out_{mb}"),
                                                     "--lmcache-otel-file", str(f)], {0}
        f.unlink()
    for series in (300_000, 3_000_000):
        n = max(1000, int(series * scale))
        f = tmp / f"hc_{series}.prom"
        with open(f, "wb") as fh:
            gen_high_cardinality.write(fh, n, 30)
        yield "prometheus-high-cardinality", f"{n:,} series", f, IG + [
            "observability-coverage", "--engine-metrics-file", str(f), "--format", "json"], {0}
        f.unlink()
    for series in (100_000, 1_000_000):
        n = max(1000, int(series * scale))
        f = tmp / f"idx_{series}.prom"
        with open(f, "w", encoding="utf-8") as fh:
            fh.write("# TYPE vllm:num_requests_running gauge\n")
            for i in range(n):
                fh.write(f'vllm:num_requests_running{{engine="{i % 8}",model_name="m",req="{i:07x}"}} 1\n')
        yield "prometheus-indexed-series", f"{n:,} series", f, IG + [
            "observability-coverage", "--engine-metrics-file", str(f), "--format", "json"], {0}
        f.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the generated input sizes (default 1)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmpd:
        tmp = Path(tmpd)
        env = child_env({"XDG_CACHE_HOME": str(tmp / "cache")})
        for case, label, f, cmd, ok_codes in cases(tmp, args.scale):
            size = f.stat().st_size
            r = measure(cmd, env=env)
            rows.append({"case": case, "input": label, "file_bytes": size, **r, "expected_rc": sorted(ok_codes),
                         "rc_ok": r["rc"] in ok_codes})
    verdicts = []
    by_case: dict[str, list[dict]] = {}
    for r in rows:
        by_case.setdefault(r["case"], []).append(r)
    for case, rs in by_case.items():
        small, large = rs[0], rs[-1]
        growth = large["peak_rss_mib"] / small["peak_rss_mib"] if small["peak_rss_mib"] else float("inf")
        ok = all(r["rc_ok"] for r in rs) and large["peak_rss_mib"] < CEILING_MIB
        if case in NO_TARGET:
            ok = None
        verdicts.append({"case": case, "pass": ok, "growth": round(growth, 2), "ceiling_mib": CEILING_MIB})
    if args.json:
        print(json.dumps({"rows": rows, "verdicts": verdicts, "python": sys.version.split()[0]}, indent=2))
        return 0
    print(f"{'case':<28} {'input':>16} {'file MB':>9} {'peak RSS MiB':>13} {'seconds':>8}  exit")
    for r in rows:
        print(f"{r['case']:<28} {r['input']:>16} {r['file_bytes'] / 1e6:>9.1f} {r['peak_rss_mib']:>13.1f} "
              f"{r['seconds']:>8.2f}  {r['rc']}{'' if r['rc_ok'] else ' (UNEXPECTED) ' + r['stderr'][-200:]}")
    print()
    for v in verdicts:
        if v["pass"] is None:
            print(f"INFO  {v['case']}: no target; {v['growth']}x the small input's peak (kept series by series)")
            continue
        print(f"{'PASS' if v['pass'] else 'FAIL'}  {v['case']}: peak RSS of the large input under {CEILING_MIB:.0f} MiB "
              f"({v['growth']}x the small input's peak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
