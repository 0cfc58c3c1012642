"""collect-metrics: scrape targets on a fixed schedule (live), or replay saved scrapes
(offline), and write the timeline, the raw samples and the window summary.

Live: tick i starts at t0 + i * interval (a monotonic clock), so the schedule does not drift
whatever a tick costs; a tick that could not start within one interval of its slot is skipped
and counted. Each tick scrapes every target once, concurrently (one worker per target), with a
deadline per request; a slow or failing target is recorded for that tick (its error and
latency) and does not hold the others or the schedule: a target still busy with an earlier
tick's scrape is recorded as `busy` for the next one. Ctrl-C stops the schedule, the scrapes
in flight are recorded (each ends within its deadline), and everything collected is written.

Output files: the two JSONL files are written as `<name>.part` while the run goes and renamed
when it ends (so a file under its final name is always whole); the summary is written
atomically at the end.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from inferguard.core.problems import InputError
from inferguard.packet import json_safe
from inferguard.flow.window import RAW_FILE, SUMMARY_FILE, TIMELINE_FILE, Window

OUTPUTS = (TIMELINE_FILE, RAW_FILE, SUMMARY_FILE)


@dataclass
class TargetSpec:
    name: str                      # engine | lmcache
    role: str                      # engine_metrics | lmcache_metrics
    url: str | None = None
    files: list[tuple[str, float | None]] = field(default_factory=list)   # offline: (path, unix time)


@dataclass
class RunOptions:
    output_dir: str
    duration_seconds: float = 60.0
    interval_seconds: float = 5.0
    timeout_seconds: float = 5.0
    keep_raw_samples: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    max_scrape_bytes: int = 64 * 1024 * 1024
    force: bool = False


# --------------------------------------------------------------------------- output files

def prepare_output_dir(opts: RunOptions) -> Path:
    """The output folder: created when missing; outputs of an earlier run are replaced only
    with --force (nothing else in the folder is touched)."""
    d = Path(opts.output_dir)
    if d.exists() and not d.is_dir():
        raise InputError("not a directory", str(d))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output directory: {exc.strerror or exc}", str(d)) from None
    names = [n for n in OUTPUTS] + [n + ".part" for n in OUTPUTS]
    there = [n for n in names if os.path.lexists(d / n)]
    for n in there:
        if (d / n).is_symlink() or not (d / n).is_file():
            # only regular files this command writes are ever replaced
            raise InputError("is not a regular file; not replaced", str(d / n))
    if there and not opts.force:
        raise InputError(f"already holds collect-metrics output ({', '.join(there)}); use --force to replace it", str(d))
    for n in OUTPUTS:
        part = d / (n + ".part")
        if part.is_file():
            part.unlink()  # a killed run's partial file
    return d


class Outputs:
    """The JSONL files of a run: appended as ticks go, renamed to their final names at the end."""

    def __init__(self, d: Path, keep_raw: bool):
        from inferguard.packet import new_file_mode

        self.dir = d
        self.mode = new_file_mode()
        self.timeline = self._open(TIMELINE_FILE)
        self.raw: TextIO | None = self._open(RAW_FILE) if keep_raw else None
        self.rows = 0
        self.raw_rows = 0

    def _open(self, name: str) -> TextIO:
        path = self.dir / (name + ".part")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), self.mode)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", str(path)) from None
        return os.fdopen(fd, "w", encoding="utf-8")

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.timeline.write(json.dumps(r, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n")
        self.rows += len(rows)
        self.timeline.flush()

    def write_raw(self, rows: list[dict[str, Any]]) -> None:
        if self.raw is None:
            return
        for r in rows:
            self.raw.write(json.dumps(r, ensure_ascii=False, default=_json_default) + "\n")
        self.raw_rows += len(rows)
        self.raw.flush()

    def finish(self) -> list[str]:
        written = []
        for fh, name in ((self.timeline, TIMELINE_FILE), (self.raw, RAW_FILE)):
            if fh is None:
                continue
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(self.dir / (name + ".part"), self.dir / name)
            written.append(str(self.dir / name))
        return written


def _json_default(o: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def raw_rows(window: Window, target, tick: int, wall: float, seen: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for mid, (name, kind, series) in seen.items():
        if kind == "histogram":
            ss = [{"labels": window.keys.labels(k), "buckets": b, "count": c, "sum": s} for k, (b, c, s) in series.items()]
        else:
            ss = [{"labels": window.keys.labels(k), "value": v} for k, v in series.items()]
        rows.append(json_safe({"tick": tick, "time": wall, "target": target.name, "metric": mid, "name": name,
                            "type": kind, "series": ss}))
    return rows


# --------------------------------------------------------------------------- one scrape

def _parse(source: str, text: io.TextIOBase, window: Window, cut: str | None = None):
    from inferguard.readers import prometheus

    return prometheus.read(source, window.lookup, lines=text, cut=cut)


def _scrape_live(client, url: str, window: Window, t0: float) -> tuple[dict[str, Any], Any, list[dict[str, Any]], float]:
    """GET and parse one target: (scrape record, exposition or None, parse problems, time)."""
    from inferguard.collect.http import charset_of

    start = time.monotonic()
    resp = client.get(url)
    took = resp.elapsed_ms
    at = start + (took / 2000.0)  # the server read its counters about half way through
    scrape: dict[str, Any] = {"source": url, "latency_ms": round(took, 2), "http_status": resp.status,
                              "bytes": resp.nbytes, "started": round(start - t0, 4)}
    if resp.error is not None:
        scrape["error"] = resp.error
        scrape["error_kind"] = "timeout" if "timed out" in resp.error else "unreachable"
        return scrape, None, [], at
    if resp.status is None or not (200 <= resp.status < 300):
        scrape["error"] = f"HTTP {resp.status}"
        scrape["error_kind"] = "http-status"
        return scrape, None, [], at
    text = io.StringIO(resp.data.decode(charset_of(resp.content_type), errors="replace"), newline=None)
    cut = resp.cut
    expo, result = _parse(url, text, window, cut)
    probs = [p.to_json() for p in result.problems]
    if result.summary.get("cut"):
        scrape["cut"] = result.summary["cut"]["reason"]
    if probs and expo.samples == 0 and not expo.declared:
        scrape["error"] = f"not a Prometheus exposition ({len(probs)} line(s) not understood, no sample)"
        scrape["error_kind"] = "unparseable"
        return scrape, None, probs[:1], at
    if probs:
        scrape["problems"] = len(probs)
    return scrape, expo, probs, at


# --------------------------------------------------------------------------- Ctrl-C

class _Interrupts:
    """While a run goes, the first Ctrl-C (SIGINT) asks it to stop after the tick in progress is
    recorded; a second one interrupts at once. Only in the main thread (where signals land)."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.hit = False
        self._old: Any = None

    def __enter__(self) -> "_Interrupts":
        import signal

        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True
        self.stop.set()

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# --------------------------------------------------------------------------- live

def run_live(targets: list[TargetSpec], opts: RunOptions, spec,
             on_tick: Callable[[int, int], None] | None = None,
             stop: threading.Event | None = None) -> dict[str, Any]:
    """Scrape `targets` every interval for the duration. Each target has at most one scrape
    in flight: a target still busy with an earlier tick's scrape when its next tick comes is
    recorded for that tick as `busy` (not scraped), so a slow target never holds the others
    or the schedule. Rows are written as scrapes complete; each names its tick."""
    from concurrent.futures import FIRST_COMPLETED
    from concurrent.futures import wait as wait_for

    from inferguard.collect.http import HttpClient
    from inferguard.packet import write_json_atomic

    d = prepare_output_dir(opts)
    window = Window(spec, opts.labels, opts.context)
    interval = float(opts.interval_seconds)
    n_ticks = max(1, int(math.floor(opts.duration_seconds / interval + 1e-9)) + 1)
    # No retries: a tick is one attempt per target; the next tick is the retry.
    client = HttpClient(timeout_seconds=opts.timeout_seconds, retries=0, max_bytes=opts.max_scrape_bytes,
                        max_workers=len(targets))
    tgs = [window.target(t.name, t.role, t.url or "") for t in targets]
    out = Outputs(d, opts.keep_raw_samples)
    stop = stop or threading.Event()
    late: list[float] = []
    tick_ms: list[float] = []
    skipped = 0
    done = 0
    t0 = time.monotonic()
    wall0 = time.time()
    pending: dict[int, tuple[int, Any]] = {}     # target index -> (tick, future)
    outstanding: dict[int, list[float]] = {}     # tick -> [scrapes not yet recorded, slot]

    def record(idx: int, tick: int, result: tuple[dict[str, Any], Any, list[dict[str, Any]], float]) -> None:
        scrape, expo, probs, at = result
        tg = tgs[idx]
        wall = round(wall0 + (at - t0), 4)
        rows = window.add_scrape(tg, tick, wall, at - t0, expo, scrape, probs)
        out.write_rows([json_safe(r) for r in rows])
        if out.raw is not None and expo is not None:
            out.write_raw(raw_rows(window, tg, tick, wall, tg.last_seen))
        left = outstanding[tick]
        left[0] -= 1
        if left[0] == 0:  # the tick's last scrape is in: its latency from its slot
            tick_ms.append((time.monotonic() - left[1]) * 1000.0)
            del outstanding[tick]

    def harvest(timeout: float | None) -> None:
        futs = {f: idx for idx, (_tick, f) in pending.items()}
        if not futs:
            return
        finished, _ = wait_for(list(futs), timeout=timeout, return_when=FIRST_COMPLETED)
        for f in finished:
            idx = futs[f]
            tick = pending.pop(idx)[0]
            record(idx, tick, f.result())

    pool = ThreadPoolExecutor(max_workers=max(1, len(targets)), thread_name_prefix="inferguard-scrape")
    interrupts = _Interrupts(stop)
    try:
        try:
            interrupts.__enter__()
            for i in range(n_ticks):
                slot = t0 + i * interval
                while not stop.is_set():
                    wait = slot - time.monotonic()
                    if wait <= 0:
                        break
                    if pending:
                        harvest(min(wait, 0.1))  # record scrapes as they complete
                    else:
                        stop.wait(wait)
                if stop.is_set():
                    window.stopped_early = "interrupted" if interrupts.hit else "stopped"
                    break
                lag = time.monotonic() - slot
                if i > 0 and lag > interval:
                    skipped += 1  # this slot passed while recording: skipped, never shifted
                    continue
                late.append(lag * 1000.0)
                outstanding[i] = [0, slot]
                for idx, t in enumerate(targets):
                    if idx in pending:
                        busy = {"source": t.url, "latency_ms": None, "started": round(time.monotonic() - t0, 4),
                                "error": f"not scraped: its scrape of tick {pending[idx][0]} was still running",
                                "error_kind": "busy"}
                        rows = window.add_scrape(tgs[idx], i, round(wall0 + (slot - t0), 4), slot - t0, None, busy)
                        out.write_rows([json_safe(r) for r in rows])
                        continue
                    pending[idx] = (i, pool.submit(_scrape_live, client, t.url, window, t0))
                    outstanding[i][0] += 1
                if not outstanding[i][0]:
                    del outstanding[i]
                window.ticks += 1
                done += 1
                if on_tick:
                    on_tick(done, n_ticks)
            while pending:  # the scrapes in flight end within their deadline
                harvest(0.1)
        except KeyboardInterrupt:
            window.stopped_early = "interrupted"
    finally:
        interrupts.__exit__()
        pool.shutdown(wait=False, cancel_futures=True)
    window.schedule = _schedule(interval, n_ticks, done, skipped, late, tick_ms, wall0, opts, "live")
    return _finish(window, out, d, write_json_atomic)


def _schedule(interval: float, planned: int, done: int, skipped: int, late: list[float], tick_ms: list[float],
              wall0: float, opts: RunOptions, mode: str) -> dict[str, Any]:
    from inferguard.engine.window import quantile_of_values

    return {
        "mode": mode, "interval_seconds": interval, "duration_seconds": opts.duration_seconds,
        "timeout_seconds": opts.timeout_seconds if mode == "live" else None,
        "planned_ticks": planned, "ticks": done, "skipped_ticks": skipped,
        "started": datetime.fromtimestamp(wall0, timezone.utc).isoformat().replace("+00:00", "Z"),
        "start_lag_ms": {"p50": _r(quantile_of_values(late, 0.5)), "p95": _r(quantile_of_values(late, 0.95)),
                         "max": _r(max(late) if late else None)},
        "tick_ms": {"p50": _r(quantile_of_values(tick_ms, 0.5)), "p95": _r(quantile_of_values(tick_ms, 0.95)),
                    "max": _r(max(tick_ms) if tick_ms else None)},
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _finish(window: Window, out: Outputs, d: Path, write_json_atomic) -> dict[str, Any]:
    written = out.finish()
    summary = json_safe(window.summary())
    summary["outputs"] = {"timeline": TIMELINE_FILE, "timeline_rows": out.rows,
                          "raw_samples": RAW_FILE if out.raw is not None else None, "raw_rows": out.raw_rows}
    write_json_atomic(d / SUMMARY_FILE, summary)
    written.append(str(d / SUMMARY_FILE))
    summary["_written"] = written
    return summary


# --------------------------------------------------------------------------- offline

# Accepted timestamps in a scrape's file name (the first match wins):
#   ISO 8601: 2026-12-03T12:22:09Z, 2026-12-03T12-22-09.5Z, 20261203T122209Z (UTC unless an offset follows)
#   Unix time: 10 digits (seconds, optional .fraction) or 13 digits (milliseconds)
_ISO_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[T_](\d{2})[:\-]?(\d{2})[:\-]?(\d{2})(?:[.,](\d+))?(Z|[+\-]\d{2}:?\d{2})?")
_EPOCH_RE = re.compile(r"(?<![\d.])(\d{13}|\d{10}(?:\.\d+)?)(?![\d])")


def timestamp_of(name: str) -> float | None:
    """The Unix time a scrape's file name carries, or None (see the accepted forms above)."""
    m = _ISO_RE.search(name)
    if m:
        y, mo, dd, hh, mi, ss, frac, tz = m.groups()
        try:
            dt = datetime(int(y), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=timezone.utc)
        except ValueError:
            return None
        t = dt.timestamp() + (float("0." + frac) if frac else 0.0)
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            hhmm = tz[1:].replace(":", "")
            t -= sign * (int(hhmm[:2]) * 3600 + int(hhmm[2:]) * 60)
        return t
    m = _EPOCH_RE.search(name)
    if m:
        v = m.group(1)
        return int(v) / 1000.0 if len(v) == 13 and "." not in v else float(v)
    return None


def offline_files(paths: list[str], flag: str) -> list[tuple[str, float | None]]:
    """The scrapes of one target in time order: files as given, or a folder's files ordered by
    the timestamps in their names (every file of a folder must carry one)."""
    from inferguard.core.filecheck import require_input

    if len(paths) == 1 and os.path.isdir(paths[0]):
        folder = paths[0]
        entries = sorted(e for e in os.listdir(folder) if not e.startswith("."))
        got = []
        for e in entries:
            p = os.path.join(folder, e)
            if not os.path.isfile(p):
                continue
            ts = timestamp_of(e)
            if ts is None:
                raise InputError(f"{flag}: no timestamp in the file name (accepted: 2026-12-03T12:22:09Z, "
                                 "20261203T122209Z, Unix seconds or milliseconds)", p)
            got.append((p, ts))
        if not got:
            raise InputError(f"{flag}: the folder holds no scrape files", folder)
        return sorted(got, key=lambda x: x[1])
    out = []
    for p in paths:
        if os.path.isdir(p):
            raise InputError(f"{flag}: give one folder, or files", p)
        require_input(p)
        out.append((p, timestamp_of(os.path.basename(p))))
    if any(ts is None for _, ts in out):
        return [(p, None) for p, _ in out]  # the order given, spaced by --interval-seconds
    for (pa, a), (pb, b) in zip(out, out[1:]):
        if b <= a:
            raise InputError(f"{flag}: files are not in time order ({os.path.basename(pb)} is not later than "
                             f"{os.path.basename(pa)})", pb)
    return out


def run_offline(targets: list[TargetSpec], opts: RunOptions, spec,
                on_tick: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    from inferguard.packet import write_json_atomic

    d = prepare_output_dir(opts)
    window = Window(spec, opts.labels, opts.context)
    out = Outputs(d, opts.keep_raw_samples)
    interval = float(opts.interval_seconds)
    n = max(len(t.files) for t in targets)
    tgs = [window.target(t.name, t.role, os.path.dirname(t.files[0][0]) or ".") for t in targets]
    first = min((ts for t in targets for _, ts in t.files if ts is not None), default=None)
    base_wall = first if first is not None else 0.0
    done = 0
    stop = threading.Event()
    interrupts = _Interrupts(stop)
    try:
        interrupts.__enter__()
        for i in range(n):
            if stop.is_set():
                window.stopped_early = "interrupted"
                break
            for t, tg in zip(targets, tgs):
                if i >= len(t.files):
                    continue
                path, ts = t.files[i]
                at = (ts - base_wall) if ts is not None else i * interval
                wall = ts if ts is not None else base_wall + at
                with open(path, "r", encoding="utf-8", errors="replace", newline=None) as fh:
                    expo, result = _parse(path, fh, window)
                probs = [p.to_json() for p in result.problems]
                scrape: dict[str, Any] = {"source": path, "latency_ms": None, "bytes": os.path.getsize(path)}
                if probs and expo.samples == 0 and not expo.declared:
                    scrape["error"] = f"not a Prometheus exposition ({len(probs)} line(s) not understood, no sample)"
                    scrape["error_kind"] = "unparseable"
                    expo = None
                elif probs:
                    scrape["problems"] = len(probs)
                if result.summary.get("cut"):
                    scrape["cut"] = result.summary["cut"]["reason"]
                rows = window.add_scrape(tg, i, wall, at, expo, scrape, probs[:20])
                out.write_rows([json_safe(r) for r in rows])
                if out.raw is not None and expo is not None:
                    out.write_raw(raw_rows(window, tg, i, wall, tg.last_seen))
            window.ticks += 1
            done += 1
            if on_tick:
                on_tick(done, n)
    except KeyboardInterrupt:
        window.stopped_early = "interrupted"
    finally:
        interrupts.__exit__()
    window.schedule = _schedule(interval, n, done, 0, [], [], base_wall, opts, "offline")
    window.schedule["timestamps"] = "file names" if first is not None else "order given, spaced by --interval-seconds"
    return _finish(window, out, d, write_json_atomic)
