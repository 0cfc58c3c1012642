"""Throughput of the .lct reader against a plain msgpack pass over the same frames.

Generates a storage-level `.lct` recording (default 1,000,000 records) in the frame format LMCache
0.5.6 writes (4-byte big-endian length + one msgpack map per frame, header first) with record maps
shaped like the real ones in fixtures/lmcache/trace-0.5.6-cpu/storage_trace.lct: per request a
`submit_prefetch_task` (a PrefetchTaskSpec with GroupedObjectKeys of ObjectKeys holding 32-byte
chunk hashes, `external_request_id`), then `reserve_write` + `finish_write` on a cold lookup or
`finish_read_prefetched` on a warm one, in the real trace's 8:5:4:3 mix.

Then it times, on the same file, median of --repeat runs (wall clock, and CPU time of this
process, which is steadier on a shared machine):
  reader     inferguard.readers.lct.read (the full summary)
  floor      a plain msgpack.Unpacker pass decoding every frame body into Python objects
             (what any reader that decodes whole records has to pay)
  framing    read the length prefix and skip() each body (no decoding at all: the cost of
             walking the frames with msgpack, a lower bound for any msgpack-based reader)

Memory: the reader also runs once in a fresh child process, whose peak RSS (kernel-measured,
wait4) is reported against the file size: that is the reader's own, without the generator or
the other passes of this process (`max_rss_mb` stays, for comparison, the peak of this whole
process).

    python benchmarks/bench_lct.py [--records N] [--repeat K] [--out FILE] [--keep] [--level events]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _rss import measure  # noqa: E402

TARGET = 500_000  # records per second
SM = "lmcache.v1.distributed.storage_manager.StorageManager."


def _key(h: bytes) -> dict:
    return {"__t__": "ObjectKey", "v": {"chunk_hash": h, "model_name": "test-model", "kv_rank": 16777472,
                                        "object_group_id": 0}}


def _layout() -> dict:
    return {"__t__": "MemoryLayoutDesc", "v": {"shapes": [[2, 2, 16, 128]], "dtypes": ["torch.float16"]}}


def _storage_records(n: int, rng: random.Random):
    t = 0.0
    i = 0
    req = 0
    while i < n:
        keys = [_key(rng.randbytes(32)) for _ in range(4)]
        for phase in ("cold", "warm"):
            if i >= n:
                return
            t += rng.uniform(0.0005, 0.003)
            rid = f"req-{req}-{phase}"
            spec = {"__t__": "PrefetchTaskSpec", "v": {
                "key_groups": [{"__t__": "GroupedObjectKeys", "v": {
                    "keys": keys, "object_group_id": 0, "layout_desc": _layout(), "sliding_window_size": -1}}],
                "num_kv_readers": 1, "fetching_policy": "prefix",
                "lock_mode": {"__t__": "PrefetchLockMode", "v": "LOCK"}}}
            yield {"type": "record", "t_mono": t, "t_wall": 1795940762.0 + t, "qualname": SM + "submit_prefetch_task",
                   "args": {"spec": spec, "external_request_id": rid, "skip_l2": False}}
            i += 1
            follow = []
            if phase == "cold" or rng.random() < 0.25:
                follow.append((SM + "reserve_write", {"keys": keys[1:], "layout_desc": _layout()}))
                if phase == "cold":
                    follow.append((SM + "finish_write", {"keys": keys[1:]}))
            else:
                follow.append((SM + "finish_read_prefetched", {"keys": keys[:3], "read_locks": []}))
            for q, args in follow:
                if i >= n:
                    return
                t += rng.uniform(0.00005, 0.0005)
                yield {"type": "record", "t_mono": t, "t_wall": 1795940762.0 + t, "qualname": q, "args": args}
                i += 1
        req += 1


def _events_records(n: int, rng: random.Random):
    t = 0.0
    yield {"type": "record", "t_mono": t, "t_wall": 1795940884.0, "qualname": "events.lifecycle",
           "args": {"phase": "start", "instance_id": "bench", "incarnation": 1795940884, "ip": "", "http_port": 8080,
                    "mq_port": 0}}
    for seq in range(1, n):
        t += rng.uniform(0.01, 0.5)
        etype = rng.choice(["store", "access", "delete"])
        entries = [{"key": {"chunk_hash_hex": rng.randbytes(32).hex(), "model_name": "test-model",
                            "kv_rank": 16777472, "object_group_id": 0, "cache_salt": ""},
                    "size_bytes": 16384 if etype == "store" else 0,
                    "token_ids": [rng.randrange(50000) for _ in range(16)] if etype == "store" else [],
                    "token_offset": 16 * j if etype == "store" else -1} for j in range(rng.randint(1, 16))]
        yield {"type": "record", "t_mono": t, "t_wall": 1795940884.0 + t, "qualname": "events.batch",
               "args": {"instance_id": "bench", "incarnation": 1795940884, "seq": seq, "event_type": etype,
                        "tier": "l1", "backend": "dram" if etype != "access" else "", "entries": entries,
                        "shared": False, "ts": 1795940884.0 + t, "capacity_bytes": 0, "capacity_revision": 0}}


def generate(path: Path, n: int, level: str, seed: int = 7) -> None:
    import msgpack

    rng = random.Random(seed)
    pack = msgpack.Packer().pack
    header = {"type": "header", "magic": b"LMCT", "format_version": 1, "level": level, "trace_schema_version": 1,
              "t_mono_start": 589.98, "t_wall_start": 1795940762.38, "sm_config_json": "{}",
              "sm_config_digest": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}
    if level == "events":
        header["level_meta"] = {"instance_id": "bench", "cache_event_schema_version": 1, "lmcache_version": "0.5.6"}
    records = _events_records(n, rng) if level == "events" else _storage_records(n, rng)
    with open(path, "wb", buffering=1 << 20) as f:
        body = pack(header)
        f.write(len(body).to_bytes(4, "big") + body)
        for rec in records:
            body = pack(rec)
            f.write(len(body).to_bytes(4, "big"))
            f.write(body)


def run_reader(path: Path) -> int:
    from inferguard.readers import lct

    r = lct.read(path)
    if r.problems:
        raise SystemExit(f"reader reported problems: {[p.format() for p in r.problems[:3]]}")
    return r.records


def run_floor(path: Path) -> int:
    import msgpack

    n = -1  # the header frame is not a record
    size = path.stat().st_size
    with open(path, "rb") as f:
        u = msgpack.Unpacker(f, read_size=1 << 20, max_buffer_size=64 << 20, raw=False, strict_map_key=False)
        read_bytes, unpack, tell = u.read_bytes, u.unpack, u.tell
        while tell() < size:
            read_bytes(4)
            unpack()
            n += 1
    return n


def run_framing(path: Path) -> int:
    import msgpack

    n = -1
    size = path.stat().st_size
    with open(path, "rb") as f:
        u = msgpack.Unpacker(f, read_size=1 << 20, max_buffer_size=64 << 20)
        read_bytes, skip, tell = u.read_bytes, u.skip, u.tell
        while tell() < size:
            read_bytes(4)
            skip()
            n += 1
    return n


def reader_rss(path: Path) -> dict:
    """Peak RSS of inferguard.readers.lct.read(path) alone, in a fresh child process."""
    code = ("import sys\nfrom inferguard.readers import lct\nr = lct.read(sys.argv[1])\n"
            "print(r.records)\n")
    return measure([sys.executable, "-c", code, str(path)])


def timed(fn, path: Path, repeat: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds over `repeat` runs, and the record count."""
    walls, cpus = [], []
    n = 0
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        n = fn(path)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--level", choices=["storage", "events"], default="storage")
    ap.add_argument("--out", type=Path, default=None, help="where to write the generated .lct")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the generated file")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = ap.parse_args(argv)

    tmpdir = None
    path = args.out
    if path is None:
        tmpdir = tempfile.mkdtemp(prefix="bench-lct-")
        path = Path(tmpdir) / f"bench-{args.level}-{args.records}.lct"
    t0 = time.perf_counter()
    if not (args.keep and path.exists()):
        generate(path, args.records, args.level)
    gen_s = time.perf_counter() - t0
    try:
        results = {}
        for name, fn in (("framing", run_framing), ("floor", run_floor), ("reader", run_reader)):
            secs, cpu, n = timed(fn, path, args.repeat)
            if n != args.records:
                raise SystemExit(f"{name}: counted {n} records, generated {args.records}")
            results[name] = {"seconds": round(secs, 3), "records_per_s": round(n / secs),
                             "cpu_seconds": round(cpu, 3), "records_per_cpu_s": round(n / cpu)}
        size = path.stat().st_size
        child = reader_rss(path)
        out = {
            "level": args.level, "records": args.records, "file_bytes": size, "generate_s": round(gen_s, 1),
            "repeat": args.repeat, "target_records_per_s": TARGET, **results,
            "reader_vs_floor": round(results["floor"]["seconds"] / results["reader"]["seconds"], 2),
            "meets_target": results["reader"]["records_per_s"] >= TARGET,
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "reader_peak_rss_mib": child["peak_rss_mib"], "reader_child_rc": child["rc"],
            "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        }
        if args.json:
            print(json.dumps(out))
        else:
            print(f".lct {args.level}: {args.records:,} records, {size / 1e6:.1f} MB (generated in {gen_s:.1f}s); "
                  f"median of {args.repeat}")
            for name in ("framing", "floor", "reader"):
                r = results[name]
                print(f"  {name:<8} {r['seconds']:7.3f}s  {r['records_per_s']:>10,} records/s   "
                      f"(CPU {r['cpu_seconds']:.3f}s, {r['records_per_cpu_s']:,} records per CPU-second)")
            verdict = "meets" if out["meets_target"] else "BELOW"
            print(f"  reader is {out['reader_vs_floor']}x the full-decode floor; {verdict} the "
                  f"{TARGET:,} records/s target; process max RSS {out['max_rss_mb']} MB; "
                  f"load average {out['load_avg_1m']} on {out['cpus']} CPUs")
            print(f"  reader alone in a fresh process: peak RSS {out['reader_peak_rss_mib']} MiB for a "
                  f"{size / 1e6:.1f} MB file (exit {out['reader_child_rc']})")
    finally:
        if tmpdir is not None and not args.keep:
            path.unlink(missing_ok=True)
            os.rmdir(tmpdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
