"""LMCache HTTP API payloads -> the `lmcache_http` lane summary.

Input is a set of response bodies, each tied to a route of the HttpEndpoints spec: saved
files (`METHOD_path[_suffix].body`, as `curl` captures are commonly named, or a file given
for a collect-lmcache `--lmcache-<flag>-file` option) or responses fetched by
`inferguard.collect.http`. Nothing here does I/O beyond opening the given files.

What the summary holds:
- `version`: the server's release, from `/lmc_version` or `/version` (JSON string bodies are
  values: `"0.5.6"` stays the string "0.5.6"), else inferred from which routes answered and
  which answered 404, and from version-specific keys in `/status` (spec `body_hints`);
- `health`: `healthy` | `unhealthy` | `unknown` from `/healthcheck` (`/api/healthcheck`
  before 0.4.5), plus `/status` `is_healthy` and `/periodic-threads-health`: the reader
  gathers what those bodies said (`facts["healthchecks"]`); the verdict, `health` and the
  health signals, is the engine's (`inferguard.engine.verdicts.judge`) under the `health`
  rules of the HttpEndpoints spec;
- `status`: engine type, chunk size, hash algorithm, L1 used/total, L2 adapters,
  registered instances and their models, P2P, worker liveness, KV events;
- `config`, `quota`, `threads`, `periodic_threads`, `openapi` (routes served but not in the
  spec), metrics body counts;
- `endpoints`: every body with its route, HTTP status (or the status a saved body implies:
  FastAPI's `{"detail":"Not Found"}` is a 404), outcome, size and truncation;
- `skipped`: routes that collection did not call, and why.

Error answers (404, 409, 503, ...) are recorded, never fatal. Bodies never raise: bad bytes,
bad JSON and unexpected shapes become problems. Secret values are never copied into the
summary (only selected config fields, env variable counts, thread counts).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from inferguard.readers.base import ReadResult
from inferguard.readers.payload import number as _num

READER = "lmcache_http"
MAX_BODY_BYTES = 8 * 1024 * 1024

# The signals this reader emits are declared once, with its lane, in specs/vocabulary.yaml.


@dataclass
class Body:
    """One response body and where it came from."""

    data: bytes
    method: str = "GET"
    path: str | None = None          # request path as sent (query kept), if known
    route_id: str | None = None
    flag: str | None = None          # collect-lmcache file flag that supplied it
    source: str = "file"             # file | live
    location: str = ""               # file path or URL
    http_status: int | None = None
    truncated: bool = False
    content_type: str | None = None
    error: str | None = None         # transport error: no answer at all
    elapsed_ms: float | None = None
    redacted: int = 0                # values replaced before the body was written


@dataclass
class Skip:
    route_id: str
    method: str
    path: str
    reason: str                      # destructive_skipped | sensitive_skipped | not_in_version | file_provided
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {"route": self.route_id, "method": self.method, "path": self.path, "reason": self.reason}
        if self.note:
            out["note"] = self.note
        return out


# --------------------------------------------------------------------------- helpers


def _index(specs: Any):
    from inferguard.spec.kinds.http_endpoints import load_index

    return load_index(specs)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def json_error_offset(data: bytes) -> int:
    """The byte offset at which `data` stops being JSON (0 when the whole document is refused,
    e.g. nested too deeply or an integer past Python's digit limit)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return len(text[: exc.pos].encode("utf-8"))
    except (ValueError, RecursionError):
        return 0
    return 0


def parse_json(data: bytes) -> tuple[bool, Any]:
    """(ok, value). Never raises: invalid UTF-8, an over-long integer or deep nesting is not ok
    (see `body_problem` for why)."""
    from inferguard.readers.jsonio import JsonInputError, loads

    if not data.strip():
        return False, None
    try:
        return True, loads(data)
    except JsonInputError:
        return False, None


def body_problem(data: bytes, is_json: bool) -> tuple[str, int | None] | None:
    """(why, byte offset) when a body cannot be read as it is, other than plainly not being
    JSON (that is counted as unparsed): invalid UTF-8, an over-long integer, deep nesting."""
    from inferguard.readers.jsonio import JsonInputError, loads

    if is_json and data.strip():
        try:
            loads(data)
        except JsonInputError as exc:
            if not exc.message.startswith("not JSON"):
                return exc.message, exc.offset
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "not valid UTF-8", exc.start
    return None


def _is_not_found(value: Any) -> bool:
    return isinstance(value, dict) and value == {"detail": "Not Found"}


def _error_text(value: Any) -> str | None:
    """The message of an error-shaped JSON body ({"detail": ...} / {"error": ...})."""
    if isinstance(value, dict) and len(value) <= 2:
        for k in ("detail", "error"):
            v = value.get(k)
            if isinstance(v, str):
                return v[:200]
            if k == "detail" and isinstance(v, list):  # FastAPI 422 validation errors
                return "request validation failed"
    return None


# --------------------------------------------------------------------------- redaction
# Used by collection before a body is written; pure functions, no I/O.

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def redact_value(value: Any, index, mode: str) -> tuple[Any, int]:
    """Redact a decoded JSON value: `values` replaces every leaf value (keys kept);
    `secret_keys` replaces values whose key matches the spec's patterns and passwords in
    URLs; `none` keeps everything."""
    if mode == "none":
        return value, 0
    red = index.redaction
    placeholder = red.placeholder
    count = 0

    def walk(v: Any, key: str | None) -> Any:
        nonlocal count
        if isinstance(v, dict):
            return {k: walk(x, str(k)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, key) for x in v]
        if mode == "values":
            count += 1
            return placeholder
        if key is not None and v not in (None, "", False) and any(p.search(key) for p in red.secret_keys):
            count += 1
            return placeholder
        if isinstance(v, str) and red.url_userinfo and "@" in v:
            new, n = _URL_USERINFO.subn(lambda m: f"{m.group('scheme')}{m.group('user')}:{placeholder}@", v)
            count += n
            return new
        return v

    return walk(value, None), count


def redact_body(data: bytes, body_kind: str, mode: str, index) -> tuple[bytes, int]:
    """Redacted bytes of a body and how many values were replaced."""
    if mode == "none" or not data:
        return data, 0
    ok, value = parse_json(data)
    if ok and isinstance(value, (dict, list)):
        new, n = redact_value(value, index, mode)
        if n == 0:
            return data, 0
        return (json.dumps(new, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), n
    text = _decode(data)
    if mode == "values":
        # text/plain env dumps: NAME=value or "NAME": value lines
        lines, n = [], 0
        for line in text.splitlines():
            m = re.match(r'^(\s*"?[A-Za-z_][A-Za-z0-9_.]*"?\s*[:=]\s*)(.+?)(,?)\s*$', line)
            if m:
                lines.append(f'{m.group(1)}"{index.redaction.placeholder}"{m.group(3)}')
                n += 1
            else:
                lines.append(line)
        return ("\n".join(lines) + "\n").encode("utf-8"), n
    if index.redaction.url_userinfo and "@" in text:
        new, n = _URL_USERINFO.subn(lambda m: f"{m.group('scheme')}{m.group('user')}:{index.redaction.placeholder}@", text)
        return new.encode("utf-8"), n
    return data, 0


# --------------------------------------------------------------------------- summaries
# What each body kind keeps is data: the `payloads` of the HttpEndpoints spec, applied by
# inferguard.readers.payload. The computations below are more than lookups (sums with
# fallbacks, nested walks, text bodies); payloads name them with `derive:`.


def _health_fact(value: Any, code: int | None, route: str | None) -> dict[str, Any]:
    """What a healthcheck answer said: its body's `status` and `reason`, and its HTTP status.
    Whether that is healthy is the engine's verdict (inferguard.engine.verdicts)."""
    said = value.get("status") if isinstance(value, dict) else None
    reason = value.get("reason") if isinstance(value, dict) else None
    return {"said": said if isinstance(said, str) else None,
            "reason": reason[:200] if isinstance(reason, str) else None,
            "http_status": code, "route": route}


_L1_STATS = {"pick": ["is_healthy", "total_object_count", "memory_used_bytes", "memory_total_bytes",
                      "memory_usage_ratio", "write_locked_count", "read_locked_count", "staging_bytes"],
             "types": ["bool", "number"]}


def _l1_stats(l1: Any) -> dict[str, Any]:
    from inferguard.readers.payload import build

    return build([_L1_STATS], l1, {}, "", DERIVATIONS) if isinstance(l1, dict) else {}


def _unhealthy_parts(value: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Dotted paths of nested components reporting is_healthy false or thread_alive false."""
    out: list[str] = []
    if depth > 6:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{prefix}.{k}" if prefix else str(k)
            if k in ("is_healthy", "thread_alive", "event_loop_alive") and v is False:
                out.append(prefix or k)
            elif isinstance(v, (dict, list)):
                out.extend(_unhealthy_parts(v, p, depth + 1))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_unhealthy_parts(v, f"{prefix}[{i}]", depth + 1))
    return sorted(set(out))


def _d_unhealthy_components(value: Any, _text: str) -> list[str] | None:
    bad = _unhealthy_parts(value)
    return bad[:50] if bad else None


def _d_status_l1(value: Any, _text: str) -> dict[str, Any] | None:
    """L1 used/total bytes: the `l1_usage` pair, else the sum over `l1_managers` (when every
    manager reports it), else the single `l1_manager`; object count and usage ratio likewise."""
    sm = value.get("storage_manager") if isinstance(value, dict) else None
    if not isinstance(sm, dict):
        return None
    l1: dict[str, Any] = {}
    usage = sm.get("l1_usage")
    if isinstance(usage, list) and len(usage) == 2 and all(_num(x) is not None for x in usage):
        l1["used_bytes"], l1["total_bytes"] = usage[0], usage[1]
    managers = sm.get("l1_managers")
    if isinstance(managers, dict) and managers:
        l1["tags"] = sorted(str(k) for k in managers)
        l1["managers"] = {str(k): _l1_stats(v) for k, v in managers.items()}
        if "used_bytes" not in l1:
            used = [_num(v.get("memory_used_bytes")) for v in managers.values() if isinstance(v, dict)]
            total = [_num(v.get("memory_total_bytes")) for v in managers.values() if isinstance(v, dict)]
            if used and all(x is not None for x in used):
                l1["used_bytes"] = sum(used)
            if total and all(x is not None for x in total):
                l1["total_bytes"] = sum(total)
        objs = [_num(v.get("total_object_count")) for v in managers.values() if isinstance(v, dict)]
        if objs and all(x is not None for x in objs):
            l1["object_count"] = sum(objs)
    elif isinstance(sm.get("l1_manager"), dict):
        s = _l1_stats(sm["l1_manager"])
        l1.setdefault("used_bytes", s.get("memory_used_bytes"))
        l1.setdefault("total_bytes", s.get("memory_total_bytes"))
        if "total_object_count" in s:
            l1["object_count"] = s["total_object_count"]
    if isinstance(sm.get("l1_capacity_bytes_by_backend"), dict):
        l1["capacity_bytes_by_backend"] = {str(k): v for k, v in sm["l1_capacity_bytes_by_backend"].items() if _num(v) is not None}
    if l1.get("used_bytes") is not None and l1.get("total_bytes"):
        l1["usage_ratio"] = round(l1["used_bytes"] / l1["total_bytes"], 6)
    return {k: v for k, v in l1.items() if v is not None}


def _d_status_models(value: Any, _text: str) -> dict[str, Any] | None:
    """Registered instances and their models, from `cache_context_meta` (`gpu_context_meta`
    before 0.4.7)."""
    meta = value.get("cache_context_meta")
    meta_key = "cache_context_meta"
    if meta is None and "gpu_context_meta" in value:
        meta, meta_key = value.get("gpu_context_meta"), "gpu_context_meta"
    if not isinstance(meta, dict):
        return None
    models = []
    for inst, m in list(meta.items())[:64]:
        if not isinstance(m, dict):
            continue
        entry: dict[str, Any] = {"instance": str(inst)}
        for k in ("model_name", "world_size"):
            if isinstance(m.get(k), (str, int)):
                entry[k] = m[k]
        layout = m.get("kv_cache_layout")
        if isinstance(layout, dict):
            for k in ("num_layers", "num_blocks", "cache_size_per_token"):
                if _num(layout.get(k)) is not None:
                    entry[k] = layout[k]
            groups = layout.get("kernel_groups")
            if isinstance(groups, list):
                entry["kernel_groups"] = len(groups)
                fmts = sorted({g.get("engine_kv_format") for g in groups if isinstance(g, dict) and isinstance(g.get("engine_kv_format"), str)})
                if fmts:
                    entry["engine_kv_formats"] = fmts
                mla = {g.get("is_mla") for g in groups if isinstance(g, dict) and isinstance(g.get("is_mla"), bool)}
                if len(mla) == 1:
                    entry["is_mla"] = mla.pop()
        models.append(entry)
    return {"models": models, "context_meta_key": meta_key}


_THREADS_TOTAL = re.compile(r"Total threads:\s*(\d+)")


def _d_threads_text(_value: Any, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"blocks": text.count("\nThread: ") + (1 if text.startswith("Thread: ") else 0)}
    m = _THREADS_TOTAL.search(text)
    if m:
        out["total"] = int(m.group(1))
    return out


def _d_metrics_text(_value: Any, text: str) -> dict[str, Any]:
    samples = families = lm_mp = lm_emb = 0
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# TYPE "):
                families += 1
                name = line[7:].split(" ", 1)[0]
                if name.startswith("lmcache_mp_") or name.startswith("lmcache_mp:"):
                    lm_mp += 1
                elif name.startswith("lmcache:"):
                    lm_emb += 1
            continue
        samples += 1
    return {"samples": samples, "families": families, "lmcache_mp_families": lm_mp, "lmcache_embedded_families": lm_emb}


def _d_loglevel_text(_value: Any, text: str) -> dict[str, Any]:
    loggers = 0
    lmcache_level = None
    for line in text.splitlines():
        m = re.match(r"^\s*([\w.\-]+):\s*([A-Z]+)\s*$", line)
        if m:
            loggers += 1
            if m.group(1) == "lmcache":
                lmcache_level = m.group(2)
    out: dict[str, Any] = {"loggers": loggers}
    if lmcache_level:
        out["lmcache_level"] = lmcache_level
    return out


def _d_env_variables(value: Any, text: str) -> dict[str, Any]:
    """How many variables an /env body lists (names only: the values are secrets)."""
    if isinstance(value, dict):
        return {"variables": len(value)}
    return {"variables": sum(1 for line in text.splitlines() if re.match(r"^\s*\"?[A-Za-z_][A-Za-z0-9_]*\"?\s*[:=]", line))}


# The computations a payload may name with `derive:` (schemas/spec.HttpEndpoints.v1.schema.json
# lists the same names, so `specs lint` refuses any other).
DERIVATIONS = {
    "status_l1": _d_status_l1,
    "status_models": _d_status_models,
    "unhealthy_components": _d_unhealthy_components,
    "threads_text": _d_threads_text,
    "metrics_text": _d_metrics_text,
    "loglevel_text": _d_loglevel_text,
    "env_variables": _d_env_variables,
}


def _summarize(index, reads_as: str, value: Any, text: str) -> dict[str, Any] | None:
    from inferguard.readers.payload import summarize

    payload = index.payloads.get(reads_as)
    return None if payload is None else summarize(payload, value, text, DERIVATIONS)


def _sum_openapi(value: Any, index, server: str, version: str | None) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("paths"), dict):
        return {"shape": type(value).__name__}
    served: list[tuple[str, str]] = []
    for p, ops in value["paths"].items():
        if isinstance(ops, dict):
            for m in ops:
                if m.lower() in ("get", "post", "put", "delete", "patch"):
                    served.append((m.upper(), str(p)))
    known = {(r.method, r.path) for r in index.routes(server)}
    unlisted = sorted(f"{m} {p}" for m, p in served if (m, p) not in known)
    out: dict[str, Any] = {"routes": len(served), "unlisted": unlisted[:100]}
    info = value.get("info")
    if isinstance(info, dict) and isinstance(info.get("title"), str):
        out["title"] = info["title"][:100]
    if version:
        expected = {(r.method, r.path) for r in index.for_version(server, version)
                    if r.path not in ("/openapi.json", "/docs")}
        out["missing"] = sorted(f"{m} {p}" for m, p in expected - set(served))[:100]
    return out


# --------------------------------------------------------------------------- reading


def _endpoint_outcome(code: int | None, error: str | None) -> str:
    if error is not None:
        return "transport_error"
    if code is None:
        return "ok"
    if 200 <= code < 300:
        return "ok"
    if code == 404:
        return "not_found"
    if code == 503:
        return "unavailable"
    return "error"


def read_bodies(
    bodies: Iterable[Body],
    *,
    specs: Any = None,
    path: str = "",
    skipped: Iterable[Skip] = (),
    server: str | None = None,
) -> ReadResult:
    """Summarize a set of bodies from one LMCache HTTP server into one ReadResult."""
    res = ReadResult(READER, path)
    index = _index(specs)
    bodies = list(bodies)
    skipped = list(skipped)
    summary: dict[str, Any] = {"server": server, "endpoints": [], "skipped": [s.to_json() for s in skipped]}
    for sig in ("bodies", "endpoints_ok", "endpoints_error", "destructive_skipped", "sensitive_skipped"):
        res.signals.setdefault(sig, 0)
    for s in skipped:
        if s.reason in ("destructive_skipped", "sensitive_skipped"):
            res.bump(s.reason)

    observations: list[tuple[str, str, int]] = []
    body_keys: list[tuple[str, str]] = []
    status_bodies: list[tuple[str, dict]] = []
    version_vals: dict[str, str] = {}
    health_states: list[dict[str, Any]] = []
    pending_openapi: list[tuple[Any, dict]] = []
    server_votes: dict[str, int] = {}

    for b in bodies:
        res.records += 1
        res.bump("bodies")
        where = b.location or path
        route = index.route(b.route_id) if b.route_id else None
        method = (b.method or "GET").upper()
        req_path = b.path
        if route is None and b.flag:
            # The newest route of the flag: a saved body carries no path of its own.
            route = index.flag_route(b.flag, server)
        if route is None and req_path:
            hits = index.match(method, req_path, server) or index.match(method, req_path)
            route = hits[0] if hits else None
        if req_path is None and route is not None:
            req_path = route.path
        reads_as = route.reads_as if route else "generic"
        body_kind = route.body if route else "json"
        if b.flag:
            fr = index.flag_reads_as(b.flag)
            if fr:
                reads_as, body_kind = fr
        ep: dict[str, Any] = {
            "route": route.id if route else None,
            "method": method,
            "path": req_path,
            "source": b.source,
            "location": where,
            "bytes": len(b.data),
        }
        if b.flag:
            ep["flag"] = b.flag
            if b.source == "file":
                res.bump("file_provided")
        if b.truncated:
            ep["truncated"] = True
            res.bump("bodies_truncated")
            res.problem(f"{method} {req_path}: body truncated at {len(b.data)} bytes", offset=len(b.data), path=where)
        if b.elapsed_ms is not None:
            ep["elapsed_ms"] = round(b.elapsed_ms, 1)
        if b.redacted:
            ep["redacted"] = b.redacted
            if route is not None and route.policy == "sensitive":
                res.bump("sensitive_redacted", b.redacted)
        if route is not None:
            server_votes[route.server] = server_votes.get(route.server, 0) + 1
        code = b.http_status
        inferred = False
        if b.error is not None:
            ep.update(outcome="transport_error", error=b.error[:200])
            res.bump("endpoints_error")
            res.bump("endpoints_transport_error")
            summary["endpoints"].append(ep)
            continue

        is_json = body_kind == "json"
        ok_json, value = (parse_json(b.data) if is_json else (False, None))
        if not ok_json:
            bad = body_problem(b.data, is_json)
            if bad is not None:
                # never read through a silent repair: the body is reported, not guessed at
                res.problem(f"{method} {req_path or ''}: body {bad[0]}" + (f" at byte {bad[1]}" if bad[1] is not None else ""),
                            offset=bad[1], path=where)
        text = _decode(b.data) if not is_json or not ok_json else ""
        if code is None and is_json and ok_json:
            # A saved body carries no status line; infer the obvious ones from the body.
            if _is_not_found(value):
                code, inferred = 404, True
            elif reads_as == "health" and isinstance(value, dict) and value.get("status") == "unhealthy":
                code, inferred = 503, True
        if code is None and not is_json and text.strip() == '{"detail":"Not Found"}':
            code, inferred = 404, True
        ep["http_status"] = code
        if inferred:
            ep["status_inferred"] = True
        outcome = _endpoint_outcome(code, None)
        err = _error_text(value) if ok_json else None
        if code is None and err is not None and reads_as not in ("health",):
            outcome = "error"
        ep["outcome"] = outcome
        if outcome == "ok":
            res.bump("endpoints_ok")
        else:
            res.bump("endpoints_error")
            if outcome == "not_found":
                res.bump("endpoints_not_found")
            elif outcome == "unavailable":
                res.bump("endpoints_unavailable")
            if err:
                ep["error"] = err
        if route is not None and route.policy == "destructive":
            # Only an operator's own capture gets here: collection never calls these.
            res.bump("destructive_responses")
            ep["policy"] = "destructive"
        if code is not None and req_path and not b.flag:
            observations.append((method, req_path, code))
        elif code is None and outcome == "ok" and req_path and not b.flag and route is not None:
            observations.append((method, req_path, 200))  # a saved success body: the route exists
        if (is_json and not ok_json and reads_as in ("version", "lmc_version", "commit_id")
                and re.fullmatch(r"[\w.+\-]{1,100}", text.strip())):
            is_json = False  # a bare version token (text/plain) is as good as a JSON string
        if is_json and not ok_json and b.data.strip():
            res.bump("bodies_unparsed")
            ep["content"] = "unparsed"
            res.problem(f"{method} {req_path}: body is not JSON ({len(b.data)} bytes)", offset=json_error_offset(b.data),
                        path=where)
            summary["endpoints"].append(ep)
            continue
        ep["content"] = "empty" if not b.data.strip() else body_kind
        summary["endpoints"].append(ep)
        if outcome not in ("ok",) and reads_as != "health":
            continue
        if reads_as == "health":
            health_states.append(_health_fact(value if ok_json else None, code, ep["route"]))
        elif reads_as == "status":
            if isinstance(value, dict):
                status_bodies.append((route.id if route else "mp.status", value))
                if route is not None:
                    body_keys.extend((route.id, k) for k in value)
            else:
                res.problem(f"{method} {req_path}: /status body is not an object", offset=0, path=where)
        elif reads_as in ("version", "lmc_version", "commit_id"):
            v = value if ok_json else text.strip()
            if isinstance(v, str) and v.strip() and len(v) < 200:
                version_vals[reads_as] = v.strip()
            else:
                res.problem(f"{method} {req_path}: expected a version string, got {type(v).__name__}", offset=0,
                            path=where)
        elif reads_as == "openapi":
            pending_openapi.append((value, ep))
        else:
            # every other kind of body: what its payload in the HttpEndpoints spec keeps
            payload = index.payloads.get(reads_as)
            got = _summarize(index, reads_as, value if ok_json else None, text)
            if payload is None or got is None:
                continue
            if payload.get("append"):
                summary.setdefault(payload["summary"], []).append({"location": where, **got})
            else:
                summary[payload["summary"]] = got
            for sig in payload.get("signals") or []:
                res.bump(sig["name"], int(got.get(sig["count"]) or 0) if "count" in sig else 1)

    # ---- server
    if server is None and server_votes:
        server = max(sorted(server_votes), key=lambda s: server_votes[s])
        summary["server"] = server
    srv = server or "mp"

    # ---- status
    if status_bodies:
        route_id, value = status_bodies[-1]
        st = _summarize(index, "status", value, "") or {}
        summary["status"] = st
        res.bump("status", len(status_bodies))
        res.bump("l2_adapters", int(st.get("num_l2_adapters") or 0))
        res.bump("registered_instances", int(st.get("registered_instances") or 0))
        if len(status_bodies) > 1:
            summary["status_bodies"] = len(status_bodies)

    # ---- version
    ver: dict[str, Any] = {}
    if "lmc_version" in version_vals:
        ver["value"] = version_vals["lmc_version"]
        ver["source"] = "lmc_version"
    if "version" in version_vals:
        ver["full"] = version_vals["version"]
        if "value" not in ver:
            from inferguard.spec.kinds.http_endpoints import parse_version

            pv = parse_version(version_vals["version"])
            m = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version_vals["version"])
            ver["value"] = m.group(1) if (pv and m) else version_vals["version"]
            ver["source"] = "version"
    if "commit_id" in version_vals:
        ver["commit_id"] = version_vals["commit_id"]
    candidates = index.infer_releases(observations, server=srv, body_keys=body_keys)
    # a hinted key that is absent from /status also narrows the range
    for route_id, value in status_bodies:
        for vr in index.absent_hints(route_id, set(value)):
            candidates = [v for v in candidates if not vr.contains(v)]
    if observations or body_keys:
        ver["consistent_releases"] = candidates
    if "value" in ver:
        res.bump("version")
        if (observations or body_keys) and candidates and ver["value"] not in candidates:
            from inferguard.spec.kinds.http_endpoints import parse_version

            pv = parse_version(ver["value"])
            if pv is not None and all(parse_version(c) != pv for c in candidates):
                ver["route_mismatch"] = True
                res.bump("version_route_mismatch")
    elif candidates and (observations or body_keys) and len(candidates) < len(index.releases):
        if len(candidates) == 1:
            ver["value"] = candidates[0]
            ver["source"] = "routes"
            res.bump("version")
        else:
            ver["range"] = f"{candidates[0]} .. {candidates[-1]}"
            ver["source"] = "routes"
        res.bump("version_inferred")
    if (observations or body_keys) and not candidates:
        ver["inconsistent"] = True
        # Judged from the /status body when there is one (its keys), else from the routes.
        at = next((b.location for b in bodies if b.location and b.path and b.path.rstrip("/").endswith("status")),
                  next((b.location for b in bodies if b.location), None))
        res.problem("the routes that answered and the /status keys match no known release of the HttpEndpoints spec",
                    offset=0 if at else None, path=at)
    summary["version"] = ver or None

    # ---- openapi (needs the version)
    for value, ep in pending_openapi:
        oa = _sum_openapi(value, index, srv, ver.get("value"))
        summary["openapi"] = oa
        res.bump("openapi")
        res.bump("openapi_routes_unlisted", len(oa.get("unlisted") or []))

    # ---- health: the facts above; the engine judges them under the spec's health rules
    res.facts["healthchecks"] = health_states
    res.summary = summary
    return res


def body_from_file(file: str | os.PathLike[str], *, flag: str | None = None, index=None,
                   max_bytes: int = MAX_BODY_BYTES) -> tuple[Body | None, str | None]:
    """A Body for a saved file, or (None, reason) when it cannot be opened."""
    p = Path(file)
    try:
        with open(p, "rb") as fh:
            # In blocks: read(n) allocates n bytes up front, 8 MB for every small body.
            chunks: list[bytes] = []
            total = 0
            while total <= max_bytes:
                block = fh.read(min(256 * 1024, max_bytes + 1 - total))
                if not block:
                    break
                chunks.append(block)
                total += len(block)
            data = b"".join(chunks)
    except OSError as exc:
        return None, exc.strerror or str(exc)
    truncated = len(data) > max_bytes
    if truncated:
        data = data[:max_bytes]
    method, req_path = "GET", None
    if index is not None and flag is None:
        stem = p.name[:-5] if p.name.endswith(".body") else p.stem
        hit = index.match_file_stem(stem)
        if hit:
            method, req_path = hit
    return Body(data=data, method=method, path=req_path, flag=flag, source="file",
                location=str(file), truncated=truncated), None


def read(path: str, *, specs: Any = None, flag: str | None = None) -> ReadResult:
    """Read one saved body file, or every `*.body` file of a directory.

    File names follow METHOD_path[_suffix].body (e.g. GET_status.body,
    GET_periodic-threads-health.body); `flag` names the collect-lmcache file flag when the
    file was given for one."""
    index = _index(specs)
    p = Path(path)
    files = sorted(p.glob("*.body")) if p.is_dir() else [p]
    bodies: list[Body] = []
    problems: list[tuple[str, str]] = []
    from inferguard.core.filecheck import input_problem

    for f in files:
        why = input_problem(str(f))
        if why is not None:  # a FIFO among the bodies would block the read
            problems.append((str(f), why))
            continue
        b, err = body_from_file(f, flag=flag, index=index)
        if b is None:
            problems.append((str(f), err or "cannot read"))
            continue
        if b.path is None and flag is None:
            problems.append((str(f), "file name names no known route (expected METHOD_path.body)"))
        bodies.append(b)
    res = read_bodies(bodies, specs=specs, path=str(path))
    for f, msg in problems:
        res.problem(msg, offset=0, path=f)
    return res
