"""LMCache lookup-hash JSONL (`lmcache server --lookup-hash-log-dir DIR`, format stable 0.4.5 .. 0.5.6).

One JSON object per lookup: `timestamp` (epoch float), `request_id`, `model_name`, `chunk_size`,
`seq_len` (tokens submitted, including a tail shorter than a chunk), `dtypes`, `shapes` and
`chunk_hashes` (`"0x"` + hex, one per full chunk, in prefix order). Files are named
`lookup_hashes_<UTC %Y%m%d_%H%M%S>_<6-digit index>.jsonl` and rotate by age
(`--lookup-hash-log-rotation-interval`, default 21600 s) or size
(`--lookup-hash-log-rotation-max-size`, default 104857600 B); LMCache keeps the newest
`--lookup-hash-log-max-files` (default 100).

Prefix-reuse estimate: walking the rows in file order, the share of chunk hashes already seen
earlier in the stream, and the share within each row's leading run of already-seen hashes (the
part a prefix lookup could hit). It models an unbounded cache that never evicts, so it is an
offline upper bound to hold against the measured lookup hit rate, not a prediction. Hashes are
kept as 64-bit fingerprints in one set; past `max_tracked_hashes` distinct hashes the estimate
stops growing and is reported as truncated (it then covers the rows before that point).

Raw chunk hashes never reach the summary unless `keep_raw=True`, and then only a few examples.
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Iterable, Sequence

from inferguard.readers.base import ReadResult, iter_json_objects, json_safe

READER_ID = "lmcache_lookup_hash"

ROTATION_FLAGS = {
    "--lookup-hash-log-rotation-interval": ("rotation_interval_s", 21600),
    "--lookup-hash-log-rotation-max-size": ("rotation_max_size_bytes", 104857600),
    "--lookup-hash-log-max-files": ("max_files", 100),
}
LOG_DIR_FLAG = "--lookup-hash-log-dir"

MAX_TRACKED_HASHES = 5_000_000   # ~60-70 bytes each in the set: ~350 MB at the limit
MAX_LINE_CHARS = 16 * 1024 * 1024
MAX_DISTINCT = 100               # models, chunk sizes, dtypes, shapes kept by name
MAX_FILES_LISTED = 200
MAX_DIR_FILES = 10_000
RAW_EXAMPLES = 5

_BIG_INT = 2 ** 53                 # larger numbers are not taken as sizes, lengths or timestamps
_NAME_RE = re.compile(r"^lookup_hashes_\d{8}_\d{6}_\d{6}\.jsonl$")




def _count(d: dict[str, int], key: str, overflow: list[int]) -> None:
    if key in d:
        d[key] += 1
    elif len(d) < MAX_DISTINCT:
        d[key] = 1
    else:
        overflow[0] += 1


def rotation_from_argv(argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Lookup-hash logging settings from an `lmcache server` argv; (settings, problems)."""
    values: dict[str, str] = {}
    log_dir: str | None = None
    problems: list[str] = []
    args = [str(a) for a in argv]
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if name in ROTATION_FLAGS or name == LOG_DIR_FLAG:
            if eq:
                value = inline
            elif i + 1 < len(args):
                value = args[i + 1]
                i += 1
            else:
                problems.append(f"{name} has no value")
                i += 1
                continue
            if name == LOG_DIR_FLAG:
                log_dir = value
            else:
                values[name] = value
        i += 1
    out: dict[str, Any] = {"log_dir": log_dir, "logging_enabled": bool(log_dir), "flags": {}, "defaulted": []}
    for flag, (key, default) in ROTATION_FLAGS.items():
        if flag in values:
            raw = values[flag]
            try:
                v: Any = int(raw)
            except ValueError:
                try:
                    v = float(raw)
                    if not math.isfinite(v):
                        raise ValueError
                except ValueError:
                    problems.append(f"{flag} value {raw[:60]!r} is not a number; the default {default} applies")
                    v = None
            if v is None:
                out[key] = default
                out["defaulted"].append(flag)
            else:
                out[key] = v
                out["flags"][flag] = v
        else:
            out[key] = default
            out["defaulted"].append(flag)
    return out, problems


class _Acc:
    def __init__(self, max_hashes: int, keep_raw: bool) -> None:
        self.rows = 0
        self.rows_incomplete = 0
        self.models: dict[str, int] = {}
        self.chunk_sizes: dict[str, int] = {}
        self.dtypes: dict[str, int] = {}
        self.shapes: dict[str, int] = {}
        self.overflow = [0]
        self.seq_min: int | None = None
        self.seq_max: int | None = None
        self.seq_sum = 0
        self.seq_n = 0
        self.chunk_hashes = 0
        self.chunk_tokens = 0
        self.ts_first: float | None = None
        self.ts_last: float | None = None
        self.ts_min: float | None = None
        self.ts_max: float | None = None
        self.ts_out_of_order = 0
        self.requests_empty = 0
        # reuse
        self.max_hashes = max_hashes
        self.seen: set[int] = set()
        self.truncated = False
        self.r_rows = 0
        self.r_hashes = 0
        self.r_seen = 0
        self.r_prefix_seen = 0
        self.r_prefix_tokens = 0
        self.r_tokens = 0
        self.keep_raw = keep_raw
        self.raw_examples: list[str] = []

    def row(self, obj: dict[str, Any], res: ReadResult, path: str, lineno: int) -> None:
        self.rows += 1
        missing = []
        model = obj.get("model_name")
        if isinstance(model, str):
            _count(self.models, model[:200], self.overflow)
        else:
            missing.append("model_name")
        cs = obj.get("chunk_size")
        if isinstance(cs, int) and not isinstance(cs, bool) and 0 < cs < _BIG_INT:
            _count(self.chunk_sizes, str(cs), self.overflow)
        else:
            cs = None
            missing.append("chunk_size")
        sl = obj.get("seq_len")
        if isinstance(sl, int) and not isinstance(sl, bool) and 0 <= sl < _BIG_INT:
            self.seq_n += 1
            self.seq_sum += sl
            if self.seq_min is None or sl < self.seq_min:
                self.seq_min = sl
            if self.seq_max is None or sl > self.seq_max:
                self.seq_max = sl
        else:
            sl = None
            missing.append("seq_len")
        dt = obj.get("dtypes")
        if isinstance(dt, list):
            _count(self.dtypes, ",".join(str(x)[:40] for x in dt[:8]) or "(empty)", self.overflow)
        sh = obj.get("shapes")
        if isinstance(sh, list):
            _count(self.shapes, json.dumps(sh[:8], separators=(",", ":"))[:200] if sh else "(empty)", self.overflow)
        rid = obj.get("request_id")
        if not isinstance(rid, (str, int)) or isinstance(rid, bool) or rid == "":
            self.requests_empty += 1
        ts = obj.get("timestamp")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool) and -_BIG_INT < ts < _BIG_INT:
            if self.ts_first is None:
                self.ts_first = self.ts_min = self.ts_max = ts
            else:
                if ts < self.ts_last:
                    self.ts_out_of_order += 1
                if ts < self.ts_min:
                    self.ts_min = ts
                if ts > self.ts_max:
                    self.ts_max = ts
            self.ts_last = ts
        hashes = obj.get("chunk_hashes")
        if not isinstance(hashes, list):
            missing.append("chunk_hashes")
            hashes = []
        if missing:
            self.rows_incomplete += 1
            res.problem(f"row lacks or mistypes: {', '.join(missing)}", lineno, path=path)
        n = len(hashes)
        self.chunk_hashes += n
        if cs is not None:
            self.chunk_tokens += n * cs
        if self.keep_raw and len(self.raw_examples) < RAW_EXAMPLES:
            for h in hashes[:RAW_EXAMPLES - len(self.raw_examples)]:
                self.raw_examples.append(str(h)[:80])
        if self.truncated:
            return
        seen = self.seen
        if len(seen) + n > self.max_hashes:
            self.truncated = True
            return
        hit = 0
        prefix = 0
        in_prefix = True
        for h in hashes:
            fp = hash(h) if isinstance(h, str) else hash(repr(h))
            if fp in seen:
                hit += 1
                if in_prefix:
                    prefix += 1
            else:
                in_prefix = False
                seen.add(fp)
        self.r_rows += 1
        self.r_hashes += n
        self.r_seen += hit
        self.r_prefix_seen += prefix
        if cs is not None and sl is not None:
            self.r_prefix_tokens += min(prefix * cs, sl)
            self.r_tokens += sl

    def reuse(self) -> dict[str, Any]:
        return {
            "method": "chunk hashes already seen earlier in the stream; unbounded cache, no eviction "
                      "(an offline upper bound, not a hit rate)",
            "rows_considered": self.r_rows,
            "chunk_hashes_considered": self.r_hashes,
            "distinct_hashes": len(self.seen),
            "seen_before": self.r_seen,
            "share": round(self.r_seen / self.r_hashes, 6) if self.r_hashes else None,
            "prefix_seen_before": self.r_prefix_seen,
            "prefix_share": round(self.r_prefix_seen / self.r_hashes, 6) if self.r_hashes else None,
            "prefix_tokens": self.r_prefix_tokens,
            "tokens_considered": self.r_tokens,
            "prefix_token_share": round(self.r_prefix_tokens / self.r_tokens, 6) if self.r_tokens else None,
            "truncated": self.truncated,
            "max_tracked_hashes": self.max_hashes,
        }


def _files(path: str, res: ReadResult) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    try:
        names = sorted(e.name for e in os.scandir(path) if e.is_file() and e.name.endswith(".jsonl"))
    except OSError as exc:
        res.problem(f"cannot list directory: {exc.strerror or exc}")
        return []
    named = [n for n in names if _NAME_RE.match(n)]
    chosen = named or names
    if len(chosen) > MAX_DIR_FILES:
        res.problem(f"{len(chosen)} JSONL files; only the first {MAX_DIR_FILES} are read")
        chosen = chosen[:MAX_DIR_FILES]
    if not chosen:
        res.problem("no .jsonl files in this directory")
    return [os.path.join(path, n) for n in chosen]


def _read_file(path: str, acc: _Acc, res: ReadResult) -> dict[str, Any]:
    rows_before = acc.rows
    try:
        size: int | None = os.path.getsize(path)
    except OSError:
        size = None
    for lineno, obj in iter_json_objects(path, res, MAX_LINE_CHARS):
        if obj is not None:
            acc.row(obj, res, path, lineno)
    return {"name": os.path.basename(path), "bytes": size, "rows": acc.rows - rows_before}


def read(path: str | os.PathLike, *, specs: Any = None, argv: Iterable[str] | None = None,
         keep_raw: bool = False, max_tracked_hashes: int = MAX_TRACKED_HASHES) -> ReadResult:
    """Read one lookup-hash JSONL file or a directory of them. Never raises on bad input."""
    spath = str(path)
    res = ReadResult(reader=READER_ID, path=spath)
    acc = _Acc(max(0, int(max_tracked_hashes)), keep_raw)
    files: list[dict[str, Any]] = []
    rotation = None
    try:
        if argv is not None:
            rotation, probs = rotation_from_argv(list(argv))
            for p in probs:
                res.problem("argv: " + p)
        if not os.path.exists(spath):
            res.problem("no such file or directory")
        else:
            for fp in _files(spath, res):
                files.append(_read_file(fp, acc, res))
    except OSError as exc:  # bad lines are problems where they are read; only I/O can fail here
        res.problem(f"cannot read: {exc.strerror or exc}", offset=0, path=getattr(exc, "filename", None) or spath)
    span = None
    if acc.ts_min is not None:
        span = round(acc.ts_max - acc.ts_min, 6)
    summary: dict[str, Any] = {
        "rows": acc.rows,
        "rows_incomplete": acc.rows_incomplete,
        "files": files[:MAX_FILES_LISTED],
        "files_total": len(files),
        "models": dict(sorted(acc.models.items())),
        "chunk_sizes": dict(sorted(acc.chunk_sizes.items(), key=lambda kv: int(kv[0]))),
        "dtypes": dict(sorted(acc.dtypes.items())),
        "shapes": dict(sorted(acc.shapes.items())),
        "distinct_overflow": acc.overflow[0],
        "seq_len": {
            "min": acc.seq_min, "max": acc.seq_max,
            "mean": round(acc.seq_sum / acc.seq_n, 6) if acc.seq_n else None,
            "total": acc.seq_sum,
        },
        "chunk_hashes": acc.chunk_hashes,
        "chunk_tokens": acc.chunk_tokens,
        "rows_without_request_id": acc.requests_empty,
        "time": {"first": acc.ts_first, "last": acc.ts_last, "span_s": span, "out_of_order": acc.ts_out_of_order},
        "reuse": acc.reuse(),
        "rotation": rotation,
    }
    if keep_raw:
        summary["raw_examples"] = {"chunk_hashes": list(acc.raw_examples)}
    res.summary = json_safe(summary)
    res.records = acc.rows
    res.signals["rows"] = acc.rows
    res.signals["files"] = len(files)
    res.signals["chunk_hashes"] = acc.chunk_hashes
    return res
