"""Cross-document checks: unknown references, duplicate ids, expressions that do not compile.

Each check returns Problems with the file, line and column of the offending node and a
rule id (`area/name`). Per-kind checks that need only one document live in the kind's
plugin (`inferguard/spec/kinds/<kind>.py: validate`).
"""
from __future__ import annotations

import re
from typing import Any, Callable

from inferguard.problems import Problem
from inferguard.spec.expr import ExprError, compile_expr
from inferguard.spec.metrics import catalog
from inferguard.spec.yamlload import locate

CHECKS: list[Callable[[Any], list[Problem]]] = []


def register(fn: Callable[[Any], list[Problem]]) -> Callable[[Any], list[Problem]]:
    CHECKS.append(fn)
    return fn


def _expr(doc, path: str, where: list, text: str | None, out: list[Problem]) -> None:
    if not text:
        return
    try:
        compile_expr(text)
    except ExprError as exc:
        line, col = locate(doc, where)
        out.append(Problem("spec", path, f"jmespath does not compile: {exc}", line, col, rule="expr/syntax"))


def _regex(doc, path: str, where: list, text: str, out: list[Problem]) -> None:
    try:
        re.compile(text)
    except re.error as exc:
        line, col = locate(doc, where)
        out.append(Problem("spec", path, f"regex does not compile: {exc}", line, col, rule="regex/syntax"))


@register
def metric_families(spec) -> list[Problem]:
    cat = catalog(spec)
    out = list(cat.problems)
    for sd in spec.spec_docs("MetricFamilies"):
        for fi, fam in enumerate(sd.data["families"]):
            _expr(sd.data, sd.path, ["families", fi, "required_when"], fam.get("required_when"), out)
    return out


def _detection_targets(doc: dict[str, Any]):
    """(where, target) for every detection target, the logs_and_spans section included."""
    for section in ("engines", "lmcache_modes", "connectors"):
        for ti, target in enumerate(doc.get(section) or []):
            yield [section, ti], target
    for section, targets in (doc.get("logs_and_spans") or {}).items():
        for ti, target in enumerate(targets or []):
            yield ["logs_and_spans", section, ti], target


@register
def detection_logs_and_spans(spec) -> list[Problem]:
    """`log_pattern` globs must name patterns of the LogPatterns specs; `span_name` must compile."""
    import fnmatch

    ids = [p.get("id") for d in spec.docs("LogPatterns") for p in d.get("patterns") or [] if isinstance(p, dict)]
    out: list[Problem] = []
    for sd in spec.spec_docs("Detection"):
        for where, target in _detection_targets(sd.data):
            for si, sig in enumerate(target.get("signals") or []):
                at = where + ["signals", si]
                for key in ("span_name", "log_process"):
                    if key in sig:
                        _regex(sd.data, sd.path, at + [key, "matches"], sig[key]["matches"], out)
                for gi, glob in enumerate((sig.get("log_pattern") or {}).get("ids") or []):
                    if not any(isinstance(i, str) and fnmatch.fnmatchcase(i, glob) for i in ids):
                        line, col = locate(sd.data, at + ["log_pattern", "ids", gi])
                        out.append(Problem("spec", sd.path, f"no log pattern id matches {glob!r}", line, col,
                                           rule="detection/unknown-log-pattern"))
    return out


@register
def detection(spec) -> list[Problem]:
    cat = catalog(spec)
    out: list[Problem] = []
    components = {(m.runtime, m.component) for m in cat.metrics.values()}
    for sd in spec.spec_docs("Detection"):
        doc = sd.data
        for section in ("engines", "lmcache_modes", "connectors"):
            ids = set()
            for ti, target in enumerate(doc[section]):
                if target["id"] in ids:
                    line, col = locate(doc, [section, ti, "id"])
                    out.append(Problem("spec", sd.path, f"duplicate {section} id {target['id']!r}", line, col, rule="detection/duplicate-id"))
                ids.add(target["id"])
                for si, sig in enumerate(target["signals"]):
                    where = [section, ti, "signals", si]
                    line, col = locate(doc, where)
                    if "family" in sig and sig["family"] not in cat.families:
                        out.append(Problem("spec", sd.path, f"unknown family {sig['family']!r}", line, col, rule="detection/unknown-ref"))
                    if "metric" in sig and sig["metric"] not in cat.metrics:
                        out.append(Problem("spec", sd.path, f"unknown metric {sig['metric']!r}", line, col, rule="detection/unknown-ref"))
                    if "metric_label" in sig and sig["metric_label"]["metric"] not in cat.metrics:
                        out.append(Problem("spec", sd.path, f"unknown metric {sig['metric_label']['metric']!r}", line, col, rule="detection/unknown-ref"))
                    if "component" in sig:
                        c = sig["component"]
                        if (c["runtime"], c["component"]) not in components:
                            out.append(Problem("spec", sd.path, f"no metric has component {c['component']!r} in runtime {c['runtime']!r}", line, col, rule="detection/unknown-ref"))
                    if "argv" in sig:
                        _regex(doc, sd.path, where + ["argv", "regex"], sig["argv"]["regex"], out)
                    for key in ("metric_label", "lane_value"):
                        if key in sig and "matches" in sig[key]:
                            _regex(doc, sd.path, where + [key, "matches"], sig[key]["matches"], out)
                    if "lane_value" in sig:
                        _expr(doc, sd.path, where + ["lane_value", "path"], sig["lane_value"]["path"], out)
        for ai, rule in enumerate(doc["applicability"]):
            _expr(doc, sd.path, ["applicability", ai, "when"], rule["when"], out)
    return out


@register
def surfaces(spec) -> list[Problem]:
    cat = catalog(spec)
    out: list[Problem] = []
    seen: dict[str, str] = {}
    for sd in spec.spec_docs("Surfaces"):
        doc = sd.data
        for ri, row in enumerate(doc["rows"]):
            line, col = locate(doc, ["rows", ri, "id"])
            if row["id"] in seen:
                out.append(Problem("spec", sd.path, f"duplicate row id {row['id']!r} (first at {seen[row['id']]})", line, col, rule="surfaces/duplicate-id"))
            seen.setdefault(row["id"], f"{sd.path}:{line}")
            _expr(doc, sd.path, ["rows", ri, "applies_when"], row.get("applies_when"), out)
            for qi, req in enumerate(row["requires"]):
                where = ["rows", ri, "requires", qi]
                if "family" in req and req["family"] not in cat.families:
                    l2, c2 = locate(doc, where + ["family"])
                    out.append(Problem("spec", sd.path, f"unknown family {req['family']!r}", l2, c2, rule="surfaces/unknown-family"))
                _expr(doc, sd.path, where + ["required_when"], req.get("required_when"), out)
    return out


def check_all(spec) -> list[Problem]:
    out: list[Problem] = []
    for fn in CHECKS:
        out.extend(fn(spec))
    return out



@register
def checklist(spec) -> list[Problem]:
    cat = catalog(spec)
    out: list[Problem] = []
    rows = {r["id"] for d in spec.docs("Surfaces") for r in d["rows"]}
    docs = spec.spec_docs("Checklist")
    if len(docs) > 1:
        out.append(Problem("spec", docs[1].path, "more than one Checklist document", docs[1].data.line, rule="checklist/duplicate"))
    for sd in docs[:1]:
        doc = sd.data
        total = 0.0
        ids: set[str] = set()
        for section in ("lanes", "closeout"):
            for li, lane in enumerate(doc[section]):
                total += float(lane["weight"])
                if lane["id"] in ids:
                    line, col = locate(doc, [section, li, "id"])
                    out.append(Problem("spec", sd.path, f"duplicate lane id {lane['id']!r}", line, col, rule="checklist/duplicate-id"))
                ids.add(lane["id"])
                for ii, item in enumerate(lane["items"]):
                    line, col = locate(doc, [section, li, "items", ii])
                    if "row" in item and item["row"] not in rows:
                        out.append(Problem("spec", sd.path, f"unknown surface row {item['row']!r}", line, col, rule="checklist/unknown-ref"))
                    if "family" in item and item["family"] not in cat.families:
                        out.append(Problem("spec", sd.path, f"unknown family {item['family']!r}", line, col, rule="checklist/unknown-ref"))
        if abs(total - 100.0) > 1e-9:
            line, col = locate(doc, ["lanes"])
            out.append(Problem("spec", sd.path, f"lane and closeout weights sum to {total:g}, not 100", line, col, rule="checklist/weights"))
    return out


_THRESHOLD_REF = re.compile(r"\bthresholds\.([A-Za-z_][A-Za-z0-9_]*)")


@register
def diagnosis_rules(spec) -> list[Problem]:
    """Rule ids are unique, `when` compiles, and every threshold a rule names is declared."""
    out: list[Problem] = []
    seen: set[str] = set()
    for sd in spec.spec_docs("DiagnosisRules"):
        doc = sd.data
        for ri, rule in enumerate(doc["rules"]):
            where = ["rules", ri]
            if rule["id"] in seen:
                line, col = locate(doc, where + ["id"])
                out.append(Problem("spec", sd.path, f"duplicate rule id {rule['id']!r}", line, col, rule="diagnosis/duplicate-id"))
            seen.add(rule["id"])
            _expr(doc, sd.path, where + ["when"], rule["when"], out)
            declared = set(rule.get("thresholds", {}))
            for field in ("when", "message", "remediation"):
                for name in _THRESHOLD_REF.findall(rule.get(field, "")):
                    if name not in declared:
                        line, col = locate(doc, where + [field])
                        out.append(Problem("spec", sd.path, f"rule {rule['id']!r} uses unknown threshold {name!r} in {field}",
                                           line, col, rule="diagnosis/unknown-threshold"))
    return out


@register
def namespaces_and_versions(spec) -> list[Problem]:
    """Metric namespaces and version evidence (Detection), release lists and inventory names
    left unmapped (MetricFamilies): every reference resolves."""
    from inferguard.engine.versions import version_key

    cat = catalog(spec)
    out: list[Problem] = []
    for sd in spec.spec_docs("Detection"):
        doc = sd.data
        engines = {t["id"] for t in doc["engines"]}
        modes = {t["id"] for t in doc["lmcache_modes"]}
        seen: set[str] = set()
        for ni, ns in enumerate(doc.get("namespaces", [])):
            line, col = locate(doc, ["namespaces", ni, "id"])
            if ns["id"] in seen:
                out.append(Problem("spec", sd.path, f"duplicate namespace id {ns['id']!r}", line, col, rule="detection/duplicate-id"))
            seen.add(ns["id"])
            comp = ns.get("component")
            if comp is None and ns["runtime"] not in engines:
                out.append(Problem("spec", sd.path, f"namespace {ns['id']!r}: runtime {ns['runtime']!r} is not an engine id",
                                   line, col, rule="detection/unknown-ref"))
            if comp is not None and comp not in modes:
                out.append(Problem("spec", sd.path, f"namespace {ns['id']!r}: component {comp!r} is not an LMCache mode id",
                                   line, col, rule="detection/unknown-ref"))
        for vi, ve in enumerate(doc.get("version_evidence", [])):
            for mi, mid in enumerate(ve["registered_always"]):
                m = cat.metrics.get(mid)
                if m is None or m.runtime != ve["runtime"]:
                    line, col = locate(doc, ["version_evidence", vi, "registered_always", mi])
                    out.append(Problem("spec", sd.path, f"unknown {ve['runtime']} metric {mid!r}", line, col, rule="detection/unknown-ref"))
    for sd in spec.spec_docs("MetricFamilies"):
        doc = sd.data
        rels = doc.get("releases", [])
        if [version_key(r) for r in rels] != sorted(version_key(r) for r in rels) or len(set(rels)) != len(rels):
            line, col = locate(doc, ["releases"])
            out.append(Problem("spec", sd.path, "releases must be distinct and oldest first", line, col, rule="metrics/releases-order"))
        for gi, group in enumerate(doc.get("not_mapped", [])):
            for ni, name in enumerate(group["names"]):
                if cat.lookup(name) is not None:
                    line, col = locate(doc, ["not_mapped", gi, "names", ni])
                    out.append(Problem("spec", sd.path, f"{name!r} is listed as not mapped but is an alias of {cat.lookup(name)[0]!r}",
                                       line, col, rule="metrics/not-mapped-is-mapped"))
    return out
