"""Cross-document checks: unknown references, duplicate ids, expressions that do not compile.

Each check returns Problems with the file, line and column of the offending node and a
rule id (`area/name`). Per-kind checks that need only one document live in the kind's
plugin (`inferguard/spec/kinds/<kind>.py: validate`).
"""
from __future__ import annotations

import re
from typing import Any, Callable

from inferguard.core.problems import Problem
from inferguard.core.provenance import fixture_origin
from inferguard.spec.expr import ExprError, compile_expr
from inferguard.spec.metrics import catalog
from inferguard.spec.marked import locate

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
        out.extend(_live_validation(sd))
    return out


def _live_validation(sd) -> list[Problem]:
    """The live replay section: every command a fixture names is a declared one, every declared
    command has an expectation on every fixture (a replay without one cannot pass), and every
    jmespath expression compiles."""
    doc = sd.data
    lv = doc.get("live_validation")
    out: list[Problem] = []
    if not lv:
        return out
    declared = [c["command"] for c in lv["commands"]]
    for ci, name in enumerate(declared):
        if name in declared[:ci]:
            line, col = locate(doc, ["live_validation", "commands", ci, "command"])
            out.append(Problem("spec", sd.path, f"command {name!r} is listed twice", line, col,
                               rule="checklist/live-unknown-command"))
    for fi, fx in enumerate(lv.get("fixtures") or []):
        where = ["live_validation", "fixtures", fi]
        for key in ("expect", "extra_args"):
            for name in (fx.get(key) or {}):
                if name not in declared:
                    line, col = locate(doc, where + [key, name])
                    out.append(Problem("spec", sd.path, f"{key} names {name!r}, not a command of live_validation "
                                       f"({', '.join(declared)})", line, col, rule="checklist/live-unknown-command"))
        for name in declared:
            if name not in (fx.get("expect") or {}):
                line, col = locate(doc, where + ["expect"])
                out.append(Problem("spec", sd.path, f"fixture {fx['path']!r} declares no expectation for {name!r}",
                                   line, col, rule="checklist/live-missing-expectation"))
        for name, exp in (fx.get("expect") or {}).items():
            for expr in (exp.get("json") or {}):
                _expr(doc, sd.path, where + ["expect", name, "json", expr], expr, out)
    return out


_THRESHOLD_REF = re.compile(r"\bthresholds\.([A-Za-z_][A-Za-z0-9_]*)")
_VALUE_REF = re.compile(r"\bvalues\.([A-Za-z_][A-Za-z0-9_]*)")
_METRIC_REF = re.compile(r'\bmetrics\."([^"]+)"')
_DERIVED_REF = re.compile(r'\bderived\."([^"]+)"')
_LOG_REF = re.compile(r"\blogs\.([A-Za-z_][A-Za-z0-9_]*)")
_INPUT_REF = re.compile(r"\binputs\.([A-Za-z_][A-Za-z0-9_]*)")
_FUNC_REF = re.compile(r"\b([a-z_]+)\(")
# `!a.b` is (!a).b in jmespath (not binds tighter than the dot): always null, never the intent.
_LOOSE_NOT = re.compile(r"!\s*[A-Za-z_\"][^\s()&|]*\.")
_JMESPATH_BUILTINS = {"abs", "avg", "contains", "ceil", "ends_with", "floor", "join", "keys", "length", "map",
                      "max", "max_by", "merge", "min", "min_by", "not_null", "reverse", "sort", "sort_by",
                      "starts_with", "sum", "to_array", "to_string", "to_number", "type", "values"}


def _diag_problem(out: list[Problem], sd, where: list, message: str, rule: str) -> None:
    line, col = locate(sd.data, where)
    out.append(Problem("spec", sd.path, message, line, col, rule=rule))


@register
def diagnosis_rules(spec) -> list[Problem]:
    """Rule ids are unique; expressions compile and every name they read resolves (metric ids
    against MetricFamilies, log categories against LogPatterns, inputs against the packet roles
    and the Vocabulary's lanes, thresholds and values against the rule's own); templates name
    only the rule's values and thresholds; causes, evidence pointers and fixture expectations
    name rules and sources that exist."""
    from inferguard.engine.diagnosis import EXTRA_FUNCTIONS, SCRAPE_ROLES, TEMPLATE_REF

    out: list[Problem] = []
    docs = spec.spec_docs("DiagnosisRules")
    if not docs:
        return out
    if spec.docs("MetricFamilies"):
        cat = catalog(spec)
    else:  # a lint of a few files resolves metric ids against the bundled spec set
        from inferguard.spec import default_specs

        cat = catalog(default_specs())
    categories = {p.get("category") for d in _docs_or_bundled(spec, "LogPatterns") for p in d.get("patterns", [])}
    lanes = {ln["id"] for ln in _registry(spec)["lanes"]}
    roles = set(SCRAPE_ROLES) | lanes
    functions = _JMESPATH_BUILTINS | set(EXTRA_FUNCTIONS)
    ids = [r["id"] for sd in docs for r in sd.data["rules"]]
    known_ids = set(ids)
    seen: set[str] = set()
    for sd in docs:
        doc = sd.data
        for ri, rule in enumerate(doc["rules"]):
            where = ["rules", ri]
            rid = rule["id"]
            if rid in seen:
                _diag_problem(out, sd, where + ["id"], f"duplicate rule id {rid!r}", "diagnosis/duplicate-id")
            seen.add(rid)
            declared = set(rule.get("thresholds", {}))
            value_names = list(rule.get("values", {}))
            exprs = [(["values", k], v) for k, v in rule.get("values", {}).items()] + [(["when"], rule["when"])]
            for sub, text in exprs:
                _expr(doc, sd.path, where + sub, text, out)
                for name in _THRESHOLD_REF.findall(text):
                    if name not in declared:
                        _diag_problem(out, sd, where + sub, f"rule {rid!r} uses unknown threshold {name!r}",
                                      "diagnosis/unknown-threshold")
                for name in _VALUE_REF.findall(text):
                    # a value reads only values declared before it; `when` reads all of them
                    visible = value_names if sub == ["when"] else value_names[:value_names.index(sub[1])]
                    if name not in visible:
                        _diag_problem(out, sd, where + sub, f"rule {rid!r} reads value {name!r} before it is declared"
                                      if name in value_names else f"rule {rid!r} reads unknown value {name!r}",
                                      "diagnosis/unknown-value")
                for mid in _METRIC_REF.findall(text):
                    if mid not in cat.metrics:
                        _diag_problem(out, sd, where + sub, f"unknown metric id {mid!r} (see specs/metrics/*.yaml)",
                                      "diagnosis/unknown-metric")
                for did in _DERIVED_REF.findall(text):
                    if did not in cat.derived:
                        _diag_problem(out, sd, where + sub, f"unknown derived value {did!r}", "diagnosis/unknown-metric")
                for c in _LOG_REF.findall(text):
                    if c not in categories:
                        _diag_problem(out, sd, where + sub, f"unknown log pattern category {c!r} (see specs/logs/*.yaml)",
                                      "diagnosis/unknown-log-category")
                for r in _INPUT_REF.findall(text):
                    if r not in roles:
                        _diag_problem(out, sd, where + sub, f"unknown input {r!r}", "diagnosis/unknown-input")
                for fn in _FUNC_REF.findall(text):
                    if fn not in functions:
                        _diag_problem(out, sd, where + sub, f"unknown function {fn}()", "diagnosis/unknown-function")
                if _LOOSE_NOT.search(text):
                    _diag_problem(out, sd, where + sub, "`!a.b` negates `a`, not `a.b` (write `!(a.b)`)",
                                  "diagnosis/loose-not")
            for ii, role in enumerate(rule["inputs"]):
                if role not in roles:
                    _diag_problem(out, sd, where + ["inputs", ii],
                                  f"unknown input {role!r} (one of {', '.join(sorted(roles))})", "diagnosis/unknown-input")
            for field in ("message", "remediation"):
                for m in TEMPLATE_REF.finditer(rule[field]):
                    ref = m.group("ref")
                    if ref == "causes":
                        if not rule.get("causes"):
                            _diag_problem(out, sd, where + [field], f"rule {rid!r} renders {{causes}} but declares none",
                                          "diagnosis/unknown-template-ref")
                    elif ref.startswith("thresholds."):
                        if ref.split(".", 1)[1] not in declared:
                            _diag_problem(out, sd, where + [field],
                                          f"rule {rid!r} uses unknown threshold {ref.split('.', 1)[1]!r} in {field}",
                                          "diagnosis/unknown-threshold")
                    elif ref not in value_names:
                        _diag_problem(out, sd, where + [field], f"rule {rid!r} renders {{{ref}}}, which is not one of its values",
                                      "diagnosis/unknown-template-ref")
            for name in declared:
                uses = [rule["when"], rule["message"], *rule.get("values", {}).values()]
                if not any(f"thresholds.{name}" in u for u in uses):
                    _diag_problem(out, sd, where + ["thresholds", name], f"threshold {name!r} is declared but never used",
                                  "diagnosis/unused-threshold")
                t = rule["thresholds"][name]
                from inferguard.engine.diagnosis import threshold_type_ok

                why = threshold_type_ok(t["type"], t["value"])
                if why:
                    _diag_problem(out, sd, where + ["thresholds", name, "value"], f"default of {name!r}: {why}",
                                  "diagnosis/threshold-type")
                if not any(f"{{thresholds.{name}" in rule["message"] for _ in [0]):
                    _diag_problem(out, sd, where + ["message"], f"the message does not render threshold {name!r}",
                                  "diagnosis/message-threshold")
            for ci, c in enumerate(rule.get("causes", [])):
                if c not in known_ids or c == rid:
                    _diag_problem(out, sd, where + ["causes", ci], f"cause {c!r} is not another rule's id",
                                  "diagnosis/unknown-rule")
            for ei, ref in enumerate(rule.get("evidence", [])):
                (kind, name), = ref.items()
                bad = ((kind == "metric" and name not in cat.metrics) or (kind == "log" and name not in categories)
                       or (kind == "lane" and name not in lanes))
                if bad:
                    _diag_problem(out, sd, where + ["evidence", ei], f"evidence pointer names unknown {kind} {name!r}",
                                  "diagnosis/unknown-evidence")
            fires = {c["expect"]["fires"] for c in rule.get("tests", [])}
            if fires != {True, False}:
                _diag_problem(out, sd, where + ["tests"], f"rule {rid!r} needs a positive and a negative test case",
                              "diagnosis/tests-both-ways")
            for ti, case in enumerate(rule.get("tests", [])):
                for c in case["expect"].get("causes", []):
                    if c not in rule.get("causes", []):
                        _diag_problem(out, sd, where + ["tests", ti, "expect"], f"expects cause {c!r}, which the rule does not declare",
                                      "diagnosis/unknown-rule")
        for fi, fx in enumerate(doc.get("fixtures", [])):
            named = list(fx.get("fires", [])) + list(fx.get("silent", [])) + list(fx.get("causes", {}))
            named += [c for cs in fx.get("causes", {}).values() for c in cs]
            for rid in named:
                if rid not in known_ids:
                    _diag_problem(out, sd, ["fixtures", fi], f"fixture expectation names unknown rule {rid!r}",
                                  "diagnosis/unknown-rule")
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


# --------------------------------------------------------------------------- the vocabulary


def _registry(spec) -> dict[str, Any]:
    """The spec set's own registry, or the bundled one when it has no Vocabulary (a lint of
    a few files)."""
    from inferguard.spec.registry import bundled, registry_of

    return registry_of(spec) if spec.docs("Vocabulary") else bundled()


def _docs_or_bundled(spec, kind: str) -> list:
    """The spec set's documents of `kind`, or the bundled set's when the files linted hold
    none (a lint of a few files still resolves references into the rest)."""
    docs = spec.docs(kind)
    if docs:
        return docs
    from inferguard.spec import default_specs

    return default_specs().docs(kind)


def _lane_signal_ok(spec, registry: dict[str, Any], lane_id: str, signal: str) -> bool:
    lane = next((ln for ln in registry["lanes"] if ln["id"] == lane_id), None)
    if lane is None:
        return False
    if signal in lane["signals"]:
        return True
    if any(signal.startswith(p[:-1]) and len(signal) > len(p) - 1 for p in lane["signal_patterns"]):
        return True
    if lane["signals_from_log_patterns"]:
        head, _, value = signal.partition(".")
        for d in _docs_or_bundled(spec, "LogPatterns"):
            for pat in d.get("patterns", []):
                if pat.get("category") == head and (not value or pat.get("value_signals")):
                    return True
    return False


def _context_keys_of(text: str) -> list[str]:
    """Every key an expression reads as context.<key>."""
    import jmespath

    try:
        tree = jmespath.compile(text).parsed
    except Exception:  # noqa: BLE001 - syntax is reported by expr/syntax
        return []
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kids = node.get("children") or []
            if (node.get("type") == "subexpression" and len(kids) == 2 and kids[0].get("type") == "field"
                    and kids[0].get("value") == "context" and kids[1].get("type") == "field"):
                out.append(kids[1]["value"])
            for k in kids:
                walk(k)
        elif isinstance(node, list):
            for k in node:
                walk(k)

    walk(tree)
    return out


def _expressions(spec):
    """(document, path, where, text) of every jmespath expression in the spec set."""
    for sd in spec.spec_docs("MetricFamilies"):
        for fi, fam in enumerate(sd.data["families"]):
            if fam.get("required_when"):
                yield sd, ["families", fi, "required_when"], fam["required_when"]
    for sd in spec.spec_docs("Surfaces"):
        for ri, row in enumerate(sd.data["rows"]):
            if row.get("applies_when"):
                yield sd, ["rows", ri, "applies_when"], row["applies_when"]
            for qi, req in enumerate(row["requires"]):
                if req.get("required_when"):
                    yield sd, ["rows", ri, "requires", qi, "required_when"], req["required_when"]
    for sd in spec.spec_docs("Detection"):
        for ai, rule in enumerate(sd.data["applicability"]):
            yield sd, ["applicability", ai, "when"], rule["when"]
    for sd in spec.spec_docs("DiagnosisRules"):
        for ri, rule in enumerate(sd.data["rules"]):
            yield sd, ["rules", ri, "when"], rule["when"]
            for name, text in (rule.get("values") or {}).items():
                yield sd, ["rules", ri, "values", name], text


@register
def context_keys(spec) -> list[Problem]:
    keys = {c["key"] for c in _registry(spec)["context"]}
    out: list[Problem] = []
    for sd, where, text in _expressions(spec):
        for key in _context_keys_of(text):
            if key not in keys:
                line, col = locate(sd.data, where)
                out.append(Problem("spec", sd.path, f"unknown context key {key!r} (declared: {', '.join(sorted(keys))})",
                                   line, col, rule="expr/unknown-context-key"))
    return out


# Every entry of a report part that a check must turn into a finding (see `checks` in the
# Vocabulary): gap status x collected, the failing mode check results, the unhealthy state.
_MUST_MATCH: tuple[tuple[str, dict[str, Any]], ...] = (
    *(("gap", {"status": st, "collected": c}) for st in ("absent", "present_zero", "registered_no_samples")
      for c in (True, False)),
    ("mode_check", {"result": "mismatch"}), ("mode_check", {"result": "no_lmcache"}),
    ("lmcache_health", {"state": "unhealthy"}),
)


def _vocabulary_checks(spec, sd) -> list[Problem]:
    """The checks of findings: ids declared once; every --fail-on alias names declared checks
    (of the Vocabulary or a DiagnosisRules document); every gap, failing mode result,
    unhealthy verdict and the problems of every lane (and of any other source) have a check."""
    from inferguard.engine.findings import check_matches

    doc = sd.data
    out: list[Problem] = []
    checks = doc.get("checks", [])
    seen: set[str] = set()
    for i, c in enumerate(checks):
        if c["id"] in seen:
            line, col = locate(doc, ["checks", i, "id"])
            out.append(Problem("spec", sd.path, f"duplicate check {c['id']!r}", line, col, rule="vocabulary/duplicate-id"))
        seen.add(c["id"])
    rule_ids = {r["id"] for d in spec.docs("DiagnosisRules") for r in d.get("rules", [])}
    for i, c in enumerate(checks):
        if c["id"] in rule_ids:  # one id, one severity: a check is declared in one place
            line, col = locate(doc, ["checks", i, "id"])
            out.append(Problem("spec", sd.path, f"check {c['id']!r} is also a DiagnosisRules rule id", line, col,
                               rule="vocabulary/duplicate-id"))
    known = seen | rule_ids
    for i, p in enumerate(doc.get("fail_on", [])):
        for j, cid in enumerate(p["checks"]):
            if cid not in known:
                line, col = locate(doc, ["fail_on", i, "checks", j])
                out.append(Problem("spec", sd.path, f"--fail-on {p['id']} names check {cid!r}, which no Vocabulary "
                                   "or DiagnosisRules document declares", line, col, rule="vocabulary/unknown-check"))
    if not checks:
        return out
    line, col = locate(doc, ["checks"])
    for part, entry in _MUST_MATCH:
        if not any(c["from"] == part and check_matches(c, entry) for c in checks):
            what = ", ".join(f"{k} {v}" for k, v in entry.items())
            out.append(Problem("spec", sd.path, f"no check of `from: {part}` matches {what}: it would make no finding",
                               line, col, rule="vocabulary/uncovered-finding"))
    sources = {s for c in checks if c["from"] == "problem" for s in (c.get("match") or {}).get("sources", [])}
    if "*" not in sources:
        out.append(Problem("spec", sd.path, "no check of `from: problem` takes any source (\"*\"): a problem of "
                           "another source would make no finding", line, col, rule="vocabulary/uncovered-finding"))
    for i, lane in enumerate(doc["lanes"]):
        if lane["id"] not in sources:
            lline, lcol = locate(doc, ["lanes", i, "id"])
            out.append(Problem("spec", sd.path, f"lane {lane['id']!r}: no check of `from: problem` names it in "
                               "`sources`; its reader's problems would fall to the catch-all check", lline, lcol,
                               rule="vocabulary/uncovered-finding"))
    return out


@register
def vocabulary(spec) -> list[Problem]:
    out: list[Problem] = []
    docs = spec.spec_docs("Vocabulary")
    if not docs:
        if spec.docs("Surfaces") and spec.docs("SpecSet"):
            sd = spec.spec_docs("SpecSet")[0]
            out.append(Problem("spec", sd.path, "no Vocabulary document in the spec set", sd.data.line, rule="vocabulary/missing"))
        return out
    for sd in docs:
        doc = sd.data
        flags: dict[str, list] = {}
        for section, key in (("runtimes", "id"), ("lmcache_modes", "id"), ("context", "key"), ("lanes", "id")):
            seen: set[str] = set()
            for i, item in enumerate(doc[section]):
                if item[key] in seen:
                    line, col = locate(doc, [section, i, key])
                    out.append(Problem("spec", sd.path, f"duplicate {section} entry {item[key]!r}", line, col, rule="vocabulary/duplicate-id"))
                seen.add(item[key])
        seen_policies: set[str] = set()
        for i, p in enumerate(doc.get("fail_on", [])):
            if p["id"] in seen_policies:
                line, col = locate(doc, ["fail_on", i, "id"])
                out.append(Problem("spec", sd.path, f"duplicate fail_on policy {p['id']!r}", line, col, rule="vocabulary/duplicate-id"))
            seen_policies.add(p["id"])
        out += _vocabulary_checks(spec, sd)
        # what a detected mode satisfies: `auto` or a declared mode (what --expect-mode offers)
        expectable = {"auto"} | {m["id"] for m in doc["lmcache_modes"]}
        for i, m in enumerate(doc["lmcache_modes"]):
            for j, e in enumerate(m.get("satisfies", [])):
                if e not in expectable:
                    line, col = locate(doc, ["lmcache_modes", i, "satisfies", j])
                    out.append(Problem("spec", sd.path, f"mode {m['id']!r} satisfies {e!r}, which is neither auto nor a declared mode",
                                       line, col, rule="vocabulary/unknown-mode"))
        ctx = {c["key"]: c for c in doc["context"]}
        for i, c in enumerate(doc["context"]):
            d = c["default"]
            bad = (c["type"] == "boolean" and not isinstance(d, bool)) or (c["type"] == "string" and (
                not isinstance(d, str) or (c.get("values") and d not in c["values"])))
            if bad:
                line, col = locate(doc, ["context", i, "default"])
                out.append(Problem("spec", sd.path, f"default {d!r} of {c['key']!r} is not a valid {c['type']}", line, col, rule="vocabulary/bad-default"))
            for j, k in enumerate(c.get("implies", [])):
                if k not in ctx or ctx[k]["type"] != "boolean":
                    line, col = locate(doc, ["context", i, "implies", j])
                    out.append(Problem("spec", sd.path, f"{c['key']!r} implies {k!r}, which is not a declared boolean key", line, col, rule="vocabulary/unknown-implied-key"))
            for flag in [c.get("flag"), *c.get("flags_by_command", {}).values()]:
                if flag:
                    flags.setdefault(flag, []).append(["context", i])
        for i, lane in enumerate(doc["lanes"]):
            flags.setdefault(lane["evidence_flag"], []).append(["lanes", i, "evidence_flag"])
            for j, ci in enumerate(lane.get("collect_inputs", [])):
                flags.setdefault(ci["flag"], []).append(["lanes", i, "collect_inputs", j, "flag"])
            if lane["packet_patterns"][0] != lane["evidence_file"]:
                line, col = locate(doc, ["lanes", i, "packet_patterns"])
                out.append(Problem("spec", sd.path, f"lane {lane['id']!r}: the first packet pattern must be {lane['evidence_file']!r}", line, col, rule="vocabulary/evidence-pattern"))
        for flag, wheres in flags.items():
            # one context key may use one flag on several commands; lanes never share
            if len(wheres) > 1 and len({tuple(w[:2]) for w in wheres}) > 1:
                line, col = locate(doc, wheres[1])
                out.append(Problem("spec", sd.path, f"flag {flag} is claimed twice", line, col, rule="vocabulary/duplicate-flag"))
    return out


@register
def lane_references(spec) -> list[Problem]:
    """Surfaces and Detection refer to lanes, signals, sources, items and runtimes that exist."""
    reg = _registry(spec)
    lanes = {ln["id"] for ln in reg["lanes"]}
    runtimes = {r["id"] for r in reg["runtimes"]}
    modes = {m["id"] for m in reg["lmcache_modes"]}
    cat = catalog(spec)
    out: list[Problem] = []
    for sd in spec.spec_docs("Surfaces"):
        doc = sd.data
        for ri, row in enumerate(doc["rows"]):
            for si, src in enumerate(row.get("sources", [])):
                if src != "prometheus" and src not in lanes:
                    line, col = locate(doc, ["rows", ri, "sources", si])
                    out.append(Problem("spec", sd.path, f"unknown source {src!r} (prometheus or a lane: {', '.join(sorted(lanes))})",
                                       line, col, rule="surfaces/unknown-source"))
            from inferguard.engine.capability import item_key

            items = {item_key(req) for req in row["requires"]}
            for qi, req in enumerate(row["requires"]):
                if "lane" in req:
                    if req["lane"] not in lanes:
                        line, col = locate(doc, ["rows", ri, "requires", qi, "lane"])
                        out.append(Problem("spec", sd.path, f"unknown lane {req['lane']!r}", line, col, rule="surfaces/unknown-lane"))
                        continue
                    for gi, sig in enumerate(req.get("signals", [])):
                        if not _lane_signal_ok(spec, reg, req["lane"], sig):
                            line, col = locate(doc, ["rows", ri, "requires", qi, "signals", gi])
                            out.append(Problem("spec", sd.path, f"lane {req['lane']!r} emits no signal {sig!r}", line, col, rule="surfaces/unknown-signal"))
            for fi, fx in enumerate(row.get("fixtures", [])):
                for item in (fx.get("expect") or {}).get("items", {}):
                    if item not in items:
                        line, col = locate(doc, ["rows", ri, "fixtures", fi, "expect", "items", item])
                        out.append(Problem("spec", sd.path, f"row {row['id']!r} requires no item {item!r} (it requires: {', '.join(sorted(items))})",
                                           line, col, rule="surfaces/unknown-expected-item"))
            for ti, case in enumerate(row.get("tests", [])):
                expect = case.get("expect") or {}
                for item in expect.get("items", {}):
                    if item not in items:
                        line, col = locate(doc, ["rows", ri, "tests", ti, "expect", "items", item])
                        out.append(Problem("spec", sd.path, f"row {row['id']!r} requires no item {item!r}", line, col, rule="surfaces/unknown-expected-item"))
                for name in expect.get("derived", {}):
                    if name not in cat.derived:
                        line, col = locate(doc, ["rows", ri, "tests", ti, "expect", "derived", name])
                        out.append(Problem("spec", sd.path, f"unknown derived value {name!r}", line, col, rule="surfaces/unknown-derived"))
                for key in (case.get("context") or {}):
                    if key not in {c["key"] for c in reg["context"]}:
                        line, col = locate(doc, ["rows", ri, "tests", ti, "context", key])
                        out.append(Problem("spec", sd.path, f"unknown context key {key!r}", line, col, rule="expr/unknown-context-key"))
    for sd in spec.spec_docs("Detection"):
        doc = sd.data
        for section in ("engines", "lmcache_modes", "connectors"):
            for ti, target in enumerate(doc[section]):
                if section == "engines" and target["id"] not in runtimes:
                    line, col = locate(doc, [section, ti, "id"])
                    out.append(Problem("spec", sd.path, f"unknown runtime {target['id']!r}", line, col, rule="detection/unknown-runtime"))
                if section == "lmcache_modes" and target["id"] not in modes:
                    line, col = locate(doc, [section, ti, "id"])
                    out.append(Problem("spec", sd.path, f"unknown LMCache mode {target['id']!r}", line, col, rule="detection/unknown-mode"))
                for si, sig in enumerate(target["signals"]):
                    for key in ("lane_signal", "lane_value"):
                        if key not in sig:
                            continue
                        lane = sig[key]["lane"]
                        line, col = locate(doc, [section, ti, "signals", si, key])
                        if lane not in lanes:
                            out.append(Problem("spec", sd.path, f"unknown lane {lane!r}", line, col, rule="detection/unknown-lane"))
                        elif key == "lane_signal" and not _lane_signal_ok(spec, reg, lane, sig[key]["signal"]):
                            out.append(Problem("spec", sd.path, f"lane {lane!r} emits no signal {sig[key]['signal']!r}", line, col, rule="detection/unknown-signal"))
                    if "runtime_metrics" in sig and sig["runtime_metrics"] not in runtimes:
                        line, col = locate(doc, [section, ti, "signals", si])
                        out.append(Problem("spec", sd.path, f"unknown runtime {sig['runtime_metrics']!r}", line, col, rule="detection/unknown-runtime"))
        for ai, rule in enumerate(doc["applicability"]):
            if rule["runtime"] not in runtimes:
                line, col = locate(doc, ["applicability", ai, "runtime"])
                out.append(Problem("spec", sd.path, f"unknown runtime {rule['runtime']!r}", line, col, rule="detection/unknown-runtime"))
    return out


def check_next_commands(spec, main) -> list[Problem]:
    """Every next command parses as a command line of `main` (the inferguard click group,
    handed in by `specs lint`: the spec layer does not import the command line)."""
    import shlex

    import click

    out: list[Problem] = []
    commands = [(sd, ["rows", ri, "next_command"], row.get("next_command"), "surfaces/next-command")
                for sd in spec.spec_docs("Surfaces") for ri, row in enumerate(sd.data["rows"])]
    commands += [(sd, ["rules", ri, "next_command"], rule.get("next_command"), "diagnosis/next-command")
                 for sd in spec.spec_docs("DiagnosisRules") for ri, rule in enumerate(sd.data["rules"])]
    for sd, where, text, check in commands:
        if not text:
            continue
        msg = None
        try:
            words = shlex.split(text)
        except ValueError as exc:
            words, msg = [], f"does not split as a shell command line: {exc}"
        if words and words[0] != "inferguard":
            msg = "does not start with `inferguard`"
        elif words:
            cmd: click.Command = main
            args = words[1:]
            while isinstance(cmd, click.Group) and args and args[0] in cmd.commands:
                cmd = cmd.commands[args[0]]
                args = args[1:]
            if isinstance(cmd, click.Group):
                msg = f"names no inferguard command ({' '.join(words[:3])})"
            else:
                try:
                    cmd.make_context(cmd.name or "", list(args), resilient_parsing=False)
                except click.exceptions.Exit:
                    pass
                except click.ClickException as exc:
                    msg = f"does not parse: {exc.format_message()}"
        if msg:
            line, col = locate(sd.data, where)
            out.append(Problem("spec", sd.path, f"next command {msg}", line, col, rule=check))
    return out


def check_fixture_paths(spec, root) -> list[Problem]:
    """Fixture paths exist in the checkout `root` (run by `specs lint` when it knows one)."""
    out: list[Problem] = []
    for sd in spec.spec_docs("Surfaces"):
        for ri, row in enumerate(sd.data["rows"]):
            for fi, fx in enumerate(row.get("fixtures", [])):
                if not (root / fx["path"]).is_dir():
                    line, col = locate(sd.data, ["rows", ri, "fixtures", fi, "path"])
                    out.append(Problem("spec", sd.path, f"fixture folder {fx['path']!r} does not exist under {root}",
                                       line, col, rule="surfaces/missing-fixture"))
    for sd in spec.spec_docs("DiagnosisRules"):
        for fi, fx in enumerate(sd.data.get("fixtures", [])):
            if not (root / fx["path"]).is_dir():
                line, col = locate(sd.data, ["fixtures", fi, "path"])
                out.append(Problem("spec", sd.path, f"fixture folder {fx['path']!r} does not exist under {root}",
                                   line, col, rule="diagnosis/missing-fixture"))
    for sd in spec.spec_docs("Checklist"):
        for fi, fx in enumerate((sd.data.get("live_validation") or {}).get("fixtures") or []):
            d = root / fx["path"]
            why = None
            if not d.is_dir():
                why = f"live fixture folder {fx['path']!r} does not exist under {root}"
            elif not (d / "http").is_dir():
                why = f"live fixture {fx['path']!r} has no http/ folder of captured bodies to replay"
            elif fixture_origin(d) != "live":
                why = f"live fixture {fx['path']!r} is not a live capture (PROVENANCE.yaml origin {fixture_origin(d)})"
            if why:
                line, col = locate(sd.data, ["live_validation", "fixtures", fi, "path"])
                out.append(Problem("spec", sd.path, why, line, col, rule="checklist/live-fixture"))
    return out


_SERIES_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def _lower_bound(versions: str | None) -> tuple[int, ...]:
    """The lowest release a range admits, as a tuple (no bound: the oldest)."""
    if not versions:
        return ()
    lows = [tuple(int(x) for x in re.findall(r"\d+", part)) for part in versions.split(",")
            if part.strip().startswith((">=", ">", "=="))]
    return min(lows) if lows else ()


@register
def metric_structure(spec) -> list[Problem]:
    """Ids carry their runtime, names are family names, aliases run oldest first, and every
    uncertain or deprecated name says why."""
    out: list[Problem] = []
    for sd in spec.spec_docs("MetricFamilies"):
        doc = sd.data
        runtime = doc["runtime"]
        for fi, fam in enumerate(doc["families"]):
            if not re.match(rf"{re.escape(runtime)}[._]", fam["id"]):
                line, col = locate(doc, ["families", fi, "id"])
                out.append(Problem("spec", sd.path, f"family id {fam['id']!r} does not start with {runtime + '.'!r} or {runtime + '_'!r}", line, col, rule="metrics/id-prefix"))
            for mi, m in enumerate(fam["metrics"]):
                where = ["families", fi, "metrics", mi]
                if not re.match(rf"{re.escape(runtime)}[._]", m["id"]):
                    line, col = locate(doc, where + ["id"])
                    out.append(Problem("spec", sd.path, f"metric id {m['id']!r} does not start with {runtime + '.'!r} or {runtime + '_'!r}", line, col, rule="metrics/id-prefix"))
                lows = []
                for ni, n in enumerate(m["names"]):
                    nwhere = where + ["names", ni]
                    if n["name"].endswith(_SERIES_SUFFIXES) and m.get("type") in ("histogram", "summary"):
                        line, col = locate(doc, nwhere)
                        out.append(Problem("spec", sd.path, f"{n['name']!r} is a series name; give the family name", line, col, rule="metrics/series-name"))
                    status = n.get("status") or m.get("status")
                    if status in ("experimental", "deprecated") and not (n.get("note") or m.get("note")):
                        line, col = locate(doc, nwhere)
                        out.append(Problem("spec", sd.path, f"{n['name']!r} is {status} but no note says why", line, col, rule="metrics/experimental-note"))
                    if n.get("versions"):  # an unversioned (documentation-only) name has no place in the order
                        lows.append((_lower_bound(n["versions"]), ni))
                for (a, _), (b, nb) in zip(lows, lows[1:]):
                    if b < a:
                        line, col = locate(doc, where + ["names", nb])
                        out.append(Problem("spec", sd.path, f"the names of {m['id']!r} are not ordered oldest release first", line, col, rule="metrics/alias-order"))
                        break
    return out


@register
def payload_signals(spec) -> list[Problem]:
    """An HttpEndpoints document names the lane that reads its bodies, and every signal a
    payload emits is one that lane declares (a typo here would bump a signal no row can ask for)."""
    reg = _registry(spec)
    lanes = {ln["id"]: ln for ln in reg["lanes"]}
    out: list[Problem] = []
    for sd in spec.spec_docs("HttpEndpoints"):
        doc = sd.data
        lane_id = doc.get("lane")
        if lane_id not in lanes:
            line, col = locate(doc, ["lane"])
            out.append(Problem("spec", sd.path, f"unknown lane {lane_id!r} (one of: {', '.join(sorted(lanes))})",
                               line, col, rule="http_endpoints/unknown-lane"))
            continue
        for pi, payload in enumerate(doc.get("payloads") or []):
            for si, sig in enumerate(payload.get("signals") or []):
                if not _lane_signal_ok(spec, reg, lane_id, sig["name"]):
                    line, col = locate(doc, ["payloads", pi, "signals", si, "name"])
                    out.append(Problem("spec", sd.path, f"lane {lane_id!r} declares no signal {sig['name']!r}",
                                       line, col, rule="http_endpoints/undeclared-signal"))
    return out


# Which metric types a Disagg quantity can read: a sample value (gauge, counter), or a
# histogram's sum and count (a summary has both too).
_DISAGG_READS = {"value": ("gauge", "counter", "untyped"), "mean": ("histogram", "summary"),
                 "sum": ("histogram", "summary"), "count": ("histogram", "summary")}


@register
def disagg(spec) -> list[Problem]:
    """The Disagg spec: one document; its quantities name metrics that exist, of their runtime and
    of a type the quantity can read; its findings name declared thresholds; and every role,
    quantity, threshold and finding the `disagg status` engine reads is declared."""
    from inferguard.engine import disagg as eng

    cat = catalog(spec)
    out: list[Problem] = []
    docs = spec.spec_docs("Disagg")
    if len(docs) > 1:
        line, col = locate(docs[1].data, ["kind"])
        out.append(Problem("spec", docs[1].path, "more than one Disagg document", line, col, rule="disagg/duplicate"))
    for sd in docs[:1]:
        doc = sd.data
        for section in ("roles", "quantities", "findings"):
            seen: set[str] = set()
            for i, item in enumerate(doc[section]):
                if item["id"] in seen:
                    line, col = locate(doc, [section, i, "id"])
                    out.append(Problem("spec", sd.path, f"duplicate {section[:-1]} id {item['id']!r}", line, col,
                                       rule="disagg/duplicate-id"))
                seen.add(item["id"])
        for qi, q in enumerate(doc["quantities"]):
            for runtime, mids in q["metrics"].items():
                for mi, mid in enumerate(mids):
                    where = ["quantities", qi, "metrics", runtime, mi]
                    mdef = cat.metrics.get(mid)
                    if mdef is None:
                        line, col = locate(doc, where)
                        out.append(Problem("spec", sd.path, f"unknown metric {mid!r}", line, col,
                                           rule="disagg/unknown-metric"))
                        continue
                    if mdef.runtime != runtime:
                        line, col = locate(doc, where)
                        out.append(Problem("spec", sd.path, f"metric {mid!r} is a {mdef.runtime} metric, listed under {runtime}",
                                           line, col, rule="disagg/unknown-metric"))
                    if mdef.type not in _DISAGG_READS[q["read"]]:
                        line, col = locate(doc, where)
                        out.append(Problem("spec", sd.path, f"quantity {q['id']!r} reads {q['read']!r}, which a "
                                           f"{mdef.type} ({mid}) does not have", line, col, rule="disagg/metric-type"))
        roles = {r["id"] for r in doc["roles"]}
        for runtime, rl in (doc.get("role_labels") or {}).items():
            mdef = cat.metrics.get(rl["metric"])
            if mdef is None or mdef.runtime != runtime:
                line, col = locate(doc, ["role_labels", runtime, "metric"])
                out.append(Problem("spec", sd.path, f"unknown {runtime} metric {rl['metric']!r}", line, col,
                                   rule="disagg/unknown-metric"))
            elif rl["label"] not in mdef.labels:
                line, col = locate(doc, ["role_labels", runtime, "label"])
                out.append(Problem("spec", sd.path, f"metric {rl['metric']!r} has no label {rl['label']!r}", line, col,
                                   rule="disagg/unknown-metric"))
            for rid in rl["contradicts"]:
                if rid not in roles:
                    line, col = locate(doc, ["role_labels", runtime, "contradicts", rid])
                    out.append(Problem("spec", sd.path, f"unknown role {rid!r}", line, col, rule="disagg/unknown-role"))
        declared = set(doc["thresholds"])
        for fi, f in enumerate(doc["findings"]):
            for ti, name in enumerate(f.get("thresholds", [])):
                if name not in declared:
                    line, col = locate(doc, ["findings", fi, "thresholds", ti])
                    out.append(Problem("spec", sd.path, f"finding {f['id']!r} names unknown threshold {name!r}", line, col,
                                       rule="disagg/unknown-threshold"))
        for ti, (name, t) in enumerate(doc["thresholds"].items()):
            if t["type"] == "integer" and t["default"] != int(t["default"]):
                line, col = locate(doc, ["thresholds", name, "default"])
                out.append(Problem("spec", sd.path, f"threshold {name!r} is an integer, its default is not", line, col,
                                   rule="disagg/threshold-type"))
        have = {"role": {r["id"] for r in doc["roles"]}, "quantity": {q["id"] for q in doc["quantities"]},
                "threshold": declared, "finding": {f["id"] for f in doc["findings"]}}
        for what, used in (("role", eng.ROLES_USED), ("quantity", eng.QUANTITIES_USED),
                           ("threshold", eng.THRESHOLDS_USED), ("finding", eng.FINDINGS_USED)):
            for name in used:
                if name not in have[what]:
                    line, col = locate(doc, ["kind"])
                    out.append(Problem("spec", sd.path, f"the disagg status engine reads {what} {name!r}, which this "
                                       "document does not declare", line, col, rule="disagg/missing"))
    return out


@register
def window_groups(spec) -> list[Problem]:
    """A family or metric's collect-metrics window group is declared in the Vocabulary."""
    groups = {g["id"] for g in (_registry(spec).get("window") or {}).get("groups", [])}
    out: list[Problem] = []
    for sd in spec.spec_docs("MetricFamilies"):
        doc = sd.data
        for fi, fam in enumerate(doc["families"]):
            places = [(["families", fi, "window", "group"], (fam.get("window") or {}).get("group"))]
            places += [(["families", fi, "metrics", mi, "window", "group"], (m.get("window") or {}).get("group"))
                       for mi, m in enumerate(fam["metrics"])]
            for where, group in places:
                if group is not None and group not in groups:
                    line, col = locate(doc, where)
                    out.append(Problem("spec", sd.path, f"unknown window group {group!r} (declared: {', '.join(sorted(groups)) or 'none'})",
                                       line, col, rule="metrics/unknown-window-group"))
    return out
