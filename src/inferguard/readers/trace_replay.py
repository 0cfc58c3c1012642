"""Outputs of `lmcache trace replay` and `lmcache trace info` (lmcache 0.4.7 .. 0.5.6).

One replay writes up to four views of the same records:

- `records_jsonl`: `--jsonl-out P`, one `{"qualname", "latency_ms", "failed"}` object per record;
- `ops_csv`: `<output-dir>/trace_replay_ops.csv`, one row per operation
  (`qualname,count,errors,mean_ms,p50_ms,p90_ms,p99_ms,min_ms,max_ms`);
- `summary_json`: `<output-dir>/trace_replay_summary.json` (`--json`),
  `{"duration_s", "ops": {qualname: {count, errors, max_ms, mean_ms, min_ms, p50_ms, p90_ms, p99_ms}}}`;
- `replay_log`: the command's terminal output: per-record `[N/T] OK|FAIL <qualname> (x ms)` log lines,
  `--verbose` lines, and the "Trace Replay Result" table (records replayed/skipped/failed,
  replay duration, `Config digest: match (<8hex>)` or `MISMATCH (rec=<8hex>, run=<8hex>)`).

`lmcache trace info FILE` prints a text description of the recording itself (`trace_info` view):
header fields, total records, per-operation counts and, for `events` traces, event statistics.

Given a file, the reader reports that one view. Given a directory, it counts every operation
once: the authoritative view is the first present of records_jsonl, ops_csv, summary_json,
replay_log (in that order: per-record data first, then the tool's aggregates, then the terminal
text); every other view is cross-checked against it, and each disagreement is a problem. A
`trace_info` text and/or a `.lct` recording in the directory (or passed as `lct=`) describe the
recording; the replay is tied to it by op counts and by the config digest.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from typing import Any

from inferguard.readers.base import ReadResult, iter_json_objects, json_safe, open_input

READER_ID = "lmcache_trace_replay"

REPLAY_VIEWS = ("records_jsonl", "ops_csv", "summary_json", "replay_log")
VIEWS = REPLAY_VIEWS + ("trace_info",)
STAT_FIELDS = ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms")

SNIFF_BYTES = 64 * 1024
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_LINE_CHARS = 1024 * 1024
MAX_OPS = 512
MAX_DIR_FILES = 1000
MAX_LISTED_FILES = 200

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LOG_START_RE = re.compile(r"trace replay: file=(?P<file>.*?) records=(?P<n>\d+)")
_LOG_RECORD_RE = re.compile(r"\[(?P<i>\d+)/(?P<t>\d+)\] (?P<st>OK|FAIL) (?P<q>\S+) \((?P<ms>[0-9.eE+-]+)ms\)")
_VERBOSE_RECORD_RE = re.compile(
    r"^\s+\[(?P<i>\d+)/(?P<t>\d+)\]\s+(?P<st>OK|FAIL)\s+(?P<ms>[0-9.eE+-]+)ms\s+(?P<q>\S+)\s*$", re.M)
_TABLE_TITLE_RE = re.compile(r"^=+ Trace Replay Result =+\s*$", re.M)
_TABLE_RE = {
    "level": re.compile(r"^Trace level:\s+(\S+)\s*$"),
    "replayed": re.compile(r"^Records replayed:\s+(\d+)\s*$"),
    "skipped": re.compile(r"^Records skipped:\s+(\d+)\s*$"),
    "failed": re.compile(r"^Records failed:\s+(\d+)\s*$"),
    "duration": re.compile(r"^Replay duration \(s\):\s+([0-9.]+)\s*$"),
}
_DIGEST_RE = re.compile(
    r"^Config digest:\s+(?:match \((?P<m>[0-9a-fA-F]+)\)|MISMATCH \(rec=(?P<rec>[0-9a-fA-F]*), run=(?P<run>[0-9a-fA-F]*)\))")
_TABLE_OP_RE = re.compile(r"^(?P<op>\S+) (?P<stat>count|mean|p50|p90|p99):\s+(?P<v>[0-9.]+)\s*$")
_KV_RE = re.compile(r"^(.+?):(?:\s+(.*))?$")
_INCARNATIONS_RE = re.compile(r"incarnations=\[(?P<inc>[^\]]*)\]\s+restarts=(?P<r>\d+)")
_LIFECYCLE_RE = re.compile(r"(\w+)=(\d+)")

_SIGNAL_NAME_RE = re.compile(r"[A-Za-z0-9_.:/-]{1,300}")


def short_op_name(qualname: str) -> str:
    """The short operation name the replay table prints (method, or `read_prefetched_results.enter`)."""
    parts = qualname.split(".")
    last = parts[-1]
    if len(parts) >= 2 and last.startswith("__") and last.endswith("__"):
        return parts[-2] + "." + last.strip("_")
    return last


# -- problems for files other than `res.path` ------------------------------------------------



def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int) and not -2 ** 53 < v < 2 ** 53:
        return None
    return v


def _float(s: str | None) -> float | None:
    if s is None:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v


def _empty_view(view: str, path: str) -> dict[str, Any]:
    return {"view": view, "path": path, "records": None, "failed": None, "skipped": None,
            "duration_s": None, "level": None, "ops": {}, "ops_untracked": 0, "digest": None,
            "recording_file": None, "recorded_records": None, "trace_info": None, "table_ops": None}


def _op_entry(count: int | None, errors: int | None) -> dict[str, Any]:
    e: dict[str, Any] = {"count": count, "errors": errors}
    for k in STAT_FIELDS:
        e[k] = None
    return e


# -- sniffing --------------------------------------------------------------------------------

def sniff(path: str) -> str | None:
    """Which view a file holds, by content (file names only break ties). None when unknown."""
    try:
        with open_input(path) as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return None
    if len(head) >= 5:
        length = int.from_bytes(head[:4], "big")
        if 0 < length < 16 * 1024 * 1024 and b"LMCT" in head[4:4 + min(length, 256)] and b"header" in head[4:64]:
            return "lct"
    text = head.decode("utf-8", "replace")
    text = _ANSI_RE.sub("", text)
    stripped = text.lstrip("\ufeff \t\r\n")
    first = stripped.split("\n", 1)[0].strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except (ValueError, RecursionError):  # not JSON, an over-long integer, deep nesting
            obj = None
        if isinstance(obj, dict) and "qualname" in obj and ("latency_ms" in obj or "failed" in obj):
            return "records_jsonl"
        if isinstance(obj, dict) and "type" in obj and ("qualname" in obj or "magic" in obj):
            return None  # a decoded .lct dump, not an LMCache output
        if obj is None or "ops" in obj or "duration_s" in obj:
            if re.search(r'"ops"\s*:', text) or re.search(r'"duration_s"\s*:', text):
                return "summary_json"
        return None
    if first.replace(" ", "").startswith("qualname,count"):
        return "ops_csv"
    if first.startswith("Trace file:"):
        return "trace_info"
    if (_LOG_START_RE.search(text) or _TABLE_TITLE_RE.search(text) or _LOG_RECORD_RE.search(text)
            or _VERBOSE_RECORD_RE.search(text)):
        return "replay_log"
    if path.endswith(".log") and "replay" in os.path.basename(path).lower():
        return "replay_log"
    return None


# -- parsers, one per view -------------------------------------------------------------------

def _bump_op(view: dict[str, Any], q: str) -> dict[str, Any] | None:
    ops = view["ops"]
    e = ops.get(q)
    if e is None:
        if len(ops) >= MAX_OPS:
            view["ops_untracked"] += 1
            return None
        e = ops[q] = _op_entry(0, 0)
        e["_sum"] = 0.0
        e["_n"] = 0
    return e


def _finish_latency(view: dict[str, Any]) -> None:
    for e in view["ops"].values():
        n = e.pop("_n", 0)
        s = e.pop("_sum", 0.0)
        if n:
            e["mean_ms"] = s / n


def _open_text(path: str):
    import io

    return io.TextIOWrapper(open_input(path), encoding="utf-8", errors="replace", newline="")


def _add_latency(e: dict[str, Any], lat: float) -> None:
    """Fold one latency (ms) into an op entry's running sum, count, min and max."""
    e["_sum"] += lat
    e["_n"] += 1
    if e["min_ms"] is None or lat < e["min_ms"]:
        e["min_ms"] = lat
    if e["max_ms"] is None or lat > e["max_ms"]:
        e["max_ms"] = lat


def parse_records_jsonl(path: str, res: ReadResult) -> dict[str, Any]:
    view = _empty_view("records_jsonl", path)
    records = failed = 0
    for lineno, obj in iter_json_objects(path, res, MAX_LINE_CHARS):
        if obj is None:
            continue
        q = obj.get("qualname")
        lat = _num(obj.get("latency_ms"))
        fl = obj.get("failed")
        if not isinstance(q, str) or not q:
            res.problem("record without a qualname", lineno, path=path)
            continue
        if not isinstance(fl, bool):
            res.problem("record without a boolean `failed`", lineno, path=path)
        records += 1
        e = _bump_op(view, q[:300])
        if fl is True:
            failed += 1
        if e is None:
            continue
        e["count"] += 1
        if fl is True:
            e["errors"] += 1
        if lat is not None:
            _add_latency(e, lat)
    _finish_latency(view)
    view["records"] = records
    view["failed"] = failed
    return view


def parse_ops_csv(path: str, res: ReadResult) -> dict[str, Any]:
    view = _empty_view("ops_csv", path)
    records = failed = 0
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = None
        for row in reader:
            lineno = reader.line_num
            if header is None:
                header = [c.strip() for c in row]
                missing = [c for c in ("qualname", "count", "errors") if c not in header]
                if missing:
                    res.problem(f"CSV header lacks column(s) {', '.join(missing)}", lineno, path=path)
                    break
                continue
            if not row or all(not c.strip() for c in row):
                continue
            rec = dict(zip(header, (c.strip() for c in row)))
            q = rec.get("qualname") or ""
            try:
                count = int(rec.get("count", ""))
                errors = int(rec.get("errors", ""))
            except ValueError:
                res.problem("row with a non-integer count or errors", lineno, path=path)
                continue
            if count < 0 or errors < 0 or not q:
                res.problem("row with a negative count or an empty qualname", lineno, path=path)
                continue
            records += count
            failed += errors
            ops = view["ops"]
            if q in ops:
                res.problem(f"operation {q[:120]!r} listed twice; the first row is kept", lineno, path=path)
                continue
            if len(ops) >= MAX_OPS:
                view["ops_untracked"] += count
                continue
            e = ops[q[:300]] = _op_entry(count, errors)
            for k in STAT_FIELDS:
                v = rec.get(k)
                if v:
                    try:
                        fv = float(v)
                        e[k] = fv if math.isfinite(fv) else None
                    except ValueError:
                        res.problem(f"column {k} is not a number", lineno, path=path)
        if header is None:
            res.problem("empty CSV file", offset=0, path=path)
    view["records"] = records
    view["failed"] = failed
    return view


def parse_summary_json(path: str, res: ReadResult) -> dict[str, Any]:
    view = _empty_view("summary_json", path)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    if size > MAX_JSON_BYTES:
        res.problem(f"summary JSON of {size} bytes is over the {MAX_JSON_BYTES}-byte limit; not read", path=path)
        return view
    from inferguard.readers.jsonio import JsonInputError, loads

    try:
        with open_input(path) as f:
            obj = loads(f.read())
    except JsonInputError as exc:
        # counts read from a repaired text would be made up: the file is not used
        res.problem(f"summary JSON not used: {exc.message}", offset=exc.offset, path=path)
        return view
    except (ValueError, RecursionError) as exc:  # an integer past the digit limit; nesting too deep
        msg = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0][:120]
        res.problem(f"not usable JSON: {msg}", offset=0, path=path)
        return view
    # What follows is about the document as a whole: located at its start (offset 0).
    if not isinstance(obj, dict):
        res.problem("summary JSON is not an object", offset=0, path=path)
        return view
    view["duration_s"] = _num(obj.get("duration_s"))
    ops = obj.get("ops")
    if not isinstance(ops, dict):
        res.problem("summary JSON has no `ops` object", offset=0, path=path)
        return view
    records = failed = 0
    for q, stats in ops.items():
        if not isinstance(stats, dict):
            res.problem(f"ops entry {str(q)[:120]!r} is not an object", offset=0, path=path)
            continue
        count = _int(stats.get("count"))
        errors = _int(stats.get("errors"))
        if count is None:
            res.problem(f"ops entry {str(q)[:120]!r} has no integer count", offset=0, path=path)
            continue
        records += count
        failed += errors or 0
        if len(view["ops"]) >= MAX_OPS:
            view["ops_untracked"] += count
            continue
        e = view["ops"][str(q)[:300]] = _op_entry(count, errors)
        for k in STAT_FIELDS:
            e[k] = _num(stats.get(k))
    view["records"] = records
    view["failed"] = failed
    return view


def parse_replay_log(path: str, res: ReadResult) -> dict[str, Any]:
    view = _empty_view("replay_log", path)
    info_view = _empty_view("replay_log", path)
    verbose_view = _empty_view("replay_log", path)
    table: dict[str, Any] = {}
    table_ops: dict[str, dict[str, float]] = {}
    info_failed = verbose_failed = 0
    info_n = verbose_n = 0
    table_line: dict[str, int] = {}  # table key -> the line it was read from
    table_ops_line: dict[str, int] = {}
    lineno = 0
    with _open_text(path) as f:
        for lineno, raw in enumerate(f, 1):
            if len(raw) > MAX_LINE_CHARS:
                continue
            line = _ANSI_RE.sub("", raw.rstrip("\r\n"))
            if "[" in line:
                m = _VERBOSE_RECORD_RE.match(line)
                which = None
                if m:
                    which = verbose_view
                    verbose_n += 1
                    if m.group("st") == "FAIL":
                        verbose_failed += 1
                else:
                    m = _LOG_RECORD_RE.search(line)
                    if m:
                        which = info_view
                        info_n += 1
                        if m.group("st") == "FAIL":
                            info_failed += 1
                if which is not None:
                    e = _bump_op(which, m.group("q")[:300])
                    if e is not None:
                        e["count"] += 1
                        if m.group("st") == "FAIL":
                            e["errors"] += 1
                        try:
                            lat = float(m.group("ms"))
                        except ValueError:
                            lat = None
                        if lat is not None and math.isfinite(lat):
                            _add_latency(e, lat)
                    continue
            if "trace replay: file=" in line:
                m = _LOG_START_RE.search(line)
                if m:
                    view["recording_file"] = os.path.basename(m.group("file").strip())[:300]
                    view["recorded_records"] = int(m.group("n"))
                continue
            s = line.strip()
            if not s or ":" not in s:
                continue
            for key, rx in _TABLE_RE.items():
                m = rx.match(s)
                if m:
                    table[key] = m.group(1)
                    table_line[key] = lineno
                    break
            else:
                m = _DIGEST_RE.match(s)
                if m:
                    if m.group("m") is not None:
                        view["digest"] = {"reported": "match", "recorded_prefix": m.group("m").lower(),
                                          "run_prefix": m.group("m").lower()}
                    else:
                        view["digest"] = {"reported": "mismatch", "recorded_prefix": (m.group("rec") or "").lower() or None,
                                          "run_prefix": (m.group("run") or "").lower() or None}
                    continue
                m = _TABLE_OP_RE.match(s)
                if m and len(table_ops) < MAX_OPS:
                    v = _float(m.group("v"))
                    if v is not None:
                        table_ops.setdefault(m.group("op")[:300], {})[m.group("stat")] = v
                        table_ops_line.setdefault(m.group("op")[:300], lineno)
    _finish_latency(info_view)
    _finish_latency(verbose_view)
    # Each record is logged twice when --verbose is on (log line and stdout line): use one form.
    if info_n:
        chosen, other, n, nfailed = info_view, verbose_view, info_n, info_failed
    else:
        chosen, other, n, nfailed = verbose_view, info_view, verbose_n, verbose_failed
    if info_n and verbose_n:
        for q in set(chosen["ops"]) | set(other["ops"]):
            a = (chosen["ops"].get(q) or {}).get("count")
            b = (other["ops"].get(q) or {}).get("count")
            if a != b:
                res.problem(f"log lines and --verbose lines disagree on {q[:120]!r}: {a} vs {b}", lineno, path=path)
    view["ops"] = chosen["ops"]
    view["ops_untracked"] = chosen["ops_untracked"]
    view["level"] = table.get("level")
    replayed = int(table["replayed"]) if "replayed" in table else None
    view["skipped"] = int(table["skipped"]) if "skipped" in table else None
    failed_t = int(table["failed"]) if "failed" in table else None
    view["duration_s"] = _float(table.get("duration"))
    if n:
        view["records"] = n
        view["failed"] = nfailed
        if replayed is not None and replayed != n:
            res.problem(f"table says {replayed} records replayed, {n} per-record lines found",
                        table_line.get("replayed"), path=path)
        if failed_t is not None and failed_t != nfailed:
            res.problem(f"table says {failed_t} records failed, {nfailed} FAIL lines found",
                        table_line.get("failed"), path=path)
    else:
        view["records"] = replayed
        view["failed"] = failed_t
    if table_ops:
        view["table_ops"] = {k: v for k, v in sorted(table_ops.items())}
        if view["ops"]:
            by_short: dict[str, int] = {}
            for q, e in view["ops"].items():
                by_short[short_op_name(q)] = by_short.get(short_op_name(q), 0) + (e["count"] or 0)
            for short, stats in table_ops.items():
                if "count" in stats and by_short.get(short) != int(stats["count"]):
                    res.problem(f"table count for {short!r} is {int(stats['count'])}, "
                                f"per-record lines give {by_short.get(short, 0)}", table_ops_line.get(short), path=path)
        else:
            for short, stats in table_ops.items():
                if "count" in stats and len(view["ops"]) < MAX_OPS:
                    e = view["ops"][short] = _op_entry(int(stats["count"]), None)
                    e["mean_ms"] = stats.get("mean")
                    e["p50_ms"] = stats.get("p50")
                    e["p99_ms"] = stats.get("p99")
    if view["records"] is None and not view["ops"] and view["recorded_records"] is None:
        # Looked for through the whole file: located at its end (the last line read).
        res.problem("no replay records, table or start line found in this log", lineno or None,
                    offset=None if lineno else 0, path=path)
    return view


def _tree(lines: list[tuple[int, str, str | None]]) -> list:
    """Indentation tree: each node is [key, value, children]."""
    root: list = ["", None, []]
    stack: list[tuple[int, list]] = [(-1, root)]
    for indent, key, value in lines:
        while stack[-1][0] >= indent:
            stack.pop()
        node = [key, value, []]
        stack[-1][1][2].append(node)
        stack.append((indent, node))
    return root[2]


def _to_int(s: str | None) -> int | None:
    if s is None:
        return None
    s = s.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return None


def parse_trace_info(path: str, res: ReadResult) -> dict[str, Any]:
    """`lmcache trace info` text -> the `trace_info` summary block (see the schema)."""
    view = _empty_view("trace_info", path)
    lines: list[tuple[int, str, str | None]] = []
    file_name = None
    unparsed = 0
    line_of: dict[str, int] = {}  # key -> the first line it is on
    lineno = 0
    with _open_text(path) as f:
        for lineno, raw in enumerate(f, 1):
            if lineno > 1_000_000 or len(raw) > MAX_LINE_CHARS:
                unparsed += 1
                continue
            line = _ANSI_RE.sub("", raw.rstrip("\r\n"))
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip(" "))
            s = line.strip()
            if indent == 0 and s.startswith("Trace file:"):
                if file_name is not None:
                    res.problem("more than one `Trace file:` block; only the first is read", lineno, path=path)
                    break
                file_name = os.path.basename(s[len("Trace file:"):].strip())[:300]
                continue
            if file_name is None:
                unparsed += 1
                continue
            m = _KV_RE.match(s)
            if not m:
                unparsed += 1
                continue
            lines.append((indent, m.group(1).strip(), m.group(2).strip() if m.group(2) is not None else None))
            if len(line_of) < 4 * MAX_OPS:
                line_of.setdefault(m.group(1).strip(), lineno)
    if file_name is None:
        res.problem("no `Trace file:` line: not `lmcache trace info` output", lineno or None,
                    offset=None if lineno else 0, path=path)
        return view
    top = _tree(lines)
    info: dict[str, Any] = {
        "file": file_name, "level": None, "format_version": None, "trace_schema_version": None,
        "duration_s": None, "sm_config_digest": None, "level_meta": {}, "total_records": None,
        "ops": {}, "events": None, "unparsed_lines": unparsed,
    }
    for key, value, children in top:
        if key == "level":
            info["level"] = value
        elif key in ("format_version", "trace_schema_version", "total_records"):
            info[key] = _to_int(value)
            if info[key] is None:
                res.problem(f"{key} is not an integer: {str(value)[:60]!r}", line_of.get(key), path=path)
        elif key == "duration":
            v = (value or "").rstrip("s")
            try:
                info["duration_s"] = float(v)
            except ValueError:
                res.problem(f"duration is not a number of seconds: {str(value)[:60]!r}", line_of.get(key),
                            path=path)
        elif key == "sm_config_digest":
            info["sm_config_digest"] = None if value in (None, "(none)", "") else value.lower()[:128]
        elif key == "ops":
            for q, v, _ in children:
                c = _to_int(v)
                if c is None:
                    res.problem(f"op count for {q[:120]!r} is not an integer", line_of.get(q), path=path)
                    continue
                if len(info["ops"]) < MAX_OPS:
                    info["ops"][q[:300]] = c
        elif key == "events":
            info["events"] = _trace_info_events(children, res, path)
        else:
            iv = _to_int(value)
            if len(info["level_meta"]) < 32:
                info["level_meta"][key[:64]] = iv if iv is not None else (value[:200] if value else value)
    view["trace_info"] = info
    view["level"] = info["level"]
    view["duration_s"] = info["duration_s"]
    view["records"] = info["total_records"]
    view["ops"] = {q: _op_entry(c, None) for q, c in info["ops"].items()}
    if info["total_records"] is not None and info["ops"] and sum(info["ops"].values()) != info["total_records"]:
        res.problem(f"op counts sum to {sum(info['ops'].values())}, total_records is {info['total_records']}",
                    line_of.get("total_records"), path=path)
    return view


def _trace_info_events(children: list, res: ReadResult, path: str) -> dict[str, Any]:
    ev: dict[str, Any] = {"instances": [], "batches": {}, "entries": {}, "store_bytes": None,
                          "entries_with_tokens": None, "lifecycle": {}}
    for key, value, sub in children:
        if key == "instances":
            for inst, v, _ in sub[:256]:
                m = _INCARNATIONS_RE.search(v or "")
                if not m:
                    continue
                incs = [int(x) for x in re.findall(r"-?\d+", m.group("inc"))][:64]
                ev["instances"].append({"id": inst[:200], "incarnations": incs, "restarts": int(m.group("r"))})
        elif key.startswith("batches"):
            for k, v, _ in sub[:256]:
                c = _to_int(v)
                if c is not None:
                    ev["batches"][k[:140]] = c
        elif key == "entries":
            for k, v, _ in sub[:256]:
                c = _to_int(v)
                if c is not None:
                    ev["entries"][k[:32]] = c
        elif key in ("store_bytes", "entries_with_tokens"):
            ev[key] = _to_int(value)
        elif key == "lifecycle":
            for k, v in _LIFECYCLE_RE.findall(value or "")[:16]:
                ev["lifecycle"][k] = int(v)
    return ev


_PARSERS = {
    "records_jsonl": parse_records_jsonl,
    "ops_csv": parse_ops_csv,
    "summary_json": parse_summary_json,
    "replay_log": parse_replay_log,
    "trace_info": parse_trace_info,
}


# -- cross-checks ----------------------------------------------------------------------------

def _mean_tolerance(view: str) -> float:
    # The CSV prints 6 decimals; the other views keep full precision (the log keeps 3).
    return {"ops_csv": 1e-5, "replay_log": 1e-3}.get(view, 1e-6)


def _compare(res: ReadResult, auth: dict[str, Any], other: dict[str, Any]) -> int:
    """Report every disagreement of `other` with the authoritative view; return how many."""
    n = 0
    path = other["path"]
    aname = auth["view"]
    short_keys = other["view"] == "replay_log" and other["ops"] and not any("." in q for q in other["ops"])
    a_ops = auth["ops"]
    if short_keys:
        folded: dict[str, dict[str, Any]] = {}
        for q, e in a_ops.items():
            f = folded.setdefault(short_op_name(q), _op_entry(0, 0))
            f["count"] += e["count"] or 0
        a_ops = folded
    for q in sorted(set(a_ops) | set(other["ops"])):
        a = a_ops.get(q)
        b = other["ops"].get(q)
        if a is None or b is None:
            n += 1
            res.problem(f"operation {q[:160]!r} is in {'only this file' if a is None else aname}"
                                f"{'' if a is None else ', not in this file'} ({aname} is authoritative)", path=path)
            continue
        if a["count"] != b["count"]:
            n += 1
            res.problem(f"count for {q[:160]!r} is {b['count']} here, {a['count']} in {aname}", path=path)
        if a.get("errors") is not None and b.get("errors") is not None and a["errors"] != b["errors"]:
            n += 1
            res.problem(f"errors for {q[:160]!r} are {b['errors']} here, {a['errors']} in {aname}", path=path)
        am, bm = a.get("mean_ms"), b.get("mean_ms")
        if am is not None and bm is not None and not short_keys:
            tol = max(_mean_tolerance(other["view"]), _mean_tolerance(aname))
            if abs(am - bm) > tol + 1e-9 * abs(am):
                n += 1
                res.problem(f"mean_ms for {q[:160]!r} is {bm} here, {am} in {aname}", path=path)
    if auth["records"] is not None and other["records"] is not None and auth["records"] != other["records"]:
        n += 1
        res.problem(f"{other['records']} records here, {auth['records']} in {aname}", path=path)
    return n


def _recording_from_info(view: dict[str, Any]) -> dict[str, Any]:
    info = view["trace_info"] or {}
    return {"source": "trace_info", "file": info.get("file") or os.path.basename(view["path"]),
            "path": view["path"], "level": info.get("level"),
            "total_records": info.get("total_records"), "duration_s": info.get("duration_s"),
            "sm_config_digest": info.get("sm_config_digest"), "ops": dict(info.get("ops") or {})}


def _recording_from_lct(path: str, res: ReadResult) -> dict[str, Any]:
    from inferguard.readers import lct

    r = lct.read(path)
    for p in r.problems:
        res.problem(p.message + (f" (byte {p.offset})" if p.offset is not None else ""), path=p.path)
    s = r.summary
    header = s.get("header") or {}
    return {"source": "lct", "file": os.path.basename(path), "path": path, "level": header.get("level"),
            "total_records": s.get("records"), "duration_s": s.get("duration_s"),
            "sm_config_digest": header.get("sm_config_digest"), "ops": dict(s.get("ops") or {})}


def _check_recording(res: ReadResult, rec: dict[str, Any], auth: dict[str, Any], path: str) -> int:
    """Replay vs recording: every recorded record is replayed or skipped, op by op."""
    n = 0
    skipped = auth.get("skipped")
    if rec["total_records"] is not None and auth["records"] is not None:
        accounted = auth["records"] + (skipped or 0)
        if accounted != rec["total_records"]:
            n += 1
            res.problem(f"replay accounts for {accounted} records (replayed + skipped), the recording "
                                f"({rec['source']} {rec['file']}) holds {rec['total_records']}", path=path)
    if not skipped and rec["ops"] and auth["ops"]:
        a_ops = auth["ops"]
        if not any("." in q for q in a_ops):
            rec_ops: dict[str, int] = {}
            for q, c in rec["ops"].items():
                rec_ops[short_op_name(q)] = rec_ops.get(short_op_name(q), 0) + c
        else:
            rec_ops = rec["ops"]
        for q in sorted(set(rec_ops) | set(a_ops)):
            rc = rec_ops.get(q)
            ac = (a_ops.get(q) or {}).get("count")
            if rc != ac:
                n += 1
                res.problem(f"{q[:160]!r}: {ac} replayed, {rc} recorded ({rec['source']} {rec['file']})", path=path)
    if rec.get("level") and auth.get("level") and rec["level"] != auth["level"]:
        n += 1
        res.problem(f"replay says level {auth['level']!r}, recording says {rec['level']!r}", path=path)
    return n


# -- summary assembly ------------------------------------------------------------------------

def _public_ops(ops: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for q in sorted(ops):
        e = ops[q]
        out[q] = {"count": e.get("count"), "errors": e.get("errors"),
                  **{k: e.get(k) for k in STAT_FIELDS}}
    return out


def _digest_block(views: list[dict[str, Any]], recording: dict[str, Any] | None,
                  res: ReadResult) -> dict[str, Any] | None:
    logd = next((v["digest"] for v in views if v.get("digest")), None)
    rec_digest = recording.get("sm_config_digest") if recording else None
    if logd is None and rec_digest is None:
        return None
    block: dict[str, Any] = {
        "replay_reported": logd["reported"] if logd else None,
        "replay_recorded_prefix": logd["recorded_prefix"] if logd else None,
        "replay_run_prefix": logd["run_prefix"] if logd else None,
        "recording_digest": rec_digest,
        "recording_source": recording["source"] if recording and rec_digest else None,
        "lct_path": recording["file"] if recording and recording["source"] == "lct" else None,
        "matches_recording": None,
    }
    if logd and logd["recorded_prefix"] and rec_digest:
        block["matches_recording"] = rec_digest.startswith(logd["recorded_prefix"])
        if not block["matches_recording"]:
            res.problem(f"replay was run on a recording with config digest {logd['recorded_prefix']}..., "
                                    f"the recording here has {rec_digest[:8]}...: not the same trace", path=res.path)
    return block


def _file_entry(path: str, view: str | None, records: int | None, role: str) -> dict[str, Any]:
    return {"file": os.path.basename(path), "view": view, "records": records, "role": role}


def _pick_recording(candidates: list[dict[str, Any]], replay: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The recording a replay was made from: by the file name its log names, then by digest prefix,
    then the only candidate."""
    if not candidates:
        return None
    name = next((v["recording_file"] for v in replay if v["recording_file"]), None)
    if name:
        for c in candidates:
            if c["file"] == name:
                return c
    prefix = next((v["digest"]["recorded_prefix"] for v in replay if v.get("digest") and v["digest"]["recorded_prefix"]),
                  None)
    if prefix:
        for c in candidates:
            if c["sm_config_digest"] and c["sm_config_digest"].startswith(prefix):
                return c
    return candidates[0] if len(candidates) == 1 else None


def _summarize(res: ReadResult, mode: str, views: list[dict[str, Any]], ignored: list[str],
               lcts: list[dict[str, Any]]) -> None:
    replay = [v for v in views if v["view"] in REPLAY_VIEWS]
    replay.sort(key=lambda v: REPLAY_VIEWS.index(v["view"]))
    info_views = [v for v in views if v["view"] == "trace_info"]
    auth = replay[0] if replay else (info_views[0] if info_views else None)
    files: list[dict[str, Any]] = []
    cross: list[dict[str, Any]] = []
    for v in replay[1:]:
        n = _compare(res, auth, v)
        cross.append({"file": os.path.basename(v["path"]), "view": v["view"], "against": auth["view"],
                      "agrees": None, "disagreements": n})
    # A `trace info` text and the .lct it describes (same file name, else the only .lct) must agree.
    for iv in info_views:
        ti = _recording_from_info(iv)
        info_name = (iv["trace_info"] or {}).get("file")
        rec = next((r for r in lcts if r["file"] == info_name), None)
        if rec is None and len(lcts) == 1:
            rec = lcts[0]
        if rec is None:
            continue
        n = 0
        for key in ("total_records", "level", "sm_config_digest"):
            if ti[key] is not None and rec[key] is not None and ti[key] != rec[key]:
                n += 1
                res.problem(f"{key} is {ti[key]!r} here, {rec[key]!r} in {rec['file']}", path=iv["path"])
        if ti["ops"] and ti["ops"] != rec["ops"]:
            n += 1
            res.problem(f"op counts differ from {rec['file']}", path=iv["path"])
        cross.append({"file": os.path.basename(iv["path"]), "view": "trace_info", "against": "lct",
                      "agrees": None, "disagreements": n})
    recording = None
    if auth is not None and auth["view"] != "trace_info":
        recording = _pick_recording(lcts, replay) or _pick_recording(
            [_recording_from_info(iv) for iv in info_views], replay)
        if recording is None and (lcts or info_views):
            res.problem("cannot tell which recording in this directory the replay was made from")
    if recording is not None:
        n = _check_recording(res, recording, auth, auth["path"])
        cross.append({"file": recording["file"], "view": recording["source"], "against": auth["view"],
                      "agrees": None, "disagreements": n})
        rr = next((v["recorded_records"] for v in replay if v["recorded_records"] is not None), None)
        if rr is not None and recording["total_records"] is not None and rr != recording["total_records"]:
            res.problem(f"the replay log says the replayed trace had {rr} records, "
                                    f"the recording here has {recording['total_records']}", path=res.path)
    elif len(lcts) == 1 and (auth is None or auth["view"] == "trace_info"):
        recording = lcts[0]
    for v in views:
        role = "authoritative" if v is auth else ("recording" if v["view"] == "trace_info" else "cross_check")
        files.append(_file_entry(v["path"], v["view"], v["records"], role))
    for r in lcts:
        files.append(_file_entry(r["path"], "lct", r["total_records"], "recording"))
    for p in ignored:
        files.append(_file_entry(p, None, None, "ignored"))
    latency_view = None
    ops: dict[str, Any] = {}
    if auth is not None:
        ops = _public_ops(auth["ops"])
        if any(e[k] is not None for e in ops.values() for k in STAT_FIELDS):
            latency_view = auth["view"]
        # Percentiles: when the authoritative view has none, take them from the tool's own aggregate.
        if auth["view"] in ("records_jsonl", "replay_log"):
            agg = next((v for v in replay if v["view"] == "summary_json"), None) or next(
                (v for v in replay if v["view"] == "ops_csv"), None)
            if agg is not None and set(agg["ops"]) == set(ops):
                for q, e in ops.items():
                    for k in STAT_FIELDS:
                        e[k] = agg["ops"][q].get(k)
                latency_view = agg["view"]
    duration = auth["duration_s"] if auth else None
    if duration is None:
        duration = next((v["duration_s"] for v in replay if v["duration_s"] is not None), None)
    level = auth["level"] if auth else None
    if level is None:
        level = next((v["level"] for v in views if v["level"]), None)
    skipped = auth["skipped"] if auth else None
    if skipped is None:
        skipped = next((v["skipped"] for v in replay if v["skipped"] is not None), None)
    res.summary = {
        "view": mode,
        "authoritative": auth["view"] if auth else None,
        "authoritative_file": os.path.basename(auth["path"]) if auth else None,
        "files": files[:MAX_LISTED_FILES],
        "records": auth["records"] if auth else None,
        "failed": auth["failed"] if auth else None,
        "skipped": skipped,
        "duration_s": duration,
        "level": level,
        "ops": ops,
        "ops_untracked": auth["ops_untracked"] if auth else 0,
        "latency_view": latency_view,
        "cross_checks": cross,  # `agrees` (consistent or not) is the engine's verdict
        "recording": ({k: recording[k] for k in ("source", "file", "level", "total_records", "duration_s",
                                                  "sm_config_digest", "ops")} if recording else None),
        "config_digest": _digest_block(replay, recording, res),
        "trace_info": info_views[0]["trace_info"] if info_views else None,
    }
    res.summary = json_safe(res.summary)
    records = auth["records"] if auth and auth["records"] is not None else 0
    res.records = records
    res.signals["records"] = records
    res.signals["views"] = len(views)
    if auth is not None and auth["failed"] is not None:
        res.signals["failed"] = auth["failed"]
    for q, e in ops.items():
        if e["count"] is not None and _SIGNAL_NAME_RE.fullmatch(q):
            res.signals["op." + q] = e["count"]



def _empty_summary(res: ReadResult, mode: str) -> None:
    _summarize(res, mode, [], [], [])


def read(path: str | os.PathLike, *, specs: Any = None, lct: str | os.PathLike | None = None) -> ReadResult:
    """Read one replay/trace-info output file, or a directory of them. Never raises on bad input.

    `lct`: a `.lct` recording to tie the replay to (op counts, config digest), when it is not
    in the directory itself.
    """
    spath = str(path)
    res = ReadResult(reader=READER_ID, path=spath)
    try:
        _read(res, spath, None if lct is None else str(lct))
    except OSError as exc:  # bad input is handled where it is read; only I/O can fail here
        res.problem(f"cannot read: {exc.strerror or exc}", offset=0, path=getattr(exc, "filename", None) or spath)
        if not res.summary:
            _empty_summary(res, "unknown")
    return res


def _read(res: ReadResult, spath: str, lct_path: str | None) -> None:
    lcts = [_recording_from_lct(lct_path, res)] if lct_path else []
    if os.path.isdir(spath):
        views: list[dict[str, Any]] = []
        ignored: list[str] = []
        try:
            names = sorted(e.name for e in os.scandir(spath) if e.is_file())
        except OSError as exc:
            res.problem(f"cannot list directory: {exc.strerror or exc}")
            _empty_summary(res, "directory")
            return
        if len(names) > MAX_DIR_FILES:
            res.problem(f"{len(names)} files in the directory; only the first {MAX_DIR_FILES} are looked at")
            names = names[:MAX_DIR_FILES]
        for name in names:
            p = os.path.join(spath, name)
            kind = sniff(p)
            if kind == "lct":
                if lct_path is None or os.path.abspath(p) != os.path.abspath(lct_path):
                    lcts.append(_recording_from_lct(p, res))
            elif kind in _PARSERS:
                views.append(_PARSERS[kind](p, res))
            else:
                ignored.append(p)
        if not views:
            res.problem("no trace replay or trace info output found in this directory")
        _summarize(res, "directory", views, ignored, lcts)
        return
    if not os.path.exists(spath):
        res.problem("no such file")
        _empty_summary(res, "unknown")
        return
    kind = sniff(spath)
    if kind == "lct":
        res.problem("this is a .lct trace recording, not a replay output (the lct reader reads it)", offset=0)
        _empty_summary(res, "unknown")
        return
    if kind not in _PARSERS:
        res.problem("not a recognised `lmcache trace replay` or `lmcache trace info` output", offset=0)
        _empty_summary(res, "unknown")
        return
    view = _PARSERS[kind](spath, res)
    _summarize(res, kind, [view], [], lcts)
