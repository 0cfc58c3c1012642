"""Verdicts of `inferguard disagg status`: per-role quantities and findings for a prefill/decode
disaggregated deployment, from scrapes that the flow already read.

Pure functions over plain data, no I/O. What is shown (quantities and the metric ids behind
them), the thresholds and the severities are the Disagg spec's (specs/disagg.yaml); this module
knows their ids, never a metric name or a threshold value. Every id it reads is listed in the
`*_USED` tuples below, and `specs lint` checks that the spec declares each of them.

Honesty rules applied here:
- a quantity whose metrics are absent is `absent` (value None), never 0;
- one scrape shows cumulative totals: whether KV is moving is not judged from it (a finding
  `disagg/transfer-not-judged` says so), and transfer failures counted since start are not
  called recent;
- over a window, motion is the increase of a counter between scrapes (`counter_increase`,
  the window math collect-metrics uses too).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from inferguard.core.problems import InputError
from inferguard.engine.window import counter_increase

ROLES_USED = ("prefill", "decode", "transfer")
QUANTITIES_USED = ("running", "waiting", "kv_usage", "ttft", "itl", "transfer_volume", "transfers",
                   "transfer_errors", "transfer_pending")
THRESHOLDS_USED = ("transfer_errors_min", "stall_min_running_requests", "stall_min_window_seconds",
                   "imbalance_min_waiting_requests", "imbalance_kv_usage_high", "imbalance_idle_waiting_max",
                   "imbalance_idle_kv_usage_max")
FINDINGS_USED = ("disagg/role-down", "disagg/role-unreadable", "disagg/scrape-problems", "disagg/engine-unknown",
                 "disagg/role-mismatch",
                 "disagg/engine-mismatch", "disagg/transfer-errors", "disagg/transfer-errors-since-start",
                 "disagg/transfer-stalled", "disagg/transfer-not-judged", "disagg/imbalance")

SEVERITIES = ("info", "warning", "error", "critical")
# The exit code of `disagg status` (its own policy, documented in its --help): 0 nothing at or
# above warning, 1 a warning or an error, 2 a critical finding (a role unreachable or unreadable).
EXIT_BY_SEVERITY = {"info": 0, "warning": 1, "error": 1, "critical": 2}

# Role states of one scrape.
UP, DOWN, HTTP_ERROR, UNREADABLE = "up", "down", "http_error", "unreadable"


def disagg_doc(spec) -> dict[str, Any]:
    docs = spec.docs("Disagg")
    if not docs:
        from inferguard.core.problems import InternalError

        raise InternalError("the spec set has no Disagg document (specs/disagg.yaml)")
    return docs[0]


# ---------------------------------------------------------------------------- thresholds


def thresholds(doc: dict[str, Any], overrides: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Every threshold of the spec at its default, then the `NAME=VALUE` overrides, typed.

    Raises InputError naming the override when the name is unknown or the value is not of the
    threshold's type (an integer threshold takes a whole number) or is negative."""
    out = {name: {"value": t["default"], "unit": t["unit"], "type": t["type"], "source": "default"}
           for name, t in doc["thresholds"].items()}
    for text in overrides:
        name, eq, raw = text.partition("=")
        name = name.strip()
        if not eq:
            raise InputError(f"--threshold {text!r}: expected NAME=VALUE")
        if name not in out:
            raise InputError(f"--threshold {text!r}: unknown threshold {name!r} (known: {', '.join(sorted(out))})")
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"--threshold {text!r}: {raw.strip()!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise InputError(f"--threshold {text!r}: must be a finite number >= 0")
        if out[name]["type"] == "integer":
            if value != int(value):
                raise InputError(f"--threshold {text!r}: {name} takes a whole number of {out[name]['unit']}")
            value = int(value)
        out[name] = {**out[name], "value": value, "source": "override"}
    return out


# ---------------------------------------------------------------------------- reading one scrape


def _metric_state(entry: dict[str, Any] | None) -> str:
    from inferguard.engine.status import metric_status

    return metric_status(entry)


def read_quantities(metrics: dict[str, Any], runtime: str | None, doc: dict[str, Any], cat) -> dict[str, Any]:
    """The spec's quantities for one scrape of one role (its evidence `metrics` by metric id).

    Each: the metric ids that exist for the role's runtime, the exposed names seen, the unit, the
    state (absent / registered_no_samples / present_zero / measured) and the raw numbers: `value`
    (read: value), or a histogram's `sum` and `count`."""
    out: dict[str, Any] = {}
    for q in doc["quantities"]:
        mids = list(q["metrics"].get(runtime, [])) if runtime else []
        r: dict[str, Any] = {"state": "absent", "metrics": [], "exposed_names": [], "unit": None,
                             "value": None, "sum": None, "count": None}
        if not mids:
            r["state"] = "not_applicable" if runtime else "unknown_engine"
            out[q["id"]] = r
            continue
        states = []
        values: list[float] = []
        sums: list[float] = []
        counts: list[float] = []
        units = set()
        for mid in mids:
            entry = metrics.get(mid)
            st = _metric_state(entry)
            if st == "absent":
                continue
            states.append(st)
            r["metrics"].append(mid)
            r["exposed_names"].extend(entry.get("exposed_names", []))
            mdef = cat.metrics.get(mid)
            if mdef is not None and mdef.unit:
                units.add(mdef.unit)
            if entry.get("value") is not None and q["read"] == "value":
                values.append(float(entry["value"]))
            if entry.get("sum") is not None:
                sums.append(float(entry["sum"]))
            if entry.get("count") is not None:
                counts.append(float(entry["count"]))
        if states:
            from inferguard.engine.status import combine

            r["state"] = combine(states)
        if q["read"] == "value":
            r["unit"] = _one_unit(units)
            r["value"] = math.fsum(values) if values else None
        elif q["read"] == "mean":
            r["unit"] = _one_unit(units)
            r["sum"] = math.fsum(sums) if sums else None
            r["count"] = math.fsum(counts) if counts else None
            r["value"] = (r["sum"] / r["count"]) if (r["sum"] is not None and r["count"]) else None
        elif q["read"] == "sum":
            r["unit"] = _one_unit(units)
            r["value"] = math.fsum(sums) if sums else None
        else:  # count
            r["unit"] = "observations"
            r["value"] = math.fsum(counts) if counts else None
        out[q["id"]] = r
    return out


def role_label(metrics: dict[str, Any], runtime: str | None, doc: dict[str, Any]) -> dict[str, Any] | None:
    """The values of the label by which the role's server says which part it plays (the spec's
    `role_labels` for its runtime), with the metric they were read from; None when the runtime
    has no such label or the metric is not in the scrape."""
    rl = (doc.get("role_labels") or {}).get(runtime or "")
    if not rl:
        return None
    entry = metrics.get(rl["metric"])
    values = ((entry or {}).get("label_values") or {}).get(rl["label"])
    if not values:
        return None
    return {"label": rl["label"], "values": list(values), "metric": entry["exposed_names"][0],
            "line": entry.get("line")}


def _one_unit(units: set[str]) -> str | None:
    return sorted(units)[0] if len(units) == 1 else (", ".join(sorted(units)) or None)


# ---------------------------------------------------------------------------- window math


# ---------------------------------------------------------------------------- judging


def _finding(doc: dict[str, Any], check: str, role: str | None, message: str, evidence: list[str],
             **extra: Any) -> dict[str, Any]:
    sev = next(f["severity"] for f in doc["findings"] if f["id"] == check)
    out = {"check": check, "severity": sev, "role": role, "message": message, "evidence": evidence}
    out.update(extra)
    return out


def _fmt(v: float | None, unit: str | None = None) -> str:
    if v is None:
        return "n/a"
    text = f"{v:.6g}"
    return f"{text} {unit}" if unit else text


def role_view(role: dict[str, Any], doc: dict[str, Any], window_seconds: float | None) -> dict[str, Any]:
    """What is shown for one role: each quantity at the last good scrape, and over the window
    (two good scrapes or more) the increase of counters, their rate and the window mean of
    histograms. `role["scrapes"]` holds, per scrape, `state`, `at` (seconds from the first
    scrape) and `quantities` (read_quantities) when the scrape was read."""
    good = [s for s in role["scrapes"] if s["state"] == UP]
    view: dict[str, Any] = {}
    if not good:
        return view
    last = good[-1]
    span = good[-1]["at"] - good[0]["at"] if len(good) > 1 else 0.0
    for q in doc["quantities"]:
        qid = q["id"]
        cur = last["quantities"][qid]
        v: dict[str, Any] = {"title": q["title"], "state": cur["state"], "unit": cur["unit"],
                             "metrics": cur["metrics"], "exposed_names": cur["exposed_names"]}
        if q["motion"] == "gauge":
            v["value"] = cur["value"]
            v["basis"] = "last scrape"
            seen = [s["quantities"][qid]["value"] for s in good]
            if len(good) > 1 and any(x is not None for x in seen):
                v["values"] = seen
        elif q["read"] == "mean":
            v["since_start"] = cur["value"]
            v["count_since_start"] = cur["count"]
            dsum, rs = counter_increase([s["quantities"][qid]["sum"] for s in good])
            dcount, rc = counter_increase([s["quantities"][qid]["count"] for s in good])
            if len(good) > 1 and dsum is not None and dcount is not None:
                v["window_count"] = dcount
                v["window_mean"] = (dsum / dcount) if dcount else None
                if not dcount:
                    v["window_note"] = "no observation during the window"
                v["value"] = v["window_mean"]
                v["basis"] = "window"
                v["resets"] = max(rs, rc)
            else:
                v["value"] = cur["value"]
                v["basis"] = "since start (cumulative mean)"
        else:
            v["total"] = cur["value"]
            inc, resets = counter_increase([s["quantities"][qid]["value"] for s in good])
            if len(good) > 1 and inc is not None:
                v["increase"] = inc
                v["rate_per_second"] = (inc / span) if span > 0 else None
                v["resets"] = resets
                v["basis"] = "window"
            else:
                v["basis"] = "since start (cumulative)"
        view[qid] = v
    return view


def _good(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in role["scrapes"] if s["state"] == UP]


def judge(roles: list[dict[str, Any]], doc: dict[str, Any], th: dict[str, dict[str, Any]],
          *, expected_engine: str | None, window_seconds: float | None) -> list[dict[str, Any]]:
    """The findings for the whole deployment. `roles`: one dict per role with `role`, `url`,
    `required`, `scrapes` (each with state, error, http_status, problems, samples, at,
    quantities), `engine` (the runtime read, or None), `engines_detected` and `view`
    (role_view)."""
    t = {k: v["value"] for k, v in th.items()}
    findings: list[dict[str, Any]] = []
    by_id = {r["role"]: r for r in roles}
    n_scrapes = max((len(r["scrapes"]) for r in roles), default=0)

    # -- reachability and readability
    for r in roles:
        failed = [s for s in r["scrapes"] if s["state"] in (DOWN, HTTP_ERROR)]
        garbled = [s for s in r["scrapes"] if s["state"] == UNREADABLE]
        total = len(r["scrapes"])
        if failed:
            why = sorted({s["error"] if s["state"] == DOWN else f"HTTP {s['http_status']}" for s in failed})
            findings.append(_finding(
                doc, "disagg/role-down", r["role"],
                f"{r['role']} ({r['url']}) unreachable at {len(failed)} of {total} scrape(s): {'; '.join(why)}",
                [f"{r['url']}: {w}" for w in why]))
        if garbled:
            first = garbled[0]
            shown = [f"{p.get('line', '?')}: {p['message']}" for p in first.get("problems", [])[:3]]
            findings.append(_finding(
                doc, "disagg/role-unreadable", r["role"],
                f"{r['role']} ({r['url']}) answered HTTP {first['http_status']} with no Prometheus sample in "
                f"{len(garbled)} of {total} scrape(s)", [f"{r['url']}: {s}" for s in shown] or [r["url"]]))
        problem_scrapes = [s for s in _good(r) if s.get("problems")]
        if problem_scrapes:
            s = problem_scrapes[-1]
            shown = [f"{r['url']}:{p.get('line', '?')}: {p['message']}" for p in s["problems"][:3]]
            findings.append(_finding(
                doc, "disagg/scrape-problems", r["role"],
                f"{r['role']} scrape read with {len(s['problems'])} problem(s) (the rest was used)", shown))
        if _good(r):
            if expected_engine and r["engines_detected"] and expected_engine not in r["engines_detected"]:
                findings.append(_finding(
                    doc, "disagg/engine-mismatch", r["role"],
                    f"--engine {expected_engine}, but {r['role']} exposes {', '.join(r['engines_detected'])} metrics",
                    r.get("engine_evidence", [])))
            elif r["required"] and not r["engine"]:
                findings.append(_finding(
                    doc, "disagg/engine-unknown", r["role"],
                    f"no vLLM or SGLang metrics on {r['role']} ({r['url']}); nothing to show for it", [r["url"]]))

    # -- a URL given for one role whose server says it plays the other part
    for r in roles:
        rl = (doc.get("role_labels") or {}).get(r["engine"] or "")
        seen = next((s["role_label"] for s in reversed(_good(r)) if s.get("role_label")), None)
        if not rl or not seen:
            continue
        against = sorted(set(seen["values"]) & set(rl["contradicts"].get(r["role"], ())))
        if against:
            findings.append(_finding(
                doc, "disagg/role-mismatch", r["role"],
                f"--{r['role']} {r['url']} says {seen['label']}={', '.join(against)}: swapped URLs?",
                [f"{seen['metric']} {seen['label']}={v!r} ({r['url']})" for v in seen["values"]]))

    # -- transfer failures
    for r in roles:
        v = r["view"].get("transfer_errors")
        if not v or v["state"] in ("absent", "not_applicable", "unknown_engine"):
            continue
        names = ", ".join(v["exposed_names"])
        if v.get("basis") == "window":
            if v["increase"] is not None and v["increase"] >= t["transfer_errors_min"]:
                findings.append(_finding(
                    doc, "disagg/transfer-errors", r["role"],
                    f"{_fmt(v['increase'])} KV transfer failure(s) on {r['role']} during the "
                    f"{_fmt(window_seconds)} s window ({_fmt(v['total'])} since start)",
                    [f"{names} ({r['url']}): +{_fmt(v['increase'])} over {len(_good(r))} scrapes"],
                    measured=True))
        elif v["total"] is not None and v["total"] >= t["transfer_errors_min"]:
            findings.append(_finding(
                doc, "disagg/transfer-errors-since-start", r["role"],
                f"{_fmt(v['total'])} KV transfer failure(s) on {r['role']} since the process started; one scrape "
                "cannot say whether they are recent (pass --duration-seconds to watch the counter)",
                [f"{names} ({r['url']}) = {_fmt(v['total'])}"], measured=False))

    # -- is KV moving?
    findings.extend(_motion(roles, by_id, doc, t, window_seconds, n_scrapes))

    # -- prefill/decode imbalance
    findings.extend(_imbalance(by_id, doc, t))
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    findings.sort(key=lambda f: (order[f["severity"]], f["check"], f["role"] or ""))
    return findings


def _motion(roles, by_id, doc, t, window_seconds, n_scrapes) -> list[dict[str, Any]]:
    """A stall: requests in flight at every good scrape of the window and no KV moved, judged only
    over a window of at least stall_min_window_seconds with two good scrapes of the roles that
    expose a transfer metric."""
    movers = []  # (role, quantity id, view) of roles exposing a transfer volume or count
    for r in roles:
        for qid in ("transfer_volume", "transfers"):
            v = r["view"].get(qid)
            if v and v["state"] not in ("absent", "not_applicable", "unknown_engine"):
                movers.append((r, qid, v))
                break
    if not movers:
        up = [r["role"] for r in roles if _good(r)]
        if not up:
            return []
        return [_finding(doc, "disagg/transfer-not-judged", None,
                         "whether KV is moving was not judged: no role exposes a KV transfer metric (connector "
                         "metrics appear only when a transfer connector is configured and has registered them)",
                         [f"{r['role']}: {', '.join(r['engines_detected']) or 'no engine'}" for r in roles if _good(r)])]
    totals = [f"{r['role']} {', '.join(v['exposed_names'])} = {_fmt(v['total'], v['unit'])} since start"
              for r, _q, v in movers]
    windowed = [(r, q, v) for r, q, v in movers if v.get("basis") == "window"]
    if n_scrapes < 2 or not windowed:
        return [_finding(doc, "disagg/transfer-not-judged", None,
                         "whether KV is moving was not judged: one scrape shows cumulative totals, not motion "
                         "(pass --duration-seconds for two scrapes or more)", totals, measured=False)]
    if window_seconds is None or window_seconds < t["stall_min_window_seconds"]:
        return [_finding(doc, "disagg/transfer-not-judged", None,
                         f"whether KV is stalled was not judged: the window ({_fmt(window_seconds)} s) is shorter than "
                         f"stall_min_window_seconds ({_fmt(t['stall_min_window_seconds'])} s)",
                         [f"{r['role']} {', '.join(v['exposed_names'])}: +{_fmt(v['increase'], v['unit'])} in the window"
                          for r, _q, v in windowed], measured=False)]
    moved = [v["increase"] for _r, _q, v in windowed if v["increase"]]
    if moved:
        return []
    # No transfer progress anywhere. Busy at every good scrape: prefill running, or any role's
    # requests waiting on a transfer.
    busy = []
    for rid, qid in (("prefill", "running"), ("prefill", "transfer_pending"), ("decode", "transfer_pending"),
                     ("transfer", "transfer_pending")):
        r = by_id.get(rid)
        if not r or len(_good(r)) < 2:
            continue
        seen = [s["quantities"][qid]["value"] for s in _good(r)]
        if all(x is not None and x >= t["stall_min_running_requests"] for x in seen):
            names = ", ".join(r["view"][qid]["exposed_names"])
            busy.append((rid, f"{rid} {names} = {', '.join(_fmt(x) for x in seen)} at each scrape ({r['url']})"))
    if not busy:
        return []
    ev = [b for _rid, b in busy] + [
        f"{r['role']} {', '.join(v['exposed_names'])}: +0 over {_fmt(window_seconds)} s "
        f"(total {_fmt(v['total'], v['unit'])})" for r, _q, v in windowed]
    return [_finding(doc, "disagg/transfer-stalled", busy[0][0],
                     f"KV transfer stalled: requests in flight on {', '.join(sorted({b[0] for b in busy}))} at every "
                     f"scrape and no KV moved in {_fmt(window_seconds)} s", ev, measured=True)]


def _imbalance(by_id, doc, t) -> list[dict[str, Any]]:
    p, d = by_id.get("prefill"), by_id.get("decode")
    if not p or not d or not _good(p) or not _good(d):
        return []

    def series(r, qid):
        return [s["quantities"][qid]["value"] for s in _good(r)]

    def saturated(r) -> str | None:
        w, k = series(r, "waiting"), series(r, "kv_usage")
        if all(x is not None and x >= t["imbalance_min_waiting_requests"] for x in w):
            return f"waiting requests {', '.join(_fmt(x) for x in w)} (>= {t['imbalance_min_waiting_requests']})"
        if all(x is not None and x >= t["imbalance_kv_usage_high"] for x in k):
            return f"KV cache usage {', '.join(_fmt(x) for x in k)} (>= {t['imbalance_kv_usage_high']})"
        return None

    def spare(r) -> str | None:
        w, k = series(r, "waiting"), series(r, "kv_usage")
        if not all(x is not None and x <= t["imbalance_idle_waiting_max"] for x in w):
            return None
        if any(x is not None and x > t["imbalance_idle_kv_usage_max"] for x in k):
            return None
        kv = f", KV cache usage {', '.join(_fmt(x) for x in k)}" if any(x is not None for x in k) else ""
        return f"waiting requests {', '.join(_fmt(x) for x in w)}{kv}"

    out = []
    for busy, idle in ((p, d), (d, p)):
        why, slack = saturated(busy), spare(idle)
        if why and slack:
            n = min(len(_good(busy)), len(_good(idle)))
            basis = "at the one scrape taken (pass --duration-seconds to see whether it persists)" if n < 2 \
                else f"at each of {n} scrapes"
            out.append(_finding(
                doc, "disagg/imbalance", busy["role"],
                f"prefill/decode imbalance: {busy['role']} is saturated while {idle['role']} has spare capacity, {basis}",
                [f"{busy['role']} {why} ({busy['url']})", f"{idle['role']} {slack} ({idle['url']})"],
                measured=n >= 2))
    return out


def exit_code(findings: list[dict[str, Any]]) -> int:
    return max((EXIT_BY_SEVERITY[f["severity"]] for f in findings), default=0)


def severity_counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    out = {s: 0 for s in SEVERITIES}
    for f in findings:
        out[f["severity"]] += 1
    return out
