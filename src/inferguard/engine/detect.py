"""Detection: which engines, which LMCache mode, which connector — each with its signals."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.core.globs import matchcase
from inferguard.core import recache
from inferguard.engine.status import metric_status
from inferguard.engine.vocab import ABSENT
from inferguard.spec.expr import evaluate, search
from inferguard.spec.metrics import catalog as metric_catalog


def _present(evidence: dict[str, Any], mid: str) -> bool:
    return metric_status(evidence["metrics"].get(mid)) != ABSENT


def _pointer(evidence: dict[str, Any], mid: str) -> str:
    e = evidence["metrics"][mid]
    return f"metric {e['exposed_names'][0]} ({e['source']}:{e.get('line', '?')})"


def _signal(sig: dict[str, Any], evidence: dict[str, Any], cat, spec=None) -> str | None:
    """Evidence pointer when the signal fires, else None."""
    metrics = evidence["metrics"]
    if "family" in sig:
        fam = cat.families.get(sig["family"])
        for mid in fam.metrics if fam else []:
            if _present(evidence, mid):
                return _pointer(evidence, mid)
        return None
    if "metric" in sig:
        return _pointer(evidence, sig["metric"]) if _present(evidence, sig["metric"]) else None
    if "component" in sig:
        want = sig["component"]
        for mid, entry in metrics.items():
            m = cat.metrics.get(mid)
            if m and m.runtime == want["runtime"] and m.component == want["component"] and _present(evidence, mid):
                return _pointer(evidence, mid)
        return None
    if "runtime_metrics" in sig:
        for mid in metrics:
            m = cat.metrics.get(mid)
            if m and m.runtime == sig["runtime_metrics"] and _present(evidence, mid):
                return _pointer(evidence, mid)
        return None
    if "metric_label" in sig:
        ml = sig["metric_label"]
        entry = metrics.get(ml["metric"])
        if not entry:
            return None
        for value in entry.get("label_values", {}).get(ml["label"], []):
            if ("equals" in ml and value == ml["equals"]) or ("matches" in ml and recache.compile(ml["matches"]).search(value)) or (
                "equals" not in ml and "matches" not in ml
            ):
                return f"label {ml['label']}={value!r} on {entry['exposed_names'][0]} ({entry['source']}:{entry.get('line', '?')})"
        return None
    if "argv" in sig:
        argv = evidence.get("argv", {}).get(sig["argv"]["role"])
        if not argv:
            return None
        joined = " ".join(argv["argv"])
        m = recache.compile(sig["argv"]["regex"]).search(joined)
        return f"argv of {argv['path']}: {m.group(0)[:80]!r}" if m else None
    if "lane_signal" in sig:
        ls = sig["lane_signal"]
        lane = evidence.get("lanes", {}).get(ls["lane"])
        if lane and lane.get("signals", {}).get(ls["signal"], 0) > 0:
            return f"{ls['lane']} signal {ls['signal']}={lane['signals'][ls['signal']]} ({', '.join(lane['files'])})"
        return None
    if "log_pattern" in sig:
        return _log_pattern(sig["log_pattern"], evidence)
    if "span_name" in sig:
        return _span_name(sig["span_name"]["matches"], evidence)
    if "log_process" in sig:
        return _log_process(sig["log_process"]["matches"], evidence)
    if "lane_value" in sig:
        lv = sig["lane_value"]
        lane = evidence.get("lanes", {}).get(lv["lane"])
        if not lane:
            return None
        for src in lane.get("sources", []):
            got = search(lv["path"], src, spec)
            if got is None:
                continue
            text = str(got)
            if ("equals" in lv and text == lv["equals"]) or ("matches" in lv and recache.compile(lv["matches"]).search(text)) or (
                "equals" not in lv and "matches" not in lv
            ):
                return f"{lv['lane']} {lv['path']}={text!r} ({src.get('path', '?')})"
        return None
    return None


def _namespace_pointer(evidence: dict[str, Any], ns_id: str) -> str | None:
    for src in evidence.get("sources", []):
        got = (src.get("namespaces") or {}).get(ns_id)
        if got:
            return (f"namespace {ns_id}: {got['families']} families ({got['with_samples']} with samples), e.g. "
                    f"{', '.join(got['examples'][:3])} ({src.get('path')})")
    return None


def _namespace_targets(doc: dict[str, Any], evidence) -> tuple[dict[str, list], dict[str, list]]:
    """Engines and LMCache modes attributed by metric namespaces (the Detection spec's `namespaces`)."""
    engines: dict[str, list] = {}
    modes: dict[str, list] = {}
    engine_ids = {t["id"] for t in doc["engines"]}
    mode_ids = {t["id"] for t in doc["lmcache_modes"]}
    for ns in doc.get("namespaces", []):
        ptr = _namespace_pointer(evidence, ns["id"])
        if ptr is None:
            continue
        fired = {"signal": f"namespace-{ns['id']}", "evidence": ptr}
        if ns["runtime"] in engine_ids and not ns.get("component"):
            engines.setdefault(ns["runtime"], []).append(fired)
        elif ns["runtime"] == "lmcache" and ns.get("component") in mode_ids:
            modes.setdefault(ns["component"], []).append(fired)
    return engines, modes
def _log_pattern(spec: dict[str, Any], evidence: dict[str, Any]) -> str | None:
    """The first log pattern (by count, then id) of the lmcache_log lane named by the globs."""
    lane = evidence.get("lanes", {}).get("lmcache_log")
    if not lane:
        return None
    counts: dict[str, int] = {}
    for src in lane.get("sources", []):
        for cat in ((src.get("summary") or {}).get("categories") or {}).values():
            for pid, n in (cat.get("patterns") or {}).items():
                counts[pid] = counts.get(pid, 0) + int(n)
    hits = sorted(((n, pid) for pid, n in counts.items()
                   if n > 0 and any(matchcase(pid, g) for g in spec["ids"])
                   and not any(matchcase(pid, g) for g in spec.get("exclude", ()))),
                  key=lambda x: (-x[0], x[1]))
    if not hits:
        return None
    n, pid = hits[0]
    more = f" (+{len(hits) - 1} more patterns)" if len(hits) > 1 else ""
    return f"log pattern {pid} x{n}{more} ({', '.join(lane['files'])})"


def _log_process(regex: str, evidence: dict[str, Any]) -> str | None:
    """A process name (from `(Name pid=N)` prefixes recorded per process) matching `regex`."""
    lane = evidence.get("lanes", {}).get("lmcache_log")
    if not lane:
        return None
    seen: dict[str, int] = {}
    for src in lane.get("sources", []):
        for cat in ((src.get("summary") or {}).get("categories") or {}).values():
            for info in (cat.get("by_process") or {}).values():
                name = info.get("process")
                if name and recache.compile(regex).search(name):
                    seen[name] = seen.get(name, 0) + int(info.get("count", 0))
    if not seen:
        return None
    name, n = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return f"process prefix ({name} pid=...) on {n} line(s) ({', '.join(lane['files'])})"


def _span_name(regex: str, evidence: dict[str, Any]) -> str | None:
    lane = evidence.get("lanes", {}).get("lmcache_otel")
    if not lane:
        return None
    hits = sorted(k[5:] for k, v in lane.get("signals", {}).items()
                  if k.startswith("span.") and v > 0 and recache.compile(regex).search(k[5:]))
    if not hits:
        return None
    n = lane["signals"]["span." + hits[0]]
    more = f" (+{len(hits) - 1} more names)" if len(hits) > 1 else ""
    return f"span {hits[0]} x{n}{more} ({', '.join(lane['files'])})"


def _merge(into: dict[str, list], more: dict[str, list]) -> None:
    for k, fired in more.items():
        into.setdefault(k, []).extend(fired)


def _targets(targets: list[dict[str, Any]], evidence, cat, spec=None) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for t in targets:
        fired = []
        for sig in t["signals"]:
            ptr = _signal(sig, evidence, cat, spec)
            if ptr:
                fired.append({"signal": sig["id"], "evidence": ptr})
        if fired:
            out[t["id"]] = fired
    return out


def detect(evidence: dict[str, Any], spec) -> dict[str, Any]:
    cat = metric_catalog(spec)
    det_docs = spec.docs("Detection")
    engines: dict[str, list] = {}
    modes: dict[str, list] = {}
    connectors: dict[str, list] = {}
    present: dict[str, list] = {}
    for doc in det_docs:
        engines.update(_targets(doc["engines"], evidence, cat, spec))
        modes.update(_targets(doc["lmcache_modes"], evidence, cat, spec))
        connectors.update(_targets(doc["connectors"], evidence, cat, spec))
        ns_engines, ns_modes = _namespace_targets(doc, evidence)
        for target, found in ((engines, ns_engines), (modes, ns_modes)):
            for k, v in found.items():
                target.setdefault(k, []).extend(v)
        # Detection from logs and spans alone: extra signals, merged with those above.
        extra = doc.get("logs_and_spans") or {}
        _merge(engines, _targets(extra.get("engines", []), evidence, cat, spec))
        _merge(modes, _targets(extra.get("lmcache_modes", []), evidence, cat, spec))
        _merge(present, _targets(extra.get("lmcache", []), evidence, cat, spec))
    mode_ids = sorted(modes)
    if "mp" in modes and "embedded" in modes:
        mode = "both"
    elif mode_ids:
        mode = mode_ids[0]
    else:
        mode = "none"
    from inferguard.engine.versions import version_verdicts

    versions = version_verdicts(evidence, spec, cat)
    detected = {
        "engines": sorted(engines),
        "engine_signals": engines,
        "lmcache_mode": mode,
        "lmcache_mode_signals": modes,
        # LMCache runs at all: a detected mode, or any LMCache evidence (logs, spans, traces ...)
        "lmcache_present": mode != "none" or bool(present),
        "lmcache_present_signals": [s for fired in present.values() for s in fired],
        "connector": sorted(connectors)[0] if len(connectors) == 1 else (sorted(connectors) or [None])[0],
        "connectors": sorted(connectors),
        "connector_signals": connectors,
        "versions": versions,
    }
    return detected


def applicable_runtimes(spec, data: dict[str, Any]) -> dict[tuple[str, str | None], bool]:
    """(runtime, component) -> applies, from the Detection spec's applicability rules."""
    out: dict[tuple[str, str | None], bool] = {}
    for doc in spec.docs("Detection"):
        for rule in doc["applicability"]:
            out[(rule["runtime"], rule.get("component"))] = evaluate(rule["when"], data, spec=spec)
    return out


def family_applies(fam, rules: dict[tuple[str, str | None], bool], data: dict[str, Any], spec=None) -> bool:
    key = (fam.runtime, fam.component)
    if key in rules:
        base = rules[key]
    else:
        base = rules.get((fam.runtime, None), True)
    return base and evaluate(fam.required_when, data, spec=spec)
