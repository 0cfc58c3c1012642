"""Cross-document checks: unknown references, duplicate ids, expressions that do not compile.

Each check returns Problems with the file, line and column of the offending node and a
rule id (`area/name`). Per-kind checks that need only one document live in the kind's
plugin (`inferguard/spec/kinds/<kind>.py: validate`).
"""
from __future__ import annotations

import re
from typing import Any, Callable

from inferguard.core.problems import Problem
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
    for sd in spec.spec_docs("Surfaces"):
        for ri, row in enumerate(sd.data["rows"]):
            text = row.get("next_command")
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
                line, col = locate(sd.data, ["rows", ri, "next_command"])
                out.append(Problem("spec", sd.path, f"next command {msg}", line, col, rule="surfaces/next-command"))
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
