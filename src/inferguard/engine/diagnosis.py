"""Diagnosis: the DiagnosisRules spec applied to a plain view of the Evidence.

`diagnosis_view(evidence, derived)` turns the Evidence into the document the rules' jmespath
expressions read (metrics by canonical id, lane signals, log pattern categories with their
line numbers, the LMCache HTTP facts, the lookup-hash reuse summary, trace and span presence,
argv, context and what was detected). `diagnose(view, spec, overrides)` evaluates every rule,
links causes to symptoms as the spec declares them (`causes:`), renders messages with the
measured values and the thresholds in force, and picks the verdict by the documented
priority. Pure data and pure functions: no I/O (the job directory is read in flow/).

Values from one snapshot are cumulative since the process started; the view says so
(`basis: snapshot`). A collect-metrics window adds `delta`, `rate` and `quantiles` to a
metric entry and sets `basis: window`, so a rule can prefer them where they exist.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from inferguard.engine.findings import SEVERITIES, Finding, severity_rank

# Packet roles a rule may name in `inputs` besides the lanes of the Vocabulary.
SCRAPE_ROLES = ("engine_metrics", "lmcache_metrics", "engine_argv", "lmcache_argv")

# How the verdict is chosen, in order (documented in docs/diagnosis-rules.md, generated from here).
VERDICT_PRIORITY = (
    "a finding on measured evidence (basis: measured) before any evidence-gap annotation (basis: gap)",
    "then the more severe finding (critical > error > warning > info)",
    "then the rule listed first in the spec set (files in name order, rules in file order)",
)

TEMPLATE_REF = re.compile(r"\{(?P<ref>(?:thresholds\.)?[a-z][a-z0-9_]*|causes)(?::(?P<spec>[^{}]*))?\}")


# --------------------------------------------------------------------------- the view


def _metric_view(entry: Mapping[str, Any], window: Mapping[str, Any] | None) -> dict[str, Any]:
    registered_only = bool(entry.get("registered"))
    out: dict[str, Any] = {
        "value": None if registered_only else entry.get("value"),
        "nonzero": bool(entry.get("nonzero")),
        "series": entry.get("series", 0),
        "type": entry.get("type"),
        "registered_only": registered_only,
        "label_values": entry.get("label_values", {}),
        # One scrape: a counter is what accumulated since the process started.
        "cumulative": entry.get("type") in ("counter", "histogram"),
        "delta": None,
        "rate": None,
        "quantiles": None,
        "window": None,
    }
    if entry.get("type") == "histogram" or "count" in entry:
        out["count"] = None if registered_only else entry.get("count")
        out["sum"] = None if registered_only else entry.get("sum")
    if window:
        for key in ("delta", "rate", "quantiles", "window"):
            if window.get(key) is not None:
                out[key] = window[key]
    return out


def _merge_category(into: dict[str, Any], cat: Mapping[str, Any], path: str) -> None:
    into["count"] += int(cat.get("count") or 0)
    lines = into.setdefault("lines", [])
    for k in ("first_line", "last_line"):
        if cat.get(k) is not None:
            lines.append({"file": path, "line": cat[k]})
    if cat.get("count"):
        into["files"] = sorted(set(into.get("files", [])) | {path})
    into.setdefault("examples", [])
    for ex in cat.get("examples", []):
        if len(into["examples"]) < 5:
            into["examples"].append({"file": path, "line": ex.get("line")})
    for pid, n in (cat.get("patterns") or {}).items():
        into["patterns"][pid] = into["patterns"].get(pid, 0) + n
    for name, cap in (cat.get("captures") or {}).items():
        got = into["captures"].setdefault(name, {})
        if "values" in cap:  # a string capture: distinct values
            vals = got.setdefault("values", [])
            for v in cap["values"]:
                if v not in vals:
                    vals.append(v)
            got["count"] = got.get("count", 0) + int(cap.get("count") or 0)
        else:
            got["count"] = got.get("count", 0) + int(cap.get("count") or 0)
            for k, fn in (("sum", lambda a, b: a + b), ("min", min), ("max", max)):
                if cap.get(k) is None:
                    continue
                got[k] = cap[k] if got.get(k) is None else fn(got[k], cap[k])
    procs = into.setdefault("processes", [])
    for key, proc in (cat.get("by_process") or {}).items():
        procs.append({"file": path, "process": key, "values": proc.get("values", {})})


def _logs_view(evidence: Mapping[str, Any]) -> dict[str, Any]:
    lane = evidence.get("lanes", {}).get("lmcache_log")
    out: dict[str, Any] = {}
    if not lane:
        return out
    # Every category the reader counted is there, matched or not: a log that was read and has
    # no such line is a count of 0; no log at all leaves `logs` empty (absent, not zero).
    for name in lane.get("signals", {}):
        if name != "lines" and "." not in name:
            out[name] = {"count": 0, "patterns": {}, "captures": {}, "lines": [], "files": [], "examples": []}
    for src in lane.get("sources", []):
        path = src.get("path") or ""
        for name, cat in ((src.get("summary") or {}).get("categories") or {}).items():
            into = out.setdefault(name, {"count": 0, "patterns": {}, "captures": {}, "lines": [], "files": [],
                                         "examples": []})
            _merge_category(into, cat, path)
    # Distinct values of a per-process capture, per log file (a file is one process's log):
    # what differs across processes is visible without walking the lines.
    for cat in out.values():
        per_file: dict[str, set[str]] = {}
        for proc in cat.get("processes", []):
            for cap, values in proc["values"].items():
                per_file.setdefault(cap, set()).update(values)
        cat["distinct"] = {cap: sorted(vals) for cap, vals in per_file.items()}
    return out


def _http_view(evidence: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    lane = evidence.get("lanes", {}).get("lmcache_http")
    out: dict[str, Any] = {}
    where: dict[str, str] = {}
    if not lane:
        return out, where
    for src in lane.get("sources", []):
        summary = src.get("summary") or {}
        for key, value in summary.items():
            if key in ("endpoints", "skipped"):
                continue
            out[key] = value
        for ep in summary.get("endpoints", []):
            route = str(ep.get("route") or "")
            part = route.split(".", 1)[-1]
            if ep.get("location"):
                where.setdefault(part, ep["location"])
                where.setdefault(route, ep["location"])
    return out, where


def _lane_summary(evidence: Mapping[str, Any], lane: str) -> dict[str, Any] | None:
    doc = evidence.get("lanes", {}).get(lane)
    if not doc:
        return None
    merged: dict[str, Any] = {"files": list(doc.get("files", [])), "signals": dict(doc.get("signals", {}))}
    for src in doc.get("sources", []):
        for k, v in (src.get("summary") or {}).items():
            merged.setdefault(k, v)
    return merged


def inputs_present(evidence: Mapping[str, Any], lanes: Iterable[str]) -> dict[str, bool]:
    """Which packet roles the Evidence holds: the two scrapes, the argv files, every lane."""
    roles = {s.get("role") for s in evidence.get("sources", []) if s.get("records") or s.get("reader") == "prometheus"}
    out = {
        "engine_metrics": "engine_metrics" in roles,
        "lmcache_metrics": "lmcache_metrics" in roles,
        "engine_argv": "engine" in evidence.get("argv", {}),
        "lmcache_argv": "lmcache" in evidence.get("argv", {}),
    }
    for lane in lanes:
        out[lane] = lane in evidence.get("lanes", {})
    return out


def diagnosis_view(evidence: Mapping[str, Any], derived: Mapping[str, Mapping[str, Any]], lanes: Iterable[str],
                   window: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plain document the rules read. `window` (from a collect-metrics output) maps metric
    id -> {delta, rate, quantiles, window (min/max/last of a gauge ...)} and carries `seconds`;
    without it every value is one snapshot, cumulative since the process started."""
    per_metric = (window or {}).get("metrics", {})
    metrics = {mid: _metric_view(e, per_metric.get(mid)) for mid, e in evidence.get("metrics", {}).items()}
    # A collect-metrics output holds the window without a snapshot scrape: its metrics come
    # from the window alone (value: the last sample of the window).
    for mid, w in per_metric.items():
        if mid not in metrics:
            metrics[mid] = _metric_view({"type": w.get("type"), "value": w.get("last"),
                                         "nonzero": bool(w.get("last")), "source": w.get("role")}, w)
    inputs = inputs_present(evidence, lanes)
    for w in per_metric.values():  # a window's scrapes are inputs of their role
        if w.get("role") in ("engine_metrics", "lmcache_metrics"):
            inputs[w["role"]] = True
    http, http_where = _http_view(evidence)
    lookup = _lane_summary(evidence, "lmcache_lookup_hash")
    otel = _lane_summary(evidence, "lmcache_otel")
    trace = _lane_summary(evidence, "lmcache_trace")
    blend = _lane_summary(evidence, "lmcache_cacheblend")
    argv = {role: " ".join(a.get("argv", [])) for role, a in evidence.get("argv", {}).items()}
    detected = evidence.get("detected", {})
    return {
        "basis": "window" if window else "snapshot",
        "window": {"seconds": window.get("seconds"), "source": window.get("source")} if window else None,
        "context": dict(evidence.get("context", {})),
        "detected": {"engines": list(detected.get("engines", [])), "lmcache_mode": detected.get("lmcache_mode"),
                     "connector": detected.get("connector")},
        "inputs": inputs,
        "metrics": metrics,
        "derived": {k: v.get("value") for k, v in derived.items()},
        "signals": {lane: dict(doc.get("signals", {})) for lane, doc in evidence.get("lanes", {}).items()},
        "logs": _logs_view(evidence),
        "http": http,
        "lookup_hash": ({"rows": lookup.get("rows"), "reuse": lookup.get("reuse"), "files": lookup["files"]}
                        if lookup else None),
        "otel": {"spans": otel["signals"].get("spans", 0), "files": otel["files"]} if otel else None,
        "trace": ({"records": trace["signals"].get("records", 0), "files": trace["files"]} if trace else None),
        "cacheblend": ({"records": blend["signals"].get("records", 0), "totals": blend.get("totals") or {},
                        "kinds": blend.get("kinds") or {}, "files": blend["files"]} if blend else None),
        "argv": argv,
        # where each piece came from, for evidence pointers (not read by rules)
        "_where": {
            "metrics": {s["role"]: s["path"] for s in evidence.get("sources", []) if s.get("reader") == "prometheus"},
            "http": http_where,
            "argv": {role: a.get("path") for role, a in evidence.get("argv", {}).items()},
            "lanes": {lane: list(doc.get("files", [])) for lane, doc in evidence.get("lanes", {}).items()},
            "metric_lines": {mid: {"exposed_name": (e.get("exposed_names") or [None])[0], "line": e.get("line"),
                                   "source": e.get("source"), "series_shown": e.get("series_shown", [])[:5]}
                             for mid, e in evidence.get("metrics", {}).items()},
        },
    }


# --------------------------------------------------------------------------- expressions


def _functions():
    """jmespath functions the rules may call: arithmetic that is null-safe (a missing input
    gives null, so a condition over it is false, never an error)."""
    from jmespath import functions

    class DiagnosisFunctions(functions.Functions):
        @functions.signature({"types": ["number", "null"]}, {"types": ["number", "null"]})
        def _func_ratio(self, a, b):
            if a is None or b is None or b == 0:
                return None
            return a / b

        @functions.signature({"types": ["number", "null"]}, {"types": ["number", "null"]})
        def _func_idiv(self, a, b):
            if a is None or b is None or b == 0:
                return None
            return math.floor(a / b)

        @functions.signature({"types": ["number", "null"]}, {"types": ["number", "null"]})
        def _func_sub(self, a, b):
            return None if a is None or b is None else a - b

        @functions.signature({"types": ["number", "null"]}, {"types": ["number", "null"]})
        def _func_add(self, a, b):
            return None if a is None or b is None else a + b

        @functions.signature({"types": ["number", "null"]}, {"types": ["number", "null"]})
        def _func_mul(self, a, b):
            return None if a is None or b is None else a * b

        @functions.signature({"types": ["array", "null"]})
        def _func_distinct(self, items):
            if items is None:
                return None
            out = []
            for i in items:
                if i not in out:
                    out.append(i)
            return out

    return DiagnosisFunctions()


EXTRA_FUNCTIONS = ("ratio", "idiv", "sub", "add", "mul", "distinct")
_OPTIONS: Any = None


def search(text: str, data: Any) -> Any:
    global _OPTIONS
    from inferguard.spec.expr import compile_expr

    if _OPTIONS is None:
        import jmespath

        _OPTIONS = jmespath.Options(custom_functions=_functions())
    return compile_expr(text).search(data, options=_OPTIONS)


# --------------------------------------------------------------------------- rules


@dataclass
class Rule:
    id: str
    title: str
    severity: str
    basis: str
    inputs: list[str]
    values: dict[str, str]
    when: str
    thresholds: dict[str, dict[str, Any]]
    causes: list[str]
    evidence: list[dict[str, str]]
    message: str
    remediation: str
    next_command: str
    order: int
    path: str
    status: str = "stable"
    tests: list[dict[str, Any]] = field(default_factory=list)


def rules_of(spec) -> list[Rule]:
    """Every rule of the spec set, in the documented order (files by name, rules in order)."""

    def build(s) -> list[Rule]:
        out: list[Rule] = []
        for sd in sorted(s.spec_docs("DiagnosisRules"), key=lambda d: (d.path, d.index)):
            for r in sd.data["rules"]:
                out.append(Rule(
                    id=r["id"], title=r["title"], severity=r["severity"], basis=r["basis"], inputs=list(r["inputs"]),
                    values=dict(r.get("values", {})), when=r["when"],
                    thresholds={k: dict(v) for k, v in (r.get("thresholds") or {}).items()},
                    causes=list(r.get("causes", [])), evidence=[dict(e) for e in r.get("evidence", [])],
                    message=r["message"], remediation=r["remediation"], next_command=r["next_command"],
                    order=len(out), path=sd.path, status=r.get("status", "stable"), tests=list(r.get("tests", [])),
                ))
        return out

    return spec.compiled("diagnosis_rules", build)


class OverrideError(ValueError):
    """A --rule-config entry that names no rule or threshold, or has the wrong type."""

    def __init__(self, message: str, where: tuple[str, ...]):
        super().__init__(message)
        self.where = where


def threshold_type_ok(kind: str, value: Any) -> str | None:
    """Why `value` is not of threshold type `kind`, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"expected a number, got {type(value).__name__} {value!r}"
    if kind == "integer" and not float(value).is_integer():
        return f"expected an integer, got {value!r}"
    if kind == "ratio" and not 0.0 <= float(value) <= 1.0:
        return f"expected a ratio in [0, 1], got {value!r}"
    return None


def thresholds_in_force(rules: list[Rule], overrides: Mapping[str, Any] | None) -> dict[str, dict[str, dict[str, Any]]]:
    """rule id -> threshold name -> {value, unit, type, source: default|rule-config}. An unknown
    rule or threshold, a wrong type: OverrideError naming where in the overrides it is."""
    out = {r.id: {k: {"value": t["value"], "unit": t["unit"], "type": t["type"], "source": "default"}
                  for k, t in r.thresholds.items()} for r in rules}
    by_id = {r.id: r for r in rules}
    for rid, names in (overrides or {}).items():
        if rid not in by_id:
            raise OverrideError(f"unknown rule {rid!r} (the rules and their thresholds: docs/diagnosis-rules.md)", (rid,))
        if not isinstance(names, Mapping):
            raise OverrideError(f"rule {rid!r}: expected a mapping of threshold names to values", (rid,))
        for name, value in names.items():
            t = by_id[rid].thresholds.get(name)
            if t is None:
                known = ", ".join(sorted(by_id[rid].thresholds)) or "none"
                raise OverrideError(f"rule {rid!r} has no threshold {name!r} (its thresholds: {known})", (rid, name))
            why = threshold_type_ok(t["type"], value)
            if why:
                raise OverrideError(f"rule {rid!r} threshold {name!r} ({t['type']}, {t['unit']}): {why}", (rid, name))
            out[rid][name] = {**out[rid][name], "value": value, "source": "rule-config"}
    return out


def _fmt(value: Any, spec: str | None) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return str(value).lower()
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v, None) for v in value) or "none"
    return str(value)


def render(template: str, values: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, Any]], causes: str) -> str:
    def sub(m: re.Match) -> str:
        ref, spec = m.group("ref"), m.group("spec")
        if ref == "causes":
            return causes
        if ref.startswith("thresholds."):
            t = thresholds[ref.split(".", 1)[1]]
            return _fmt(t["value"], spec)
        return _fmt(values.get(ref), spec)

    return TEMPLATE_REF.sub(sub, template)


@dataclass
class RuleResult:
    rule: Rule
    state: str                       # fired | silent | not_evaluated
    values: dict[str, Any]
    missing: list[str]
    confidence: float | None = None


def _clean(p: dict[str, Any]) -> dict[str, Any]:
    """A pointer as finding.v1 has it: no empty keys, `line` a line number, `artifact` text."""
    out = {k: v for k, v in p.items() if v is not None}
    if not (isinstance(out.get("line"), int) and out["line"] >= 1):
        out.pop("line", None)
    out["artifact"] = str(out.get("artifact") or "")
    return out


def _pointers(rule: Rule, view: Mapping[str, Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [_clean(p) for p in _raw_pointers(rule, view, values)]


def _raw_pointers(rule: Rule, view: Mapping[str, Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    where = view["_where"]
    out: list[dict[str, Any]] = []
    for ref in rule.evidence:
        (kind, name), = ref.items()
        if kind == "metric":
            m = view["metrics"].get(name)
            if m is None:
                continue
            w = where["metric_lines"].get(name, {})
            p = {"artifact": where["metrics"].get(w.get("source"), w.get("source")), "metric": name,
                 "exposed_name": w.get("exposed_name"), "line": w.get("line"), "value": m["value"],
                 "series": w.get("series_shown", []), "basis": view["basis"]}
            if m.get("delta") is not None:
                p["delta"] = m["delta"]
            out.append(p)
        elif kind == "log":
            c = view["logs"].get(name)
            if not c or not c["count"]:
                continue
            out.append({"artifact": ", ".join(c["files"]), "log_category": name, "count": c["count"],
                        "lines": c["lines"], "examples": c["examples"], "patterns": c["patterns"]})
        elif kind == "http":
            if name not in view["http"]:
                continue
            value = view["http"][name]
            route = value.get("route") if isinstance(value, dict) else None
            artifact = where["http"].get(route) or where["http"].get(name) or ", ".join(where["lanes"].get("lmcache_http", []))
            out.append({"artifact": artifact, "http": name, "value": value})
        elif kind == "lane":
            if name not in where["lanes"]:
                continue
            out.append({"artifact": ", ".join(where["lanes"][name]), "lane": name, "signals": view["signals"].get(name, {})})
        elif kind == "argv":
            if name not in where["argv"]:
                continue
            out.append({"artifact": where["argv"][name], "argv": name})
        elif kind == "lookup_hash":
            lh = view.get("lookup_hash")
            if not lh:
                continue
            out.append({"artifact": ", ".join(lh["files"]), "lookup_hash": "reuse", "value": lh.get("reuse")})
    return out


def evaluate_rules(view: Mapping[str, Any], rules: list[Rule], thresholds: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[RuleResult]:
    results: list[RuleResult] = []
    for rule in rules:
        th = thresholds[rule.id]
        data = {k: v for k, v in view.items() if not k.startswith("_")}
        data["thresholds"] = {k: t["value"] for k, t in th.items()}
        values: dict[str, Any] = {}
        data["values"] = values
        for name, expr in rule.values.items():
            values[name] = search(expr, data)
        missing = [i for i in rule.inputs if not view["inputs"].get(i)]
        fired = bool(search(rule.when, data))
        if fired:
            state = "fired"
        elif len(missing) == len(rule.inputs):
            state = "not_evaluated"
        else:
            state = "silent"
        conf = round((1 + len(rule.inputs) - len(missing)) / (1 + len(rule.inputs)), 2) if fired else None
        results.append(RuleResult(rule, state, values, missing, conf))
    return results


def diagnose(view: Mapping[str, Any], spec, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Findings (JSON), rule states, the verdict. OverrideError on a bad override."""
    rules = rules_of(spec)
    thresholds = thresholds_in_force(rules, overrides)
    results = evaluate_rules(view, rules, thresholds)
    fired = {r.rule.id: r for r in results if r.state == "fired"}
    explained_by: dict[str, list[str]] = {}
    for r in fired.values():
        for c in r.rule.causes:
            if c in fired:
                explained_by.setdefault(c, []).append(r.rule.id)
    findings: list[dict[str, Any]] = []
    for r in results:
        if r.state != "fired":
            continue
        causes = [c for c in r.rule.causes if c in fired]
        cause_text = ("; ".join(f"{c} ({fired[c].rule.title})" for c in causes) if causes
                      else ("none of the known causes fired (" + ", ".join(r.rule.causes) + ")" if r.rule.causes else ""))
        th = thresholds[r.rule.id]
        f = Finding(
            check=r.rule.id, severity=r.rule.severity,
            message=render(r.rule.message, r.values, th, cause_text),
            subject=r.rule.title, evidence=tuple(_pointers(r.rule, view, r.values)), confidence=r.confidence,
            remediation=render(r.rule.remediation, r.values, th, cause_text), next_command=r.rule.next_command,
        )
        out = f.to_json()
        out["basis"] = r.rule.basis
        out["status"] = r.rule.status
        out["values"] = {k: v for k, v in r.values.items()}
        if r.rule.causes:
            out["causes"] = causes
        if r.rule.id in explained_by:
            out["explains"] = explained_by[r.rule.id]
        out["order"] = r.rule.order
        findings.append(out)
    findings.sort(key=verdict_key)
    # The findings are the tool's one finding model (schemas/finding.v1); what only a diagnosis
    # has (basis, the values measured, the causes named and explained) is on the rule's result.
    details = {f["check"]: {k: f[k] for k in DETAIL_KEYS if k in f} for f in findings}
    rules = []
    for r in results:
        entry = {"rule": r.rule.id, "state": r.state, "missing_inputs": r.missing,
                 "thresholds": {k: dict(t) for k, t in thresholds[r.rule.id].items()}}
        entry.update(details.get(r.rule.id, {}))
        rules.append(entry)
    return {
        "findings": [{k: f[k] for k in FINDING_KEYS if k in f} for f in findings],
        "rules": rules,
        "verdict": verdict(findings, results),
    }


FINDING_KEYS = ("check", "severity", "message", "subject", "evidence", "confidence", "remediation", "next_command")
DETAIL_KEYS = ("basis", "status", "values", "causes", "explains")


def verdict_key(f: Mapping[str, Any]) -> tuple[int, int, int]:
    return (1 if f["basis"] == "gap" else 0, -severity_rank(f["severity"]), f.get("order", 0))


def verdict(findings: list[Mapping[str, Any]], results: list[RuleResult]) -> dict[str, Any]:
    """The first finding by VERDICT_PRIORITY (findings are sorted by it), or what no finding means."""
    evaluated = [r for r in results if r.state != "not_evaluated"]
    if findings:
        top = findings[0]
        out = {"status": "bottleneck" if top["basis"] == "measured" else "evidence_gap",
               "rule": top["check"], "severity": top["severity"], "message": top["message"],
               "confidence": top.get("confidence"), "priority": list(VERDICT_PRIORITY)}
        if top.get("causes"):
            out["causes"] = top["causes"]
        gaps = [f["check"] for f in findings if f["basis"] == "gap" and f is not top]
        if gaps:
            out["annotations"] = gaps
        return out
    if not evaluated:
        return {"status": "insufficient_evidence", "rule": None, "severity": None,
                "message": "no rule could be evaluated: none of the inputs the rules read was found",
                "priority": list(VERDICT_PRIORITY)}
    return {"status": "no_finding", "rule": None, "severity": None,
            "message": f"no rule fired ({len(evaluated)} of {len(results)} rules evaluated on the evidence found)",
            "priority": list(VERDICT_PRIORITY)}


def severity_counts(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {s: 0 for s in SEVERITIES}
    for f in findings:
        out[f["severity"]] += 1
    return out
