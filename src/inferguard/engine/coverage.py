"""Family statuses, derived values, surface rows and gaps: one evaluation for every report."""
from __future__ import annotations

import math

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.engine.detect import applicable_runtimes, family_applies
from inferguard.engine.findings import item_label
from inferguard.engine.status import combine, counts, lane_status, metric_status, rollup
from inferguard.engine.vocab import ABSENT, MEASURED, NOT_APPLICABLE, REGISTERED_NO_SAMPLES
from inferguard.spec.expr import evaluate, search
from inferguard.spec.metrics import catalog as metric_catalog


def eval_data(evidence: dict[str, Any]) -> dict[str, Any]:
    """The document that `required_when` / `applies_when` expressions see."""
    return {"context": evidence.get("context", {}), "detected": evidence.get("detected", {})}


def family_report(evidence: dict[str, Any], spec) -> dict[str, dict[str, Any]]:
    cat = metric_catalog(spec)
    data = eval_data(evidence)
    rules = applicable_runtimes(spec, data)
    out: dict[str, dict[str, Any]] = {}
    for fid, fam in cat.families.items():
        applies = family_applies(fam, rules, data, spec)
        mets = []
        for mid in fam.metrics:
            entry = evidence["metrics"].get(mid)
            st = metric_status(entry) if applies else NOT_APPLICABLE
            m = {"id": mid, "status": st}
            if entry:
                if entry.get("may_be_cut"):
                    m["may_be_cut"] = entry["may_be_cut"]
                m["exposed_names"] = entry["exposed_names"]
                m["value"] = entry.get("value")
                m["series"] = entry.get("series")
                m["evidence"] = f"{entry['source']}:{entry.get('line', '?')}"
                # How the values were read: a cut histogram, a no-data sentinel, a percent scale,
                # a ratio value outside [0, 1] that is kept out.
                for key in ("incomplete", "sentinel", "scaled", "out_of_range"):
                    if entry.get(key):
                        m[key] = entry[key]
            mets.append(m)
        status = combine(m["status"] for m in mets) if applies else NOT_APPLICABLE
        out[fid] = {
            "id": fid,
            "runtime": fam.runtime,
            "component": fam.component,
            "title": fam.title,
            "status": status,
            "spec_status": fam.status,
            "metrics": mets,
            "counts": counts(m["status"] for m in mets),
        }
        cut = [m["id"] for m in mets if m.get("incomplete") and m["status"] != NOT_APPLICABLE]
        if cut:
            out[fid]["incomplete"] = cut
    return out


def _fsum(vals: list[float]) -> float:
    """An exact float sum, or the plain one where fsum cannot say (partial sums beyond the
    float range: infinite; +Inf and -Inf together: NaN)."""
    try:
        return math.fsum(vals)
    except (OverflowError, ValueError):
        return sum(vals)


def derived_values(evidence: dict[str, Any], spec) -> dict[str, dict[str, Any]]:
    cat = metric_catalog(spec)
    metrics = evidence["metrics"]
    cut_scrapes = cut_scrapes_of(evidence)
    if cut_scrapes:
        data = eval_data(evidence)
        rules = applicable_runtimes(spec, data)

        def applies(mid: str) -> bool:
            m = cat.metrics.get(mid)
            return m is None or family_applies(cat.families[m.family], rules, data, spec)
    out: dict[str, dict[str, Any]] = {}

    def val(mid: str) -> float | None:
        if mid in out:
            return out[mid].get("value")
        e = metrics.get(mid)
        if not e or metric_status(e) in (ABSENT, REGISTERED_NO_SAMPLES):
            return None
        return e.get("value")

    def why_none(*mids: str) -> str:
        for mid in mids:
            e = metrics.get(mid)
            if e and metric_status(e) == REGISTERED_NO_SAMPLES:
                return "input registered without samples (nothing observed yet)"
            if e and e.get("out_of_range"):
                return "input outside [0, 1]: not a ratio"
        return "input absent"

    for did, d in cat.derived.items():
        res: dict[str, Any] = {"id": did, "runtime": d.runtime, "title": d.title, "op": d.op, "unit": d.unit, "group": d.group,
                               "inputs": d.inputs, "value": None, "basis": "computed from measured counters"}
        if d.op == "ratio":
            num, den = val(d.inputs["numerator"]), val(d.inputs["denominator"])
            res["numerator"], res["denominator"] = num, den
            if num is None or den is None:
                res["reason"] = why_none(d.inputs["numerator"], d.inputs["denominator"])
            elif den == 0:
                res["reason"] = "denominator is zero"
            elif d.unit == "ratio" and not (0.0 <= num / den <= 1.0):
                # A ratio is never reported outside [0, 1]: the inputs disagree (counters of two
                # scrapes, a reset, a numerator that is not a subset of the denominator).
                res["reason"] = f"outside [0, 1] ({num} / {den}): the inputs are not a part and its whole"
            else:
                res["value"] = num / den
        elif d.op == "histogram_mean":
            e = metrics.get(d.inputs["metric"])
            if not e or metric_status(e) in (ABSENT, REGISTERED_NO_SAMPLES):
                res["reason"] = why_none(d.inputs["metric"])
            elif e.get("count") is None and e.get("sum"):
                res["reason"] = "histogram has no _count (cut short)"
            elif not e.get("count"):
                res["reason"] = "no observations"
            elif e.get("sum") is None:
                res["reason"] = "histogram has no _sum"
            else:
                res["value"] = e["sum"] / e["count"]
                res["count"], res["sum"] = e["count"], e["sum"]
                res["exposed_name"] = e["exposed_names"][0]
                res["labels"] = e.get("label_values", {})
        elif d.op in ("sum", "difference"):
            vals = [val(m) for m in d.inputs["metrics"]]
            if any(v is None for v in vals):
                res["reason"] = why_none(*d.inputs["metrics"])
            else:
                res["value"] = _fsum(vals) if d.op == "sum" else vals[0] - _fsum(vals[1:])
        if d.op == "ratio":
            src = metrics.get(d.inputs["numerator"]) or {}
            res["labels"] = src.get("label_values", {})
        if cut_scrapes and all(applies(m) for m in _input_ids(d)):
            _caveat_cut(res, d, metrics, out, cut_scrapes)
        out[did] = res
    return out


def cut_scrapes_of(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The scrapes that were read only up to a cut (a short body, a missing final newline)."""
    return [s for s in evidence.get("sources", []) if s.get("cut")]


def _input_ids(d) -> list[str]:
    ins = d.inputs
    if "metrics" in ins:
        return list(ins["metrics"])
    return [ins[k] for k in ("numerator", "denominator", "metric") if k in ins]


def _caveat_cut(res: dict[str, Any], d, metrics: dict[str, Any], derived: dict[str, Any],
                cut_scrapes: list[dict[str, Any]]) -> None:
    """A derived value whose inputs may be cut says so, and is not given as a number."""
    if not cut_scrapes:
        return
    cuts = {m: (metrics.get(m) or {}).get("may_be_cut") or (derived.get(m) or {}).get("may_be_cut")
            for m in _input_ids(d)}
    cut_inputs = [m for m, c in cuts.items() if c]
    if cut_inputs:
        where = cuts[cut_inputs[0]]
        where = where if isinstance(where, dict) else {"source": cut_scrapes[0].get("path"),
                                                       "line": cut_scrapes[0]["cut"].get("line")}
        res["may_be_cut"] = where
        if res.get("value") is not None:
            res["value_as_read"] = res["value"]
            res["value"] = None
        res["reason"] = (f"input may be cut: {', '.join(cut_inputs)} read up to where {where.get('source')} "
                         f"was cut (line {where.get('line')})")
    elif res.get("reason") == "input absent":
        where = cut_scrapes[0]["cut"]
        res["may_be_cut"] = {"source": cut_scrapes[0].get("path"), "line": where.get("line"), "reason": where.get("reason")}
        res["reason"] = (f"input absent from what was read; {cut_scrapes[0].get('path')} was cut at line "
                         f"{where.get('line')}, so it may lie beyond the cut")


def grouped(derived: dict[str, dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    """Derived values whose group starts with `prefix`, by the rest of the group name."""
    out: dict[str, dict[str, Any]] = {}
    for did, d in derived.items():
        g = d.get("group") or ""
        if g == prefix or g.startswith(prefix + "."):
            sub = g[len(prefix) + 1:] or "all"
            out.setdefault(sub, {})[did] = {k: d.get(k) for k in ("value", "unit", "title", "reason", "count", "sum", "exposed_name") if d.get(k) is not None}
    return out


def surface_rows(evidence: dict[str, Any], spec, families: dict[str, dict[str, Any]],
                 runtimes: set[str] | None = None) -> list[dict[str, Any]]:
    data = eval_data(evidence)
    lanes = evidence.get("lanes", {})
    failures = evidence.get("lane_failures", {})
    rows = []
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            if runtimes is not None and row["runtime"] not in runtimes:
                continue
            applies = evaluate(row.get("applies_when"), data, spec=spec)
            items = []
            for req in row["requires"]:
                optional = bool(req.get("optional"))
                req_applies = applies and evaluate(req.get("required_when"), data, spec=spec)
                if "family" in req:
                    fam = families.get(req["family"], {})
                    st = fam.get("status", ABSENT) if req_applies else NOT_APPLICABLE
                    item = {"family": req["family"], "status": st, "optional": optional}
                    if fam:
                        item["counts"] = fam["counts"]
                else:
                    if req_applies:
                        st, seen = lane_status(lanes, req["lane"], req.get("signals"))
                    else:
                        st, seen = NOT_APPLICABLE, {}
                    item = {"lane": req["lane"], "status": st, "optional": optional, "signals": seen}
                    if req.get("name"):
                        item["name"] = req["name"]
                    if req["lane"] in lanes:
                        item["evidence"] = lanes[req["lane"]]["files"]
                    reason = _lane_reason(req, lanes, failures, spec) if st not in (MEASURED, NOT_APPLICABLE) else None
                    if reason:
                        item["reason"] = reason
                items.append(item)
            status = rollup(i["status"] for i in items if not i["optional"]) if applies else NOT_APPLICABLE
            rows.append({
                "id": row["id"],
                "runtime": row["runtime"],
                "surface": row["surface"],
                "status": status,
                "items": items,
                "counts": counts(i["status"] for i in items),
                "missing_proof": row["missing_proof"],
                "next_command": row["next_command"],
            })
    return rows


def _lane_reason(req: dict[str, Any], lanes: dict[str, Any], failures: dict[str, str], spec=None) -> str | None:
    """Why a lane requirement is not measured: the lane's collection failed (with its reason),
    or what the requirement's `reason` expression finds in the lane's evidence."""
    lane = req["lane"]
    if lane not in lanes and lane in failures:
        return f"collection failed: {failures[lane]}"
    if lane in lanes and req.get("reason"):
        got = search(req["reason"], lanes[lane], spec)
        if isinstance(got, list):
            got = "; ".join(str(g) for g in got if g not in (None, ""))
        return str(got) if got not in (None, "", []) else None
    return None


def provided_sources(evidence: dict[str, Any]) -> set[str]:
    """Which kinds of evidence were given at all: `prometheus` for any scrape, plus lane ids."""
    out = {"prometheus"} if any(s.get("reader") == "prometheus" for s in evidence.get("sources", [])) else set()
    return out | set(evidence.get("lanes", {}))


def gaps(rows: list[dict[str, Any]], provided: set[str] | None = None,
         failed: set[str] | None = None, cut_scrapes: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every required item not measured. `collected` says whether its kind of evidence was
    given at all: an absent family in a scrape that was read is a real gap in what the
    deployment exports; a lane that was never collected is a gap in the packet."""
    provided = provided or set()
    failed = set(failed or ())
    out = []
    for r in rows:
        if r["status"] in (NOT_APPLICABLE,):
            continue
        for item in r["items"]:
            if item["status"] in (MEASURED, NOT_APPLICABLE) or item["optional"]:
                continue
            what = item_label(item)
            kind = "prometheus" if "family" in item else item.get("lane")
            collected = kind in provided or kind in failed
            if item.get("reason"):
                why = item["reason"]
            elif item["status"] == REGISTERED_NO_SAMPLES:
                why = "registered (HELP/TYPE or a no-data sentinel) but nothing observed"
            elif item["status"] != ABSENT:
                why = "exported but all zero" if "family" in item else "read, but none of the signals the row needs"
            else:
                why = "absent from the evidence that was read" if collected else "this kind of evidence was not collected"
                if collected and "family" in item and cut_scrapes:
                    why += f" (a scrape was cut: {cut_scrapes[0].get('path')}; it may lie beyond the cut)"
            out.append({
                "row": r["id"],
                "item": what,
                "status": item["status"],
                "collected": collected,
                "why": why,
                "missing_proof": r["missing_proof"],
                "next_command": r["next_command"],
            })
    return out
