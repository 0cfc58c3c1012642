"""The normalized Evidence model: plain JSON-serializable data, one document per packet.

Readers produce fragments; this module turns them into the shapes the engine reads:
`metrics` keyed by canonical metric id (aggregated per the spec), `lanes` keyed by lane id
(signals merged over the lane's sources), `argv` per process role, and `problems`.
Nothing here decides a status.
"""
from __future__ import annotations

import math

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard import __version__
from inferguard.readers.base import ReadResult
from inferguard.readers.exposition import Exposition, FamilyData, le_value_span, parse_labels

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
        try:
            return math.fsum(vals)
        except (OverflowError, ValueError):  # beyond the float range (two 1e308 series): inf; +Inf with -Inf: NaN
            return sum(vals)
    if how == "max":
        return max(vals)
    if how == "min":
        return min(vals)
    return vals[-1]  # last


def _metric_entry(fd: FamilyData, mdef, source: str) -> dict[str, Any]:
    label_cache: dict[str, dict[str, str]] = {}

    def labels_of(raw: str) -> dict[str, str]:
        # Cached for the few series looked at twice (those shown); not for every series, whose
        # decoded labels would otherwise all be held at once (a dict per series).
        got = label_cache.get(raw)
        if got is None:
            got = parse_labels(raw) or {}
            if len(label_cache) < 4 * MAX_SERIES_SHOWN:
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
    label_values: dict[str, set[str]] = {}

    def add_values(labels: dict[str, str]) -> None:
        # the first MAX_LABEL_VALUES values of each label, in the order the series are visited
        for k, v in labels.items():
            if k in ("le", "quantile"):
                continue
            s = label_values.setdefault(k, set())
            if len(s) < MAX_LABEL_VALUES:
                s.add(v)

    if fd.sums or fd.counts or (fd.buckets and not fd.samples):
        _histogram_entry(entry, fd, mdef, add_values)
        shown = entry.pop("_shown")
    else:
        raws = list(fd.samples)
        values = list(fd.samples.values())
        if fd.quantiles and not values:
            raws = [r for r, _ in fd.quantiles]
            values = [v for _, v in fd.quantiles]
        entry["series"] = len(raws)
        values = _apply_conventions(entry, mdef, raws, values, labels_of)
        kept = [v for v in values if v is not None]
        entry["value"] = _aggregate(kept, mdef.aggregate)
        entry["nonzero"] = any(_finite(v) and v != 0 for v in kept)
        entry["nonfinite"] = sum(1 for v in kept if not _finite(v))
        shown = [{"labels": labels_of(r), "value": v} for r, v in list(fd.samples.items())[:MAX_SERIES_SHOWN]]
        for raw in raws:
            add_values(labels_of(raw))
    entry["label_values"] = {k: sorted(v) for k, v in sorted(label_values.items())}
    entry["series_shown"] = shown
    entry["aggregate"] = mdef.aggregate
    if fd.buckets:
        entry["bucket_samples"] = len(fd.buckets)
    return entry


_INF_LES = ("+Inf", "Inf", "+inf", "inf")


def _is_inf(le: str | None) -> bool:
    return le in _INF_LES


def _histogram_entry(entry: dict[str, Any], fd: FamilyData, mdef, add_values) -> None:
    """Histogram / summary series as people paste them: every label series seen in a `_count`,
    `_sum` or `_bucket` line is kept (none dropped because another series has a `_count`); a
    series without `_count` takes its count from the `+Inf` bucket; a family whose series lack
    the `+Inf` bucket, the `_count` or the `_sum` is measured when any bucket, count or sum is
    non-zero, and says it is incomplete.

    Each label text is decoded once. `add_values` is given the labels of every series in
    this order: the bucket series grouped by their series key (in the order the keys first
    appear), then the `_count` series, then the `_sum` series."""
    skip = ("le", "quantile")

    def split(raw: str) -> tuple[str, dict[str, str], dict[str, str]]:
        # (series key, labels without le/quantile, all labels); one key form for every role:
        # the label text without le/quantile, sorted
        labels = parse_labels(raw) or {}
        reduced = {k: v for k, v in labels.items() if k not in skip} if ("le" in labels or "quantile" in labels) else labels
        return ",".join(f'{k}="{v}"' for k, v in sorted(reduced.items())), reduced, labels

    buckets: dict[str, dict[str, float]] = {}
    # series key -> the distinct label sets of its buckets, first seen first (one, unless two
    # label sets render to the same key); visiting a label set again adds no label value
    bucket_labels: dict[str, list[dict[str, str]]] = {}
    # The buckets of one series are usually written one after another and differ only in
    # their `le` value: the text around the last bucket's `le` value is kept, and a text that
    # matches it is that series again, with the `le` between (see le_value_span).
    # On a match the key and labels are the last bucket's, so only its le value is stored.
    pre = post = ""
    need = lp = lq = -1          # no text kept yet: need -1 never matches a length test below
    bk: dict[str | None, float] = {}
    for raw, v in fd.buckets:
        if need >= 0 and len(raw) >= need and raw.startswith(pre) and raw.endswith(post):
            le = raw[lp:-lq]     # post starts with the closing quote: lq >= 1
            if '"' not in le and "\\" not in le:
                bk[le] = v
                continue
        key, reduced, labels = split(raw)
        span = le_value_span(raw)
        if span is None:
            need = -1
        else:
            pre, post = raw[:span[0]], raw[span[1]:]
            lp, lq = len(pre), len(post)
            need = lp + lq
        got = buckets.get(key)
        if got is None:
            buckets[key] = bk = {}
            bucket_labels[key] = [reduced]
        else:
            bk = got
            if reduced not in bucket_labels[key]:
                bucket_labels[key].append(reduced)
        bk[labels.get("le")] = v
    for sets in bucket_labels.values():
        for reduced in sets:
            add_values(reduced)
    # A label set equal to one visited before adds no label value: the `_count` and `_sum`
    # series of a histogram repeat its buckets' labels, and `_sum` repeats `_count`'s text.
    counts: dict[str, float] = {}
    count_of: dict[str, tuple[str, dict[str, str]]] = {}
    for raw, v in fd.counts.items():
        key, reduced, _labels = split(raw)
        count_of[raw] = (key, reduced)
        counts[key] = v
        if reduced not in bucket_labels.get(key, ()):
            add_values(reduced)
    sums: dict[str, float] = {}
    for raw, v in fd.sums.items():
        got = count_of.get(raw)
        if got is not None:
            key = got[0]
        else:
            key, reduced, _labels = split(raw)
            if reduced not in bucket_labels.get(key, ()):
                add_values(reduced)
        sums[key] = v
    keys = list(dict.fromkeys(list(counts) + list(sums) + list(buckets)))
    per_count: list[float] = []
    per_sum: list[float] = []
    nonzero = False
    nonfinite = 0
    missing: dict[str, int] = {}
    shown = []
    isfinite = math.isfinite
    for k in keys:
        bk = buckets.get(k, {})
        inf = None
        if bk:
            # the value of the first bucket (in file order) whose le is +Inf
            found = [le for le in _INF_LES if le in bk]
            if len(found) == 1:
                inf = bk[found[0]]
            elif found:
                inf = next(v for le, v in bk.items() if _is_inf(le))
        c = counts.get(k)
        sm = sums.get(k)
        if bk and inf is None:
            missing["+Inf bucket"] = missing.get("+Inf bucket", 0) + 1
        if c is None and (bk or sm is not None):
            missing["_count"] = missing.get("_count", 0) + 1
        if sm is None and (c is not None or bk):
            missing["_sum"] = missing.get("_sum", 0) + 1
        count = c if c is not None else inf
        if count is not None:
            per_count.append(count)
        if sm is not None:
            per_sum.append(sm)
        for v in (count, sm):
            if v is None:
                continue
            if not _finite(v):
                nonfinite += 1
            elif v != 0:
                nonzero = True
        if bk:
            vals = bk.values()
            nonfinite += len(vals) - sum(map(isfinite, vals))
            # a finite non-zero bucket: among the truthy values (non-zero, NaN, inf), a finite one
            if not nonzero and any(map(isfinite, filter(None, vals))):
                nonzero = True
        if len(shown) < MAX_SERIES_SHOWN:
            shown.append({"labels": _labels_of_key(k), "count": count, "sum": sm})
    entry["series"] = len(keys)
    agg = mdef.aggregate != "none"
    entry["count"] = _aggregate(per_count, "sum") if agg and per_count else None
    entry["sum"] = _aggregate(per_sum, "sum") if agg and per_sum else None
    entry["value"] = entry["count"]
    entry["nonzero"] = nonzero
    entry["nonfinite"] = nonfinite
    if missing and (fd.buckets or fd.type in ("histogram", "gaugehistogram") or mdef.type == "histogram"):
        entry["incomplete"] = {"series_missing": dict(sorted(missing.items())),
                               "note": "histogram series without their +Inf bucket, _count or _sum (a cut paste?)"}
    elif missing.get("_count") or missing.get("_sum"):
        entry["incomplete"] = {"series_missing": {k: v for k, v in sorted(missing.items()) if k != "+Inf bucket"},
                               "note": "summary series without their _count or _sum (a cut paste?)"}
    entry["_shown"] = shown


def _labels_of_key(key: str) -> dict[str, str]:
    return (parse_labels(key) or {}) if key else {}


def _convention_applies(conv: dict[str, Any], labels: dict[str, str]) -> bool:
    want = conv.get("when_label")
    return want is None or want in labels


def _apply_conventions(entry: dict[str, Any], mdef, raws: list[str], values: list[float], labels_of) -> list[float | None]:
    """The spec's value conventions: a sentinel value is no observation (None); a percent value is
    divided by 100; a ratio never leaves [0, 1] (an out-of-range value is kept out, and said)."""
    out: list[float | None] = list(values)
    for conv in mdef.conventions:
        hits = 0
        for i, raw in enumerate(raws):
            v = out[i]
            if v is None or not _convention_applies(conv, labels_of(raw)):
                continue
            if "sentinel" in conv and v == conv["sentinel"]:
                out[i] = None
                hits += 1
            elif conv.get("scale") == "percent":
                out[i] = v / 100.0
                hits += 1
        if hits:
            if "sentinel" in conv:
                entry["sentinel_series"] = entry.get("sentinel_series", 0) + hits
                entry["sentinel"] = {"value": conv["sentinel"], "series": entry["sentinel_series"],
                                     "meaning": conv.get("note", "no data yet"), "versions": conv["versions"]}
            else:
                entry["scaled"] = {"from": conv["scale"], "series": hits, "versions": conv["versions"],
                                   "note": conv.get("note", "")}
                entry["convention_versions"] = conv["versions"]
    if mdef.unit == "ratio":
        bad = [v for v in out if v is not None and _finite(v) and not (0.0 <= v <= 1.0)]
        if bad:
            percentish = all(1.0 < v <= 100.0 for v in bad)
            entry["out_of_range"] = {
                "values": sorted(bad)[:MAX_LABEL_VALUES],
                "note": ("a ratio above 1 and at most 100: a percent value from a release the spec does not "
                         "mark as percent; not reported as a ratio") if percentish else "outside [0, 1]; not reported as a ratio",
            }
            out = [None if (v is not None and _finite(v) and not (0.0 <= v <= 1.0)) else v for v in out]
    return out


def _registered_entry(name: str, line: int, mdef, source: str) -> dict[str, Any]:
    """A family named by HELP/TYPE lines with no sample: registered, nothing observed."""
    return {
        "metric": mdef.id, "family": mdef.family, "runtime": mdef.runtime, "type": mdef.type,
        "exposed_names": [name], "exposed_type": None, "source": source, "line": line, "created_series": 0,
        "series": 0, "value": None, "nonzero": False, "nonfinite": 0, "registered": True,
        "label_values": {}, "series_shown": [], "aggregate": mdef.aggregate,
    }


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


def _namespace_counts(expo: Exposition, namespaces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Families per spec namespace (prefix rules), over every family of the scrape: indexed,
    unindexed and registered without samples."""
    out: dict[str, dict[str, Any]] = {}
    if not namespaces:
        return out
    names = set(expo.families) | set(expo.other_families) | set(expo.declared)
    for ns in namespaces:
        hits = sorted(n for n in names if n.startswith(tuple(ns["prefixes"])))
        if hits:
            with_samples = [n for n in hits if n in expo.families or n in expo.other_families]
            out[ns["id"]] = {"families": len(hits), "with_samples": len(with_samples),
                             "examples": (with_samples or hits)[:5]}
    return out


def add_exposition(evidence: dict[str, Any], expo: Exposition, result: ReadResult, catalog, role: str,
                   namespaces: list[dict[str, Any]] | None = None) -> None:
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
    # Families named by HELP/TYPE lines and never sampled: registered, nothing observed.
    registered: dict[str, tuple[str, int]] = {}
    for name, line in expo.declared.items():
        if name in expo.families or name in expo.other_families or name.endswith("_created"):
            continue
        hit = catalog.lookup(name)
        if hit is None or hit[0] in chosen or hit[0] in registered:
            continue
        registered[hit[0]] = (name, line)
    for mid, (name, line) in registered.items():
        entry = _registered_entry(name, line, catalog.metrics[mid], role)
        nd = catalog.lookup_exact(name)[1]
        entry["generation"], entry["versions"], entry["name_status"] = nd.generation, nd.versions, nd.status
        if mid not in metrics:
            metrics[mid] = entry
    for mid, (_rank, fd, shadowed) in chosen.items():
        mdef = catalog.metrics[mid]
        entry = _metric_entry(fd, mdef, role)
        if cut and cut.get("family") == fd.name:
            # Its samples run up to where the scrape was cut: values and series may be short.
            entry["may_be_cut"] = {"source": result.path, "line": cut.get("line"), "reason": cut.get("reason")}
        hit = catalog.lookup_exact(fd.name)
        convention_versions = entry.pop("convention_versions", None)
        if hit is not None:
            entry["generation"] = hit[1].generation
            # A value convention of an older naming era (percent) pins the name's release range.
            entry["versions"] = convention_versions or hit[1].versions
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
        "registered_without_samples": sorted(n for n in expo.declared
                                             if n not in expo.families and n not in expo.other_families
                                             and not n.endswith("_created"))[:500],
        "namespaces": _namespace_counts(expo, namespaces or []),
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
    failed = lane_doc.get("failed") or (
        (lane_doc.get("reason") or "collection failed") if lane_doc.get("status") == "failed" and not lane_doc.get("sources") else None)
    if failed:
        # collect-lmcache could not collect this lane (the HTTP server was unreachable, or an
        # internal error): not read, so absent with its reason, never a lane read as all zero.
        reason = str(failed)
        evidence.setdefault("lane_failures", {})[lane] = reason
        evidence["sources"].append({"role": f"lane:{lane}", "path": path, "reader": "lane_evidence",
                                    "records": 0, "problems": 1, "note": f"lane failed: {reason}"})
        evidence["problems"].append({"source": lane, "path": path,
                                     "message": f"lane was not read when the packet was collected: {reason}"})
        return
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
