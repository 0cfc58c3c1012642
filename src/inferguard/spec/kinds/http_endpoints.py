"""HttpEndpoints: semantic checks and the compiled route index.

`validate(doc, path)` runs after the JSON Schema check and reports what a schema cannot
express: two routes of one server with the same method and path whose version ranges
overlap, a collect-lmcache file flag claimed by two routes in overlapping ranges, routes
that share a flag but disagree on what the body is, collected routes that are not plain
GETs, a state-changing effect on a route whose policy is not `destructive`, regexes that
do not compile.

`compile(specs)` builds an `EndpointIndex`: per server the routes with parsed version
ranges, path templates as regexes, the flag table, the redaction rules, and version
inference from which routes answered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from inferguard.core.problems import Problem
from inferguard.spec.marked import locate

KIND = "HttpEndpoints"
COMPILED_KEY = "http_endpoints"

STATE_CHANGING_EFFECTS = {"mutates", "destructive", "consumes", "executes", "heavy"}
FLAGS = (
    "health", "status", "conf", "config", "version", "lmc-version", "commit-id",
    "threads", "periodic-threads", "periodic-threads-health", "quota",
)

# --------------------------------------------------------------------------- versions

_VERSION_RE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")
_CONSTRAINT_RE = re.compile(r"^\s*(==|>=|<=|>|<|!=)?\s*([0-9][0-9a-z.+-]*)\s*$")


def parse_version(text: Any) -> tuple[int, ...] | None:
    """The numeric release part of a version string: "0.5.6-g3e11e108" -> (0, 5, 6)."""
    if not isinstance(text, str):
        return None
    m = _VERSION_RE.match(text)
    if not m:
        return None
    parts = [int(p) for p in m.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True)
class VersionRange:
    """A conjunction of comparators (`>=0.4.5,<0.5.2`); `*` or empty means every version."""

    text: str
    constraints: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def parse(cls, text: str | None) -> "VersionRange":
        text = (text or "*").strip()
        if text in ("", "*"):
            return cls("*", ())
        out = []
        for part in text.split(","):
            m = _CONSTRAINT_RE.match(part)
            if not m:
                raise ValueError(f"bad version constraint {part.strip()!r}")
            ver = parse_version(m.group(2))
            if ver is None:
                raise ValueError(f"bad version {m.group(2)!r}")
            out.append((m.group(1) or "==", ver))
        return cls(text, tuple(out))

    def contains(self, version: tuple[int, ...] | str | None) -> bool:
        if isinstance(version, str):
            version = parse_version(version)
        if version is None:
            return False
        for op, v in self.constraints:
            if op == "==" and not version == v:
                return False
            if op == "!=" and version == v:
                return False
            if op == ">=" and not version >= v:
                return False
            if op == ">" and not version > v:
                return False
            if op == "<=" and not version <= v:
                return False
            if op == "<" and not version < v:
                return False
        return True

    def bounds(self) -> tuple[tuple[tuple[int, ...], bool] | None, tuple[tuple[int, ...], bool] | None]:
        """(lower, upper) as (version, inclusive); None is unbounded. `!=` is ignored."""
        lo: tuple[tuple[int, ...], bool] | None = None
        hi: tuple[tuple[int, ...], bool] | None = None
        for op, v in self.constraints:
            if op in (">=", ">", "=="):
                cand = (v, op != ">")
                if lo is None or cand[0] > lo[0] or (cand[0] == lo[0] and not cand[1]):
                    lo = cand
            if op in ("<=", "<", "=="):
                cand = (v, op != "<")
                if hi is None or cand[0] < hi[0] or (cand[0] == hi[0] and not cand[1]):
                    hi = cand
        return lo, hi

    def overlaps(self, other: "VersionRange") -> bool:
        a_lo, a_hi = self.bounds()
        b_lo, b_hi = other.bounds()
        lo = _max_lower(a_lo, b_lo)
        hi = _min_upper(a_hi, b_hi)
        if lo is None or hi is None:
            return True
        if lo[0] < hi[0]:
            return True
        return lo[0] == hi[0] and lo[1] and hi[1]


def _max_lower(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return a if not a[1] else b


def _min_upper(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return a if not a[1] else b


# --------------------------------------------------------------------------- paths

_PARAM_RE = re.compile(r"\{([a-z_]+)\}")


def path_regex(template: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for m in _PARAM_RE.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


def is_templated(path: str) -> bool:
    return "{" in path


def file_stem(method: str, path: str) -> str:
    """How a saved body is named: GET /periodic-threads-health -> GET_periodic-threads-health."""
    return f"{method}_{path.lstrip('/').replace('/', '_')}"


# --------------------------------------------------------------------------- compiled view


@dataclass(frozen=True)
class Route:
    id: str
    server: str
    method: str
    path: str
    versions: VersionRange
    policy: str
    effect: str
    flag: str | None
    body: str
    reads_as: str
    collect: bool
    redact: str
    status_codes: dict[str, str]
    body_hints: tuple[tuple[str, VersionRange], ...]
    regex: re.Pattern[str]
    note: str = ""
    collect_each: tuple[str, str] | None = None   # (route id, jmespath over its JSON body)

    @property
    def templated(self) -> bool:
        return is_templated(self.path)

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id, "server": self.server, "method": self.method, "path": self.path,
            "versions": self.versions.text, "policy": self.policy, "effect": self.effect,
        }
        if self.flag:
            out["flag"] = self.flag
        return out


@dataclass
class Server:
    id: str
    title: str
    mode: str | None
    default_port: int | None
    routes: list[Route] = field(default_factory=list)


@dataclass
class Redaction:
    placeholder: str = "<redacted>"
    secret_keys: list[re.Pattern[str]] = field(default_factory=list)
    url_userinfo: bool = True


@dataclass
class EndpointIndex:
    runtime: str
    releases: list[str]
    servers: dict[str, Server]
    redaction: Redaction
    problems: list[Problem] = field(default_factory=list)
    # reads_as -> what the lmcache_http reader keeps of such a body (plain data, see
    # inferguard.readers.payload)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    # how a healthcheck answer is judged (engine.verdicts.healthcheck_state)
    health: dict[str, Any] = field(default_factory=dict)

    # ---- lookups
    def routes(self, server: str | None = None) -> list[Route]:
        if server is not None:
            s = self.servers.get(server)
            return list(s.routes) if s else []
        return [r for s in self.servers.values() for r in s.routes]

    def route(self, route_id: str) -> Route | None:
        for r in self.routes():
            if r.id == route_id:
                return r
        return None

    def for_version(self, server: str, version: str | tuple[int, ...] | None) -> list[Route]:
        """Routes of `server` that exist in `version` (every route if the version is unknown)."""
        if version is None:
            return self.routes(server)
        return [r for r in self.routes(server) if r.versions.contains(version)]

    def by_flag(self, flag: str, server: str | None = None) -> list[Route]:
        return [r for r in self.routes(server) if r.flag == flag]

    def flag_route(self, flag: str, server: str | None = None) -> Route | None:
        """The newest route a file flag pairs with (a saved body carries no path of its own)."""
        cands = self.by_flag(flag, server) or self.by_flag(flag)
        if not cands:
            return None

        def newest(r: Route):
            lo = r.versions.bounds()[0]
            return (r.server == (server or "mp"), lo[0] if lo else ())

        return max(cands, key=newest)

    def flag_reads_as(self, flag: str) -> tuple[str, str] | None:
        """(reads_as, body) of a file flag; routes sharing a flag agree on both."""
        for r in self.routes():
            if r.flag == flag:
                return r.reads_as, r.body
        return None

    def match(self, method: str | None, path: str, server: str | None = None) -> list[Route]:
        """Routes whose template matches `path` (any method when `method` is None).

        Literal routes come before templated ones, so /cache/objects never resolves to a
        `{param}` route when a literal one exists."""
        path = path.split("?", 1)[0] or "/"
        hits = [r for r in self.routes(server)
                if (method is None or r.method == method) and r.regex.match(path)]
        hits.sort(key=lambda r: (r.templated, r.server != "mp"))
        return hits

    def match_file_stem(self, stem: str) -> tuple[str, str] | None:
        """Method and path of a saved body named METHOD_path[_suffix] (file name without .body).

        Underscores are ambiguous (/lmc_version vs /lmc/version), so the name is matched
        against the route table: exact literal routes first, then the longest literal route
        followed by `_suffix`, then templated routes."""
        method, sep, rest = stem.partition("_")
        if not sep or method not in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            return None
        literal: dict[str, str] = {}
        templated: list[Route] = []
        for r in self.routes():
            if r.templated:
                templated.append(r)
            else:
                literal.setdefault(r.path.lstrip("/").replace("/", "_"), r.path)
        if rest in literal:
            return method, literal[rest]
        best = None
        for key, p in literal.items():
            if key and rest.startswith(key + "_") and (best is None or len(key) > len(best[0])):
                best = (key, p)
        for r in templated:
            if r.method != method:
                continue
            flat = r.path.lstrip("/").replace("/", "_")
            rx = "^" + _PARAM_RE.sub(lambda m: "(?P<%s>.+?)" % m.group(1), re.escape(flat).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            if re.match(rx, rest) and (best is None or len(flat) > len(best[0])):
                best = (flat, r.path)
        if best is not None:
            return method, best[1]
        return None

    # ---- version inference
    def infer_releases(
        self,
        observations: Iterable[tuple[str, str, int]],
        server: str = "mp",
        body_keys: Iterable[tuple[str, str]] = (),
    ) -> list[str]:
        """Known releases consistent with what the server answered.

        `observations` are (method, path, http status). A 2xx (or a documented non-2xx) means
        some route with that method and path exists; 404 means no route with that path
        exists for any method; 405 means the path exists. `body_keys` are (route id, key)
        pairs seen in JSON bodies; each body hint narrows the range."""
        candidates = list(self.releases)
        routes = self.routes(server)
        for method, path, code in observations:
            path = path.split("?", 1)[0] or "/"
            same_path = [r for r in routes if r.regex.match(path)]
            if not same_path:
                continue
            literal = [r for r in same_path if not r.templated] or same_path
            if code == 404:
                if any(r.status_codes.get("404") for r in literal):
                    continue  # a documented 404 of an existing route says nothing
                candidates = [v for v in candidates if not any(r.versions.contains(v) for r in literal)]
            elif code in (405, 422):  # the path exists (wrong method, or a bad query)
                candidates = [v for v in candidates if any(r.versions.contains(v) for r in literal)]
            elif 200 <= code < 300 or str(code) in {c for r in literal for c in r.status_codes}:
                same = [r for r in literal if r.method == method] or literal
                candidates = [v for v in candidates if any(r.versions.contains(v) for r in same)]
            # any other answer (an undocumented 5xx, a timeout) says nothing about the version
        hints = {(r.id, k): vr for r in routes for k, vr in r.body_hints}
        for route_id, key in body_keys:
            vr = hints.get((route_id, key))
            if vr is not None:
                candidates = [v for v in candidates if vr.contains(v)]
        return candidates

    def absent_hints(self, route_id: str, present_keys: set[str]) -> list[VersionRange]:
        """Ranges excluded because a hinted key is absent from a body of `route_id`."""
        r = self.route(route_id)
        if r is None:
            return []
        return [vr for k, vr in r.body_hints if k not in present_keys]


# --------------------------------------------------------------------------- validate


def _p(path: str, doc: Any, where: list, message: str, rule: str) -> Problem:
    line, col = locate(doc, where)
    return Problem("spec", path, message, line, col, rule=f"http_endpoints/{rule}")


# Bodies the lmcache_http reader reads itself (across bodies, or against the spec), and bodies
# it keeps nothing of; every other `reads_as` needs a payload.
READ_BY_READER = {"health", "version", "lmc_version", "commit_id", "openapi"}
NOT_SUMMARIZED = {"generic", "reconfigure_status"}


def _validate_payloads(doc: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    payloads = doc.get("payloads")
    if not isinstance(payloads, list):
        return problems
    declared: dict[str, int] = {}
    for i, p in enumerate(payloads):
        ra = p.get("reads_as") if isinstance(p, dict) else None
        if ra in declared:
            problems.append(_p(path, doc, ["payloads", i, "reads_as"],
                               f"payload for {ra!r} is declared twice (first is payloads[{declared[ra]}])",
                               "duplicate-payload"))
        else:
            declared[ra] = i
        if ra in READ_BY_READER:
            problems.append(_p(path, doc, ["payloads", i, "reads_as"],
                               f"{ra!r} bodies are read by the reader itself; a payload for them is never used",
                               "payload-unused"))
    used: dict[str, list] = {}
    for si, server in enumerate(doc.get("servers") or []):
        for ri, route in enumerate(server.get("routes") or []):
            ra = route.get("reads_as", "generic")
            used.setdefault(ra, ["servers", si, "routes", ri, "reads_as"])
    for ra, where in used.items():
        if ra not in declared and ra not in READ_BY_READER | NOT_SUMMARIZED:
            problems.append(_p(path, doc, where, f"routes read as {ra!r} but no payload says what to keep of such a body",
                               "missing-payload"))
    for ra, i in declared.items():
        if ra not in used and ra not in READ_BY_READER:
            problems.append(_p(path, doc, ["payloads", i, "reads_as"], f"no route reads its body as {ra!r}",
                               "payload-unused"))
    return problems


def validate(doc: Any, path: str) -> list[Problem]:
    problems: list[Problem] = _validate_payloads(doc, path)
    red = doc.get("redaction") or {}
    for i, rx in enumerate(red.get("secret_keys") or []):
        try:
            re.compile(rx)
        except re.error as exc:
            problems.append(_p(path, doc, ["redaction", "secret_keys", i], f"regex does not compile: {exc}", "bad-regex"))
    for i, rel in enumerate(doc.get("releases") or []):
        if parse_version(rel) is None:
            problems.append(_p(path, doc, ["releases", i], f"bad release {rel!r}", "bad-version"))
    seen_ids: dict[str, str] = {}
    seen_servers: set[str] = set()
    for si, server in enumerate(doc.get("servers") or []):
        sid = server.get("id")
        if sid in seen_servers:
            problems.append(_p(path, doc, ["servers", si, "id"], f"duplicate server id {sid!r}", "duplicate-server"))
        seen_servers.add(sid)
        parsed: list[tuple[int, dict, VersionRange]] = []
        for ri, route in enumerate(server.get("routes") or []):
            where = ["servers", si, "routes", ri]
            rid = route.get("id")
            if rid in seen_ids:
                problems.append(_p(path, doc, where + ["id"], f"duplicate route id {rid!r} (first at {seen_ids[rid]})", "duplicate-id"))
            else:
                line, _ = locate(doc, where)
                seen_ids[rid] = f"line {line}"
            try:
                vr = VersionRange.parse(route.get("versions"))
            except ValueError as exc:
                problems.append(_p(path, doc, where + ["versions"], str(exc), "bad-version"))
                continue
            for hi, hint in enumerate(route.get("body_hints") or []):
                try:
                    VersionRange.parse(hint.get("versions"))
                except ValueError as exc:
                    problems.append(_p(path, doc, where + ["body_hints", hi, "versions"], str(exc), "bad-version"))
            policy = route.get("policy")
            effect = route.get("effect", "none")
            if effect in STATE_CHANGING_EFFECTS and policy != "destructive":
                problems.append(_p(path, doc, where + ["policy"],
                                   f"route {rid!r} has effect {effect!r} but policy {policy!r}; it must be destructive",
                                   "policy-effect"))
            if effect == "mutates_with_query" and policy == "safe":
                problems.append(_p(path, doc, where + ["policy"],
                                   f"route {rid!r} changes state when given a query; policy must be sensitive or destructive",
                                   "policy-effect"))
            if route.get("collect"):
                if route.get("method") != "GET":
                    problems.append(_p(path, doc, where + ["collect"],
                                       f"route {rid!r} is collected but is {route.get('method')}; only GET routes are collected",
                                       "collect-not-get"))
                if is_templated(route.get("path", "")):
                    problems.append(_p(path, doc, where + ["collect"],
                                       f"route {rid!r} has a path parameter and cannot be collected",
                                       "collect-templated"))
            each = route.get("collect_each")
            if isinstance(each, dict):
                ids_here = {r.get("id") for r in server.get("routes") or []}
                params = _PARAM_RE.findall(route.get("path", ""))
                if route.get("method") != "GET" or policy != "safe" or len(params) != 1:
                    problems.append(_p(path, doc, where + ["collect_each"],
                                       f"route {rid!r}: collect_each needs a safe GET route with one path parameter",
                                       "collect-each"))
                if each.get("route") not in ids_here:
                    problems.append(_p(path, doc, where + ["collect_each", "route"],
                                       f"route {rid!r}: collect_each names {each.get('route')!r}, not a route of server {sid!r}",
                                       "collect-each"))
            if route.get("flag") and policy == "destructive":
                problems.append(_p(path, doc, where + ["flag"],
                                   f"route {rid!r} is destructive and cannot pair with a file flag", "flag-destructive"))
            parsed.append((ri, route, vr))
        # pairwise checks inside one server
        for a in range(len(parsed)):
            ri_a, ra, va = parsed[a]
            for b in range(a + 1, len(parsed)):
                ri_b, rb, vb = parsed[b]
                where_b = ["servers", si, "routes", ri_b]
                if not va.overlaps(vb):
                    continue
                if ra.get("method") == rb.get("method") and ra.get("path") == rb.get("path"):
                    problems.append(_p(path, doc, where_b + ["path"],
                                       f"{rb.get('method')} {rb.get('path')} is listed twice for overlapping versions "
                                       f"({va.text!r} in {ra.get('id')!r} and {vb.text!r} in {rb.get('id')!r})",
                                       "duplicate-route"))
                fa, fb = ra.get("flag"), rb.get("flag")
                if fa and fa == fb:
                    problems.append(_p(path, doc, where_b + ["flag"],
                                       f"flag {fb!r} pairs with both {ra.get('id')!r} and {rb.get('id')!r} "
                                       f"for overlapping versions", "duplicate-flag"))
        # routes sharing a flag must read alike
        by_flag: dict[str, tuple[int, dict]] = {}
        for ri, route, _ in parsed:
            f = route.get("flag")
            if not f:
                continue
            if f in by_flag:
                first = by_flag[f][1]
                if (first.get("reads_as"), first.get("body")) != (route.get("reads_as"), route.get("body")):
                    problems.append(_p(path, doc, ["servers", si, "routes", ri, "flag"],
                                       f"routes sharing flag {f!r} disagree on reads_as/body "
                                       f"({first.get('id')!r} vs {route.get('id')!r})", "flag-mismatch"))
            else:
                by_flag[f] = (ri, route)
    return problems


# --------------------------------------------------------------------------- compile


def _docs_of(specs: Any) -> list[tuple[str, Any]]:
    from inferguard.spec.loader import documents_of

    return documents_of(specs, KIND)


def compile(specs: Any) -> EndpointIndex:  # noqa: A001 - the plugin contract names it compile
    """Build the route index from every HttpEndpoints document of `specs` (a spec set or docs)."""
    servers: dict[str, Server] = {}
    releases: list[str] = []
    redaction = Redaction()
    runtime = "lmcache"
    problems: list[Problem] = []
    seen_keys: dict[tuple[str, str, str], str] = {}
    payloads: dict[str, dict[str, Any]] = {}
    health: dict[str, Any] = {}
    for path, doc in _docs_of(specs):
        runtime = doc.get("runtime", runtime)
        if doc.get("health") and not health:
            health = {"said": dict(doc["health"].get("said") or {}),
                      "unhealthy_http_status": [int(c) for c in doc["health"].get("unhealthy_http_status") or []]}
        for p in doc.get("payloads") or []:
            payloads.setdefault(p["reads_as"], p)
        for rel in doc.get("releases") or []:
            if rel not in releases:
                releases.append(rel)
        red = doc.get("redaction") or {}
        if red:
            redaction.placeholder = red.get("placeholder", redaction.placeholder)
            for rx in red.get("secret_keys") or []:
                try:
                    redaction.secret_keys.append(re.compile(rx, re.IGNORECASE))
                except re.error:
                    pass
            redaction.url_userinfo = bool(red.get("url_userinfo", redaction.url_userinfo))
        for sdoc in doc.get("servers") or []:
            srv = servers.get(sdoc["id"])
            if srv is None:
                srv = servers[sdoc["id"]] = Server(sdoc["id"], sdoc.get("title", ""), sdoc.get("mode"), sdoc.get("default_port"))
            for rdoc in sdoc.get("routes") or []:
                try:
                    vr = VersionRange.parse(rdoc.get("versions"))
                    hints = tuple((h["key"], VersionRange.parse(h.get("versions"))) for h in rdoc.get("body_hints") or [])
                except ValueError as exc:
                    problems.append(Problem("spec", path, f"route {rdoc.get('id')!r}: {exc}", rule="http_endpoints/bad-version"))
                    continue
                key = (srv.id, rdoc["method"], rdoc["path"])
                if key in seen_keys and seen_keys[key] != rdoc["id"]:
                    other = next((r for r in srv.routes if r.id == seen_keys[key]), None)
                    if other is not None and other.versions.overlaps(vr):
                        problems.append(Problem("spec", path, f"{rdoc['method']} {rdoc['path']} listed twice in server {srv.id!r}",
                                                rule="http_endpoints/duplicate-route"))
                seen_keys[key] = rdoc["id"]
                srv.routes.append(Route(
                    id=rdoc["id"], server=srv.id, method=rdoc["method"], path=rdoc["path"], versions=vr,
                    policy=rdoc["policy"], effect=rdoc.get("effect", "none"), flag=rdoc.get("flag"),
                    body=rdoc.get("body", "json"), reads_as=rdoc.get("reads_as", "generic"),
                    collect=bool(rdoc.get("collect", False)) and rdoc["policy"] != "destructive",
                    redact=rdoc.get("redact", "secret_keys"),
                    status_codes={str(k): str(v) for k, v in (rdoc.get("status_codes") or {}).items()},
                    body_hints=hints, regex=path_regex(rdoc["path"]), note=str(rdoc.get("note", "") or ""),
                    collect_each=((rdoc["collect_each"]["route"], rdoc["collect_each"]["values"])
                                  if rdoc.get("collect_each") else None),
                ))
    releases.sort(key=lambda v: parse_version(v) or ())
    return EndpointIndex(runtime, releases, servers, redaction, problems, payloads, health)


def load_index(specs: Any = None) -> EndpointIndex:
    """The compiled index of `specs`, or of the bundled spec set when `specs` is None.

    When the bundled spec set cannot be loaded as a whole (a broken document elsewhere),
    the HttpEndpoints files alone are loaded, schema-checked and compiled, so HTTP
    collection keeps its route policy."""
    if specs is not None:
        if hasattr(specs, "compiled"):
            return specs.compiled(COMPILED_KEY, compile)
        return compile(specs)
    from inferguard.spec import default_specs
    from inferguard.spec.loader import SpecError

    try:
        spec = default_specs()
    except SpecError:  # a broken document elsewhere: fall back to the HttpEndpoints files alone
        return _load_own_files()
    idx = spec.compiled(COMPILED_KEY, compile)
    return idx if idx.servers else _load_own_files()


_OWN: EndpointIndex | None = None


def _load_own_files() -> EndpointIndex:
    global _OWN
    if _OWN is None:
        from inferguard._data import specs_dir
        from inferguard.spec.yamlload import load_all

        docs = []
        problems: list[Problem] = []
        for f in sorted(specs_dir().rglob("*.yaml")):
            try:
                text = f.read_text(encoding="utf-8")
            except OSError:
                continue
            if "kind: HttpEndpoints" not in text:
                continue
            for d in load_all(text):
                if isinstance(d, dict) and d.get("kind") == KIND:
                    problems.extend(validate(d, str(f)))
                    docs.append(d)
        idx = compile(docs)
        idx.problems.extend(problems)
        _OWN = idx
    return _OWN
