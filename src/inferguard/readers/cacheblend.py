"""CacheBlend boundary / blend-event JSONL (format_status: experimental).

No real capture of a CacheBlend boundary log exists for lmcache 0.5.6 (CacheBlend needs
`--engine-type blend` on a GPU), and LMCache documents no stable file format for one. What is
known is the vocabulary of the blend path: the `cb.*` OTel spans and the `lmcache_blend.*`
metrics carry `session_id`, `num_tokens`, `fingerprint_hits`, `prefix_hits`, `prefix_chunks`,
`storage_hits`, `stale_chunks`, `hit_tokens`, `requested_tokens`, `prefix_hit_tokens`,
`segmented_prefix_hit_tokens`, `non_prefix_hit_tokens`, `num_chunks`, `scattered_tokens`,
`n_prefix`, `n_shifted`, `dropped`, `matches`, `reason`, ...

So this reader is tolerant: one JSON object per line; it counts records, the field names it
finds (top level, and one level into nested objects), the values of the first kind-like field
(`event`, `event_type`, `type`, `kind`, `name`, `phase`), distinct sessions, the time range,
totals of the known numeric blend fields and the number of items in list-valued fields. Values
themselves (token ids, hashes, text) never reach the summary; only kind names do, cut short.
"""
from __future__ import annotations

import math
import os
from typing import Any

from inferguard.readers.base import ReadResult, iter_json_objects, json_safe

READER_ID = "lmcache_cacheblend"
FORMAT_STATUS = "experimental"

KIND_FIELDS = ("event", "event_type", "type", "kind", "name", "phase")
SESSION_FIELDS = ("session_id", "request_id", "req_id")
TIME_FIELDS = ("ts", "timestamp", "t_wall", "time")
KNOWN_NUMERIC = (
    "num_tokens", "requested_tokens", "hit_tokens", "fingerprint_hits", "prefix_hits", "prefix_chunks",
    "storage_hits", "stale_chunks", "prefix_hit_tokens", "segmented_prefix_hit_tokens",
    "non_prefix_hit_tokens", "num_chunks", "scattered_tokens", "n_prefix", "n_shifted", "dropped",
    "matches", "n_chunks", "n_keys", "l2_keys", "found_keys", "dropped_matches",
)
_KNOWN_NUMERIC_SET = frozenset(KNOWN_NUMERIC)

MAX_FIELDS = 200
MAX_KINDS = 50
MAX_SESSIONS = 100_000
MAX_LINE_CHARS = 16 * 1024 * 1024
MAX_DIR_FILES = 10_000




class _Acc:
    def __init__(self) -> None:
        self.records = 0
        self.lines = 0
        self.non_object = 0
        self.fields: dict[str, int] = {}
        self.fields_overflow = 0
        self.kind_field: str | None = None
        self.kinds: dict[str, int] = {}
        self.kinds_overflow = 0
        self.session_field: str | None = None
        self.sessions: set = set()
        self.sessions_truncated = False
        self.time_field: str | None = None
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.t_min: float | None = None
        self.t_max: float | None = None
        self.totals: dict[str, float] = {}
        self.list_items: dict[str, int] = {}

    def _field(self, name: str) -> None:
        if name in self.fields:
            self.fields[name] += 1
        elif len(self.fields) < MAX_FIELDS:
            self.fields[name] = 1
        else:
            self.fields_overflow += 1

    def take(self, obj: dict[str, Any]) -> None:
        self.records += 1
        for k, v in obj.items():
            name = str(k)[:100]
            self._field(name)
            if isinstance(v, dict):
                for k2 in list(v)[:MAX_FIELDS]:
                    self._field(name + "." + str(k2)[:100])
            elif isinstance(v, list):
                if name in self.list_items or len(self.list_items) < MAX_FIELDS:
                    self.list_items[name] = self.list_items.get(name, 0) + len(v)
            if name in _KNOWN_NUMERIC_SET:
                num = _number(v)
                if num is not None:
                    self.totals[name] = self.totals.get(name, 0) + num
        kf = self.kind_field or next((f for f in KIND_FIELDS if isinstance(obj.get(f), str)), None)
        if kf is not None:
            self.kind_field = kf
            kv = obj.get(kf)
            if isinstance(kv, str):
                kv = kv[:64]
                if kv in self.kinds:
                    self.kinds[kv] += 1
                elif len(self.kinds) < MAX_KINDS:
                    self.kinds[kv] = 1
                else:
                    self.kinds_overflow += 1
        sf = self.session_field or next((f for f in SESSION_FIELDS if obj.get(f) not in (None, "")), None)
        if sf is not None:
            self.session_field = sf
            sv = obj.get(sf)
            if isinstance(sv, (str, int)) and not isinstance(sv, bool) and sv != "":
                if isinstance(sv, str):
                    sv = sv[:200]
                if sv in self.sessions:
                    pass
                elif len(self.sessions) < MAX_SESSIONS:
                    self.sessions.add(sv)
                else:
                    self.sessions_truncated = True
        tf = self.time_field or next((f for f in TIME_FIELDS if _number(obj.get(f)) is not None), None)
        if tf is not None:
            self.time_field = tf
            t = _number(obj.get(tf))
            if t is not None:
                if self.t_first is None:
                    self.t_first = self.t_min = self.t_max = t
                else:
                    self.t_min = min(self.t_min, t)
                    self.t_max = max(self.t_max, t)
                self.t_last = t


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -2 ** 53 < v < 2 ** 53 else None
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        # The blend spans stringify their metadata; accept numeric strings too.
        try:
            f = float(v)
        except ValueError:
            return None
        if not -2 ** 53 < f < 2 ** 53:
            return None
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f
    return None


def _read_file(path: str, acc: _Acc, res: ReadResult) -> None:
    for _lineno, obj in iter_json_objects(path, res, MAX_LINE_CHARS):
        acc.lines += 1
        if obj is None:
            acc.non_object += 1
        else:
            acc.take(obj)


def read(path: str | os.PathLike, *, specs: Any = None) -> ReadResult:
    """Read a CacheBlend boundary JSONL file (or a directory of *.jsonl). Never raises on bad input."""
    spath = str(path)
    res = ReadResult(reader=READER_ID, path=spath)
    acc = _Acc()
    nfiles = 0
    try:
        if os.path.isdir(spath):
            names = sorted(e.name for e in os.scandir(spath) if e.is_file() and e.name.endswith(".jsonl"))
            if not names:
                res.problem("no .jsonl files in this directory")
            for name in names[:MAX_DIR_FILES]:
                nfiles += 1
                _read_file(os.path.join(spath, name), acc, res)
        elif os.path.exists(spath):
            nfiles = 1
            _read_file(spath, acc, res)
        else:
            res.problem("no such file or directory")
    except OSError as exc:  # bad lines are problems where they are read; only I/O can fail here
        res.problem(f"cannot read: {exc.strerror or exc}", offset=0, path=getattr(exc, "filename", None) or spath)
    known = sorted(f for f in acc.fields if f in _KNOWN_NUMERIC_SET or f in SESSION_FIELDS)
    res.summary = {
        "format_status": FORMAT_STATUS,
        "files": nfiles,
        "lines": acc.lines,
        "records": acc.records,
        "non_object_lines": acc.non_object,
        "fields": dict(sorted(acc.fields.items())),
        "fields_overflow": acc.fields_overflow,
        "known_fields": known,
        "kind_field": acc.kind_field,
        "kinds": dict(sorted(acc.kinds.items())),
        "kinds_overflow": acc.kinds_overflow,
        "sessions": {"field": acc.session_field, "distinct": len(acc.sessions),
                     "truncated": acc.sessions_truncated},
        "time": {"field": acc.time_field, "first": acc.t_first, "last": acc.t_last,
                 "span_s": round(acc.t_max - acc.t_min, 6) if acc.t_min is not None else None},
        "totals": dict(sorted(acc.totals.items())),
        "list_items": dict(sorted(acc.list_items.items())),
    }
    res.summary = json_safe(res.summary)
    res.records = acc.records
    res.signals["records"] = acc.records
    res.signals["sessions"] = len(acc.sessions)
    return res
