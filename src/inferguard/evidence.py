"""The normalized Evidence model: plain JSON-serializable data, one document per packet.

Readers produce fragments; this module turns them into the shapes the engine reads:
`metrics` keyed by canonical metric id (aggregated per the spec), `lanes` keyed by lane id
(signals merged over the lane's sources), `argv` per process role, and `problems`.
Nothing here decides a status.
"""
from __future__ import annotations

import math
from typing import Any

from inferguard import __version__
from inferguard.readers.base import ReadResult
from inferguard.readers.prometheus import Exposition, FamilyData, parse_labels

API_VERSION = "inferguard.dev/v1"
MAX_SERIES_SHOWN = 20
MAX_LABEL_VALUES = 20


def tool_info() -> dict[str, str]:
    return {"name": "inferguard", "version": __version__}


def new_evidence(spec, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Evidence",
        "tool": tool_info(),
        "spec": {"version": spec.version, "digest": spec.digest},
        "context": dict(context),
        "sources": [],
        "metrics": {},
        "lanes": {},
        "argv": {},
        "problems": [],
    }


def _finite(v: float) -> bool:
    return not (math.isnan(v) or math.isinf(v))


def _aggregate(values: list[float], how: str) -> float | None:
    vals = [v for v in values if not math.isnan(v)]
    if not vals or how == "none":
        return None
    if how == "sum":
        return math.fsum(vals)
    if how == "max":
        return max(vals)
    if how == "min":
        return min(vals)
    return vals[-1]  # last


def _without_le(raw: str) -> str:
    labels = parse_labels(raw) or {}
    labels.pop("le", None)
    labels.pop("quantile", None)
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def _metric_entry(fd: FamilyData, mdef, source: str) -> dict[str, Any]:
    label_cache: dict[str, dict[str, str]] = {}

    def labels_of(raw: str) -> dict[str, str]:
        got = label_cache.get(raw)
        if got is None:
            got = parse_labels(raw) or {}
            label_cache[raw] = got
        return got

    entry: dict[str, Any] = {
        "metric": mdef.id,
        "family": mdef.family,
        "runtime": mdef.runtime,
        "type": mdef.type,
        "exposed_names": [fd.name],
        "exposed_type": fd.type,
        "source": source,
        "line": fd.first_line,
        "created_series": fd.created,
    }
    if fd.sums or fd.counts:
        series_keys = list(dict.fromkeys(list(fd.counts) + list(fd.sums)))
        counts = [fd.counts.get(k, float("nan")) for k in series_keys]
        sums = [fd.sums.get(k, float("nan")) for k in series_keys]
        entry["series"] = len(series_keys)
        entry["count"] = _aggregate(counts, "sum") if mdef.aggregate != "none" else None
        entry["sum"] = _aggregate(sums, "sum") if mdef.aggregate != "none" else None
        entry["value"] = entry["count"]
        entry["nonzero"] = any(_finite(c) and c != 0 for c in counts)
        entry["nonfinite"] = sum(1 for v in counts + sums if not _finite(v))
        shown = [{"labels": labels_of(k), "count": fd.counts.get(k), "sum": fd.sums.get(k)} for k in series_keys[:MAX_SERIES_SHOWN]]
        raws = series_keys
    elif fd.buckets and not fd.samples:
        # Buckets without _count/_sum: the +Inf bucket is the count.
        inf = [(r, v) for r, v in fd.buckets if labels_of(r).get("le") in ("+Inf", "Inf")]
        series = {_without_le(r): v for r, v in inf}
        entry["series"] = len(series)
        entry["count"] = _aggregate(list(series.values()), "sum")
        entry["sum"] = None
        entry["value"] = entry["count"]
        entry["nonzero"] = any(_finite(v) and v != 0 for v in series.values())
        entry["nonfinite"] = sum(1 for v in series.values() if not _finite(v))
        shown = [{"labels": labels_of(k) if k else {}, "count": v} for k, v in list(series.items())[:MAX_SERIES_SHOWN]]
        raws = [r for r, _ in inf]
    else:
        raws = list(fd.samples)
        values = list(fd.samples.values())
        if fd.quantiles and not values:
            raws = [r for r, _ in fd.quantiles]
            values = [v for _, v in fd.quantiles]
        entry["series"] = len(raws)
        entry["value"] = _aggregate(values, mdef.aggregate)
        entry["nonzero"] = any(_finite(v) and v != 0 for v in values)
        entry["nonfinite"] = sum(1 for v in values if not _finite(v))
        shown = [{"labels": labels_of(r), "value": v} for r, v in list(fd.samples.items())[:MAX_SERIES_SHOWN]]
    label_values: dict[str, set[str]] = {}
    for raw in raws:
        for k, v in labels_of(raw).items():
            if k in ("le", "quantile"):
                continue
            s = label_values.setdefault(k, set())
            if len(s) < MAX_LABEL_VALUES:
                s.add(v)
    entry["label_values"] = {k: sorted(v) for k, v in sorted(label_values.items())}
    entry["series_shown"] = shown
    entry["aggregate"] = mdef.aggregate
    if fd.buckets:
        entry["bucket_samples"] = len(fd.buckets)
    return entry


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two exposed names (or two sources) of one metric in one packet: keep both, add up."""
    out = dict(old)
    out["exposed_names"] = list(dict.fromkeys(old["exposed_names"] + new["exposed_names"]))
    out["series"] = old.get("series", 0) + new.get("series", 0)
    for key in ("value", "count", "sum"):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            out[key] = a if b is None else b
        elif old.get("aggregate") in ("max",):
            out[key] = max(a, b)
        elif old.get("aggregate") in ("min",):
            out[key] = min(a, b)
        else:
            out[key] = a + b
    out["nonzero"] = bool(old.get("nonzero")) or bool(new.get("nonzero"))
    if new.get("may_be_cut") and not old.get("may_be_cut"):
        out["may_be_cut"] = new["may_be_cut"]
    out["nonfinite"] = old.get("nonfinite", 0) + new.get("nonfinite", 0)
    out["series_shown"] = (old.get("series_shown", []) + new.get("series_shown", []))[:MAX_SERIES_SHOWN]
    lv = {k: set(v) for k, v in old.get("label_values", {}).items()}
    for k, v in new.get("label_values", {}).items():
        lv.setdefault(k, set()).update(v)
    out["label_values"] = {k: sorted(v)[:MAX_LABEL_VALUES] for k, v in sorted(lv.items())}
    if old.get("source") != new.get("source"):
        out["source"] = f"{old.get('source')},{new.get('source')}"
    return out


def add_exposition(evidence: dict[str, Any], expo: Exposition, result: ReadResult, catalog, role: str) -> None:
    """Fold one parsed scrape into the evidence (metrics by canonical id, plus its source record)."""
    metrics = evidence["metrics"]
    # Within one scrape, two exposed names of one metric are the same quantity emitted twice
    # (a deprecated alias kept for a release): read the newest name, never add them up.
    chosen: dict[str, tuple[int, FamilyData, list[str]]] = {}
    for fd in expo.families.values():
        mdef = catalog.metrics[fd.metric_id]
        hit = catalog.lookup(fd.name)
        rank = mdef.names.index(hit[1]) if hit is not None and hit[1] in mdef.names else -1
        prev = chosen.get(mdef.id)
        if prev is None:
            chosen[mdef.id] = (rank, fd, [])
        elif rank > prev[0]:
            chosen[mdef.id] = (rank, fd, prev[2] + [prev[1].name])
        else:
            prev[2].append(fd.name)
    cut = result.summary.get("cut")
    for mid, (_rank, fd, shadowed) in chosen.items():
        mdef = catalog.metrics[mid]
        entry = _metric_entry(fd, mdef, role)
        if cut and cut.get("family") == fd.name:
            # Its samples run up to where the scrape was cut: values and series may be short.
            entry["may_be_cut"] = {"source": result.path, "line": cut.get("line"), "reason": cut.get("reason")}
        hit = catalog.lookup(fd.name)
        if hit is not None:
            entry["generation"] = hit[1].generation
            entry["versions"] = hit[1].versions
            entry["name_status"] = hit[1].status
        if shadowed:
            entry["also_exposed_as"] = sorted(shadowed)
        if mdef.id in metrics:
            metrics[mdef.id] = _merge(metrics[mdef.id], entry)
        else:
            metrics[mdef.id] = entry
    unmapped = sorted(expo.other_families.items())
    source_cut = {"cut": cut} if cut else {}
    evidence["sources"].append({
        **source_cut,
        "role": role,
        "path": result.path,
        "reader": result.reader,
        "records": result.records,
        "summary": result.summary,
        "unmapped_families": [{"name": n, "samples": c} for n, c in unmapped[:500]],
        "unmapped_families_total": len(unmapped),
        "problems": len(result.problems) + result.problems_dropped,
    })
    evidence["problems"].extend(p.to_json() for p in result.problems)


def lane_document(lane: str, results: list[ReadResult], spec) -> dict[str, Any]:
    """The per-lane evidence envelope written into packets (schemas/evidence.lane.v1)."""
    signals: dict[str, int] = {}
    problems = []
    for r in results:
        for k, v in r.signals.items():
            signals[k] = signals.get(k, 0) + int(v)
        problems.extend(p.to_json() for p in r.problems)
    return {
        "apiVersion": API_VERSION,
        "kind": "LaneEvidence",
        "lane": lane,
        "tool": tool_info(),
        "spec": {"version": spec.version, "digest": spec.digest},
        "signals": dict(sorted(signals.items())),
        "sources": [r.to_json() for r in results],
        "problems": problems,
    }


def add_lane(evidence: dict[str, Any], lane_doc: dict[str, Any], path: str) -> None:
    lane = lane_doc["lane"]
    lanes = evidence["lanes"]
    if not lane_doc.get("sources"):
        # collect-lmcache writes an envelope for every lane; one with no source read is a lane
        # that was not provided: absent, never zero.
        evidence["sources"].append({"role": f"lane:{lane}", "path": path, "reader": "lane_evidence",
                                    "records": 0, "problems": 0, "note": "no sources: lane not provided"})
        return
    if lane in lanes:
        merged = lanes[lane]
        for k, v in lane_doc.get("signals", {}).items():
            merged["signals"][k] = merged["signals"].get(k, 0) + v
        merged["files"].append(path)
        merged["sources"].extend(lane_doc.get("sources", []))
    else:
        lanes[lane] = {
            "lane": lane,
            "files": [path],
            "signals": dict(lane_doc.get("signals", {})),
            "sources": list(lane_doc.get("sources", [])),
        }
    evidence["sources"].append({"role": f"lane:{lane}", "path": path, "reader": "lane_evidence",
                                "records": sum(lane_doc.get("signals", {}).values()),
                                "problems": len(lane_doc.get("problems", []))})
    evidence["problems"].extend(lane_doc.get("problems", []))
