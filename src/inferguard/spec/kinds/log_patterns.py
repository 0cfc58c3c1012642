"""LogPatterns: semantic checks and the compiled pattern set the log reader runs.

`validate(doc, path)` runs after the JSON Schema check and reports what a schema cannot
express: regexes (and `exclude` regexes) that do not compile, inline global flags, declared
captures that are not named groups of the regex (and named groups that are not declared),
`value_signals` naming no capture, a capture typed differently by two patterns of one category,
duplicate pattern ids, ids outside the document's runtime namespace, patterns that cannot be
pre-filtered, and `examples` that the regex does not match (or whose captures are not of their
declared type).

`compile(specs)` builds a `CompiledLogPatterns`: every pattern with its regex compiled (as text,
and as bytes for matching in place), its capture types and its pre-filter (a literal message
prefix, keywords, or levels). `select()` narrows it to the runtimes a log can hold and builds,
once per selection, the line regex the reader runs over whole blocks of a log and the bulk
groups (per literal or keyword, per category: one alternation that `findall` can run over many
joined messages at once).

How a line is framed (the header forms the reader recognises before it applies a pattern) is
defined here too, because the line regex is built from the same grammar:

* LMCache (`lmcache/logging.py`): `[2026-05-07 23:01:06,264] LMCache INFO: msg (file.py:12:logger)`,
  with ANSI colour codes around the header and the source trailer;
* LMCache before 0.2: `INFO LMCache: msg [2024-10-01 12:00:00,000] -- path.py:12`;
* vLLM: `INFO 05-07 23:02:56 [api_server.py:602] msg` (0.10+) or `INFO 05-07 23:02:56 file.py:602] msg`
  (<=0.6), optionally behind a process prefix `(EngineCore pid=84) `;
* uvicorn (vLLM, SGLang and the LMCache HTTP frontend): `INFO:     msg`;
* SGLang: `[2025-01-01 12:00:00 DP0 TP0] msg` (no level).

Before that, what a deployment wraps around a line is taken off (`unwrap`, once per block of
lines, only when the block shows a wrapper): an RFC 3339 timestamp that `docker logs -t` and
`kubectl logs --timestamps` put first (with the CRI `stdout F ` stream tag of files under
/var/log/pods), an outer `[2025-03-10T15:07:20Z] ` or `2025-05-30 09:53:45.386 | ` from a
log shipper or CI (and a `2024-04-27 10:13:05 | ERROR | stderr | ` logger prefix), and tqdm
progress frames that share the line through carriage returns (the text after the last
carriage return counts, less a progress bar glued before it).
"""
from __future__ import annotations

import re
from functools import cached_property

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Iterable

from inferguard.core.problems import Problem
from inferguard.core import recache
from inferguard.core.record import Record

KIND = "LogPatterns"
COMPILED_KEY = "log_patterns"

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CAPTURE_TYPES = ("int", "float", "str")
RESERVED_SIGNALS = frozenset({"lines"})
MIN_LITERAL = 3          # a literal message prefix shorter than this does not pre-filter

_INLINE_FLAGS = recache.compile(r"\(\?[aiLmsux]+\)")
_NAMED_GROUP = recache.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
_META = set(".^$*+?{}[]|()")


# --------------------------------------------------------------------------- line framing

def _opt(x: bytes) -> bytes:
    """`x` or nothing. Written as the alternation `(?:x|)` rather than `(?:x)?`: both try `x`
    first and fall back to the empty match, but `re` runs an optional group through its generic
    repeat machinery on every line, and a two-way branch is markedly cheaper (the line regex
    below runs once per log line)."""
    return b"(?:" + x + b"|)"


def _all_bytes_but(chars: bytes) -> bytes:
    """A class of every byte except `chars`, written as ranges: `[^\\n\\x1b]` and this class
    match the same bytes, but `re` tests a class of three or more ranges with one bitmap lookup
    and a negated class of two bytes by comparing against each; the line regex scans every
    message byte with such a class."""
    out, lo = [], 0
    for c in sorted(set(chars)):
        if c > lo:
            out.append(b"\\x%02x-\\x%02x" % (lo, c - 1))
        lo = c + 1
    if lo <= 0xFF:
        out.append(b"\\x%02x-\\xff" % lo)
    return b"[" + b"".join(out) + b"]"


_LV = b"DEBUG|INFO|WARNING|ERROR|CRITICAL"
_MSG_BYTE = _all_bytes_but(b"\n\x1b")     # [^\n\x1b]
_A = rb"(?:\x1b\[[0-9;]*+m)*+"                       # ANSI SGR codes, possessive
# `(Name pid=N) ` / `(VllmWorker rank=0 pid=N) `: words before `pid=` (the name keeps a trailing space)
# (vLLM colours the prefix on a terminal: the reset code sits between `)` and the space)
_PROC = _opt(rb"\((?P<proc>(?:[^ ()\n]++ ){0,8}?)pid=(?P<pid>\d+)\)" + _A + rb" ")

# Header groups: `pid` and `proc` of a `(Name pid=N) ` prefix, the LMCache / vLLM / SGLang
# timestamps (`lts`, `vts`, `sts`), the level split in two groups (`lvt`: a level some
# level-only pattern selects; `lvo`: any other) and the old-LMCache marker `old`.


def _level(trigger: Iterable[str]) -> bytes:
    trig = [lv for lv in LEVELS if lv in set(trigger)]
    rest = [lv for lv in LEVELS if lv not in trig]
    t = b"(?P<lvt>" + ("|".join(trig).encode() if trig else b"(?!)") + b")"
    o = b"(?P<lvo>" + ("|".join(rest).encode() if rest else b"(?!)") + b")"
    return b"(?:" + t + b"|" + o + b")"


def _header(trigger: Iterable[str] = ()) -> bytes:
    """The header forms as one atomic, optional group.

    LMCache, vLLM, uvicorn and pre-0.2 LMCache headers share one level token (after an
    optional `[timestamp] LMCache ` for the LMCache form); SGLang's has no level."""
    return (
        b"(?>" + _opt(
            _opt(rb"\[(?P<lts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d" + _opt(rb",\d{1,6}") + rb")\] LMCache ")
            + _level(trigger) + _A
            + rb"(?(lts):" + _A + rb" |(?:"
            + rb" (?P<vts>\d\d-\d\d \d\d:\d\d:\d\d)" + _opt(rb"\.\d{1,6}") + rb" (?:\[" + _all_bytes_but(b"]\n") + rb"{1,160}\] |[^\s\]]{1,160}\] )"
            + rb"|:[ \t]+"
            + rb"|(?P<old> LMCache: )))"
            + rb"|\[(?P<sts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d" + _opt(rb"[.,]\d{1,6}") + rb")(?: [A-Z]{2,4}\d+){0,6}\] "
            + rb"(?!LMCache (?:" + _LV + b"):)"
        ) + b")"
    )


def header_regex(trigger: Iterable[str] = ()) -> bytes:
    """Header grammar of one line (bytes, ANSI in place); group `ms` marks where the message starts."""
    return _A + _PROC + _A + _header(trigger) + _A + b"(?P<ms>)"


# Wrappers added around a whole line by container runtimes, log shippers and CI (see module doc).
_TS = rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
WRAPPER_B = recache.compile(
    rb"(?m)^(?:"
    + rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)(?: std(?:out|err) [FP])? "   # docker -t, kubectl, CRI
    + rb"|\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?\] "                   # [RFC 3339] shipper / CI
    + rb"|" + _TS + rb" \| (?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) \| [^|\n]{1,40} \| )?"                     # ts | [LEVEL | logger | ]
    + rb")+"
)
WRAPPER_PROBE_BYTES = 16 * 1024
# One tqdm frame glued before the text that follows it: `desc: 42%|####  | 5/12 [00:01<00:02, 3.1it/s]`
# or vLLM's `desc:  42% Completed | 5/12 [00:01<00:02,  3.1it/s]`.
TQDM_FRAME_B = recache.compile(rb"^[^\r\n]{0,200}?\d{1,3}%(?:\|[^|\r\n]{0,400}\|| Completed \|) *\d+/\d+ \[[^\]\r\n]{0,80}\]")


# A tqdm frame glued straight before a log header, its carriage return lost (a log pasted into
# an issue or through a collector that strips `\r`): `...| 34/10000 [00:29<3:36:54, ...]INFO 06-16 ...`.
TQDM_GLUED_B = re.compile(rb"(?m)^[^\r\n]{0,200}?\d{1,3}%(?:\|[^|\r\n]{0,400}\|| Completed \|) *\d+/\d+ "
                          rb"\[[^\]\r\n]{0,240}\](?=(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) )")


def _after_carriage_return(line: bytes) -> bytes:
    """A line that tqdm shared through carriage returns: the text after the last one."""
    body = line.rstrip(b"\r")
    cut = body.rfind(b"\r")
    if cut < 0:
        return line
    tail = body[cut + 1:]
    m = TQDM_FRAME_B.match(tail)
    return tail[m.end():] if m else tail


def unwrap(buf: bytes) -> bytes:
    """`buf` (a newline, then whole lines) with line wrappers and tqdm frames taken off.

    Only newlines are kept in place, so line numbers do not move. A block without a carriage
    return inside a line, without a tqdm bar (`%|`), and without a wrapper in its first
    WRAPPER_PROBE_BYTES, is returned as it is (three `find`s and one bounded `search`). A tqdm
    frame glued before a log header with its carriage return lost is taken off too."""
    if WRAPPER_B.search(buf, 0, WRAPPER_PROBE_BYTES):
        buf = WRAPPER_B.sub(b"", buf)
    if buf.find(b"%|") >= 0 or buf.find(b"% Completed |") >= 0:
        buf = TQDM_GLUED_B.sub(b"", buf)
    i = buf.find(b"\r")
    if i < 0:
        return buf
    parts: list[bytes] = []
    pos = 0
    while i >= 0:
        start = buf.rfind(b"\n", 0, i) + 1
        end = buf.find(b"\n", i)
        if end < 0:
            end = len(buf)
        line = buf[start:end]
        fixed = _after_carriage_return(line)
        if fixed is not line:
            parts.append(buf[pos:start])
            parts.append(fixed)
            pos = end
        i = buf.find(b"\r", end)
    if not parts:
        return buf
    parts.append(buf[pos:])
    out = b"".join(parts)
    # a tqdm frame may also open a wrapped line's text: unwrap what the frames hid
    return WRAPPER_B.sub(b"", out) if WRAPPER_B.search(out, 0, WRAPPER_PROBE_BYTES) else out


# LMCache source trailer ` (file.py:123:logger.name)` when it carries no ANSI codes, and the
# pre-0.2 trailer ` [2024-10-01 12:00:00,000] -- path.py:12`.
TRAILER_B = recache.compile(rb"\s*\([^\s():]+:\d+:[\w.<>-]+\)\s*$")
OLD_TRAILER_B = recache.compile(rb"\s*\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d+)?)\] -- (?P<src>\S+:\d+)\s*$")
ANSI = recache.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


# --------------------------------------------------------------------------- regex helpers

def _top_level_alternation(rx: str) -> bool:
    depth, i, n, in_class = 0, 0, len(rx), False
    while i < n:
        c = rx[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if i < n and rx[i] == "^":
                i += 1
            if i < n and rx[i] == "]":
                i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def literal_prefix(rx: str) -> str:
    """The literal text a regex requires right after a leading '^' ('' when none)."""
    if not rx.startswith("^") or _top_level_alternation(rx):
        return ""
    out: list[str] = []
    i, n = 1, len(rx)
    while i < n:
        c = rx[i]
        if c == "\\":
            if i + 1 >= n or rx[i + 1].isalnum():
                break
            lit, step = rx[i + 1], 2
        elif c in _META:
            break
        else:
            lit, step = c, 1
        j = i + step
        if j < n and rx[j] in "*?{":
            break
        out.append(lit)
        if j < n and rx[j] == "+":
            break
        i = j
    return "".join(out)


def convert(value: str | bytes, typ: str) -> int | float | str:
    """A captured string (or bytes) as its declared type; ints may carry thousands separators
    ("344,064"). Raises ValueError when the text is not of that type."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if typ == "int":
        return int(value.replace(",", "").replace("_", ""))
    if typ == "float":
        out = float(value)
        if out != out or out in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return out
    return value


def named_groups(rx: str) -> list[str]:
    return _NAMED_GROUP.findall(rx)


def _trie(words: Iterable[bytes]) -> bytes:
    """A regex alternation of literal byte strings, factored as a trie (fast in `re`)."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[None] = True

    escaped: dict[int, bytes] = {}

    def esc(k: int) -> bytes:
        got = escaped.get(k)
        if got is None:
            got = escaped[k] = re.escape(bytes([k]))
        return got

    def emit(node: dict) -> bytes:
        head = b""
        while True:   # a run of nodes with one child each and no word ending is plain text
            end = None in node
            keys = sorted(k for k in node if k is not None)
            if len(keys) != 1 or end:
                break
            head += esc(keys[0])
            node = node[keys[0]]
        if not keys:
            return head
        parts = [esc(k) + emit(node[k]) for k in keys]
        return head + b"(?:" + b"|".join(parts) + (b"|)" if end else b")")   # `|)`: a word may end here (see _opt)

    return emit(root)


# --------------------------------------------------------------------------- validate

def _p(path: str, doc: Any, where: list, message: str, rule: str) -> Problem:
    from inferguard.spec.marked import locate

    line, col = locate(doc, where)
    return Problem("spec", path, message, line, col, rule=f"log_patterns/{rule}")


def _check_regex(path: str, doc: Any, where: list, rx: Any, out: list[Problem]) -> re.Pattern | None:
    if not isinstance(rx, str):
        return None
    if _INLINE_FLAGS.search(rx):
        out.append(_p(path, doc, where, "inline global flags are not allowed (patterns are case-sensitive, one line)", "inline-flags"))
        return None
    try:
        return re.compile(rx)
    except re.error as exc:
        out.append(_p(path, doc, where, f"regex does not compile: {exc}", "bad-regex"))
        return None


def validate(doc: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    runtime = doc.get("runtime")
    seen: dict[str, int | None] = {}
    types: dict[tuple[str, str], str] = {}          # (category, capture) -> type, first seen
    for i, pat in enumerate(doc.get("patterns") or []):
        if not isinstance(pat, dict):
            continue
        where = ["patterns", i]
        pid = pat.get("id")
        if isinstance(pid, str):
            if pid in seen:
                problems.append(_p(path, doc, where + ["id"], f"duplicate pattern id {pid!r} (first at line {seen[pid]})", "duplicate-id"))
            else:
                seen[pid] = _p(path, doc, where + ["id"], "", "").line
            if isinstance(runtime, str) and not pid.startswith(runtime + "."):
                problems.append(_p(path, doc, where + ["id"], f"pattern id {pid!r} must start with the runtime {runtime + '.'!r}", "id-namespace"))
        if pat.get("category") in RESERVED_SIGNALS:
            problems.append(_p(path, doc, where + ["category"], f"category {pat.get('category')!r} is reserved", "reserved-category"))
        rx_text = pat.get("regex")
        compiled = _check_regex(path, doc, where + ["regex"], rx_text, problems)
        _check_regex(path, doc, where + ["exclude"], pat.get("exclude"), problems)
        captures = pat.get("captures") or {}
        constants = pat.get("constants") or {}
        groups = named_groups(rx_text) if isinstance(rx_text, str) else []
        for name, typ in captures.items():
            key = (str(pat.get("category")), name)
            if types.setdefault(key, typ) != typ:
                problems.append(_p(path, doc, where + ["captures", name],
                                   f"capture {name!r} is {typ} here but {types[key]} in another pattern of category {key[0]!r}",
                                   "capture-type-conflict"))
            if name not in groups:
                problems.append(_p(path, doc, where + ["captures", name], f"capture {name!r} is not a named group of the regex", "undeclared-group"))
            if name in constants:
                problems.append(_p(path, doc, where + ["constants", name], f"{name!r} is both a capture and a constant", "capture-constant"))
        for name in groups:
            if name not in captures:
                problems.append(_p(path, doc, where + ["regex"], f"named group {name!r} is not declared in captures", "undeclared-capture"))
        vs = pat.get("value_signals")
        if vs is not None:
            if captures.get(vs) != "str" and vs not in constants:
                problems.append(_p(path, doc, where + ["value_signals"], f"value_signals names {vs!r}, which is not a str capture or a constant", "value-signals"))
        if pat.get("per_process") and not any(t == "str" for t in captures.values()) and not constants:
            problems.append(_p(path, doc, where + ["per_process"], "per_process needs a str capture or a constant to record", "per-process"))
        if isinstance(rx_text, str) and not pat.get("keywords") and len(literal_prefix(rx_text)) < MIN_LITERAL:
            problems.append(_p(
                path, doc, where + ["regex"],
                f"pattern cannot be pre-filtered: start the regex with '^' and at least {MIN_LITERAL} literal characters, or list keywords",
                "no-prefilter",
            ))
        if compiled is not None:
            keywords = pat.get("keywords") or []
            for k, ex in enumerate(pat.get("examples") or []):
                if not isinstance(ex, str):
                    continue
                if compiled.search(ex) is None:
                    problems.append(_p(path, doc, where + ["examples", k], "the regex does not match this example", "example-mismatch"))
                    continue
                if keywords and not any(kw in ex for kw in keywords):
                    problems.append(_p(path, doc, where + ["examples", k], "the example contains none of the keywords", "example-keywords"))
                m = compiled.search(ex)
                for name, typ in captures.items():
                    val = m.groupdict().get(name) if m else None
                    if val is None or typ == "str":
                        continue
                    try:
                        convert(val, typ)
                    except ValueError:
                        problems.append(_p(path, doc, where + ["examples", k], f"capture {name!r}={val!r} is not a {typ}", "example-capture-type"))
    return problems


# --------------------------------------------------------------------------- compile

def _bytes_regex(rx: re.Pattern | None) -> tuple[re.Pattern | None, bool]:
    """The bytes form of a message regex, for matching in place inside a block.

    A leading '^' becomes an anchored `match` at the message start; the regex is then run
    with pos/endpos set to the message bounds, so '$' still means the end of the message.
    Returns (None, False) when the regex cannot run on bytes (a later '^', or a failure)."""
    if rx is None:
        return None, False
    src = rx.pattern
    anchored = src.startswith("^")
    body = src[1:] if anchored else src
    if "^" in body.replace("[^", "").replace("\\^", ""):
        return None, False
    try:
        return recache.compile(body.encode("utf-8")), anchored
    except (re.error, UnicodeEncodeError):
        return None, False


class LogPattern(Record):
    """One pattern of a LogPatterns document. Its regexes are compiled the first time they are
    used (`regex`, `exclude` and their bytes forms), so a log that never shows a pattern's
    literal or keyword never pays for compiling it; `compile` checks every regex up front for
    a spec set that was not validated."""

    _fields = ("id", "category", "runtime", "regex_src", "captures", "constants", "levels", "exclude_src",
               "per_process", "value_signals", "keywords", "prefix", "status", "versions", "source")

    def __init__(self, id: str, category: str, runtime: str, regex_src: str | None,  # noqa: A002
                 captures: dict[str, str], constants: dict[str, str], levels: frozenset[str] | None,
                 exclude_src: str | None, per_process: bool, value_signals: str | None,
                 keywords: tuple[bytes, ...], prefix: str, status: str, versions: str | None,
                 source: str | None) -> None:
        self.id = id
        self.category = category
        self.runtime = runtime
        self.regex_src = regex_src
        self.captures = captures
        self.constants = constants
        self.levels = levels
        self.exclude_src = exclude_src
        self.per_process = per_process
        self.value_signals = value_signals
        self.keywords = keywords
        self.prefix = prefix
        self.status = status
        self.versions = versions
        self.source = source

    @cached_property
    def regex(self) -> re.Pattern | None:
        return None if self.regex_src is None else recache.compile(self.regex_src)

    @cached_property
    def exclude(self) -> re.Pattern | None:
        return None if self.exclude_src is None else recache.compile(self.exclude_src)

    @cached_property
    def _bytes_forms(self) -> tuple[re.Pattern | None, bool, re.Pattern | None, bool]:
        bregex, anchored = _bytes_regex(self.regex)
        bexclude, bexclude_anchored = _bytes_regex(self.exclude)
        if (self.regex is not None and bregex is None) or (self.exclude is not None and bexclude is None):
            bregex = bexclude = None   # this pattern runs on the decoded message only
        return bregex, anchored, bexclude, bexclude_anchored

    @cached_property
    def bregex(self) -> re.Pattern | None:
        """The bytes form of `regex` (see _bytes_regex), None when it runs on text only."""
        return self._bytes_forms[0]

    @cached_property
    def anchored(self) -> bool:
        return self._bytes_forms[1]

    @cached_property
    def bexclude(self) -> re.Pattern | None:
        return self._bytes_forms[2]

    @cached_property
    def bexclude_anchored(self) -> bool:
        return self._bytes_forms[3]


class BulkGroup(Record):
    """Patterns of one literal that can run over many messages at once.

    `regex` (bytes, MULTILINE) is an alternation of the patterns in spec order, each wrapped in
    a group when there are several, applied with `findall` to the messages of a block joined by
    newlines; `alts` gives, per pattern, the index of its wrapper in a findall tuple (None for
    a group of one pattern) and (name, type, index) per capture. It matches at most once per
    line. Every pattern of a bulk group belongs to `category`."""

    _fields = ("category", "regex", "alts")

    def __init__(self, category: str, regex: re.Pattern,
                 alts: list[tuple[LogPattern, int, list[tuple[str, str, int]]]]) -> None:
        self.category = category
        self.regex = regex
        self.alts = alts


class PatternSet(Record):
    """The patterns one log is matched against, with the scanners built for them.

    `lines` runs once per block (a block starts with "\\n") with `findall`: one tuple per line
    with the groups `LINE_GROUPS` names (timestamps, level, the message up to the first ESC, the
    literal prefix the message starts with, and `esc`: empty when the message runs to the end
    of the line, or to `TRAILER_MARK` after an LMCache timestamp, else the ESC that stopped it,
    so an empty `esc` is all the reader checks before matching the message as captured).
    `header` parses a single line again when it needs the exact message position (group `ms`)
    or the header fields `lines` leaves out (`pid`, `proc`, `old`: only lines matched one at a
    time need them, and every group costs a slot in each line's tuple).
    `by_literal` maps each literal to the patterns whose prefix it starts with; `bulk` holds, for
    the literals whose patterns can all be matched in bulk, one group per category; `bulk_kw`
    the same for keywords. Both are filled by `prepare`, for the literals and keywords a log
    actually shows, so a short log compiles only the groups it needs."""

    _fields = ("runtimes", "patterns", "categories", "lines", "line_index", "header", "keywords", "by_literal",
               "by_keyword", "level_patterns", "prefix_patterns", "bulk", "bulk_kw")

    def __init__(self, runtimes: tuple[str, ...], patterns: list[LogPattern], categories: list[str],
                 lines: re.Pattern, line_index: dict[str, int], header: re.Pattern, keywords: tuple[bytes, ...],
                 by_literal: dict[bytes, list[LogPattern]], by_keyword: dict[bytes, list[LogPattern]],
                 level_patterns: list[LogPattern], prefix_patterns: list[LogPattern],
                 bulk: dict[bytes, list[BulkGroup]], bulk_kw: dict[bytes, list[BulkGroup]]) -> None:
        self.runtimes = runtimes
        self.patterns = patterns
        self.categories = categories
        self.lines = lines
        self.line_index = line_index
        self.header = header
        self.keywords = keywords
        self.by_literal = by_literal
        self.by_keyword = by_keyword
        self.level_patterns = level_patterns
        self.prefix_patterns = prefix_patterns
        self.bulk = bulk
        self.bulk_kw = bulk_kw
        self._order = {p.id: i for i, p in enumerate(self.patterns)}
        self._untried: set[bytes] = set(self.by_literal)       # literals whose bulk groups are not built
        self._untried_kw: set[bytes] = set(self.by_keyword)
        self.level_index: dict[str, list[LogPattern]] = {}
        for p in self.level_patterns:
            for lv in p.levels or ():
                self.level_index.setdefault(lv, []).append(p)

    def prepare(self, literals: Iterable[bytes], keywords: Iterable[bytes] = ()) -> None:
        """Build the bulk groups of these literals and keywords (those not tried before): after
        it, `lit in bulk` says whether the patterns of `lit` run in bulk, as if every group had
        been built up front."""
        todo = self._untried.intersection(literals)
        if todo:
            self._untried -= todo
            for lit in sorted(todo):
                groups = _bulk_groups(self.by_literal[lit])
                if groups is not None:
                    self.bulk[lit] = groups
        todo = self._untried_kw.intersection(keywords)
        if todo:
            self._untried_kw -= todo
            for kw in sorted(todo):
                groups = _bulk_groups(self.by_keyword[kw], keyword=True)
                if groups is not None:
                    self.bulk_kw[kw] = groups

    def prepare_all(self) -> None:
        """Build every bulk group now."""
        self.prepare(list(self._untried), list(self._untried_kw))

    def without_bulk(self) -> None:
        """Match every line one by one from now on (no bulk groups)."""
        self._untried.clear()
        self._untried_kw.clear()
        self.bulk.clear()
        self.bulk_kw.clear()

    def candidates(self, literal: bytes | None, keywords: list[bytes] | None,
                   level: str | None) -> list[LogPattern]:
        """Patterns worth running on one line, in spec order: those whose literal prefix
        starts the message (`literal`, the longest one the trie matched), those keyed by a
        keyword found in the line, and the level-only patterns of the line's level."""
        base = self.by_literal.get(literal, ()) if literal else ()
        by_level = self.level_index.get(level, ()) if level is not None else ()
        if not keywords:
            if not by_level:
                return base  # type: ignore[return-value]
            if not base:
                return by_level  # type: ignore[return-value]
        elif not base and not by_level and len(keywords) == 1:
            return self.by_keyword.get(keywords[0], [])  # type: ignore[index]
        extra: list[LogPattern] = list(by_level)
        for k in keywords or ():
            extra.extend(self.by_keyword.get(k, ()))
        order = self._order
        return sorted({p.id: p for p in (*base, *extra)}.values(), key=lambda p: order[p.id])


class CompiledLogPatterns(Record):
    _fields = ("patterns", "problems", "_selected", "_memo")
    _no_repr = frozenset({"_selected", "_memo"})
    _no_compare = frozenset({"_memo"})

    def __init__(self, patterns: list[LogPattern], problems: list[Problem] | None = None,
                 _selected: dict[tuple[str, ...], PatternSet] | None = None, _memo: Any = None) -> None:
        self.patterns = patterns
        self.problems = [] if problems is None else problems
        self._selected = {} if _selected is None else _selected
        # memo(name, arg, fn) of the spec set the patterns came from (SpecSet.memo), or None
        self._memo = _memo

    @property
    def runtimes(self) -> tuple[str, ...]:
        seen: list[str] = []
        for p in self.patterns:
            if p.runtime not in seen:
                seen.append(p.runtime)
        return tuple(seen)

    @property
    def categories(self) -> list[str]:
        return _categories(self.patterns)

    def select(self, runtime_hint: str | None = None) -> PatternSet:
        """The pattern set for a log of `runtime_hint` (None: every runtime).

        LMCache runs inside vLLM and SGLang, so its patterns apply to every engine log."""
        if runtime_hint:
            keep = tuple(r for r in self.runtimes if r in (runtime_hint, "lmcache"))
        else:
            keep = self.runtimes
        if keep not in self._selected:
            self._selected[keep] = _build_set(keep, [p for p in self.patterns if p.runtime in keep], self._memo)
        return self._selected[keep]


def _categories(patterns: Iterable[LogPattern]) -> list[str]:
    seen: list[str] = []
    for p in patterns:
        if p.category not in seen:
            seen.append(p.category)
    return seen


LINE_GROUPS = ("lts", "lvt", "lvo", "vts", "sts", "msg", "lit", "esc")
TRAILER_MARK = b"\x1b[3m("     # how LMCache's source trailer starts (italic on, open paren)


def _multiline_safe(body: str) -> str | None:
    """A regex body that cannot match across a newline of joined messages, or None.

    Negated classes get `\\n` added, `\\s` outside a class becomes `[ \\t\\r\\f\\v]`; other
    escapes that match a newline (`\\D`, `\\W`, `\\s` inside a class), lookbehinds and
    anchors other than a final `$` make the pattern unsuitable for bulk matching."""
    out: list[str] = []
    i, n, in_class, negated = 0, len(body), False, False
    while i < n:
        c = body[i]
        if c == "\\":
            esc = body[i:i + 2]
            if esc in ("\\D", "\\W", "\\A", "\\Z") or (esc == "\\s" and in_class and not negated):
                return None
            if esc == "\\s" and not in_class:
                out.append("[ \\t\\r\\f\\v]")
            else:
                out.append(esc)
            i += 2
            continue
        if in_class:
            out.append(c)
            if c == "]" and not (out[-2:-1] == ["["] or out[-3:-1] == ["[", "^"]):
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            negated = body[i + 1:i + 2] == "^"
            if negated:
                out.append("[^\\n")
                i += 2
            else:
                out.append("[")
                i += 1
            continue
        if c == "^" or (c == "$" and i != n - 1) or body.startswith("(?<", i) and body[i + 3:i + 4] in ("=", "!"):
            return None
        out.append(c)
        i += 1
    return "".join(out)


def _bulk_groups(pats: list[LogPattern], keyword: bool = False) -> list[BulkGroup] | None:
    """One bulk group per category of `pats` (spec order), or None if any pattern cannot run in bulk.

    For a literal group every pattern is anchored at the message start; for a keyword group a
    pattern may match anywhere in the message (a lazy `[^\\n]*?` keeps it inside one line)."""
    groups: list[BulkGroup] = []
    for cat in _categories(pats):
        group = _bulk_group([p for p in pats if p.category == cat], keyword)
        if group is None:
            return None
        groups.append(group)
    return groups or None


def _bulk_group(pats: list[LogPattern], keyword: bool = False) -> BulkGroup | None:
    """The bulk group of one category's patterns, or None if one of them cannot run in bulk.

    Each pattern is wrapped in a group so a findall tuple tells which pattern matched; a group
    of one pattern needs no wrapper (its wrapper index is None), which spares a copy of every
    matched message. The regex ends with `[^\\n]*+`, which takes the rest of a matched line
    so findall resumes at the next line instead of trying every position of this one."""
    parts: list[bytes] = []
    alts: list[tuple[LogPattern, int | None, list[tuple[str, str, int]]]] = []
    single = len(pats) == 1
    index = 0                       # findall tuple index of the next group
    for k, p in enumerate(pats):
        if (p.regex is None or p.bregex is None or p.exclude is not None or p.levels
                or bool(p.keywords) != keyword or (not keyword and not p.anchored)):
            return None
        body = _multiline_safe(p.regex.pattern[1:] if p.anchored else p.regex.pattern)
        if body is None:
            return None
        names = named_groups(body)
        renamed = body
        for name in names:
            renamed = renamed.replace(f"(?P<{name}>", f"(?P<a{k}_{name}>")
        try:
            sub = recache.compile(renamed.encode("utf-8"))
        except (re.error, UnicodeEncodeError):
            return None
        wrapper = None if single else index
        first = index if single else index + 1          # tuple index of the pattern's first group
        caps = [(name, p.captures[name], first + (sub.groupindex[f"a{k}_{name}"] - 1)) for name in p.captures]
        index = first + sub.groups
        lead = b"" if p.anchored else b"[^\\n]*?(?:"
        parts.append((b"(?:" if single else b"(") + lead + renamed.encode("utf-8") + (b"" if p.anchored else b")") + b")")
        alts.append((p, wrapper, caps))
    try:
        # the empty group keeps findall on tuples whenever the patterns have groups of their own
        regex = recache.compile(b"(?m)^(?:" + b"|".join(parts) + rb")()[^\n]*+")
    except re.error:
        return None
    return BulkGroup(pats[0].category, regex, alts)


def _literal_index(prefixes: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], tuple[tuple[int, ...], ...]]:
    """The distinct literals (sorted), and for each the indexes of the prefixes it starts with."""
    literals = tuple(sorted(set(prefixes)))
    return literals, tuple(tuple(i for i, e in enumerate(prefixes) if lit.startswith(e)) for lit in literals)


def _build_set(runtimes: tuple[str, ...], patterns: list[LogPattern], memo: Any = None) -> PatternSet:
    def kept(name: str, arg: Any, fn: Any) -> Any:
        return fn(arg) if memo is None else memo(name, arg, fn)

    prefix_pats = [p for p in patterns if p.regex_src is not None and not p.keywords and len(p.prefix) >= MIN_LITERAL]
    keyword_pats = [p for p in patterns if p.keywords]
    level_pats = [p for p in patterns if p.regex_src is None and p.levels]
    trigger = sorted({lv for p in level_pats for lv in p.levels or ()})
    lits, index = kept("log_patterns.literal_index", tuple(p.prefix.encode("utf-8") for p in prefix_pats), _literal_index)
    literals = list(lits)
    by_literal = {lit: [prefix_pats[i] for i in ix] for lit, ix in zip(lits, index)}
    by_keyword: dict[bytes, list[LogPattern]] = {}
    for p in keyword_pats:
        for k in p.keywords:
            by_keyword.setdefault(k, []).append(p)
    head = _A + _PROC + _A + _header(trigger) + _A
    # `pid` and `proc` stay in the line regex only when a pattern records per process (a bulk
    # group then attributes its matched lines without parsing them again); `old` is left to `header`
    dropped = (b"old",) if any(p.per_process for p in patterns) else (b"pid", b"proc", b"old")
    for name in dropped:
        head = head.replace(b"(?P<" + name + b">", b"(?:")
    tail = b"(?P<lit>" + (kept("log_patterns.trie", lits, _trie) if literals else b"(?!)") + b"|)"
    # after the message (which stops at the first ESC): LMCache's trailer when the line has an
    # LMCache timestamp, else the ESC in `esc` (one byte), else the end of the line
    after = b"(?:(?(lts)" + re.escape(TRAILER_MARK) + rb"|(?!))|(?P<esc>[^\n])|)"
    lines = recache.compile(rb"\n" + head + b"(?P<msg>" + tail + _MSG_BYTE + b"*+)" + after + rb"[^\n]*+")
    header = recache.compile(header_regex(trigger))
    line_index = {name: lines.groupindex[name] - 1 for name in LINE_GROUPS + ("pid", "proc") if name in lines.groupindex}
    # bulk groups are built by PatternSet.prepare, for the literals and keywords a log shows
    return PatternSet(runtimes, patterns, _categories(patterns), lines, line_index, header, tuple(sorted(by_keyword)),
                      by_literal, by_keyword, level_pats, prefix_pats, {}, {})


def _docs_of(specs: Any) -> list[tuple[str, Any]]:
    from inferguard.spec.loader import documents_of

    return documents_of(specs, KIND)


def compile(specs: Any) -> CompiledLogPatterns:  # noqa: A001 - the plugin contract names it compile
    """Compile every LogPatterns document of `specs` (a spec set, or a list of documents).

    Patterns that `validate` would reject (bad regex, no pre-filter) are left out and
    reported in `problems`, so a reader never fails on a spec it was handed. A spec set
    that passed `validate` (its `checked` flag) has every regex compiled on first use only."""
    checked = bool(getattr(specs, "checked", False))
    memo = getattr(specs, "memo", None) if checked else None
    patterns: list[LogPattern] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for path, doc in _docs_of(specs):
        runtime = str(doc.get("runtime") or "")
        for i, pat in enumerate(doc.get("patterns") or []):
            pid = pat.get("id")
            if not isinstance(pid, str) or not isinstance(pat.get("category"), str):
                continue
            if pid in seen:
                problems.append(_p(path, doc, ["patterns", i, "id"], f"duplicate pattern id {pid!r}", "duplicate-id"))
                continue
            rx_src, ex_src = pat.get("regex"), pat.get("exclude")
            rx_src = rx_src if isinstance(rx_src, str) else None
            ex_src = ex_src if isinstance(ex_src, str) else None
            rx = ex = None
            if not checked:
                bad: list[Problem] = []
                rx = _check_regex(path, doc, ["patterns", i, "regex"], pat.get("regex"), bad)
                ex = _check_regex(path, doc, ["patterns", i, "exclude"], pat.get("exclude"), bad)
                if bad:
                    problems.extend(bad)
                    continue
            if pat.get("regex") is None and not pat.get("levels"):
                continue
            prefix = (literal_prefix(rx_src) if memo is None else memo("log_patterns.literal_prefix", rx_src, literal_prefix)) \
                if rx_src is not None else ""
            keywords = tuple(k.encode("utf-8") for k in pat.get("keywords") or ())
            if rx_src is not None and not keywords and len(prefix) < MIN_LITERAL:
                problems.append(_p(path, doc, ["patterns", i, "regex"], "pattern cannot be pre-filtered; left out", "no-prefilter"))
                continue
            seen.add(pid)
            levels = frozenset(pat["levels"]) if pat.get("levels") else None
            compiled = LogPattern(
                id=pid, category=pat["category"], runtime=runtime, regex_src=rx_src,
                captures=dict(pat.get("captures") or {}), constants=dict(pat.get("constants") or {}),
                levels=levels, exclude_src=ex_src, per_process=bool(pat.get("per_process")),
                value_signals=pat.get("value_signals"), keywords=keywords, prefix=prefix,
                status=pat.get("status", "stable"), versions=pat.get("versions"), source=pat.get("source"),
            )
            if not checked:   # keep what the check compiled
                compiled.regex, compiled.exclude = rx, ex
            patterns.append(compiled)
    return CompiledLogPatterns(patterns, problems, _memo=memo)
