"""The pipelines behind the commands: inputs -> readers -> Evidence -> engine -> report dict.

The CLI parses options and calls one function here; renderers turn the result into text.
"""
from __future__ import annotations

import io
import json
import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.evidence import add_exposition, add_lane, lane_document, new_evidence, tool_info
from inferguard.core.problems import InputError
from inferguard.core import recache
from inferguard.core.record import Record
from inferguard.readers import LANE_READERS

LANES = tuple(LANE_READERS)  # every lane that has a reader


class Inputs(Record):
    _fields = ("engine_metrics_file", "engine_metrics_url", "lmcache_metrics_file", "lmcache_metrics_url",
               "timeout_seconds", "max_scrape_bytes", "lane_files", "argv_files", "context", "lenient_lanes",
               "metrics_window_dir", "metrics_window")

    def __init__(self, engine_metrics_file: str | None = None, engine_metrics_url: str | None = None,
                 lmcache_metrics_file: str | None = None, lmcache_metrics_url: str | None = None,
                 timeout_seconds: float = 5.0, max_scrape_bytes: int | None = None,
                 lane_files: dict[str, list[str]] | None = None, argv_files: dict[str, str] | None = None,
                 context: dict[str, Any] | None = None, lenient_lanes: bool = False,
                 metrics_window_dir: str | None = None,
                 metrics_window: tuple[dict[str, Any], str] | None = None) -> None:
        self.engine_metrics_file = engine_metrics_file
        self.engine_metrics_url = engine_metrics_url
        self.lmcache_metrics_file = lmcache_metrics_file
        self.lmcache_metrics_url = lmcache_metrics_url
        self.timeout_seconds = timeout_seconds
        self.max_scrape_bytes = max_scrape_bytes                          # None: the client's default
        self.lane_files = {} if lane_files is None else lane_files        # lane -> evidence files
        self.argv_files = {} if argv_files is None else argv_files        # role -> *_command.json
        self.context = {} if context is None else context
        self.lenient_lanes = lenient_lanes                                # unreadable lane file -> problem
        self.metrics_window_dir = metrics_window_dir                      # a collect-metrics output folder
        self.metrics_window = metrics_window                              # its summary and path, when already read


def default_context(**overrides: Any) -> dict[str, Any]:
    """Every context key of the Vocabulary spec at its default, then `overrides`."""
    from inferguard.spec.registry import bundled, context_defaults

    ctx = context_defaults(bundled())
    ctx.update({k: v for k, v in overrides.items() if v is not None})
    return ctx


def _require_file(path: str) -> None:
    from inferguard.core.filecheck import require_input

    require_input(path)


def _read_scrape(evidence, spec, cat, role: str, path: str | None, url: str | None, timeout: float,
                 max_bytes: int | None = None) -> None:
    from inferguard.readers import prometheus

    lookup = lambda n: (cat.lookup(n) or (None,))[0]  # noqa: E731
    if path:
        _require_file(path)
        expo, result = prometheus.read(path, lookup)
    elif url:
        import tempfile

        from inferguard.collect.http import DEFAULT_MAX_SCRAPE_BYTES, charset_of, fetch_scrape

        # The body is spooled to a temporary file, so a large scrape never sits in memory whole.
        with tempfile.TemporaryFile() as spool:
            resp = fetch_scrape(url, timeout, spool.write, max_bytes=max_bytes or DEFAULT_MAX_SCRAPE_BYTES)
            spool.seek(0)
            text = io.TextIOWrapper(spool, encoding=charset_of(resp.content_type), errors="replace", newline=None)
            cut = resp.cut
            if resp.truncated:
                cut = (f"the scrape is larger than --max-scrape-bytes ({max_bytes or DEFAULT_MAX_SCRAPE_BYTES} "
                       "bytes); only that much was read")
            expo, result = prometheus.read(url, lookup, lines=text, cut=cut)
            text.detach()
    else:
        return
    namespaces = [ns for doc in spec.docs("Detection") for ns in doc.get("namespaces", [])]
    add_exposition(evidence, expo, result, cat, role, namespaces)


ARGV_MAX_BYTES = 16 * 1024 * 1024  # a command line saved as JSON; anything bigger is not one


def _load_argv(evidence, role: str, path: str) -> None:
    from inferguard.readers.jsonio import JsonInputError, load_file

    _require_file(path)
    try:
        data = load_file(path, max_bytes=ARGV_MAX_BYTES)
    except JsonInputError as exc:
        evidence["problems"].append({"source": "argv", "path": path, "offset": exc.offset, "message": exc.message})
        return
    if isinstance(data, dict) and isinstance(data.get("argv"), list):
        data = data["argv"]
    if not isinstance(data, list) or not all(isinstance(a, str) for a in data):
        evidence["problems"].append({"source": "argv", "path": path, "message": "expected a JSON list of strings"})
        return
    evidence["argv"][role] = {"path": path, "argv": data}


SNIFF_BYTES = 64 * 1024                      # what is read to decide what a lane file is
MAX_LANE_EVIDENCE_BYTES = 64 * 1024 * 1024   # a LaneEvidence JSON is read whole; past this it is refused
_LANE_EVIDENCE_RE = recache.compile(rb'\{.*?"kind"\s*:\s*"LaneEvidence"', re.S)


def _looks_like_lane_evidence(head: bytes) -> bool:
    """Whether the head of a file says it is a LaneEvidence document: it opens a JSON object
    and names `"kind": "LaneEvidence"` before its first line ends a complete object (a JSONL
    file of spans or hashes never does). Decided from the head alone, never the whole file."""
    stripped = head.lstrip()
    m = _LANE_EVIDENCE_RE.match(stripped)
    if m is None:
        return False
    first_line = stripped.split(b"\n", 1)[0]
    if m.end() > len(first_line):
        return True  # the kind is named past the first line: one document over many lines
    try:
        obj = json.loads(first_line)
    except (ValueError, RecursionError):
        return True  # the first line does not close the object: one document over many lines
    return isinstance(obj, dict) and obj.get("kind") == "LaneEvidence"


class UnreadableEvidence(InputError):
    """A LaneEvidence file whose bytes are not usable JSON: a problem of the run, never its end."""

    def __init__(self, reason: str, path: str, line: int | None, offset: int | None):
        super().__init__(reason, path, line)
        self.reason = reason
        self.offset = offset


def load_lane_file(lane: str, path: str, spec, argv: list[str] | None = None) -> dict[str, Any]:
    """A lane evidence file: a LaneEvidence JSON (validated) or a raw artifact (file or folder)
    run through the lane's reader."""
    from inferguard.core.filecheck import require_input

    require_input(path, allow_dir=True)
    if os.path.isdir(path):
        head = b""
    else:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    if _looks_like_lane_evidence(head):
        # Only now is the file read whole: it says it is a LaneEvidence document, which this
        # tool writes small; anything past the cap is refused rather than loaded.
        from inferguard.readers.jsonio import JsonInputError, load_file

        try:
            doc = load_file(path, MAX_LANE_EVIDENCE_BYTES)
        except JsonInputError as exc:
            line = None
            if exc.offset is not None and exc.offset <= MAX_LANE_EVIDENCE_BYTES:
                with open(path, "rb") as fh:
                    line = fh.read(exc.offset).count(b"\n") + 1
            what = exc.message if exc.message.startswith("not JSON") else f"not usable JSON: {exc.message}"
            raise UnreadableEvidence(f"lane evidence is {what}; not used", path, line, exc.offset) from None
        if isinstance(doc, dict) and doc.get("kind") == "LaneEvidence":
            from inferguard.spec.loader import schema_validator

            validator = schema_validator("evidence.lane.v1.schema.json")
            checks = [(validator, doc, "")]
            for i, src in enumerate(doc.get("sources") or []):
                reader = src.get("reader") if isinstance(src, dict) else None
                if isinstance(reader, str) and reader.isidentifier():
                    checks.append((schema_validator(f"evidence.{reader}.v1.schema.json"), src, f"sources/{i}/"))
            for v, part, prefix in checks:
                if v is None:
                    continue
                errors = sorted(v.iter_errors(part), key=lambda e: list(map(str, e.absolute_path)))
                if errors:
                    where = prefix + "/".join(map(str, errors[0].absolute_path)) or "(top)"
                    raise InputError(f"not a valid lane evidence file at {where}: {errors[0].message[:200]}", path)
            if doc.get("lane") != lane:
                raise InputError(f"lane evidence is for {doc.get('lane')!r}, this flag takes {lane!r}", path)
            return doc
    from inferguard.readers import call_reader, lane_reader

    reader = lane_reader(lane)
    if reader is None:
        raise InputError(f"no reader for lane {lane!r} in this build; pass a LaneEvidence JSON", path)
    from inferguard.engine.verdicts import judge

    result = judge(call_reader(reader, path, specs=spec, argv=argv), spec)
    return lane_document(lane, [result], spec)


def build_evidence(inputs: Inputs, spec) -> dict[str, Any]:
    from inferguard.engine.detect import detect
    from inferguard.spec.metrics import catalog

    cat = catalog(spec)
    evidence = new_evidence(spec, inputs.context)
    if inputs.metrics_window_dir:
        # The scrapes are a window: judged over the window, not as one cumulative snapshot.
        from inferguard.flow.window import add_window, load_summary

        summary, summary_path = inputs.metrics_window or load_summary(inputs.metrics_window_dir)
        add_window(evidence, summary, summary_path)
    url_errors: list[InputError] = []
    for role, file, url in (("engine_metrics", inputs.engine_metrics_file, inputs.engine_metrics_url),
                            ("lmcache_metrics", inputs.lmcache_metrics_file, inputs.lmcache_metrics_url)):
        try:
            _read_scrape(evidence, spec, cat, role, file, url, inputs.timeout_seconds, inputs.max_scrape_bytes)
        except InputError as exc:
            if file or not url:
                raise
            # A live scrape with no usable answer: a problem, as long as something else is read.
            url_errors.append(exc)
            evidence["problems"].append({"source": "prometheus", "path": url, "message": str(exc).removeprefix(f"{url}: ")})
    for role, path in inputs.argv_files.items():
        _load_argv(evidence, role, path)
    # Readers that can use the LMCache server's argv (lookup-hash rotation flags) get it.
    lmcache_argv = (evidence["argv"].get("lmcache") or {}).get("argv")
    for lane, paths in inputs.lane_files.items():
        for p in paths:
            try:
                doc = load_lane_file(lane, p, spec, lmcache_argv)
            except UnreadableEvidence as exc:
                # Bad bytes never abort the command: the file is not used, and said so with its line.
                evidence["problems"].append({"source": lane, "path": p, "line": exc.line, "offset": exc.offset,
                                             "message": exc.reason})
                continue
            except InputError as exc:
                if not inputs.lenient_lanes:
                    raise
                # A packet is evaluated partial-first: one unreadable artifact is a problem, not the end.
                evidence["problems"].append({"source": lane, "path": p, "message": str(exc)})
                continue
            add_lane(evidence, doc, p)
    if url_errors and not evidence["sources"]:
        raise url_errors[0]  # nothing at all could be read
    evidence["detected"] = detect(evidence, spec)
    return evidence


def _inputs_summary(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: s.get(k) for k in ("role", "path", "reader", "records", "problems")} for s in evidence["sources"]]


def coverage_report(evidence: dict[str, Any], spec, *, kind: str, runtimes: set[str] | None = None,
                    family_runtimes: set[str] | None = None) -> dict[str, Any]:
    from inferguard.engine.coverage import (cut_scrapes_of, derived_values, family_report, gaps, grouped,
                                            provided_sources, surface_rows)

    families = family_report(evidence, spec)
    rows = surface_rows(evidence, spec, families, runtimes)
    derived = derived_values(evidence, spec)
    fam_list = [f for f in families.values() if family_runtimes is None or f["runtime"] in family_runtimes]
    from inferguard.engine.status import counts
    from inferguard.engine.vocab import SURFACE_STATES

    return {
        "apiVersion": "inferguard.dev/v1",
        "kind": kind,
        "tool": tool_info(),
        "spec": {"version": spec.version, "digest": spec.digest},
        "inputs": _inputs_summary(evidence),
        "context": evidence["context"],
        "detected": evidence["detected"],
        "surfaces": rows,
        "surface_counts": counts((r["status"] for r in rows), SURFACE_STATES),
        "families": fam_list,
        "family_counts": counts(f["status"] for f in fam_list),
        "derived": {k: v for k, v in derived.items() if family_runtimes is None or v["runtime"] in family_runtimes},
        "kv_cache_offload": grouped(derived, "kv_cache_offload"),
        "gaps": gaps(rows, provided_sources(evidence), set(evidence.get("lane_failures", {})), cut_scrapes_of(evidence)),
        "problems": evidence["problems"],
        **({"window": evidence["window"]} if evidence.get("window") else {}),
    }


def add_findings(report: dict[str, Any], evidence: dict[str, Any], spec) -> dict[str, Any]:
    """The report's `findings`: its mode check, health verdict, gaps and problems under the
    checks the Vocabulary declares (engine.findings); added once the report is complete."""
    from inferguard.engine.findings import report_findings
    from inferguard.spec.metrics import catalog
    from inferguard.spec.registry import registry_of

    names = {mid: [n.name for n in m.names] for mid, m in catalog(spec).metrics.items()}
    found = report_findings(report, registry_of(spec)["checks"], evidence.get("lanes"), names)
    report["findings"] = [f.to_json() for f in found]
    return report


def observability_coverage(inputs: Inputs, spec) -> dict[str, Any]:
    evidence = build_evidence(inputs, spec)
    return add_findings(coverage_report(evidence, spec, kind="ObservabilityCoverageReport"), evidence, spec)


def lmcache_compat(inputs: Inputs, spec, expect_mode: str) -> dict[str, Any]:
    evidence = build_evidence(inputs, spec)
    report = coverage_report(evidence, spec, kind="LMCacheCompatReport", runtimes={"LMCache"},
                             family_runtimes={"lmcache"})
    from inferguard.engine.verdicts import mode_check
    from inferguard.spec.registry import registry_of

    report["mode_check"] = mode_check(expect_mode, evidence["detected"]["lmcache_mode"],
                                      evidence["detected"]["lmcache_mode_signals"], registry_of(spec)["lmcache_modes"])
    return add_findings(report, evidence, spec)
