"""LMCache trace recordings (`.lct`, written by `lmcache server --trace-level storage|events`).

Layout (lmcache 0.4.7 .. 0.5.6, FORMAT_VERSION 1, TRACE_SCHEMA_VERSION 1): a sequence of frames,
each a 4-byte big-endian body length followed by one msgpack map. Frame 0 is the header
(`type: header`, `magic: b"LMCT"`, `format_version`, `level`, `trace_schema_version`,
`t_mono_start`, `t_wall_start`, `sm_config_json`, `sm_config_digest`, and from 0.5.6 an optional
`level_meta` map); every later frame is a record (`type: record`, `t_mono`, `t_wall`, `qualname`,
`args`).

The reader reads the file in blocks and walks it frame by frame (see _scan). Record fields that
the summary needs are read; the bulky `args` of storage-level records are skipped without
building Python objects (a streaming msgpack unpacker walks them), except the request-id fields.
A frame whose declared length runs past the end of the file is a truncated frame; a body that
does not decode as one msgpack map of exactly the declared length is a corrupt frame. Either is
reported with its byte offset and reading stops there; everything before it is kept.

Prompt material (`token_ids` in events batches), chunk hashes and request ids never reach the
summary: only counts do.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import struct
from collections import Counter
from typing import Any

from inferguard.readers.base import ReadResult, json_safe, open_input

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
READ_SIZE = 256 * 1024                  # bytes per read (a block grows only to hold one whole frame)
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
        self.req_budget = 0                 # ditto
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
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:  # a corrupt frame
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
    "records", "t_mono_last", "t_mono_max", "t_wall_max", "t_wall_last",
    "req_current", "req_current_tracked", "req_with_id", "req_attributed", "req_unattributed",
    "req_untracked", "req_truncated", "req_cur_n", "req_primary", "req_budget",
)

# A record body as msgspec writes it starts with 54 fixed bytes but for the two clocks: a 5-entry
# map whose keys come in struct order, `type: "record"`, `t_mono` and `t_wall` as float64, then
# the `qualname` key. _FRAME_HEAD reads the 4-byte length prefix, the first two fixed parts, the
# clocks and the first two bytes of the qualname value (its str marker and, for a str8, its
# length) in one go; the `qualname` key is checked with the qualname itself (see _scan).
_FRAME_HEAD = struct.Struct(">I21sd8sd9xBB")
_HEAD_A = b"\x85\xa4type\xa6record\xa6t_mono\xcb"
_HEAD_B = b"\xa6t_wall\xcb"
_HEAD_C = b"\xa8qualname"
_ARGS_KEY = b"\xa4args"
_HEAD_LEN = 54                          # the fixed head, counted from the start of the body
_FRAME_HEAD_LEN = _FRAME_HEAD.size      # 60: length prefix, fixed head, qualname marker
_QUALNAME_AT = 4 + _HEAD_LEN            # where the qualname value starts, counted from the frame
_QUALNAME_KEY_AT = _QUALNAME_AT - len(_HEAD_C)
# `submit_prefetch_task` arguments as lmcache 0.5.6 writes them: a 3-entry map `spec` (large, no
# request id inside), `external_request_id` (a str), `skip_l2` (a bool).
_SPEC_HEAD = b"\x83\xa4spec"
_EXTERNAL_ID_KEY = b"\xb3external_request_id"
_SKIP_L2_KEY = b"\xa7skip_l2"
_BOOLS = (0xC2, 0xC3)
# What the scan does with the `args` of a qualname (see _scan).
_ARGS_SKIP, _ARGS_IDS, _ARGS_EVENT, _ARGS_DECODE = 0, 1, 2, 3
MAX_KNOWN_QUALNAMES = 2 * MAX_OPS       # encodings remembered by the scan (a name has at most two)


def _walk_ids(unpack, skip, n: int) -> tuple | None:
    """Walk the next `n` entries of an `args` map, decoding only the request-id values.

    Returns (rid, rid_field) for the best-ranked id (REQUEST_ID_FIELDS order; both None when
    there is none), or None when a key is a list or a map: such a frame is decoded whole.
    """
    rid = rid_field = None
    for _ in range(n):
        ak = unpack()
        if ak.__class__ is str:
            if ak in _REQUEST_ID_SET:
                v = unpack()
                if rid is None or _ID_RANK[ak] < _ID_RANK[rid_field]:
                    rid, rid_field = v, ak
                continue
        elif ak.__class__ is list or ak.__class__ is dict:
            return None
        skip()
    return rid, rid_field


def _scan(f, size: int, state: _State, res: ReadResult) -> int:
    """Walk the frames; return the offset up to which frames were understood.

    Reading: the file is read READ_SIZE bytes at a time into a block, which grows only to hold
    one whole frame (at most MAX_FRAME_BYTES); frames are sliced out of the block in hand, and one
    msgpack unpacker, fed the same bytes, walks what has to be walked. A record in lmcache's own
    layout (its first 54 bytes fixed but for the two clocks, at most FAST_FRAME_BYTES long) takes
    the streaming path; any other frame (the header, another layout, a frame too large) is
    decoded whole. The streaming path, for one frame:
    - one struct unpack reads the length prefix, the fixed head, both clocks and the first two
      bytes of the qualname value (its str marker and, for a str8, its length);
    - the qualname is looked up by its raw bytes (`qualname` key, value and the `args` key that
      follows) among the encodings already decoded once (`known`). A name not met yet is decoded
      by the unpacker, which then walks the `args` the general way (skip, walk for request ids,
      or decode: see below); once the name is counted in `ops`, its encoding joins `known`;
    - for a known name the unpacker skips the `args` of storage operations (walks them without
      building objects) and checks that the body ends where its length prefix says. For
      `submit_prefetch_task` it skips `spec`, and the short tail that follows in lmcache's layout
      (`external_request_id`, then `skip_l2` and a bool ending the frame) is read straight from
      the block; in any other layout the map is walked, decoding only request-id values. Other
      `args` (events) are decoded;
    - the counters are updated inline (storage operations with and without a request id each
      have a short inline path of their own), or through `_State.record` for a record the inline
      paths do not cover (a first name, clocks out of order, an id that is not a plain str...).
    A body whose streaming walk fails or does not end where it should is decoded whole on its
    own, which tells an unusual shape from corruption (after an error inside the unpacker, a new
    one is made at the next frame). A frame whose declared length runs past the end of the file,
    or is zero, or above MAX_FRAME_BYTES, is reported without being read.

    Counting: the counters touched by every record live in local variables (`_HOT` names); they
    are written back to `state` (flush) before any call that reads or changes `state` and read
    again (load) after it. An unset clock maximum is +inf inside the loop, so that the inline
    paths cannot run before both clocks have a first value. Positions are offsets in the block:
    `p` is the next frame, `upos` how far the unpacker has read (it only moves forward) and
    `ushift` turns the unpacker's own count (`tell()`) into a block offset.

    Request ids: looking a new id up in `req_ops`, which holds every id seen, misses the CPU
    caches once the trace has many requests, so the inline paths do not do it. A request's
    records are counted in `cur_n`; when the next id comes, the run becomes a (request id,
    records) segment in `seg_ids`/`seg_ns`. Segments are added to `req_ops` in first-seen order
    (settle) when `state` is flushed, with one C-level update when every id in them is new. While
    they wait, `budget` (MAX_TRACKED_REQUESTS less the ids `req_ops` holds and the segments
    opened since) stays above zero, so every waiting id is one the bound lets in, seen before or
    not; when it runs out the segments are settled and `req_ops` decides, as in `_State.record`.
    """
    import msgpack

    Unpacker = msgpack.Unpacker
    fast_limit = FAST_FRAME_BYTES
    read_size = READ_SIZE
    stream_bytes = max(read_size, fast_limit) * 2
    stream_options = {
        "raw": False, "strict_map_key": False, "max_buffer_size": 2 * stream_bytes,
        "max_str_len": stream_bytes, "max_bin_len": stream_bytes, "max_ext_len": stream_bytes,
        "max_array_len": fast_limit, "max_map_len": fast_limit // 2,
    }
    no_ids = STORAGE_OPS_WITHOUT_IDS
    selective = STORAGE_OPS
    event_ops = EVENT_OPS
    frame_head = _FRAME_HEAD.unpack_from
    frame_head_len = _FRAME_HEAD_LEN
    head_len = _HEAD_LEN
    qualname_at = _QUALNAME_AT
    key_at = _QUALNAME_KEY_AT
    head_a, head_b, head_c, args_key = _HEAD_A, _HEAD_B, _HEAD_C, _ARGS_KEY
    spec_head, external_id_key, skip_l2_key, bools = _SPEC_HEAD, _EXTERNAL_ID_KEY, _SKIP_L2_KEY, _BOOLS
    ARGS_SKIP, ARGS_IDS, ARGS_EVENT = _ARGS_SKIP, _ARGS_IDS, _ARGS_EVENT
    walk_ids = _walk_ids
    max_requests = MAX_TRACKED_REQUESTS
    primary = REQUEST_ID_FIELDS[0]
    inf = math.inf
    event = state.event
    ops = state.ops
    req_ops = state.req_ops
    req_fields = state.req_fields
    if not req_ops:
        # A dict that has once held a key other than a str keeps each key's hash beside it:
        # adding many new ids then reads less memory (CPython detail; harmless elsewhere).
        req_ops[None] = 0
        del req_ops[None]
    seg_ids: list = []          # waiting (request id, records) segments, see the docstring
    seg_ns: list[int] = []
    seg_id = seg_ids.append
    seg_n = seg_ns.append
    # The qualname encodings met so far: raw `qualname` key + value + `args` key -> (qualname,
    # _ARGS_* kind). Only names already counted in `ops`.
    known: dict[bytes, tuple[str, int]] = {}

    def settle() -> None:
        """Add the waiting (request id, records) segments to `req_ops`, in order."""
        if not seg_ids:
            return
        held = len(req_ops)
        if not held or req_ops.keys().isdisjoint(seg_ids):
            req_ops.update(zip(seg_ids, seg_ns))
            if len(req_ops) == held + len(seg_ids):
                seg_ids.clear()
                seg_ns.clear()
                return
            for rid in seg_ids:             # an id came back among them: count them one by one
                req_ops.pop(rid, None)
        get = req_ops.get
        for rid, n in zip(seg_ids, seg_ns):
            req_ops[rid] = get(rid, 0) + n
        seg_ids.clear()
        seg_ns.clear()

    def flush(values: tuple) -> None:
        for name, value in zip(_HOT, values):
            if value == inf and (name == "t_mono_max" or name == "t_wall_max"):
                continue                # unset inside the loop: `state` holds the truth
            setattr(state, name, value)
        # The current request's records not yet in `req_ops` (`cur_n`), the waiting segments and
        # the records whose id came from the primary field (`req_primary`): bring them back.
        if state.req_current_tracked and state.req_cur_n:
            seg_id(state.req_current)
            seg_n(state.req_cur_n)
        state.req_cur_n = 0
        settle()
        if state.req_primary:
            req_fields[primary] = req_fields.get(primary, 0) + state.req_primary
            state.req_primary = 0

    def load() -> tuple:
        state.req_budget = max_requests - len(req_ops)
        values = [getattr(state, name) for name in _HOT]
        if state.t_mono_max is None or state.t_wall_max is None:
            values[2] = values[3] = inf
        return tuple(values)

    buf = b""               # the block in hand
    blen = 0
    bbase = 0               # file offset of buf[0]
    p = 0                   # offset in buf of the next frame
    u = None                # the unpacker: fed the file from block offset `ushift` on
    rb = unpack = skip = read_map_header = tell = None
    upos = ushift = 0
    (records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
     req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
     req_untracked, req_truncated, cur_n, req_primary, budget) = load()
    while True:
        # -- the streaming path, frame after frame while the block holds them ------------------
        failed = False      # set when a frame's streaming walk fails: it is then decoded whole
        if upos > p:
            u = None        # the unpacker went past the next frame (it is made again below)
        last_head = blen - frame_head_len
        while p <= last_head:
            length, a, tm, b, tw, m0, m1 = frame_head(buf, p)
            e = p + 4 + length
            if e > blen or length > fast_limit or length <= head_len or a != head_a or b != head_b:
                break
            if u is None:
                u = Unpacker(**stream_options)
                u.feed(memoryview(buf)[p:])
                rb, unpack, skip, read_map_header, tell = u.read_bytes, u.unpack, u.skip, u.read_map_header, u.tell
                upos = ushift = p
            # Where `args` starts if the qualname is a fixstr or a str8 followed by the `args` key.
            kq = p + 65 + m1 if m0 == 0xD9 else p + 64 + (m0 & 0x1F)
            info = known.get(buf[p + key_at:kq])
            try:
                if info is None:
                    # A qualname not met yet in this encoding: decode it, then walk the `args`.
                    if buf[p + key_at:p + qualname_at] != head_c:
                        break
                    rb(p + qualname_at - upos)
                    q = unpack()
                    if rb(5) != args_key or q.__class__ is not str:
                        upos = tell() + ushift
                        failed = True
                        break
                    ap = tell() + ushift
                    rid = rid_field = args = None
                    if q in no_ids:
                        kind = ARGS_SKIP
                        skip()
                    elif q in selective:
                        kind = ARGS_IDS
                        walked = walk_ids(unpack, skip, read_map_header())
                        if walked is None:
                            upos = tell() + ushift
                            failed = True
                            break
                        rid, rid_field = walked
                    else:
                        kind = ARGS_EVENT if q in event_ops else _ARGS_DECODE
                        args = unpack()
                    upos = tell() + ushift
                    if upos != e:
                        failed = True
                        break
                else:
                    q, kind = info
                    if kind == ARGS_SKIP:
                        # A storage operation without request ids: skip its `args`.
                        rb(kq - upos)
                        skip()
                        upos = tell() + ushift
                        if upos != e:
                            failed = True
                            break
                        if t_mono_max <= tm < inf and t_wall_max <= tw < inf:
                            ops[q] += 1
                            records += 1
                            t_mono_last = t_mono_max = tm
                            t_wall_last = t_wall_max = tw
                            if req_tracked:
                                req_attributed += 1
                                cur_n += 1
                            elif req_current is None:
                                req_unattributed += 1
                            else:
                                req_untracked += 1
                            p = e
                            continue
                        rid = rid_field = args = None
                    elif kind != ARGS_IDS:
                        # An events-level record (or another operation): decode its `args`.
                        rb(kq - upos)
                        args = unpack()
                        upos = tell() + ushift
                        if upos != e:
                            failed = True
                            break
                        rid = rid_field = None
                    elif buf.startswith(spec_head, kq):
                        # submit_prefetch_task in lmcache's layout: skip `spec`, then read the tail
                        # (external_request_id as a fixstr or str8, skip_l2 and a bool, ending the
                        # frame) from the block; in another shape, walk the two entries left.
                        rb(kq + 6 - upos)
                        skip()
                        upos = tell() + ushift
                        args = None
                        rid_end = e - 9
                        m = buf[upos + 20]
                        if m == 0xD9:
                            rid_at = upos + 22
                            found = buf[upos + 21] == rid_end - rid_at
                        else:
                            rid_at = upos + 21
                            found = 0xA0 <= m <= 0xBF and m - 0xA0 == rid_end - rid_at
                        if (found and buf.startswith(external_id_key, upos)
                                and buf.startswith(skip_l2_key, rid_end) and buf[e - 1] in bools):
                            rid = buf[rid_at:rid_end].decode()
                            rid_field = primary
                            if rid and t_mono_max <= tm < inf and t_wall_max <= tw < inf:
                                ops[q] += 1
                                records += 1
                                t_mono_last = t_mono_max = tm
                                t_wall_last = t_wall_max = tw
                                req_with_id += 1
                                req_primary += 1
                                # A new request: see the docstring (the same as further below).
                                if req_tracked and cur_n:           # the last request's run of records
                                    seg_id(req_current)
                                    seg_n(cur_n)
                                if budget <= 0:
                                    settle()
                                    budget = max_requests - len(req_ops)
                                if budget > 0:                      # tracked, whether seen before or not
                                    budget -= 1
                                    cur_n = 1
                                    req_tracked = True
                                elif rid in req_ops:                # no room left: only known ids are counted
                                    cur_n = 1
                                    req_tracked = True
                                else:
                                    req_truncated = True
                                    req_tracked = False
                                    req_untracked += 1
                                    cur_n = 0
                                req_current = rid
                                p = e
                                continue
                        else:
                            walked = walk_ids(unpack, skip, 2)
                            upos = tell() + ushift
                            if walked is None or upos != e:
                                failed = True
                                break
                            rid, rid_field = walked
                    else:
                        rb(kq - upos)
                        walked = walk_ids(unpack, skip, read_map_header())
                        upos = tell() + ushift
                        if walked is None or upos != e:
                            failed = True
                            break
                        rid, rid_field = walked
                        args = None
            except (ValueError, TypeError, msgpack.UnpackException):  # decode the frame whole, see the docstring
                u = None
                failed = True
                break
            # Any other record: the general inline path, or _State.record.
            if (t_mono_max <= tm < inf and t_wall_max <= tw < inf and q in ops
                    and (rid is None or (rid.__class__ is str and rid != ""))
                    and (args is None or kind == ARGS_EVENT)):
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
                    if req_tracked and cur_n:           # the last request's run of records
                        seg_id(req_current)
                        seg_n(cur_n)
                    if budget <= 0:
                        settle()
                        budget = max_requests - len(req_ops)
                    if budget > 0:                      # tracked, whether seen before or not
                        budget -= 1
                        cur_n = 1
                        req_tracked = True
                    elif rid in req_ops:                # no room left: only known ids are counted
                        cur_n = 1
                        req_tracked = True
                    else:
                        req_truncated = True
                        req_tracked = False
                        req_untracked += 1
                        cur_n = 0
                    req_current = rid
            else:
                flush((records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
                       req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                       req_untracked, req_truncated, cur_n, req_primary, budget))
                state.frames += 1
                if state.frames == 1:
                    res.problem("first frame is not a header (type='record'); reading the rest as records",
                                offset=bbase + p)
                state.record(q, tm, tw, rid, rid_field, args)
                (records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
                 req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                 req_untracked, req_truncated, cur_n, req_primary, budget) = load()
            if info is None and ap == kq and q in ops and len(known) < MAX_KNOWN_QUALNAMES:
                known[buf[p + key_at:kq]] = (q, kind)      # the next ones take the inline paths
            p = e
        # -- one frame the streaming path did not take -----------------------------------------
        off = bbase + p
        if not failed:
            if p + 4 > blen:
                if off + 4 > size:
                    flush((records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
                           req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                           req_untracked, req_truncated, cur_n, req_primary, budget))
                    if off < size:
                        res.problem(f"truncated frame: {size - off} byte(s) left where a 4-byte length "
                                    "prefix was expected", offset=off)
                        return off
                    return size
                missing = 4 - (blen - p)
            else:
                length = int.from_bytes(buf[p:p + 4], "big")
                problem = None
                if length == 0:
                    problem = "corrupt frame: zero-length body"
                elif off + 4 + length > size:
                    problem = f"truncated frame: declares {length} bytes, {size - off - 4} left in the file"
                elif length > MAX_FRAME_BYTES and (length > fast_limit or p + 4 + length <= blen):
                    # (a frame the streaming path may take is read first: it has no such limit)
                    problem = f"corrupt frame: declared length {length} exceeds the {MAX_FRAME_BYTES}-byte limit"
                if problem is not None:
                    flush((records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
                           req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                           req_untracked, req_truncated, cur_n, req_primary, budget))
                    res.problem(problem, offset=off)
                    return off
                missing = p + 4 + length - blen
            if missing > 0:
                # The next frame is not all in the block: read on, keeping its start.
                chunk = f.read(min(max(read_size, missing), size - bbase - blen))
                if len(chunk) < missing:
                    flush((records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
                           req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
                           req_untracked, req_truncated, cur_n, req_primary, budget))
                    res.problem(f"truncated frame: {blen - p + len(chunk)} byte(s) readable where the file "
                                f"size promised more", offset=off)
                    return off
                buf = buf[p:] + chunk
                bbase = off
                blen = len(buf)
                ushift -= p
                upos -= p
                p = 0
                if u is not None:
                    # The unpacker reads on into the new bytes, unless they hold a frame too large
                    # for the streaming path: a new one is made when the next frame needs it.
                    try:
                        if len(chunk) > read_size:
                            raise ValueError
                        u.feed(chunk)
                    except (ValueError, msgpack.UnpackException):  # BufferFull included
                        u = None
                continue
        # The whole frame is in the block: decode it on its own.
        flush((records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
               req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
               req_untracked, req_truncated, cur_n, req_primary, budget))
        e = p + 4 + int.from_bytes(buf[p:p + 4], "big")
        try:
            obj = _decode_whole(buf[p + 4:e])
        except _Corrupt as exc:
            res.problem(f"corrupt frame: {exc}", offset=off)
            return off
        _take_object(state, res, obj, off)
        (records, t_mono_last, t_mono_max, t_wall_max, t_wall_last,
         req_current, req_tracked, req_with_id, req_attributed, req_unattributed,
         req_untracked, req_truncated, cur_n, req_primary, budget) = load()
        p = e


def _summary(state: _State, size: int, understood: int, complete: bool) -> dict[str, Any]:
    nreq = len(state.req_ops)
    dist: dict[str, int] = {}
    if nreq:
        # Requests per op count, in the order each count first appears: the first 32 counts are
        # kept, the rest are added up under "other".
        per_count = Counter(state.req_ops.values())
        for c, n in per_count.items():
            if len(dist) < 32:
                dist[str(c)] = n
            else:
                dist["other"] = dist.get("other", 0) + n
        ops_per_request = {
            "min": min(per_count),
            "max": max(per_count),
            "mean": round(sum(c * n for c, n in per_count.items()) / nreq, 6),
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
        with open_input(str(path)) as f:
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
    except (ValueError, RecursionError, EOFError) as exc:  # bad input; a defect of ours propagates
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

