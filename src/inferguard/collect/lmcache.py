"""collect-lmcache: build an LMCache evidence packet directory.

Packet layout (every file written atomically; new files get 0666 & ~umask, and a raw copy
never more permission bits than its source):

    <output-dir>/
      packet_manifest.json               what was collected, from where, with sha256; written
                                         first and rewritten after every step, so an
                                         interrupted run still leaves a valid manifest
      engine.prom                        engine /metrics (copied from --engine-metrics-file
                                         or scraped from --engine-metrics-url)
      lmcache.prom                       LMCache /metrics (--lmcache-metrics-file/-url, else
                                         the MP server's own /metrics when a base URL is given)
      http/GET_<path>.body               LMCache HTTP bodies fetched live (safe GET routes
                                         only; `/` becomes `_`, e.g. GET_periodic-threads.body)
      http/file_<flag>.body              bodies copied from --lmcache-<flag>-file
                                         (secret values are redacted in both; sensitive
                                         routes only with --include-sensitive, then redacted)
      lmcache_http_evidence.json         one LaneEvidence envelope per lane:
      lmcache_log_evidence.json            {apiVersion, kind: LaneEvidence, lane, tool, spec,
      lmcache_otel_evidence.json            signals (summed over sources), sources (one
      lmcache_trace_evidence.json           ReadResult each), problems (lane-level)}
      lmcache_trace_replay_evidence.json
      lmcache_lookup_hash_evidence.json
      lmcache_cacheblend_evidence.json   only when a CacheBlend boundary file is given
      raw/<role>/...                     only with --keep-raw: copies of logs, OTel, traces,
                                         replay output, lookup-hash files, boundary files

Without --keep-raw the sources of those lanes are NOT copied: they can hold raw chunk
hashes or prompts. The manifest records each by its original path, size and sha256, and
the lane evidence holds what the reader understood (counts, salted digests).

Manifest: `state` (collecting | complete | interrupted | failed), `tool`, `spec`, `context`
(expect mode, L2 configured, sensitive/raw opt-ins, timeout), `inputs` (the options given),
`artifacts` (path in the packet or null, source, role, lane, size, sha256, copied, reader,
status ok|problems|failed, problem count), `endpoints` (every LMCache route
considered: called or skipped and why, with the HTTP status), `lanes` (evidence file,
status, sha256), `health` (healthy | unhealthy | unknown, reasons), `detected` (server kind
and version), `problems`.

An existing output directory is collected into only when everything in it is this tool's own:
files the previous manifest lists under `written` whose sha256 still matches (those are
removed, with the `.part` and temporary files of a killed run); anything else (a user's file,
an edited packet file, a path a crafted manifest names) makes the command refuse unless
`--force`, and even then it is never deleted. Folders are removed only once empty, never as
trees. Collection order: every input path is checked first (a missing one is an InputError before
anything is written); then the manifest; then metrics; then the HTTP lane; then each file
lane. One failing artifact or endpoint is recorded and the rest is still collected.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from inferguard.evidence import tool_info
from inferguard.readers import LANE_READERS
from inferguard.packet import copy_file_atomic, sha256_file, write_bytes_atomic, write_json_atomic
from inferguard.core.problems import InputError, InternalError, Problem

API_VERSION = "inferguard.dev/v1"
MANIFEST = "packet_manifest.json"

def _registry_tables() -> tuple[tuple[str, ...], dict[str, tuple[str, bool]], list[tuple[str, str, str, bool]]]:
    from inferguard.spec.registry import bundled, flag_dest

    reg = bundled()
    lanes = {ln["id"]: (ln["evidence_file"], ln["always_written"]) for ln in reg["lanes"]}
    inputs = [(flag_dest(ci["flag"]), ln["id"], ci["role"], ci["directory"])
              for ln in reg["lanes"] for ci in ln["collect_inputs"]]
    return tuple(reg["http_body_flags"]), lanes, inputs


# From the Vocabulary and HttpEndpoints specs (the compiled registry):
#   HTTP_FLAGS   the routes' file flags (--lmcache-<flag>-file takes a saved body)
#   LANES        lane id -> (evidence file, always written)
#   FILE_INPUTS  (option name, lane, role, a directory is accepted) per file flag of a lane
HTTP_FLAGS, LANES, FILE_INPUTS = _registry_tables()

DEFAULT_READERS = LANE_READERS  # one registry: inferguard.readers.LANE_READERS


@dataclass
class CollectOptions:
    output_dir: str
    engine_metrics_file: str | None = None
    engine_metrics_url: str | None = None
    lmcache_metrics_file: str | None = None
    lmcache_metrics_url: str | None = None
    lmcache_http_base_url: str | None = None
    http_files: dict[str, str] = field(default_factory=dict)   # flag -> saved body file
    files: dict[str, str] = field(default_factory=dict)        # FILE_INPUTS option name -> path
    expect_mode: str = "auto"               # auto | mp | embedded
    l2_configured: bool = False
    cacheblend_configured: bool = False
    timeout_seconds: float = 5.0
    include_sensitive: bool = False
    keep_raw: bool = False
    force: bool = False                     # collect into a folder that holds files this tool did not write
    retries: int = 2
    max_workers: int = 4
    max_body_bytes: int = 8 * 1024 * 1024   # one LMCache HTTP API body
    max_scrape_bytes: int = 1024 * 1024 * 1024  # one /metrics scrape
    budget_seconds: float = 60.0            # all network collection of one run
    specs: Any = None                       # a loaded spec set; None = the bundled one


# --------------------------------------------------------------------------- small helpers


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _import_reader(lane: str) -> tuple[Callable[..., Any], str]:
    """(read function, "module:function"); an import failure propagates (a broken install)."""
    from inferguard.readers import lane_reader

    fn = lane_reader(lane)
    if fn is None:
        raise LookupError(f"no reader registered for lane {lane!r}")
    return fn, LANE_READERS[lane]


def _call_reader(fn: Callable[..., Any], path: str, **kwargs: Any):
    """Call a reader with the keyword arguments it accepts; return its ReadResult."""
    from inferguard.readers import call_reader
    from inferguard.readers.base import ReadResult

    out = call_reader(fn, path, **kwargs)
    if isinstance(out, ReadResult):
        return out
    if isinstance(out, tuple):
        for item in out:
            if isinstance(item, ReadResult):
                return item
    if hasattr(out, "to_json") and hasattr(out, "signals"):
        return out
    raise TypeError(f"reader returned {type(out).__name__}, not a ReadResult")


def _dir_digest(root: Path, file_digest: Callable[[Path], tuple[int, str]] | None = None) -> tuple[int, str, int]:
    """(total size, sha256 over sorted (relative path, file sha256), file count) of a directory.

    `file_digest(path) -> (size, sha256)`; by default each file is read for it."""
    h = hashlib.sha256()
    total = 0
    count = 0
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = p.relative_to(root).as_posix()
            if file_digest is None:
                size, digest = p.stat().st_size, sha256_file(p)
            else:
                size, digest = file_digest(p)
            total += size
            count += 1
            h.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return total, h.hexdigest(), count


def _status_of(problem_count: int) -> str:
    return "ok" if problem_count == 0 else "problems"


def _one_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")


# --------------------------------------------------------------------------- the packet


class Packet:
    """The output directory and its manifest, rewritten atomically on every change."""

    def __init__(self, root: Path, opts: CollectOptions, spec_info: dict[str, Any]):
        self.root = root
        self.manifest: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "PacketManifest",
            "command": "collect-lmcache",
            "state": "collecting",
            "created": _now(),
            "updated": _now(),
            "tool": tool_info(),
            "spec": spec_info,
            "context": {
                "expect_mode": opts.expect_mode,
                "l2_configured": bool(opts.l2_configured),
                "cacheblend_configured": bool(opts.cacheblend_configured),
                "include_sensitive": bool(opts.include_sensitive),
                "keep_raw": bool(opts.keep_raw),
                "timeout_seconds": float(opts.timeout_seconds),
                "budget_seconds": float(opts.budget_seconds),
            },
            "inputs": _inputs_of(opts),
            "artifacts": [],
            "endpoints": [],
            "lanes": {},
            "health": {"lmcache": "unknown", "reasons": []},
            "detected": {"server": None, "lmcache_version": None},
            "problems": [],
            # The ledger of what this run wrote into the packet (the manifest aside): the next run
            # deletes a file only when it is listed here and its sha256 still matches.
            "written": [],
            # Files being written, with the sha256 they will have when it is known beforehand:
            # a killed run's file (renamed in, not yet listed) is then provably this tool's own,
            # and its `.part` or temporary file is known by name.
            "pending": [],
        }

    def save(self) -> None:
        self.manifest["updated"] = _now()
        write_json_atomic(self.root / MANIFEST, self.manifest, follow_symlinks=False)

    def begin(self, dest: Path, digest: str | None = None) -> None:
        """Record, before writing `dest`, that it is about to be written (and its sha256 when
        known beforehand)."""
        entry: dict[str, Any] = {"path": self.rel(dest)}
        if digest is not None:
            entry["sha256"] = digest
        self.manifest["pending"].append(entry)
        self.save()

    def done(self, dest: Path, size: int, digest: str) -> None:
        """Move `dest` from pending to the ledger (the manifest is saved by the caller's next step)."""
        rel = self.rel(dest)
        self.manifest["pending"] = [p for p in self.manifest["pending"] if p["path"] != rel]
        self.manifest["written"] = [w for w in self.manifest["written"] if w["path"] != rel]
        self.manifest["written"].append({"path": rel, "size": size, "sha256": digest})

    def write_bytes(self, dest: Path, data: bytes) -> Path:
        """Write a packet file atomically and list it in the ledger."""
        digest = hashlib.sha256(data).hexdigest()
        self.begin(dest, digest)
        write_bytes_atomic(dest, data, follow_symlinks=False)
        self.done(dest, len(data), digest)
        return dest

    def copy_file(self, src: Path, dest: Path) -> tuple[int, str]:
        """Copy a source into the packet (never more permission bits than the source); list it."""
        self.begin(dest)
        size, digest = copy_file_atomic(src, dest)
        self.done(dest, size, digest)
        return size, digest

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    def add_artifact(self, **fields: Any) -> dict[str, Any]:
        art = {
            "path": None, "source": None, "role": None, "lane": None, "size": 0, "sha256": None,
            "copied": False, "reader": None, "status": "ok", "problems": 0,
        }
        art.update(fields)
        self.manifest["artifacts"].append(art)
        return art

    def problem(self, message: str, path: str = "", source: str = "collect") -> None:
        self.manifest["problems"].append(Problem(source, path, message).to_json())


def _inputs_of(opts: CollectOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("engine_metrics_file", "engine_metrics_url", "lmcache_metrics_file", "lmcache_metrics_url",
                 "lmcache_http_base_url"):
        v = getattr(opts, name)
        if v:
            out[name] = str(v)
    for attr, _lane, _role, _dir in FILE_INPUTS:
        if opts.files.get(attr):
            out[attr] = str(opts.files[attr])
    for flag, p in sorted(opts.http_files.items()):
        out[f"lmcache_{flag.replace('-', '_')}_file"] = str(p)
    return out


def check_inputs(opts: CollectOptions) -> None:
    """Every given path must exist (directories only where a directory is accepted)."""
    if opts.expect_mode not in ("auto", "mp", "embedded"):
        raise InputError(f"--expect-mode must be auto, mp or embedded, not {opts.expect_mode!r}")
    for flag in opts.http_files:
        if flag not in HTTP_FLAGS:
            raise InputError(f"unknown HTTP body flag {flag!r}")
    paths: list[tuple[str, bool]] = []
    for name in ("engine_metrics_file", "lmcache_metrics_file"):
        if getattr(opts, name):
            paths.append((getattr(opts, name), False))
    for p in opts.http_files.values():
        paths.append((p, False))
    for attr in opts.files:
        if attr not in {a for a, _l, _r, _d in FILE_INPUTS}:
            raise InputError(f"unknown file input {attr!r}")
    for attr, _lane, _role, allow_dir in FILE_INPUTS:
        if opts.files.get(attr):
            paths.append((opts.files[attr], allow_dir))
    from inferguard.collect.urls import check_url
    from inferguard.core.filecheck import require_input

    for p, allow_dir in paths:
        require_input(str(p), allow_dir=allow_dir)
    for name in ("engine_metrics_url", "lmcache_metrics_url", "lmcache_http_base_url"):
        url = getattr(opts, name)
        if url:
            check_url(url, "--" + name.replace("_", "-"), base=name == "lmcache_http_base_url")
    if opts.engine_metrics_file and opts.engine_metrics_url:
        raise InputError("give --engine-metrics-file or --engine-metrics-url, not both")
    if opts.lmcache_metrics_file and opts.lmcache_metrics_url:
        raise InputError("give --lmcache-metrics-file or --lmcache-metrics-url, not both")
    try:
        float(opts.timeout_seconds)
    except (TypeError, ValueError):
        raise InputError("--timeout-seconds must be a number") from None
    import math

    for flag, value in (("--timeout-seconds", opts.timeout_seconds), ("--budget-seconds", opts.budget_seconds)):
        if not (math.isfinite(float(value)) and float(value) > 0):
            raise InputError(f"{flag} must be a positive number of seconds, not {value}")
    out = Path(opts.output_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", path=str(out))


_TMP_RE = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp\Z")  # write_bytes_atomic's temporary files


def _safe_rel(rel: Any) -> str | None:
    """A manifest path as a clean relative path inside the packet, or None (absolute, `..`,
    empty or not a string: a crafted manifest never names anything outside)."""
    if not isinstance(rel, str) or not rel or "\0" in rel or "\\" in rel:
        return None
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return "/".join(parts)


def _regular_inside(root: Path, rel: str) -> Path | None:
    """`root/rel` when it is a regular file reached through real folders only (no symlink on
    the way, none at the end); else None."""
    p = root
    for part in rel.split("/")[:-1]:
        p = p / part
        try:
            if not stat.S_ISDIR(os.lstat(p).st_mode):
                return None
        except OSError:
            return None
    p = p / rel.split("/")[-1]
    try:
        return p if stat.S_ISREG(os.lstat(p).st_mode) else None
    except OSError:
        return None


def _previous_manifest(root: Path) -> dict[str, Any] | None:
    mf = root / MANIFEST
    try:
        if not stat.S_ISREG(os.lstat(mf).st_mode) or os.lstat(mf).st_size > 64 * 1024 * 1024:
            return None
        old = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(old, dict) or old.get("kind") != "PacketManifest" or old.get("command") != "collect-lmcache":
        return None
    return old


def _claimed(old: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """({relative path: sha256} the manifest says this tool wrote or was writing with a known
    sha256}, {every pending path: their `.part` and temporary files are known by name})."""
    claims: dict[str, str] = {}

    def claim(rel: Any, digest: Any) -> None:
        rel = _safe_rel(rel)
        if rel is not None and isinstance(digest, str) and len(digest) == 64:
            claims[rel] = digest

    entries = [p for p in old.get("pending") or [] if isinstance(p, dict)]
    for w in list(old.get("written") or []) + entries:
        if isinstance(w, dict):
            claim(w.get("path"), w.get("sha256"))
    # Manifests written before the ledger existed: copied artifacts and lane evidence files
    # (a directory artifact's digest is not a file's, so it never matches a file).
    for a in old.get("artifacts") or []:
        if isinstance(a, dict) and a.get("copied") and a.get("kind") != "directory":
            claims.setdefault(_safe_rel(a.get("path")) or "", a.get("sha256") or "")
    for v in (old.get("lanes") or {}).values():
        if isinstance(v, dict):
            claims.setdefault(_safe_rel(v.get("evidence")) or "", v.get("sha256") or "")
    claims.pop("", None)
    pending = {r for r in (_safe_rel(p.get("path")) for p in entries) if r}
    return claims, pending


def _prepare_output_dir(root: Path, force: bool) -> int:
    """Make an existing output directory ready for a new packet without destroying anything
    that is not provably this tool's own. Raises InputError before changing anything when
    the folder holds other files and `force` is not set. Returns how many files were removed."""
    try:
        st = os.lstat(root / MANIFEST)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("is not a regular file; not replaced", path=str(root / MANIFEST))
    except FileNotFoundError:
        pass
    old = _previous_manifest(root)
    claims, pending = _claimed(old) if old is not None else ({}, set())
    known = claims.keys() | pending
    ours: list[Path] = []
    foreign: list[str] = []
    dirs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        if here != root:
            dirs.append(here)
        entries = sorted(filenames) + sorted(d for d in dirnames if os.path.islink(here / d))
        for name in entries:
            p = here / name
            rel = p.relative_to(root).as_posix()
            if rel == MANIFEST:
                if old is None:
                    foreign.append(rel)
                continue
            if old is not None and _regular_inside(root, rel) is not None:
                if rel in claims and sha256_file(p) == claims[rel]:
                    ours.append(p)
                    continue
                # A killed run's leftovers: `<listed or pending file>.part`, and the temporary
                # files of an atomic write next to a file of this tool's.
                if name.endswith(".part") and rel[: -len(".part")] in known:
                    ours.append(p)
                    continue
                m = _TMP_RE.match(name)
                if m:
                    sibling = (here / m.group("name")).relative_to(root).as_posix()
                    if sibling == MANIFEST or sibling in known:
                        ours.append(p)
                        continue
            foreign.append(rel)
    if foreign and not force:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise InputError(f"holds files this tool did not write ({foreign[0]}{more}); "
                         "choose an empty or new folder, or pass --force to collect into it anyway "
                         "(nothing of yours is deleted)", path=str(root))
    removed = 0
    for p in ours:
        try:
            p.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    for d in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        try:
            d.rmdir()  # only when empty: never a tree
        except OSError:
            pass
    return removed


def _spec_set(opts: CollectOptions) -> tuple[Any, dict[str, Any], list[str]]:
    """(spec set or None, {version, digest}, problems)."""
    if opts.specs is not None:
        s = opts.specs
        return s, {"version": getattr(s, "version", None), "digest": getattr(s, "digest", None)}, []
    from inferguard.spec import default_specs

    s = default_specs()  # the bundled spec set failing to load is a defect: it propagates
    return s, {"version": s.version, "digest": s.digest}, []


# --------------------------------------------------------------------------- metrics


def _metrics_status(path: Path, cut: str | None = None) -> tuple[str | None, str, int]:
    """(reader id, status, problem count) after a parse of a .prom file, when a reader exists."""
    from inferguard.readers import prometheus

    res = _call_reader(prometheus.read, str(path), cut=cut)
    n = len(res.problems) + getattr(res, "problems_dropped", 0)
    return "prometheus", _status_of(n), n


def _collect_metrics(packet: Packet, opts: CollectOptions, role: str, file: str | None, url: str | None,
                     target: str, deadline: float | None = None) -> bool:
    if not file and not url:
        return False
    dest = packet.root / target
    cut = None
    if file:
        try:
            size, digest = packet.copy_file(Path(file), dest)
        except InputError as exc:
            packet.add_artifact(path=None, source=str(file), role=role, status="failed", problems=1)
            packet.problem(f"cannot copy: {exc}", str(file))
            return False
        except OSError as exc:
            packet.add_artifact(path=None, source=str(file), role=role, status="failed", problems=1)
            packet.problem(f"cannot copy: {exc.strerror or exc}", str(file))
            return False
        source = str(file)
    else:
        from inferguard.collect.http import fetch_scrape

        from inferguard.packet import new_file_mode

        part = dest.with_name(dest.name + ".part")
        packet.begin(dest)  # listed before it exists, so a killed run's .part can be cleaned up
        try:
            with open(part, "wb") as fo:
                resp = fetch_scrape(url, opts.timeout_seconds, fo.write, max_bytes=opts.max_scrape_bytes,
                                    retries=opts.retries, deadline=deadline)
            os.chmod(part, new_file_mode())
            os.replace(part, dest)
        except InputError as exc:
            part.unlink(missing_ok=True)
            packet.add_artifact(path=None, source=url, role=role, status="failed", problems=1)
            packet.problem(str(exc), url)
            return False
        packet.done(dest, resp.nbytes, resp.sha256)
        source = url
        size, digest = resp.nbytes, resp.sha256
        cut = resp.cut
        if resp.truncated:
            cut = (f"the scrape is larger than --max-scrape-bytes ({opts.max_scrape_bytes} bytes); "
                   "only that much was kept")
        if cut:
            packet.problem(f"scrape cut: {cut}", url)
    reader, status, n = _metrics_status(dest, cut)
    art = packet.add_artifact(path=packet.rel(dest), source=source, role=role, size=size,
                              sha256=digest, copied=True, reader=reader, status=status, problems=n)
    if cut:
        art["truncated"] = True
    return True


# --------------------------------------------------------------------------- HTTP lane


def _http_lane(packet: Packet, opts: CollectOptions, specs: Any, lmcache_prom_taken: bool,
              deadline: float | None = None) -> dict[str, Any]:
    """Fetch/copy HTTP bodies, run the lmcache_http reader; return its ReadResult JSON (or {}).

    Every body, whether a saved file, a planned route, a per-value expansion or a detection
    probe, goes through `keep` (redact, write under http/, list as an artifact) and becomes one
    reader Body; live answers go through `record`, one call per response."""
    from inferguard.readers import lmcache_http as reader
    from inferguard.spec.kinds.http_endpoints import file_stem, load_index, parse_version

    index = load_index(specs)
    bodies: list[reader.Body] = []
    skips: list[reader.Skip] = []
    endpoints = packet.manifest["endpoints"]
    http_dir = packet.root / "http"

    def keep(stem: str, raw: bytes, route: Any, source: str, **fields: Any) -> tuple[Path, bytes, int, dict[str, Any]]:
        """Redact a body as its route says, write it as http/<stem>.body, list the artifact."""
        data, n_red = reader.redact_body(raw, route.body if route else "json",
                                         route.redact if route else "secret_keys", index)
        dest = http_dir / f"{stem}.body"
        n = 2
        while dest.exists():
            dest = http_dir / f"{stem}.{n}.body"
            n += 1
        packet.write_bytes(dest, data)
        art = packet.add_artifact(path=packet.rel(dest), source=source, role="http_body", lane="lmcache_http",
                                  size=len(data), sha256=hashlib.sha256(data).hexdigest(), copied=True,
                                  reader=reader.READER, status="ok", problems=0, **fields)
        if n_red:
            art["redacted"] = n_red
        return dest, data, n_red, art

    # ---- saved bodies given with --lmcache-<flag>-file
    for flag, file in sorted(opts.http_files.items()):
        b, err = reader.body_from_file(file, flag=flag, index=index, max_bytes=opts.max_body_bytes)
        route = index.flag_route(flag, opts.expect_mode if opts.expect_mode != "auto" else None)
        if b is None:
            packet.add_artifact(source=str(file), role="http_body", lane="lmcache_http", reader=reader.READER,
                                status="failed", problems=1)
            packet.problem(f"cannot read: {err}", str(file))
            continue
        # the reader reads the body as given; the packet keeps the redacted copy
        dest, _data, b.redacted, art = keep(f"file_{flag}", b.data, route, str(file), flag=flag)
        if b.truncated:
            art["truncated"] = True
        b.location = str(file)
        bodies.append(b)
        endpoints.append({"route": route.id if route else None, "method": "GET", "path": route.path if route else None,
                          "reason": "file_provided", "result": "not_called", "http_status": None,
                          "flag": flag, "artifact": packet.rel(dest)})
        packet.save()

    server: str | None = None
    version: str | None = None
    base = opts.lmcache_http_base_url
    fetched_metrics = None
    fetched_cut = None
    if base:
        from inferguard.collect.http import HttpClient, RefusedRequest, join_url

        allowed_cache: dict[str, bool] = {}

        def guard(url: str) -> None:
            # Refuse anything that is not a spec-listed route the policy lets us call.
            import urllib.parse

            path = urllib.parse.urlsplit(url).path or "/"
            if path in allowed_cache:
                ok = allowed_cache[path]
            else:
                hits = index.match("GET", path)
                ok = bool(hits) and all(
                    r.policy == "safe" or (r.policy == "sensitive" and opts.include_sensitive) for r in hits
                )
                allowed_cache[path] = ok
            if not ok:
                raise RefusedRequest(f"GET {path} is not a safe spec-listed route")

        client = HttpClient(timeout_seconds=opts.timeout_seconds, retries=opts.retries,
                            max_bytes=opts.max_body_bytes, max_workers=opts.max_workers, guard=guard,
                            deadline=deadline)
        responses: dict[str, Any] = {}

        def get(path: str):
            url = join_url(base, path)
            if url not in responses:
                responses[url] = client.get(url)
            return responses[url]

        # 1. which server (MP frontend or the embedded API server)
        if opts.expect_mode in ("mp", "embedded"):
            server = opts.expect_mode
        else:
            root = get("/")
            ok, value = reader.parse_json(root.data) if root.ok else (False, None)
            if ok and isinstance(value, dict) and value.get("service") == "LMCache HTTP API":
                server = "mp"
            else:
                hc = get("/healthcheck")
                if hc.status in (200, 503):
                    server = "mp"
                else:
                    api = get("/api/healthcheck")
                    server = "mp" if api.status in (200, 503) else "embedded"
        # 2. which version (a file given for it wins)
        for flag, reads in (("lmc-version", "lmc_version"), ("version", "version")):
            vb = next((b for b in bodies if b.flag == flag), None)
            if vb is not None:
                ok, value = reader.parse_json(vb.data)
                if ok and isinstance(value, str) and parse_version(value):
                    version = value
                    break
            routes = [r for r in index.routes(server) if r.reads_as == reads and r.collect]
            if routes and flag not in opts.http_files:
                resp = get(routes[0].path)
                ok, value = reader.parse_json(resp.data) if resp.ok else (False, None)
                if ok and isinstance(value, str) and parse_version(value):
                    version = value
                    break
        # 3. the plan: every route of this server (and version, when known)
        routes = index.for_version(server, version) if version else index.routes(server)
        plan: list[Any] = []
        for r in routes:
            rec = {"route": r.id, "method": r.method, "path": r.path, "policy": r.policy}
            if r.policy == "destructive":
                rec.update(reason="destructive_skipped", result="not_called", http_status=None)
                skips.append(reader.Skip(r.id, r.method, r.path, "destructive_skipped", r.effect))
            elif r.policy == "sensitive" and not opts.include_sensitive:
                rec.update(reason="sensitive_skipped", result="not_called", http_status=None)
                skips.append(reader.Skip(r.id, r.method, r.path, "sensitive_skipped"))
            elif r.flag and r.flag in opts.http_files:
                continue  # already recorded as file_provided
            elif r.collect_each and r.policy == "safe":
                continue  # collected per value, after the plan (step 5)
            elif not r.collect:
                rec.update(reason="not_collected", result="not_called", http_status=None)
                if r.note:
                    rec["note"] = r.note[:200]
            elif r.reads_as == "metrics" and lmcache_prom_taken:
                rec.update(reason="provided_separately", result="not_called", http_status=None)
            else:
                plan.append(r)
                continue
            endpoints.append(rec)

        def record(r: Any, path: str, note: str | None = None) -> None:
            """One live answer: the endpoint record, the body file and artifact, the reader Body."""
            nonlocal fetched_metrics, fetched_cut
            url = join_url(base, path)
            resp = responses[url]
            rec = {"route": r.id if r else None, "method": "GET", "path": path,
                   "policy": r.policy if r else "safe", "url": url,
                   "reason": "sensitive_opt_in" if r and r.policy == "sensitive" else "safe",
                   "http_status": resp.status, "attempts": resp.attempts, "elapsed_ms": round(resp.elapsed_ms, 1)}
            if note:
                rec["note"] = note
            data, n_red = b"", 0
            if resp.error is not None:
                rec.update(result="error", error=resp.error)
            else:
                rec["result"] = "ok" if resp.ok else "error"
                dest, data, n_red, art = keep(file_stem("GET", path), resp.data, r, url, http_status=resp.status)
                rec["artifact"] = packet.rel(dest)
                rec["bytes"] = len(resp.data)
                if resp.cut:
                    rec["truncated"] = True
                    rec["cut"] = resp.cut
                if n_red:
                    rec["redacted"] = n_red
                if resp.truncated:
                    art["truncated"] = True
                if r is not None and r.reads_as == "metrics" and resp.ok and not lmcache_prom_taken:
                    fetched_metrics = data
                    fetched_cut = resp.cut
            bodies.append(reader.Body(
                data=data, method="GET", path=path, route_id=r.id if r else None, source="live", location=url,
                http_status=resp.status, truncated=bool(resp.cut), content_type=resp.content_type,
                error=resp.error, elapsed_ms=resp.elapsed_ms, redacted=n_red))
            endpoints.append(rec)

        # 4. the plan, then 5. routes collected once per value another route lists (every thread
        # of /periodic-threads): fetched with bounded concurrency, probes already answered reused
        planned: set[str] = set()

        def fetch_and_record(todo: list[tuple[Any, str]]) -> None:
            urls = [join_url(base, path) for _r, path in todo]
            planned.update(urls)
            responses.update(client.fetch_many([u for u in urls if u not in responses]))
            for r, path in todo:
                record(r, path)

        fetch_and_record([(r, r.path) for r in plan])
        each = _expansions(routes, bodies, index, server, opts)
        fetch_and_record(each)
        for r in routes:
            if r.collect_each and r.policy == "safe" and not any(x is r for x, _p in each):
                endpoints.append({"route": r.id, "method": r.method, "path": r.path, "policy": r.policy,
                                  "reason": "no_values", "result": "not_called", "http_status": None,
                                  "note": f"{r.collect_each[0]} listed no value for {r.path}"})
        # probes (server/version detection) that the plan did not cover are evidence too
        for url in [u for u in responses if u not in planned]:
            path = url[len(base.rstrip("/")):] or "/"
            hits = index.match("GET", path, server) or index.match("GET", path)
            record(hits[0] if hits else None, path, note="detection probe")
        packet.manifest["http_client"] = {
            "requests_sent": len(client.sent), "methods": ["GET"], "max_workers": client.max_workers,
            "retries": client.retries, "timeout_seconds": client.timeout, "max_bytes": client.max_bytes,
            "budget_seconds": float(opts.budget_seconds),
            "paths_sent": sorted({u[len(base.rstrip("/")):] or "/" for u in client.sent}),
        }
        packet.save()

    if fetched_metrics is not None:
        dest = packet.root / "lmcache.prom"
        packet.write_bytes(dest, fetched_metrics)
        if fetched_cut:
            packet.problem(f"scrape cut: {fetched_cut}", join_url(base, "/metrics"))
        rdr, status, n = _metrics_status(dest, fetched_cut)
        art = packet.add_artifact(path=packet.rel(dest), source=join_url(base, "/metrics"), role="lmcache_metrics",
                                  size=len(fetched_metrics), sha256=hashlib.sha256(fetched_metrics).hexdigest(),
                                  copied=True, reader=rdr, status=status, problems=n)
        if fetched_cut:
            art["truncated"] = True

    if not bodies and not skips:
        return {}
    from inferguard.engine.verdicts import judge

    res = judge(reader.read_bodies(bodies, specs=specs, path=base or "files", skipped=skips, server=server), specs)
    return res.to_json()



MAX_EXPANSIONS = 64   # per-value requests one route may add (e.g. periodic threads)


def _expansions(routes: list[Any], bodies: list[Any], index: Any, server: str | None,
                opts: CollectOptions) -> list[tuple[Any, str]]:
    """(route, concrete path) for each safe route with `collect_each`: one path per value its
    jmespath finds in the body of the route it names (answered live or given as a file)."""
    import json
    import urllib.parse

    from inferguard.spec.expr import search

    out: list[tuple[Any, str]] = []
    for r in routes:
        if not r.collect_each or r.policy != "safe" or r.method != "GET":
            continue
        src_id, expr = r.collect_each
        params = re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", r.path)
        if len(params) != 1:
            continue
        values: list[str] = []
        for b in bodies:
            rid = b.route_id
            if rid is None and b.flag:
                fr = index.flag_route(b.flag, server)
                rid = fr.id if fr else None
            if rid != src_id or b.error is not None or (b.http_status is not None and not 200 <= b.http_status < 300):
                continue
            try:
                doc = json.loads(b.data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            got = search(expr, doc)
            for v in got if isinstance(got, list) else []:
                if isinstance(v, str) and v and v not in values:
                    values.append(v)
        for v in values[:MAX_EXPANSIONS]:
            out.append((r, r.path.replace("{" + params[0] + "}", urllib.parse.quote(v, safe=""))))
    return out


# --------------------------------------------------------------------------- lanes


def _envelope(lane: str, spec_info: dict[str, Any], sources: list[dict[str, Any]], problems: list[dict[str, Any]],
              inputs: list[str]) -> dict[str, Any]:
    signals: dict[str, int] = {}
    for s in sources:
        for k, v in (s.get("signals") or {}).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            signals[k] = signals.get(k, 0) + int(v)
    return {
        "apiVersion": API_VERSION,
        "kind": "LaneEvidence",
        "lane": lane,
        "tool": tool_info(),
        "spec": {"version": spec_info.get("version"), "digest": spec_info.get("digest")},
        "signals": dict(sorted(signals.items())),
        "sources": sources,
        "problems": problems,
        "inputs": inputs,
    }


def _validate(obj: Any, schema_name: str) -> list[str]:
    from inferguard.spec.loader import schema_validator

    v = schema_validator(schema_name)
    if v is None:
        return []
    out = []
    for err in v.iter_errors(obj):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{schema_name}: {where or '$'}: {err.message[:200]}")
    return out[:20]


def _write_lane(packet: Packet, lane: str, spec_info: dict[str, Any], sources: list[dict[str, Any]],
                problems: list[dict[str, Any]], inputs: list[str], status: str, reader: str | None,
                reason: str | None = None, failed: str | None = None) -> None:
    fname = LANES[lane][0]
    env = _envelope(lane, spec_info, sources, problems, inputs)
    if failed:
        env["failed"] = failed  # an internal error: the lane did not run
    if reason:
        # a lane that failed (or is degraded) says why; evaluate reads it as absent with this reason
        env["status"] = status
        env["reason"] = reason
    for msg in _validate(env, "evidence.lane.v1.schema.json"):
        env["problems"].append(Problem("collect", fname, msg).to_json())
    for s in sources:
        rschema = f"evidence.{s.get('reader')}.v1.schema.json"
        for msg in _validate(s, rschema):
            env["problems"].append(Problem("collect", fname, msg).to_json())
    dest = packet.root / fname
    blob = (json.dumps(env, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    packet.write_bytes(dest, blob)
    n = sum(len(s.get("problems") or []) + int(s.get("problems_dropped") or 0) for s in sources) + len(env["problems"])
    if status == "ok" and n:
        status = "problems"
    packet.manifest["lanes"][lane] = {
        "evidence": fname, "status": status, "reader": reader, "sources": len(sources), "problems": n,
        "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest(), **({"reason": reason} if reason else {}),
    }
    if failed:
        packet.manifest["lanes"][lane]["reason"] = failed
    packet.save()


def _copy_raw(packet: Packet, src: Path, role: str) -> tuple[str | None, int, str | None]:
    """Copy a raw source under raw/<role>/ (keep_raw only): (packet path, size, sha256).

    Every copied file is listed in the ledger (a re-run can remove it) and keeps at most its
    source's permission bits. Of a folder, only regular files are copied (a symlink or a
    special file inside it is skipped, never followed)."""
    dest = packet.root / "raw" / role / src.name
    if not src.is_dir():
        size, digest = packet.copy_file(src, dest)
        return packet.rel(dest), size, digest
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            try:
                if not stat.S_ISREG(os.lstat(p).st_mode):
                    continue
            except OSError:
                continue
            packet.copy_file(p, dest / p.relative_to(src))
    size, digest, _ = _dir_digest(dest) if dest.is_dir() else (0, hashlib.sha256().hexdigest(), 0)
    return packet.rel(dest), size, digest


def _file_lane(packet: Packet, opts: CollectOptions, specs: Any, spec_info: dict[str, Any], lane: str) -> None:
    inputs = [(attr, role, allow_dir) for attr, ln, role, allow_dir in FILE_INPUTS if ln == lane and opts.files.get(attr)]
    always = LANES[lane][1]
    if not inputs:
        if always:
            _write_lane(packet, lane, spec_info, [], [], [], "not_provided", None)
        return
    target = LANE_READERS[lane]
    sources: list[dict[str, Any]] = []
    lane_problems: list[dict[str, Any]] = []
    statuses: list[str] = []
    from inferguard.readers.tap import digest as tapped_digest, hashing

    for attr, role, _allow_dir in inputs:
        src = Path(opts.files[attr])
        is_dir = src.is_dir()
        # The digest is taken while the reader reads the source (see _source_digest).
        art = packet.add_artifact(path=None, source=str(src), role=role, lane=lane,
                                  size=0 if is_dir else src.stat().st_size, sha256=None,
                                  copied=False, reader=target.partition(":")[0].rsplit(".", 1)[-1])
        if is_dir:
            art["kind"] = "directory"
        if opts.keep_raw:
            try:
                art["path"], art["size"], art["sha256"] = _copy_raw(packet, src, role)
                art["copied"] = True
            except OSError as exc:
                packet.problem(f"cannot copy raw source: {exc.strerror or exc}", str(src))
        packet.save()
        with hashing() as taps:
            try:
                fn, target = _import_reader(lane)
                res = _call_reader(fn, str(src), specs=specs, keep_raw=opts.keep_raw, argv=None)
                from inferguard.engine.verdicts import judge

                judge(res, specs)  # the reader reported facts; the verdicts are the engine's
            except Exception:
                # Readers never raise on bad input, so this is a defect of ours: the artifact is
                # marked failed (still named by its digest) and the lane fails loudly
                # (collect_lmcache records why).
                art.update(status="failed", problems=1)
                if not art["copied"]:
                    try:
                        if is_dir:
                            art["size"], art["sha256"], _count = _dir_digest(src)
                        else:
                            art["size"], art["sha256"] = src.stat().st_size, sha256_file(src)
                    except OSError:
                        pass
                packet.save()
                raise
            rj = res.to_json()
            sources.append(rj)
            n = len(rj.get("problems") or []) + int(rj.get("problems_dropped") or 0)
            art.update(status=_status_of(n), problems=n)
            statuses.append(art["status"])
            if not art["copied"]:
                try:
                    if is_dir:
                        art["size"], art["sha256"], _count = _dir_digest(src, lambda f: tapped_digest(taps, str(f)))
                    else:
                        art["size"], art["sha256"] = tapped_digest(taps, str(src))
                except OSError as exc:
                    packet.problem(f"cannot hash: {exc.strerror or exc}", str(src))
        packet.save()
    status = "problems" if "problems" in statuses else "ok"
    _write_lane(packet, lane, spec_info, sources, lane_problems, [str(opts.files[a]) for a, _r, _d in inputs],
                status, target)


def _unreachable(packet: Packet, opts: CollectOptions) -> str | None:
    """The reason, when a base URL was given and no live request got an HTTP answer."""
    if not opts.lmcache_http_base_url:
        return None
    live = [e for e in packet.manifest["endpoints"] if e.get("url")]
    if not live or any(not e.get("error") for e in live):
        return None
    errors = sorted({e["error"] for e in live})
    return (f"LMCache HTTP server at {opts.lmcache_http_base_url} did not answer "
            f"({len(live)} request(s): {', '.join(errors[:3])})")


def _health(packet: Packet, http: dict[str, Any]) -> None:
    summ = (http or {}).get("summary") or {}
    h = summ.get("health") or {}
    state = h.get("state", "unknown")
    reasons = list(h.get("reasons") or ([h["reason"]] if h.get("reason") else []))
    packet.manifest["health"] = {"lmcache": state, "reasons": reasons, "marked": state == "unhealthy"}
    ver = summ.get("version") or {}
    packet.manifest["detected"] = {"server": summ.get("server"), "lmcache_version": ver.get("value"),
                                   "lmcache_version_full": ver.get("full"),
                                   "lmcache_version_source": ver.get("source")}


# --------------------------------------------------------------------------- pipeline


def collect_lmcache(opts: CollectOptions) -> dict[str, Any]:
    """Build the packet in `opts.output_dir`; return the final manifest.

    Raises InputError (before writing anything) for missing inputs or bad options. Any
    other failure, or an interrupt, leaves a manifest with state `failed`/`interrupted`."""
    check_inputs(opts)
    root = Path(opts.output_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create: {exc.strerror or exc}", path=str(root)) from None
    _prepare_output_dir(root, opts.force)
    specs, spec_info, spec_problems = _spec_set(opts)
    packet = Packet(root, opts, spec_info)
    for msg in spec_problems:
        packet.problem(msg, "specs")
    t0 = time.monotonic()
    # One budget for everything sent over the network; file lanes are read whatever is left.
    deadline = t0 + float(opts.budget_seconds)
    try:
        packet.save()
        _collect_metrics(packet, opts, "engine_metrics", opts.engine_metrics_file, opts.engine_metrics_url,
                         "engine.prom", deadline)
        lm = _collect_metrics(packet, opts, "lmcache_metrics", opts.lmcache_metrics_file, opts.lmcache_metrics_url,
                              "lmcache.prom", deadline)
        packet.save()
        # HTTP lane. An exception here or in a file lane is a defect of ours (readers and the
        # HTTP client turn bad input into problems): the lane is written as failed with the
        # reason, the other lanes are still collected, and the packet ends `failed`.
        internal: list[str] = []
        http_json: dict[str, Any] = {}
        try:
            http_json = _http_lane(packet, opts, specs, lm, deadline)
        except Exception as exc:  # noqa: BLE001 - recorded, then raised as InternalError below
            _lane_failed(packet, "lmcache_http", spec_info, exc, internal,
                         "inferguard.readers.lmcache_http:read_bodies")
        else:
            unreachable = _unreachable(packet, opts)
            http_inputs = ([opts.lmcache_http_base_url] if opts.lmcache_http_base_url else []) + sorted(opts.http_files.values())
            http_reader = "inferguard.readers.lmcache_http:read_bodies"
            if unreachable and not opts.http_files:
                # nothing answered: a failed lane with the reason, never a lane read as all zero
                packet.problem(unreachable, opts.lmcache_http_base_url or "")
                _write_lane(packet, "lmcache_http", spec_info, [], [Problem("collect", opts.lmcache_http_base_url or "", unreachable).to_json()],
                            http_inputs, "failed", http_reader, reason=unreachable)
                http_json = {}
            elif http_json:
                n = len(http_json.get("problems") or [])
                _write_lane(packet, "lmcache_http", spec_info, [http_json], [], http_inputs,
                            "problems" if unreachable else _status_of(n), http_reader, reason=unreachable)
            else:
                _write_lane(packet, "lmcache_http", spec_info, [], [], [], "not_provided", None)
        _health(packet, http_json)
        packet.save()
        # file lanes
        for lane in LANES:
            if lane == "lmcache_http":
                continue
            try:
                _file_lane(packet, opts, specs, spec_info, lane)
            except Exception as exc:  # noqa: BLE001 - recorded, then raised as InternalError below
                _lane_failed(packet, lane, spec_info, exc, internal, LANE_READERS.get(lane))
        packet.manifest["elapsed_seconds"] = round(time.monotonic() - t0, 3)
        for msg in _validate(packet.manifest, "packet_manifest.v1.schema.json"):
            internal.append(f"manifest: {msg}")
            packet.problem(f"internal error: {msg}", MANIFEST)
        if internal:
            packet.manifest["state"] = "failed"
            packet.save()
            raise InternalError("; ".join(internal) + f" (partial packet in {root}, state failed)")
        packet.manifest["state"] = "complete"
        packet.save()
    except KeyboardInterrupt:
        packet.manifest["state"] = "interrupted"
        packet.save()
        raise
    except InternalError:
        raise
    except BaseException as exc:
        packet.manifest["state"] = "failed"
        packet.problem(f"collection stopped: {_one_line(exc)}")
        packet.save()
        raise
    return packet.manifest


def _lane_failed(packet: Packet, lane: str, spec_info: dict[str, Any], exc: BaseException,
                 internal: list[str], reader: str | None) -> None:
    """Record a lane that could not run because of a defect of ours: never read, never ok."""
    from inferguard.core.problems import internal_error_line

    line = internal_error_line(exc, f"lane {lane}")
    internal.append(line)
    reason = f"internal error: {line}"
    packet.problem(reason)
    _write_lane(packet, lane, spec_info, [], [Problem("collect", "", reason).to_json()], [], "failed", reader,
                failed=reason)


def summarize(manifest: dict[str, Any]) -> dict[str, Any]:
    """Counts for the command's short summary."""
    eps = manifest.get("endpoints") or []
    by_reason: dict[str, int] = {}
    errors = 0
    for e in eps:
        by_reason[e.get("reason", "?")] = by_reason.get(e.get("reason", "?"), 0) + 1
        if e.get("result") == "error":
            errors += 1
    lanes = manifest.get("lanes") or {}
    probs = len(manifest.get("problems") or []) + sum(int(v.get("problems") or 0) for v in lanes.values())
    return {
        "output_dir": None,
        "state": manifest.get("state"),
        "lanes": {k: v.get("status") for k, v in lanes.items()},
        "endpoints_called": by_reason.get("safe", 0) + by_reason.get("sensitive_opt_in", 0),
        "endpoints_errors": errors,
        "endpoints_by_reason": dict(sorted(by_reason.items())),
        "artifacts": len(manifest.get("artifacts") or []),
        "health": (manifest.get("health") or {}).get("lmcache"),
        "lmcache_version": (manifest.get("detected") or {}).get("lmcache_version"),
        "lmcache_version_source": (manifest.get("detected") or {}).get("lmcache_version_source"),
        "problems": probs,
    }
