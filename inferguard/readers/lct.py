"""LMCache trace recordings (`.lct`, written by `lmcache server --trace-level storage|events`).

Layout (lmcache 0.4.7 .. 0.5.6, FORMAT_VERSION 1, TRACE_SCHEMA_VERSION 1): a sequence of frames,
each a 4-byte big-endian body length followed by one msgpack map. Frame 0 is the header
(`type: header`, `magic: b"LMCT"`, `format_version`, `level`, `trace_schema_version`,
`t_mono_start`, `t_wall_start`, `sm_config_json`, `sm_config_digest`, and from 0.5.6 an optional
`level_meta` map); every later frame is a record (`type: record`, `t_mono`, `t_wall`, `qualname`,
`args`).

The reader walks the file frame by frame through one streaming msgpack unpacker. Record fields
that the summary needs are decoded; the bulky `args` of storage-level records are skipped
without building Python objects, except the request-id fields. A frame whose declared length
runs past the end of the file is a truncated frame; a body that does not decode as one msgpack
map of exactly the declared length is a corrupt frame. Either is reported with its byte offset
and reading stops there; everything before it is kept.

Prompt material (`token_ids` in events batches), chunk hashes and request ids never reach the
summary: only counts do.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import struct
from typing import Any

from inferguard.readers.base import ReadResult, json_safe

READER_ID = "lct"

MAGIC = b"LMCT"
FORMAT_VERSIONS = (1,)
SCHEMA_VERSIONS = (1,)
LEVELS = ("storage", "events")
RESERVED_LEVELS = ("mq", "gpu")

_SM = "lmcache.v1.distributed.storage_manager.StorageManager."
STORAGE_OPS = frozenset(_SM + name for name in (
    "reserve_write",
    "finish_write",
    "submit_prefetch_task",
    "finish_read_prefetched",
    "read_prefetched_results.__enter__",
    "read_prefetched_results.__exit__",
))
EVENT_OPS = frozenset(("events.lifecycle", "events.batch"))
KNOWN_OPS = STORAGE_OPS | EVENT_OPS
# Storage operations whose arguments carry no request id in 0.5.6 (keys, layout, locks only):
# their `args` are skipped whole. Only `submit_prefetch_task` carries `external_request_id`.
STORAGE_OPS_WITHOUT_IDS = frozenset(op for op in STORAGE_OPS if not op.endswith(".submit_prefetch_task"))

# Argument names that carry a request identity, in order of preference.
REQUEST_ID_FIELDS = ("external_request_id", "request_id", "session_id")
_REQUEST_ID_SET = frozenset(REQUEST_ID_FIELDS)
_ID_RANK = {name: i for i, name in enumerate(REQUEST_ID_FIELDS)}

MAX_FRAME_BYTES = 64 * 1024 * 1024      # a declared length above this is treated as corrupt
FAST_FRAME_BYTES = 1024 * 1024          # larger bodies are decoded whole, with limits from their size
READ_SIZE = 1024 * 1024
MAX_OPS = 512                           # distinct qualnames kept; the rest are counted together
MAX_TRACKED_REQUESTS = 500_000          # distinct request ids kept for the per-request view
MAX_INSTANCES = 256
MAX_INCARNATIONS = 64
MAX_BATCH_KINDS = 256
MAX_UNKNOWN_OP_NAMES = 20
MAX_OP_NAME = 300                       # longer qualnames are cut to this length
_BIG_INT = 2 ** 53                      # larger integers are not taken as clock values
HEADER_TYPE = "header"
RECORD_TYPE = "record"


_SIGNAL_NAME_RE = re.compile(r"[A-Za-z0-9_.:/-]{1,300}")

class _Corrupt(Exception):
    pass


class _State:
    """Counters for one pass; plain attributes so the hot loop stays cheap."""

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self.frames = 0                     # frames that went through the general path (not the summary count)
        self.records = 0
        self.other_frames = 0
        self.extra_headers = 0
        self.ops: dict[str, int] = {}
        self.ops_other = 0
        self.unknown_names: list[str] = []
        self.unknown_records = 0
        self.no_qualname = 0
        self.t_mono_first: float | None = None
        self.t_mono_last: float | None = None
        self.t_mono_max: float | None = None
        self.t_wall_first: float | None = None
        self.t_wall_last: float | None = None
        self.t_wall_min: float | None = None
        self.t_wall_max: float | None = None
        self.out_of_order = 0
        self.req_cur_n = 0                  # used by _scan's loop only (see flush/load there)
        self.req_primary = 0                # ditto
        # per-request view
        self.req_ops: dict[Any, int] = {}
        self.req_current: Any = None
        self.req_current_tracked = False
        self.req_with_id = 0
        self.req_attributed = 0
        self.req_unattributed = 0
        self.req_untracked = 0
        self.req_truncated = False
        self.req_fields: dict[str, int] = {}
        # events level
        self.ev_seen = False
        self.ev_instances: dict[str, list] = {}
        self.ev_instances_dropped = 0
        self.ev_batches: dict[str, int] = {}
        self.ev_entries: dict[str, int] = {}
        self.ev_store_bytes = 0
        self.ev_entries_with_tokens = 0
        self.ev_lifecycle: dict[str, int] = {}
        self.ev_seq_last: dict[tuple, int] = {}
        self.ev_seq_gaps = 0
        self.ev_malformed = 0

    # -- one record -------------------------------------------------------------------------
    def record(self, q: Any, tm: Any, tw: Any, rid: Any, rid_field: str | None, args: Any) -> None:
        self.records += 1
        if q.__class__ is str:
            if len(q) > MAX_OP_NAME:
                q = q[:MAX_OP_NAME]
            ops = self.ops
            c = ops.get(q)
            if c is not None:
                ops[q] = c + 1
            elif len(ops) < MAX_OPS:
                ops[q] = 1
            else:
                self.ops_other += 1
            if q not in KNOWN_OPS:
                self.unknown_records += 1
                if len(self.unknown_names) < MAX_UNKNOWN_OP_NAMES and q not in self.unknown_names:
                    self.unknown_names.append(q)
        else:
            self.no_qualname += 1
        if (tm.__class__ is float and math.isfinite(tm)) or (tm.__class__ is int and -_BIG_INT < tm < _BIG_INT):
            if self.t_mono_first is None:
                self.t_mono_first = tm
                self.t_mono_max = tm
            else:
                if tm < self.t_mono_last:
                    self.out_of_order += 1
                if tm > self.t_mono_max:
                    self.t_mono_max = tm
            self.t_mono_last = tm
        if (tw.__class__ is float and math.isfinite(tw)) or (tw.__class__ is int and -_BIG_INT < tw < _BIG_INT):
            if self.t_wall_first is None:
                self.t_wall_first = self.t_wall_min = self.t_wall_max = tw
            else:
                if tw < self.t_wall_min:
                    self.t_wall_min = tw
                if tw > self.t_wall_max:
                    self.t_wall_max = tw
            self.t_wall_last = tw
        if args is not None and rid is None and args.__class__ is dict:
            for name in REQUEST_ID_FIELDS:
                v = args.get(name)
                if v is not None:
                    rid, rid_field = v, name
                    break
        if rid is not None and (rid.__class__ is str or rid.__class__ is int) and rid != "":
            self.req_with_id += 1
            self.req_fields[rid_field] = self.req_fields.get(rid_field, 0) + 1
            req_ops = self.req_ops
            c = req_ops.get(rid)
            if c is not None:
                req_ops[rid] = c + 1
                self.req_current_tracked = True
            elif len(req_ops) < MAX_TRACKED_REQUESTS:
                req_ops[rid] = 1
                self.req_current_tracked = True
            else:
                self.req_truncated = True
                self.req_current_tracked = False
                self.req_untracked += 1
            self.req_current = rid
        elif self.req_current is None:
            self.req_unattributed += 1
        elif self.req_current_tracked:
            self.req_attributed += 1
            self.req_ops[self.req_current] += 1
        else:
            self.req_untracked += 1
        if q == "events.batch" or q == "events.lifecycle":
            self.event(q, args)


    # -- events level -----------------------------------------------------------------------
    def _instance(self, inst: Any, inc: Any) -> None:
        if inst.__class__ is not str:
            return
        incs = self.ev_instances.get(inst)
        if incs is None:
            if len(self.ev_instances) >= MAX_INSTANCES:
                self.ev_instances_dropped += 1
                return
            incs = self.ev_instances[inst] = []
        if ((inc.__class__ is int and -_BIG_INT < inc < _BIG_INT) or (inc.__class__ is float and math.isfinite(inc))) \
                and inc not in incs \
                and len(incs) < MAX_INCARNATIONS:
            incs.append(inc)

    def event(self, q: str, args: Any) -> None:
        self.ev_seen = True
        if args.__class__ is not dict:
            self.ev_malformed += 1
            return
        inst = args.get("instance_id")
        inc = args.get("incarnation")
        self._instance(inst, inc)
        if q == "events.lifecycle":
            phase = args.get("phase")
            if phase.__class__ is str:
                phase = phase[:32]
                if phase in self.ev_lifecycle or len(self.ev_lifecycle) < 16:
                    self.ev_lifecycle[phase] = self.ev_lifecycle.get(phase, 0) + 1
            else:
                self.ev_malformed += 1
            return
        etype = args.get("event_type")
        tier = args.get("tier")
        backend = args.get("backend")
        shared = args.get("shared")
        entries = args.get("entries")
        if etype.__class__ is not str or entries.__class__ is not list:
            self.ev_malformed += 1
            return
        kind = "%s/%s/%s/%s" % (
            etype[:32],
            tier[:32] if tier.__class__ is str and tier else "-",
            backend[:32] if backend.__class__ is str and backend else "-",
            "shared" if shared is True else "local",
        )
        if kind in self.ev_batches or len(self.ev_batches) < MAX_BATCH_KINDS:
            self.ev_batches[kind] = self.ev_batches.get(kind, 0) + 1
        ek = etype[:32]
        if ek in self.ev_entries or len(self.ev_entries) < MAX_BATCH_KINDS:
            self.ev_entries[ek] = self.ev_entries.get(ek, 0) + len(entries)
        with_tokens = 0
        store_bytes = 0
        if etype == "store":
            for e in entries:
                if e.__class__ is dict:
                    if e.get("token_ids"):
                        with_tokens += 1
                    sb = e.get("size_bytes")
                    if sb.__class__ is int:
                        store_bytes += sb
        else:
            for e in entries:
                if e.__class__ is dict and e.get("token_ids"):
                    with_tokens += 1
        self.ev_entries_with_tokens += with_tokens
        self.ev_store_bytes += store_bytes
        seq = args.get("seq")
        if seq.__class__ is int and inst.__class__ is str and len(self.ev_seq_last) < MAX_INSTANCES * 4:
            key = (inst, inc if inc.__class__ in (int, float) else None)
            last = self.ev_seq_last.get(key)
            if last is not None and seq != last + 1:
                self.ev_seq_gaps += 1
            self.ev_seq_last[key] = seq


def _take_header(state: _State, res: ReadResult, obj: dict, offset: int) -> None:
    magic = obj.get("magic")
    if isinstance(magic, (bytes, bytearray)):
        magic_text = bytes(magic).decode("latin-1")
        magic_ok = bytes(magic) == MAGIC
    elif isinstance(magic, str):
        magic_text = magic
        magic_ok = False
    else:
        magic_text = None
        magic_ok = False
    fv = obj.get("format_version")
    sv = obj.get("trace_schema_version")
    level = obj.get("level")
    cfg = obj.get("sm_config_json")
    digest = obj.get("sm_config_digest")
    level_meta = obj.get("level_meta")
    verified = None
    cfg_len = None
    if isinstance(cfg, str):
        cfg_bytes = cfg.encode("utf-8", "surrogatepass")
        cfg_len = len(cfg_bytes)
        if isinstance(digest, str) and digest and cfg:
            verified = hashlib.sha256(cfg_bytes).hexdigest() == digest.lower()
    meta: dict[str, Any] = {}
    if isinstance(level_meta, dict):
        for k, v in list(level_meta.items())[:32]:
            if isinstance(v, float) and not math.isfinite(v):
                meta[str(k)[:64]] = None
            elif isinstance(v, (str, int, float, bool)) or v is None:
                meta[str(k)[:64]] = v[:200] if isinstance(v, str) else v
            else:
                meta[str(k)[:64]] = None
    state.header = {
        "magic": magic_text,
        "magic_ok": magic_ok,
        "format_version": fv if isinstance(fv, int) and not isinstance(fv, bool) else None,
        "trace_schema_version": sv if isinstance(sv, int) and not isinstance(sv, bool) else None,
        "level": level[:32] if isinstance(level, str) else None,
        "t_mono_start": _num(obj.get("t_mono_start")),
        "t_wall_start": _num(obj.get("t_wall_start")),
        "sm_config_digest": digest.lower()[:128] if isinstance(digest, str) and digest else None,
        "sm_config_json_bytes": cfg_len,
        "sm_config_digest_verified": verified,
        "level_meta": meta,
    }
    if not magic_ok:
        res.problem(f"header magic is {magic_text!r}, expected 'LMCT'", offset=offset)
    if fv not in FORMAT_VERSIONS:
        res.problem(f"header format_version {fv!r} is not one this reader knows ({FORMAT_VERSIONS})", offset=offset)
    if sv not in SCHEMA_VERSIONS:
        res.problem(f"header trace_schema_version {sv!r} is not one this reader knows ({SCHEMA_VERSIONS})",
                    offset=offset)
    if level not in LEVELS:
        what = "reserved, not written by lmcache 0.5.6" if level in RESERVED_LEVELS else "unknown"
        res.problem(f"header level {level!r} is {what}", offset=offset)
    if verified is False:
        res.problem("sm_config_digest is not the SHA-256 of sm_config_json", offset=offset)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -_BIG_INT < v < _BIG_INT else None
    if isinstance(v, float) and math.isfinite(v):
        return v
    return None


def _decode_whole(body: bytes) -> dict:
    """Decode one frame body; raise _Corrupt unless it is exactly one msgpack map."""
    import msgpack

    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except msgpack.ExtraData:
        raise _Corrupt("frame body holds more than one msgpack object") from None
    except Exception as exc:  # noqa: BLE001 - any decode failure is a corrupt frame
        detail = str(exc)[:120]
        raise _Corrupt("frame body is not valid msgpack (%s%s)" % (type(exc).__name__, ": " + detail if detail else "")) from None
    if not isinstance(obj, dict):
        raise _Corrupt(f"frame body is a msgpack {type(obj).__name__}, expected a map")
    return obj


def _take_object(state: _State, res: ReadResult, obj: dict, offset: int) -> None:
    typ = obj.get("type")
    state.frames += 1           # frames decoded whole or by the general path (the summary counts all)
    if typ == HEADER_TYPE:
        if state.frames == 1:
            _take_header(state, res, obj, offset)
        else:
            state.extra_headers += 1
            res.problem("a second header frame inside the trace", offset=offset)
        return
    if state.frames == 1:
        res.problem("first frame is not a header (type=%r); reading the rest as records" % (typ,), offset=offset)
    if typ != RECORD_TYPE:
        state.other_frames += 1
        if typ is not None:
            res.problem(f"frame of unknown type {str(typ)[:60]!r}", offset=offset)
        else:
            res.problem("frame without a type field", offset=offset)
        return
    args = obj.get("args")
    state.record(obj.get("qualname"), obj.get("t_mono"), obj.get("t_wall"), None, None, args)


_HOT = (
    "records", "t_mono_last", "t_mono_max", "t_wall_min", "t_wall_max", "t_wall_last",
    "req_current", "req_current_tracked", "req_with_id", "req_attributed", "req_unattributed",
    "req_untracked", "req_truncated", "req_cur_n", "req_primary",
)

# A record body as msgspec writes it starts with 54 fixed bytes but for the two clocks: a 5-entry
# map whose keys come in struct order, `type: "record"`, `t_mono` and `t_wall` as float64, then
# the `qualname` key. _FRAME_HEAD reads the 4-byte length prefix and those 54 bytes in one go.
_RECORD_HEAD = struct.Struct(">21sd8sd9s")
_FRAME_HEAD = struct.Struct(">I21sd8sd9s")
_HEAD_A = b"\x85\xa4type\xa6record\xa6t_mono\xcb"
_HEAD_B = b"\xa6t_wall\xcb"
_HEAD_C = b"\xa8qualname"
_ARGS_KEY = b"\xa4args"
_HEAD_LEN = _RECORD_HEAD.size          # 54
_FRAME_HEAD_LEN = _FRAME_HEAD.size     # 58


def _scan(f, size: int, state: _State, res: ReadResult) -> int:
    """Walk the frames; return the offset up to which frames were understood.

    Three ways through a frame:
    - a record in lmcache's own layout (its first 54 bytes fixed but for the two clocks) is read
      straight from the stream: length prefix and fixed head as raw bytes, then `qualname` and
      `args` through the unpacker; the `args` of storage operations are skipped (walked, not
      built), except their request-id fields;
    - any other frame (the header, another layout, a body too large for the streaming limits)
      is read raw and decoded whole;
    - if the streaming decode fails midway, the frame is read again on its own from the file to
      tell an unusual shape from corruption, and a fresh unpacker starts after it.
    A frame shorter than the fixed head means the head read went past it: that frame is decoded
    from the bytes in hand and reading resumes after it, length prefixes read on their own from
    then on. The counters touched by every record live in local variables inside the loop
    (`_HOT` names); they are written back to `state` before any call that reads or changes
    `state` and read again after it. An unset clock maximum is +inf inside the loop, so that
    the inline path cannot run before both clocks have a first value.
    """
    import msgpack

    Unpacker = msgpack.Unpacker
    selective = STORAGE_OPS
    no_ids = STORAGE_OPS_WITHOUT_IDS
    fast_limit = FAST_FRAME_BYTES
    head_len = _HEAD_LEN
    frame_head_len = _FRAME_HEAD_LEN
    record_head = _RECORD_HEAD.unpack
    frame_head = _FRAME_HEAD.unpack
    head_a, head_b, head_c, args_key = _HEAD_A, _HEAD_B, _HEAD_C, _ARGS_KEY
    id_fields = _REQUEST_ID_SET
    id_rank = _ID_RANK
    max_requests = MAX_TRACKED_REQUESTS
    primary = REQUEST_ID_FIELDS[0]
    inf = math.inf
    event_ops = EVENT_OPS
    event = state.event
    ops = state.ops
    req_ops = state.req_ops
    req_fields = state.req_fields
    merged = True
    offset = 0

    def flush(values: tuple) -> None:
        for name, value in zip(_HOT, values):
            if value == inf and (name == "t_mono_max" or name == "t_wall_max"):
                continue                # unset inside the loop: `state` holds the truth
            setattr(state, name, value)
        # Inside the loop the current request's running count lives in `cur_n`, and records whose
        # id came from the primary field are counted in `req_primary`: bring both back.
        if state.req_current_tracked:
            req_ops[state.req_current] = state.req_cur_n
        if state.req_primary:
            req_fields[primary] = req_fields.get(primary, 0) + state.req_primary
            state.req_primary = 0

    def load() -> tuple:
        state.req_cur_n = req_ops.get(state.req_current, 0) if state.req_current_tracked else 0
        values = [getattr(state, name) for name in _HOT]
        if state.t_mono_max is None or state.t_wall_max is None:
            values[2] = values[4] = inf
        return tuple(values)

    while True:
        f.seek(offset)
        u = Unpacker(
            f, read_size=READ_SIZE, raw=False, strict_map_key=False,
            max_buffer_size=max(READ_SIZE, FAST_FRAME_BYTES) * 2,
            max_array_len=FAST_FRAME_BYTES, max_map_len=FAST_FRAME_BYTES // 2,
        )
        base = offset
        unpack = u.unpack
        skip = u.skip
        read_map_header = u.read_map_header
        read_bytes = u.read_bytes
        tell = u.tell
        stop_at = None          # an offset: stop there (the problem is already reported)
        reread = None           # (frame_off, body_off, length): decode that frame on its own
        resume_at = None        # an offset: continue there with a fresh unpacker
        frame_off = base
        (records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
         req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
         req_untracked, req_truncated, cur_n, req_primary) = load()
        while True:
            head = None
            if merged and frame_off + frame_head_len <= size:
                head = read_bytes(frame_head_len)
                length, a, tm, b, tw, c = frame_head(head)
                if length < head_len:
                    # The head read went past this frame: decode it from the bytes in hand.
                    merged = False
                    if length == 0:
                        res.problem("corrupt frame: zero-length body", offset=frame_off)
                        stop_at = frame_off
                        break
                    try:
                        obj = _decode_whole(head[4:4 + length])
                    except _Corrupt as exc:
                        res.problem(f"corrupt frame: {exc}", offset=frame_off)
                        stop_at = frame_off
                        break
                    flush((records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
                           req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                           req_untracked, req_truncated, cur_n, req_primary))
                    _take_object(state, res, obj, frame_off)
                    resume_at = frame_off + 4 + length
                    break
                hoff = 4
            else:
                if frame_off + 4 > size:
                    if frame_off < size:
                        res.problem(f"truncated frame: {size - frame_off} byte(s) left where a 4-byte length "
                                    "prefix was expected", offset=frame_off)
                        stop_at = frame_off
                    break
                length = int.from_bytes(read_bytes(4), "big")
                if length > head_len and frame_off + frame_head_len <= size:
                    head = read_bytes(head_len)
                    hoff = 0
                    a, tm, b, tw, c = record_head(head)
            end = frame_off + 4 + length
            if (head is not None and a == head_a and b == head_b and c == head_c and head_len < length <= fast_limit
                    and end <= size):
                # The common case: decode only what the summary needs, straight from the stream.
                try:
                    q = unpack()
                    if read_bytes(5) != args_key:
                        raise _Corrupt("layout")
                    rid = rid_field = args = None
                    if q in no_ids:
                        skip()
                    elif q in selective:
                        for _ in range(read_map_header()):
                            ak = unpack()
                            if ak in id_fields:
                                v = unpack()
                                if rid is None or id_rank[ak] < id_rank[rid_field]:
                                    rid, rid_field = v, ak
                            else:
                                skip()
                    else:
                        args = unpack()
                    if base + tell() != end:
                        raise _Corrupt("length mismatch")
                    fast = ((args is None or q in event_ops) and t_mono_max <= tm < inf and t_wall_max <= tw < inf
                            and (rid is None or (rid.__class__ is str and rid != "")) and q in ops)
                except Exception:  # noqa: BLE001 - re-read the frame on its own, see the docstring
                    reread = (frame_off, frame_off + 4, length)
                    break
                if fast:
                    ops[q] += 1
                    if args is not None:
                        event(q, args)          # events-level bookkeeping only: no hot counter
                    records += 1
                    t_mono_last = t_mono_max = tm
                    t_wall_last = t_wall_max = tw
                    if rid is None:
                        if req_tracked:
                            req_attributed += 1
                            cur_n += 1
                        elif req_current is None:
                            req_unattributed += 1
                        else:
                            req_untracked += 1
                    else:
                        req_with_id += 1
                        if rid_field == primary:
                            req_primary += 1
                        else:
                            req_fields[rid_field] = req_fields.get(rid_field, 0) + 1
                        if req_tracked:
                            req_ops[req_current] = cur_n
                        c = req_ops.get(rid)
                        if c is not None:
                            cur_n = c + 1
                            req_tracked = True
                        elif len(req_ops) < max_requests:
                            req_ops[rid] = cur_n = 1
                            req_tracked = True
                        else:
                            req_truncated = True
                            req_tracked = False
                            req_untracked += 1
                        req_current = rid
                else:
                    flush((records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
                           req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                           req_untracked, req_truncated, cur_n, req_primary))
                    state.frames += 1
                    if state.frames == 1:
                        res.problem("first frame is not a header (type='record'); reading the rest as records",
                                    offset=frame_off)
                    state.record(q, tm, tw, rid, rid_field, args)
                    (records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
                     req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                     req_untracked, req_truncated, cur_n, req_primary) = load()
                frame_off = end
                continue
            # Everything else: check the length, then read the body raw and decode it whole.
            if length == 0:
                res.problem("corrupt frame: zero-length body", offset=frame_off)
                stop_at = frame_off
                break
            if end > size:
                res.problem(f"truncated frame: declares {length} bytes, {size - frame_off - 4} left in the file",
                            offset=frame_off)
                stop_at = frame_off
                break
            if length > MAX_FRAME_BYTES:
                res.problem(f"corrupt frame: declared length {length} exceeds the {MAX_FRAME_BYTES}-byte limit",
                            offset=frame_off)
                stop_at = frame_off
                break
            try:
                body = read_bytes(length) if head is None else head[hoff:] + read_bytes(length - head_len)
                obj = _decode_whole(body)
            except _Corrupt as exc:
                res.problem(f"corrupt frame: {exc}", offset=frame_off)
                stop_at = frame_off
                break
            flush((records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
                   req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                   req_untracked, req_truncated, cur_n, req_primary))
            _take_object(state, res, obj, frame_off)
            (records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
             req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
             req_untracked, req_truncated, cur_n, req_primary) = load()
            frame_off = end
        if resume_at is None:
            flush((records, t_mono_last, t_mono_max, t_wall_min, t_wall_max, t_wall_last,
                   req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                   req_untracked, req_truncated, cur_n, req_primary))
        if stop_at is not None:
            return stop_at
        if resume_at is not None:
            offset = resume_at
            continue
        if reread is None:
            return size
        # One frame the streaming decode could not finish: read it again on its own.
        frame_off, body_off, length = reread
        f.seek(body_off)
        body = f.read(length)
        if len(body) < length:
            res.problem(f"truncated frame: declares {length} bytes, {len(body)} readable", offset=frame_off)
            return frame_off
        try:
            obj = _decode_whole(body)
        except _Corrupt as exc:
            res.problem(f"corrupt frame: {exc}", offset=frame_off)
            return frame_off
        _take_object(state, res, obj, frame_off)
        offset = body_off + length


def _summary(state: _State, size: int, understood: int, complete: bool) -> dict[str, Any]:
    req_counts = state.req_ops.values()
    nreq = len(state.req_ops)
    dist: dict[str, int] = {}
    if nreq:
        for c in req_counts:
            key = str(c)
            if key in dist or len(dist) < 32:
                dist[key] = dist.get(key, 0) + 1
            else:
                dist["other"] = dist.get("other", 0) + 1
        ops_per_request = {
            "min": min(state.req_ops.values()),
            "max": max(state.req_ops.values()),
            "mean": round(sum(state.req_ops.values()) / nreq, 6),
            "distribution": dict(sorted(dist.items(), key=lambda kv: (kv[0] == "other", len(kv[0]), kv[0]))),
        }
    else:
        ops_per_request = None
    time_view = {
        "t_mono_first": state.t_mono_first,
        "t_mono_last": state.t_mono_last,
        "t_wall_first": state.t_wall_first,
        "t_wall_last": state.t_wall_last,
        "span_s": (round(state.t_wall_max - state.t_wall_min, 6) if state.t_wall_min is not None else None),
        "out_of_order": state.out_of_order,
    }
    events = None
    if state.ev_seen:
        instances = []
        for inst, incs in sorted(state.ev_instances.items()):
            instances.append({"id": inst[:200], "incarnations": sorted(incs),
                              "restarts": max(len(incs) - 1, 0)})
        events = {
            "instances": instances,
            "instances_dropped": state.ev_instances_dropped,
            "batches": dict(sorted(state.ev_batches.items())),
            "entries": dict(sorted(state.ev_entries.items())),
            "store_bytes": state.ev_store_bytes,
            "entries_with_tokens": state.ev_entries_with_tokens,
            "lifecycle": dict(sorted(state.ev_lifecycle.items())),
            "seq_gaps": state.ev_seq_gaps,
            "malformed": state.ev_malformed,
        }
    return {
        "format": "lct",
        "file_bytes": size,
        "bytes_understood": understood,
        "complete": complete,
        "header": state.header,
        "frames": state.records + state.other_frames + state.extra_headers + (state.header is not None),
        "records": state.records,
        "other_frames": state.other_frames + state.extra_headers,
        "ops": dict(sorted(state.ops.items())),
        "ops_untracked": state.ops_other,
        "unknown_ops": {"records": state.unknown_records, "names": list(state.unknown_names)},
        "records_without_qualname": state.no_qualname,
        "duration_s": state.t_mono_max,
        "time": time_view,
        "requests": {
            "count": nreq,
            "id_fields": dict(sorted(state.req_fields.items())),
            "records_with_id": state.req_with_id,
            "records_attributed": state.req_attributed,
            "records_unattributed": state.req_unattributed,
            "records_untracked": state.req_untracked,
            "attribution": "a record without a request id is attributed to the nearest earlier record with one",
            "truncated": state.req_truncated,
            "ops_per_request": ops_per_request,
        },
        "events": events,
    }



def read(path: str | os.PathLike, *, specs: Any = None) -> ReadResult:
    """Read one `.lct` trace recording. Never raises on bad input."""
    res = ReadResult(reader=READER_ID, path=str(path))
    state = _State()
    size = 0
    understood = 0
    complete = False
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                res.problem("empty file: no header frame", offset=0)
            else:
                understood = _scan(f, size, state, res)
                complete = understood >= size
    except IsADirectoryError:
        res.problem("is a directory, expected a .lct file")
    except OSError as exc:
        res.problem(f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - a reader never raises on bad input
        res.problem(f"unreadable trace ({type(exc).__name__}: {str(exc)[:160]})", offset=understood)
    if state.header is None and state.frames == 0 and size:
        res.problem("no header frame could be read", offset=0)
    res.summary = json_safe(_summary(state, size, understood, complete))
    res.records = state.records
    res.signals["records"] = state.records
    res.signals["header"] = 1 if state.header is not None else 0
    res.signals["requests"] = len(state.req_ops)
    for q, c in state.ops.items():
        if _SIGNAL_NAME_RE.fullmatch(q):          # other names stay in the summary only
            res.signals["op." + q] = c
    return res

