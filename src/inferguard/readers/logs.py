"""LMCache and engine logs (LMCache MP server, vLLM, SGLang, LMCache inside an engine).

The file is read in binary, 1 MiB at a time into one reusable buffer, and handled as blocks of
whole lines, so memory stays flat whatever the file size. Most lines match a pattern, so the
fast path keeps per-line work in C (regex engine, `map`/`compress` over findall tuples) and
leaves Python loops for the few lines that need them. Per block:

* one `findall` of the pattern set's line regex yields, for every line, the header timestamps
  and level, the message up to the first ESC, the literal message prefix (from the patterns'
  `^literal` prefixes) the message starts with, and whether anything but LMCache's source
  trailer follows the message; levels are counted from it for every line;
* keywords are looked for by their rarest byte (a memchr), each hit checked in place, or by a
  plain substring search when no byte of the keyword is rare in the log;
* one Python pass sorts the literal lines into bulk groups; a group's messages are joined and
  each category's alternation runs once with `findall`; captures are aggregated from the
  tuples. A category that matched every line of its group needs no per-line work at all; else
  only its first and last matching lines are looked for, from either end. Timestamps are only
  looked at for the first and last matching lines of each category and block;
* every other candidate line (keyword plus literal, a level-selected line, a message with ANSI
  escapes inside, patterns that need `per_process`, `exclude` or levels) is matched on its own,
  on the bytes in place or, with ANSI inside the message, as decoded (UTF-8, replacement
  characters) and stripped text; the line is only looked up when a pattern needs its text;
* numbers are converted when a block is settled: int captures by distinct value (they repeat a
  lot), float captures in line order (a float sum depends on it).

What the patterns mean lives in specs/logs/*.yaml (kind LogPatterns); this module only frames
lines, applies patterns and counts. Per category it keeps the count, the first and last line
and timestamp, up to five example lines (ANSI removed, 300 characters at most), the pattern ids
that matched, typed captures (count/sum/min/max for numbers, up to 20 distinct values for
strings, the rest counted as `other`) and, for `per_process` patterns, the values per process id.
Signals: one count per category (zero when nothing matched), `lines`, and `<category>.<value>`
for patterns with `value_signals` (e.g. `connector.LMCacheMPConnector`).

Lines that are not valid UTF-8 and lines longer than 1 MiB are reported as problems with their
line numbers; nothing in the input makes this reader raise.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from itertools import compress, count, repeat
from operator import itemgetter, mul

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, BinaryIO

from inferguard.readers.base import ReadResult, open_input

READER_ID = "lmcache_log"

READ_SIZE = 1 << 20             # bytes per read; a block holds the whole lines of one read
MAX_LINE_BYTES = 1 << 20        # a longer line is skipped and reported
MATCH_CHARS = 64 * 1024         # a longer message is matched on its head only
MAX_EXAMPLES = 5
EXAMPLE_CHARS = 300
MAX_VALUES = 20                 # distinct string values kept per capture; the rest counted as other
VALUE_CHARS = 120
MAX_PROCESSES = 256             # process ids kept per per_process category
LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LIMITS = {
    "read_size_bytes": READ_SIZE,
    "max_line_bytes": MAX_LINE_BYTES,
    "match_chars": MATCH_CHARS,
    "max_examples": MAX_EXAMPLES,
    "example_chars": EXAMPLE_CHARS,
    "max_values": MAX_VALUES,
    "value_chars": VALUE_CHARS,
    "max_processes": MAX_PROCESSES,
}

KW_SAMPLE_BYTES = 16 * 1024     # of the first block, to pick each keyword's rarest byte
_LEVEL_STR = {lv.encode(): lv for lv in LEVEL_NAMES}
_SPACE = b" \t\r"


def _rstrip(buf: bytes, lo: int, hi: int) -> int:
    while hi > lo and buf[hi - 1] in _SPACE:
        hi -= 1
    return hi


# --------------------------------------------------------------------------- keywords

def _anchors(keywords: tuple[bytes, ...], sample: bytes) -> list[tuple[bytes, bytes | None, int]]:
    """(keyword, anchor byte, its offset in the keyword) per keyword: the keyword's byte that is
    rarest in `sample`, or None when even that byte is common (more than one per 512 bytes: a
    plain substring search is then as fast) or the keyword is empty."""
    freq: dict[int, int] = {}
    plan: list[tuple[bytes, bytes | None, int]] = []
    for kw in keywords:
        best: tuple[int, int, int] | None = None
        for off, c in enumerate(kw):
            n = freq.get(c)
            if n is None:
                n = freq[c] = sample.count(bytes((c,)))
            if best is None or n < best[0]:
                best = (n, off, c)
        if best is None or best[0] > len(sample) >> 9:
            plan.append((kw, None, 0))
        else:
            plan.append((kw, bytes((best[2],)), best[1]))
    return plan


def _occurrences(buf: bytes, kw: bytes, anchor: bytes | None, off: int):
    """Start offsets of every occurrence of `kw` in `buf` (overlapping ones too), in order.

    A substring search steps through most bytes of a block one at a time, while a search for
    one byte is a memchr; so the keyword's rarest byte (`anchor`, at `off` in the keyword) is
    searched for and each hit checked with `startswith`. When the anchor turns out to be common
    in this block (more than one miss per 256 bytes), the rest of the block is searched for
    the keyword itself."""
    find = buf.find
    if anchor is not None:
        startswith = buf.startswith
        misses = len(buf) >> 8
        p = find(anchor, off)
        while p >= 0:
            s = p - off
            if startswith(kw, s):
                yield s
            else:
                misses -= 1
                if misses < 0:
                    break
            p = find(anchor, p + 1)
        else:
            return
        i = find(kw, s + 1)
    else:
        i = find(kw)
    while i >= 0:
        yield i
        i = find(kw, i + 1)


# --------------------------------------------------------------------------- patterns

def compiled_patterns(specs: Any = None, notes: list[str] | None = None):
    """The compiled LogPatterns of `specs` (a spec set, compiled patterns, or documents)."""
    from inferguard.spec.kinds import log_patterns as lp

    if isinstance(specs, lp.CompiledLogPatterns):
        return specs
    if specs is None:
        from inferguard.spec import default_specs

        specs = default_specs()
    if hasattr(specs, "compiled"):
        return specs.compiled(lp.COMPILED_KEY, lp.compile)
    return lp.compile(specs)


# --------------------------------------------------------------------------- per-category state

def _ts(raw: bytes | None) -> str | None:
    """A header timestamp as ISO-like text: '2026-05-07T23:01:06.264', or '05-07T23:02:56'
    for vLLM's year-less stamps."""
    if not raw:
        return None
    return raw.decode("ascii", "replace").replace(" ", "T", 1).replace(",", ".")


def _example(line: bytes, ansi: Any) -> str:
    text = line[:EXAMPLE_CHARS * 4].decode("utf-8", "replace")
    if "\x1b" in text:
        text = ansi.sub("", text)
    return text.rstrip("\r")[:EXAMPLE_CHARS]


def _sorted_counts(d: dict[str, int]) -> dict[str, int]:
    return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _convert(value: Any, typ: str) -> Any:
    from inferguard.spec.kinds.log_patterns import convert

    return convert(value, typ)


def _int_stats(raw: list[bytes]) -> tuple[int, int, int, int] | None:
    """(count, sum, min, max) of raw int captures, leaving out values that are not ints.

    Captured ints repeat a lot (token counts, hits, block sizes), so the distinct values are
    counted first (in C) and each is converted once; int sums do not depend on the order."""
    counts = Counter(raw)
    try:
        vals = list(map(int, counts))
        times: Any = counts.values()
    except ValueError:         # e.g. "344,064": the spec's own conversion, value by value
        vals, times = [], []
        for value, k in counts.items():
            try:
                vals.append(_convert(value, "int"))
            except (ValueError, OverflowError):
                continue
            times.append(k)
        if not vals:
            return None
    return sum(times), sum(map(mul, vals, times)), min(vals), max(vals)


class _Category:
    """What one category collected. Per block it notes the first and last matched line (and
    the first and last that carry a timestamp) and example candidates; `settle` folds them in."""

    __slots__ = ("name", "first_line", "last_line", "first_ts", "last_ts", "examples", "patterns",
                 "numbers", "strings", "by_process", "pending", "seq", "b_first", "b_last",
                 "b_first_ts", "b_last_ts", "b_examples", "value_signal_captures")

    def __init__(self, name: str) -> None:
        self.name = name
        self.first_line: int | None = None
        self.last_line: int | None = None
        self.first_ts: bytes | None = None
        self.last_ts: bytes | None = None
        self.examples: list[tuple[int, str]] = []
        self.patterns: dict[str, int] = {}
        self.numbers: dict[str, list] = {}           # name -> [type, count, sum, min, max]
        self.strings: dict[str, list] = {}           # name -> [count, {value: n}, other]
        self.by_process: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, tuple[str, list]] = {}   # raw captures of the current block
        self.value_signal_captures: set[str] = set()
        self.seq = -1                                # last block that touched this category
        self.b_first = self.b_last = -1              # line indexes within the block
        self.b_first_ts: tuple[int, bytes] | None = None
        self.b_last_ts: tuple[int, bytes] | None = None
        self.b_examples: list[int] = []              # line indexes within the block

    @property
    def count(self) -> int:
        return sum(self.patterns.values())

    def touch(self, state: "_State") -> None:
        self.seq = state.seq
        self.b_first = self.b_last = -1
        self.b_first_ts = self.b_last_ts = None
        self.b_examples = []
        state.touched.append(self)

    def seen(self, idx: int, ts: bytes | None) -> None:
        if self.b_first < 0 or idx < self.b_first:
            self.b_first = idx
        if idx > self.b_last:
            self.b_last = idx
        if ts:
            if self.b_first_ts is None or idx < self.b_first_ts[0]:
                self.b_first_ts = (idx, ts)
            if self.b_last_ts is None or idx > self.b_last_ts[0]:
                self.b_last_ts = (idx, ts)

    def add_string(self, name: str, value: str, n: int = 1) -> None:
        if len(value) > VALUE_CHARS:
            value = value[:VALUE_CHARS]
        agg = self.strings.get(name)
        if agg is None:
            agg = self.strings[name] = [0, {}, 0]
        agg[0] += n
        values = agg[1]
        if value in values:
            values[value] += n
        elif len(values) < MAX_VALUES:
            values[value] = n
        else:
            agg[2] += n

    def settle(self, base: int, ansi: Any, line_of: Any) -> None:
        """Fold the current block into the totals; `base` is the line count before the block and
        `line_of(idx)` gives the bytes of a line of the block."""
        if self.first_line is None:
            self.first_line = base + self.b_first + 1
        self.last_line = base + self.b_last + 1
        if self.first_ts is None and self.b_first_ts is not None:
            self.first_ts = self.b_first_ts[1]
        if self.b_last_ts is not None:
            self.last_ts = self.b_last_ts[1]
        room = MAX_EXAMPLES - len(self.examples)
        if room > 0 and self.b_examples:
            for idx in sorted(set(self.b_examples))[:room]:
                self.examples.append((base + idx + 1, _example(line_of(idx), ansi)))
        self.b_examples = []
        for name, (typ, raw) in self.pending.items():
            if not raw:
                continue
            if typ == "str":
                for value, n in Counter(raw).items():
                    self.add_string(name, _text(value), n)
                raw.clear()
                continue
            if typ == "int":
                stats = _int_stats(raw)
                raw.clear()
                if stats is None:
                    continue
                n, total, lo, hi = stats
            else:
                try:
                    nums = list(map(float, raw))
                except ValueError:
                    nums = []
                    for v in raw:
                        try:
                            nums.append(_convert(v, typ))
                        except (ValueError, OverflowError):
                            continue
                raw.clear()
                total = sum(nums)                   # in line order, as float sums depend on it
                if not math.isfinite(total):
                    nums = [x for x in nums if math.isfinite(x)]
                    total = sum(nums)
                if not nums:
                    continue
                n, lo, hi = len(nums), min(nums), max(nums)
            agg = self.numbers.get(name)
            if agg is None:
                self.numbers[name] = [typ, n, total, lo, hi]
            else:
                agg[1] += n
                agg[2] += total
                if lo < agg[3]:
                    agg[3] = lo
                if hi > agg[4]:
                    agg[4] = hi

    def to_json(self) -> dict[str, Any]:
        captures: dict[str, Any] = {}
        for name, (typ, n, total, lo, hi) in sorted(self.numbers.items()):
            if typ == "float":
                total = round(total, 6)
            captures[name] = {"type": typ, "count": n, "sum": total, "min": lo, "max": hi}
        for name, (n, values, other) in sorted(self.strings.items()):
            captures[name] = {"type": "str", "count": n, "values": _sorted_counts(values), "other": other}
        out: dict[str, Any] = {
            "count": self.count,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "first_ts": _ts(self.first_ts),
            "last_ts": _ts(self.last_ts),
            "patterns": _sorted_counts(self.patterns),
            "examples": [{"line": line, "text": text} for line, text in self.examples],
            "captures": captures,
        }
        if self.by_process:
            out["by_process"] = {
                pid: {"process": info["process"], "count": info["count"],
                      "values": {k: _sorted_counts(v) for k, v in sorted(info["values"].items())}}
                for pid, info in sorted(self.by_process.items())
            }
        return out


class _State:
    def __init__(self, pset: Any, result: ReadResult) -> None:
        from inferguard.spec.kinds import log_patterns as lp

        self.lp = lp
        self.pset = pset
        self.result = result
        self.lines = 0
        self.bytes = 0
        self.matched = 0
        self.undecodable = 0
        self.overlong = 0
        self.levels: Counter = Counter()
        self.cats: dict[str, _Category] = {name: _Category(name) for name in pset.categories}
        for p in pset.patterns:
            if p.value_signals:
                self.cats[p.category].value_signal_captures.add(p.value_signals)
        # per pattern: category state, capture names, and the raw-capture lists they feed
        self.plan: dict[str, tuple[_Category, tuple[str, ...], tuple[list, ...]]] = {}
        for p in pset.patterns:
            cat = self.cats[p.category]
            slots = []
            for name, typ in p.captures.items():
                slot = cat.pending.get(name)
                if slot is None:
                    slot = cat.pending[name] = (typ, [])
                slots.append(slot[1])
            self.plan[p.id] = (cat, tuple(p.captures), tuple(slots))
        gi = pset.line_index
        self.g = (gi["lts"], gi["lvt"], gi["lvo"], gi["vts"], gi["sts"], gi["msg"], gi["lit"], gi["esc"])
        self.ts_index = (gi["lts"], gi["vts"], gi["sts"])
        # column getters: map() over a block's tuples with these runs in C
        self._lvo, self._lvt, self._lit, self._msg = (itemgetter(gi[k]) for k in ("lvo", "lvt", "lit", "msg"))
        self._stamps = itemgetter(gi["lts"], gi["vts"], gi["sts"])
        self._pid_proc = itemgetter(gi["pid"], gi["proc"]) if "pid" in gi else None
        self._kw_plan: list[tuple[bytes, bytes | None, int]] | None = None
        self._group_plans: dict[int, tuple[_Category, list]] = {}
        self._buf = b""
        self._split: list[bytes] | None = None
        self.seq = 0
        self.touched: list[_Category] = []
        self.no_final_newline = False

    # ---- blocks ---------------------------------------------------------------------

    def block(self, buf: bytes) -> None:
        """A newline followed by whole lines, the last one ending in a newline.

        Column work (levels, candidate and level-selected lines) runs in C over the findall
        tuples; the one Python loop over lines sorts the literal lines into bulk groups (by
        literal, in order of first appearance) and the rest into the one-by-one set."""
        base = self.lines
        if not buf.isascii():
            self._check_utf8(buf, base)
        buf = self.lp.unwrap(buf)       # container / shipper prefixes, tqdm frames (same line count)
        pset = self.pset
        L_LTS, L_LVT, L_LVO, L_VTS, L_STS, L_MSG, L_LIT, L_ESC = self.g
        res = pset.lines.findall(buf)
        res.pop()                               # the empty match after the final newline
        n = len(res)                            # every newline but the last starts one line
        self.lines = base + n
        levels = self.levels
        levels.update(map(self._lvo, res))
        cand = list(compress(range(n), map(self._lit, res)))
        triggered = list(compress(range(n), map(self._lvt, res)))
        for i in triggered:
            levels[res[i][L_LVT]] += 1
        kwlines = self._keyword_lines(buf) if pset.keywords else {}
        if not cand and not triggered and not kwlines:
            return
        self.seq += 1
        # the bulk groups of the literals and keywords this block shows (built once each)
        pset.prepare(set(map(self._lit, res)), {kws[0] for kws in kwlines.values() if len(kws) == 1})
        bulk, bulk_kw = pset.bulk, pset.bulk_kw
        self._buf, self._split = buf, None
        slow: set[int] = set(triggered)
        slow.update(kwlines)
        # lines of a bulk literal whose message runs to the end of the line or to LMCache's
        # trailer (empty `esc`) go to their literal's group; other literal lines are matched alone
        groups: dict[bytes, list[int]] = {}
        get = groups.get
        for i in cand:
            t = res[i]
            lit = t[L_LIT]
            if lit in bulk and not t[L_ESC] and len(t[L_MSG]) <= MATCH_CHARS and i not in slow:
                got = get(lit)
                if got is None:
                    groups[lit] = [i]
                else:
                    got.append(i)
            else:
                slow.add(i)
        kwgroups: dict[bytes, list[int]] = {}
        if bulk_kw:
            # lines found by one bulk keyword only, with the whole message before any ESC
            for i, kws in kwlines.items():
                t = res[i]
                if (len(kws) != 1 or kws[0] not in bulk_kw or t[L_LIT] or t[L_LVT] or t[L_ESC]
                        or len(t[L_MSG]) > MATCH_CHARS):
                    continue
                slow.discard(i)
                got = kwgroups.get(kws[0])
                if got is None:
                    kwgroups[kws[0]] = [i]
                else:
                    got.append(i)
        for lit, idxs in groups.items():
            self._bulk(bulk[lit], idxs, res)
        for kw, idxs in kwgroups.items():
            self._bulk(bulk_kw[kw], idxs, res)
        for i in sorted(slow):
            self._line(res[i], kwlines.get(i), i)
        touched, self.touched = self.touched, []
        ansi = self.lp.ANSI
        for cat in touched:
            cat.settle(base, ansi, self._line_bytes)
        self._buf, self._split = b"", None

    def _line_bytes(self, idx: int) -> bytes:
        """Line `idx` of the current block (the block is split once, only when a line is needed)."""
        if self._split is None:
            self._split = self._buf.split(b"\n")
        return self._split[idx + 1]

    def _keyword_lines(self, buf: bytes) -> dict[int, list[bytes]]:
        """Line index (within the block) -> keywords found anywhere in that line (keyword order)."""
        plan = self._kw_plan
        if plan is None:
            plan = self._kw_plan = _anchors(self.pset.keywords, buf[:KW_SAMPLE_BYTES])
        out: dict[int, list[bytes]] = {}
        count, get = buf.count, out.get
        for kw, anchor, off in plan:
            prev, idx = 0, -1                 # the block starts with a newline: line 0 follows it
            for i in _occurrences(buf, kw, anchor, off):
                idx += count(b"\n", prev, i)
                prev = i
                got = get(idx)
                if got is None:
                    out[idx] = [kw]
                elif got[-1] is not kw:
                    got.append(kw)
        return out

    def _group_plan(self, g: Any) -> tuple[_Category, list]:
        """For a bulk group: its category and, per pattern, its id, a getter telling which findall
        tuples it matched (None when it is the group's only pattern) and (raw list, getter) per capture."""
        plan = self._group_plans.get(id(g))
        if plan is None:
            cat = self.plan[g.alts[0][0].id][0]
            alts = [(p.id, None if wrapper is None else itemgetter(wrapper),
                     [(cat.pending[name][1], itemgetter(ti)) for name, _typ, ti in caps],
                     # per_process patterns: the pattern, its str capture names and one getter for them
                     (p, *_str_getter(caps)) if p.per_process else None)
                    for p, wrapper, caps in g.alts]
            plan = self._group_plans[id(g)] = (cat, alts)
        return plan

    def _bulk(self, groups: list[Any], idxs: list[int], res: list[tuple]) -> None:
        """Lines of one literal (or keyword) whose patterns run in bulk: one findall per category.

        A bulk regex matches at most once per line, so when a category matched as many times as
        there are lines, every line matched: the first and last lines and the examples follow
        from `idxs` without matching lines one by one. Otherwise the first and last matching
        lines are found with `match` from either end."""
        msgs = list(map(bytes.rstrip, map(self._msg, map(res.__getitem__, idxs))))
        joined = b"\n".join(msgs)
        k = len(msgs)
        tsi = self.ts_index
        stamped: list[int] | None = None       # positions in idxs of lines with a timestamp
        matched_by: list[int] = []
        every_line = False
        for g in groups:
            found = g.regex.findall(joined)
            if not found:
                continue
            matched_by.append(len(found))
            cat, alts = self._group_plan(g)
            if cat.seq != self.seq:
                cat.touch(self)
            pats = cat.patterns
            matched_idx: list[int] | None = None
            for pid, wrapper, caps, per_proc in alts:
                rows = found if wrapper is None else list(compress(found, map(wrapper, found)))
                if not rows:
                    continue
                pats[pid] = pats.get(pid, 0) + len(rows)
                for raw, get in caps:
                    raw.extend(filter(None, map(get, rows)))
                if per_proc is not None and self._pid_proc is not None:
                    if matched_idx is None:     # line of each findall tuple (one match per line)
                        matched_idx = idxs if len(found) == k else [i for i, m in zip(idxs, msgs) if g.regex.match(m)]
                    lines = matched_idx if wrapper is None else list(compress(matched_idx, map(wrapper, found)))
                    # counted in C by (process, values); recorded once per distinct key
                    p, names, vget = per_proc
                    keys = Counter(zip(map(self._pid_proc, map(res.__getitem__, lines)),
                                       map(vget, rows) if vget is not None else repeat(())))
                    for ((ppid, proc), vals), n in keys.items():
                        if len(names) == 1:
                            vals = (vals,)
                        self._record_process(cat, p, dict(zip(names, vals)), ppid, proc, n)
            # first / last matched lines, their timestamps, examples
            if len(found) == k:
                every_line = True
                match = None
                j, last = 0, k - 1
            else:
                match = g.regex.match
                j = 0
                while j < k and match(msgs[j]) is None:
                    j += 1
                last = k - 1
                while last > j and match(msgs[last]) is None:
                    last -= 1
            first_i, last_i = idxs[j], idxs[last]
            cat.seen(first_i, _ts_of(res[first_i], tsi))
            cat.seen(last_i, _ts_of(res[last_i], tsi))
            # the first and last matched lines that carry a timestamp, when those two do not
            if cat.b_first_ts is None or cat.b_first_ts[0] > first_i:
                if stamped is None:
                    stamped = self._stamped(res, idxs)
                jj = _pick(stamped, j, last, match, msgs, False)
                if jj is not None:
                    cat.seen(idxs[jj], _ts_of(res[idxs[jj]], tsi))
            if cat.b_last_ts is None or cat.b_last_ts[0] < last_i:
                if stamped is None:
                    stamped = self._stamped(res, idxs)
                jj = _pick(stamped, j, last, match, msgs, True)
                if jj is not None:
                    cat.seen(idxs[jj], _ts_of(res[idxs[jj]], tsi))
            room = MAX_EXAMPLES - len(cat.examples)
            if room > 0:
                if match is None:
                    cat.b_examples.extend(idxs[:room])
                else:
                    jj = j
                    while jj <= last and room > 0:
                        if match(msgs[jj]) is not None:
                            cat.b_examples.append(idxs[jj])
                            room -= 1
                        jj += 1
        if not matched_by:
            return
        if len(matched_by) == 1:
            self.matched += matched_by[0]
        elif every_line:
            self.matched += k
        else:   # several categories matched: count each line once
            matchers = [g.regex.match for g in groups]
            self.matched += sum(1 for m in msgs if any(f(m) is not None for f in matchers))

    def _stamped(self, res: list[tuple], idxs: list[int]) -> list[int]:
        """Positions in `idxs` of the lines that carry a header timestamp (found in C)."""
        return list(compress(count(), map(any, map(self._stamps, map(res.__getitem__, idxs)))))

    # ---- one line at a time (keywords, levels, messages with ANSI inside, complex patterns)

    def _line(self, t: tuple, kws: list[bytes] | None, idx: int) -> None:
        """Match one line against its candidate patterns.

        The line's bytes are looked up, and parsed again with the header regex, only when a
        candidate has a regex, an `exclude` or `per_process`, or when the header carries no
        timestamp (a pre-0.2 LMCache line has it in the trailer); a level-only pattern on a
        stamped line needs just the fields of `t`."""
        L_LTS, L_LVT, L_LVO, L_VTS, L_STS, L_MSG, L_LIT, L_ESC = self.g
        lp = self.lp
        lvb = t[L_LVT] or t[L_LVO]
        level = _LEVEL_STR.get(lvb) if lvb else None
        cands = self.pset.candidates(t[L_LIT] or None, kws, level)
        if not cands:
            return
        line: bytes | None = None
        ms = stop = 0
        pid = proc = b""
        lts = t[L_LTS]
        ts_raw = lts or t[L_VTS] or t[L_STS]
        if not ts_raw or any(p.regex is not None or p.exclude is not None or p.per_process for p in cands):
            line = self._line_bytes(idx)
            end = len(line)
            hm = self.pset.header.match(line)
            ms = hm.start("ms")
            pid, proc = hm.group("pid") or b"", hm.group("proc") or b""
            stop = end if end - ms <= MATCH_CHARS else ms + MATCH_CHARS
            if lts:
                j = line.rfind(b" \x1b[3m(", ms, stop)
                if j >= 0:
                    stop = j
                else:
                    j = line.rfind(b" (", ms, stop)
                    if j >= 0 and lp.TRAILER_B.match(line, j, stop):
                        stop = j
            elif hm.group("old"):
                m = lp.OLD_TRAILER_B.search(line, ms, stop)
                if m:
                    stop = m.start()
                    ts_raw = ts_raw or m.group("ts")
            stop = _rstrip(line, ms, stop)
        msg: str | None = None
        if line is not None and line.find(b"\x1b", ms, stop) >= 0:
            msg = lp.ANSI.sub("", line[ms:stop].decode("utf-8", "replace")).rstrip()
        done: set[str] | None = None
        for p in cands:
            if done is not None and p.category in done:
                continue
            if p.levels is not None and level not in p.levels:
                continue
            mm = None
            if msg is None and p.bregex is not None:
                mm = p.bregex.match(line, ms, stop) if p.anchored else p.bregex.search(line, ms, stop)
                if mm is None:
                    continue
                bx = p.bexclude
                if bx is not None and (bx.match(line, ms, stop) if p.bexclude_anchored else bx.search(line, ms, stop)):
                    continue
            elif p.regex is not None or p.exclude is not None:
                if msg is None:
                    msg = line[ms:stop].decode("utf-8", "replace").rstrip()
                if p.regex is not None:
                    mm = p.regex.search(msg)
                    if mm is None:
                        continue
                if p.exclude is not None and p.exclude.search(msg):
                    continue
            if done is None:
                done = {p.category}
            else:
                done.add(p.category)
            cat, names, slots = self.plan[p.id]
            if cat.seq != self.seq:
                cat.touch(self)
            pats = cat.patterns
            pats[p.id] = pats.get(p.id, 0) + 1
            cat.seen(idx, ts_raw)
            if len(cat.examples) < MAX_EXAMPLES:
                cat.b_examples.append(idx)
            if names and mm is not None:
                for slot, val in zip(slots, mm.group(*names) if len(names) > 1 else (mm.group(names[0]),)):
                    if val:
                        slot.append(val)
            if p.per_process:
                self._per_process(cat, p, mm, pid, proc)
        if done is not None:
            self.matched += 1

    @classmethod
    def _per_process(cls, cat: _Category, p: Any, mm: Any, pid: bytes, proc: bytes) -> None:
        values = {name: mm.group(name) for name, typ in p.captures.items() if typ == "str"} if mm is not None else {}
        cls._record_process(cat, p, values, pid, proc)

    @staticmethod
    def _record_process(cat: _Category, p: Any, values: dict[str, Any], pid: bytes, proc: bytes, n: int = 1) -> None:
        recorded = {name: val[:VALUE_CHARS] for name, val in p.constants.items()}
        for name, val in values.items():
            if val:
                recorded[name] = _text(val)[:VALUE_CHARS]
        if not recorded:
            return
        key = pid.decode("ascii") if pid else "unknown"
        info = cat.by_process.get(key)
        if info is None:
            if len(cat.by_process) >= MAX_PROCESSES:
                return
            info = cat.by_process[key] = {"process": proc.decode("utf-8", "replace").strip() if proc else None,
                                          "count": 0, "values": {}}
        info["count"] += n
        for name, val in recorded.items():
            vals = info["values"].setdefault(name, {})
            if val in vals or len(vals) < MAX_VALUES:
                vals[val] = vals.get(val, 0) + n

    def _check_utf8(self, buf: bytes, base: int) -> None:
        try:
            buf.decode("utf-8")
            return
        except UnicodeDecodeError:
            pass
        for idx, line in enumerate(buf.split(b"\n")[1:-1]):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.undecodable += 1
                self.result.problem(
                    f"line is not valid UTF-8 (byte {exc.start} of the line); decoded with replacement characters",
                    line=base + idx + 1,
                )

    def overlong_line(self, lineno: int, seen: int) -> None:
        self.overlong += 1
        self.result.problem(f"line longer than {MAX_LINE_BYTES} bytes ({seen}+ bytes); skipped", line=lineno)

    # ---- result -----------------------------------------------------------------------

    def finish(self, runtime_hint: str | None, notes: list[str]) -> None:
        r = self.result
        if self.no_final_newline:
            r.problem("no newline at the end of the file; the last line may be truncated", line=self.lines)
        for note in notes:
            r.problem(note)
        levels = {lv: 0 for lv in LEVEL_NAMES}
        for k, v in self.levels.items():
            name = _LEVEL_STR.get(k)
            if name:
                levels[name] += v
        constants = {p.id: p.constants for p in self.pset.patterns if p.constants}
        for cat in self.cats.values():
            for pid, n in cat.patterns.items():
                for name, val in constants.get(pid, {}).items():
                    cat.add_string(name, val, n)
        r.records = self.lines
        r.summary = {
            "runtime_hint": runtime_hint,
            "runtimes": list(self.pset.runtimes),
            "patterns": len(self.pset.patterns),
            "lines": self.lines,
            "bytes": self.bytes,
            "matched_lines": self.matched,
            "undecodable_lines": self.undecodable,
            "overlong_lines": self.overlong,
            "levels": levels,
            "categories": {name: cat.to_json() for name, cat in self.cats.items() if cat.patterns},
            "limits": dict(LIMITS),
        }
        for name, cat in self.cats.items():
            r.signals[name] = cat.count
            for cap in sorted(cat.value_signal_captures):
                agg = cat.strings.get(cap)
                for value, n in (agg[1].items() if agg else ()):
                    key = f"{name}.{value}"
                    r.signals[key] = r.signals.get(key, 0) + n
        r.signals["lines"] = self.lines


def _str_getter(caps: list[tuple[str, str, int]]) -> tuple[list[str], Any]:
    """(names, getter) for the str captures of a bulk pattern: the getter returns the value
    itself for one capture, a tuple for several, and is None for none."""
    str_caps = [(name, ti) for name, typ, ti in caps if typ == "str"]
    names = [name for name, _ti in str_caps]
    return names, (itemgetter(*[ti for _n, ti in str_caps]) if str_caps else None)


def _ts_of(t: tuple, ts_index: tuple[int, int, int]) -> bytes | None:
    """The header timestamp of a findall tuple (LMCache, vLLM or SGLang form), or None."""
    a, b, c = ts_index
    return t[a] or t[b] or t[c] or None


def _pick(stamped: list[int], j: int, last: int, match: Any, msgs: list[bytes], backwards: bool) -> int | None:
    """The first (or, `backwards`, the last) of the sorted positions `stamped` within j..last
    whose message `match`es (every message does when `match` is None), or None.

    `stamped` is computed in C once per bulk group (`any` over each line's timestamp groups),
    so a group whose lines carry no timestamp (uvicorn's) costs one pass, not a step per line."""
    span = range(bisect_left(stamped, j), bisect_right(stamped, last))
    for q in (reversed(span) if backwards else span):
        jj = stamped[q]
        if match is None or match(msgs[jj]) is not None:
            return jj
    return None


# --------------------------------------------------------------------------- streaming

def _stream(fh: BinaryIO, st: _State) -> None:
    """Feed `st` blocks of whole lines, each buffer starting with a newline.

    Reads go into one reusable buffer (`readinto`), so the only copy per read is the block
    itself; the reads are READ_SIZE bytes each, as `read(READ_SIZE)` would return them."""
    data = bytearray(READ_SIZE)
    view = memoryview(data)
    tail = b""              # the incomplete last line of the previous read
    skipping = False        # inside an overlong line: discard up to its newline
    while True:
        n = fh.readinto(data)
        if not n:
            break
        st.bytes += n
        lo = 0              # where this read's unread part starts
        if skipping:
            i = data.find(b"\n", 0, n)
            if i < 0:
                continue
            st.lines += 1
            skipping = False
            lo = i + 1
            if lo == n:
                continue
        first = data.find(b"\n", lo, n)
        if first < 0:
            tail += view[lo:n]
            if len(tail) > MAX_LINE_BYTES:
                st.overlong_line(st.lines + 1, len(tail))
                skipping, tail = True, b""
            continue
        start = lo
        if len(tail) + first - lo > MAX_LINE_BYTES:   # only a line carried over from earlier reads can be this long
            st.overlong_line(st.lines + 1, len(tail) + first - lo)
            st.lines += 1
            tail, start = b"", first + 1
        cut = data.rfind(b"\n", lo, n)
        if cut < start:
            tail = bytes(view[start:n])
            continue
        buf = b"".join((b"\n", tail, view[start:cut + 1]))
        tail = bytes(view[cut + 1:n])
        st.block(buf)
    view.release()
    if not skipping and tail:
        st.no_final_newline = True
        st.block(b"\n" + tail + b"\n")
    elif skipping:
        st.lines += 1


def read(path: str, *, specs: Any = None, runtime_hint: str | None = None) -> ReadResult:
    """Read one log file. Never raises on bad input: what could not be used becomes a problem."""
    result = ReadResult(READER_ID, str(path))
    notes: list[str] = []
    from inferguard.spec.loader import SpecError

    try:
        pset = compiled_patterns(specs, notes).select(runtime_hint)
    except SpecError as exc:  # a spec set that does not load is reported; our own bugs propagate
        result.problem(f"log patterns unavailable; the file was not read: {str(exc)[:200]}")
        result.summary = {
            "runtime_hint": runtime_hint, "runtimes": [], "patterns": 0, "lines": 0, "bytes": 0,
            "matched_lines": 0, "undecodable_lines": 0, "overlong_lines": 0,
            "levels": {lv: 0 for lv in LEVEL_NAMES}, "categories": {}, "limits": dict(LIMITS),
        }
        result.signals["lines"] = 0
        return result
    st = _State(pset, result)
    try:
        with open_input(str(path)) as fh:
            _stream(fh, st)
    except OSError as exc:
        result.problem(f"cannot read: {exc.strerror or exc}")
    st.finish(runtime_hint, notes)
    return result
