"""Text rendering of a DisaggStatusReport. Nothing here decides a status."""
from __future__ import annotations

from typing import Any

_ORDER = ("running", "waiting", "kv_usage", "ttft", "itl", "transfer_volume", "transfers", "transfer_errors",
          "transfer_pending")


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _quantity(q: dict[str, Any]) -> str:
    unit = f" {q['unit']}" if q.get("unit") and q["unit"] not in ("requests", "ratio", "observations") else ""
    if q["state"] in ("absent", "not_applicable", "unknown_engine"):
        return {"absent": "absent (not exposed)", "not_applicable": "not defined for this engine",
                "unknown_engine": "unknown (no engine detected)"}[q["state"]]
    if q["state"] == "registered_no_samples":
        return f"registered, no samples ({', '.join(q['exposed_names'])})"
    basis = q.get("basis", "")
    if "increase" in q:
        rate = q.get("rate_per_second")
        rate_s = f", {_num(rate)}{unit}/s" if rate is not None else ""
        return f"+{_num(q['increase'])}{unit} in window{rate_s} (total {_num(q.get('total'))}{unit})"
    if "total" in q:
        return f"{_num(q['total'])}{unit} since start (cumulative)"
    if "window_mean" in q or "since_start" in q:
        if q.get("basis") == "window":
            wm = q.get("window_mean")
            return (f"{_num(wm)}{unit} window mean over {_num(q.get('window_count'))} obs"
                    if wm is not None else f"no observation in window (since start {_num(q.get('since_start'))}{unit})")
        return f"{_num(q.get('since_start'))}{unit} mean since start over {_num(q.get('count_since_start'))} obs"
    vals = q.get("values")
    if vals and len(vals) > 1:
        return f"{_num(q['value'])}{unit} (per scrape: {', '.join(_num(v) for v in vals)})"
    return f"{_num(q.get('value'))}{unit}" + (f" ({basis})" if basis and basis != "last scrape" else "")


def disagg_text(report: dict[str, Any]) -> str:
    w = report["window"]
    head = (f"InferGuard disagg status ({w['scrapes']} scrape(s)"
            + (f" over {_num(w['seconds'])} s" if w["seconds"] is not None else ", single scrape: totals, not motion")
            + ")")
    lines = [head, ""]
    for r in report["roles"]:
        lines.append(f"[{r['role']}] {r['url']}  state: {r['state']}")
        if r["state"] in ("down", "unreadable"):
            last = r["scrapes"][-1]
            why = last.get("error") or (f"HTTP {last.get('http_status')}" if last.get("http_status") else "")
            lines.append(f"  {why}".rstrip())
            lines.append("")
            continue
        ver = (r.get("version") or {}).get("summary")
        eng = r["engine"] or "unknown"
        lines.append(f"  engine: {eng}" + (f" ({ver})" if ver else ""))
        conn = ", ".join(r["connectors"]) if r["connectors"] else "not detected"
        lines.append(f"  KV connector: {conn}")
        if r.get("connector_note"):
            lines.append(f"    note: {r['connector_note']}")
        for qid in _ORDER:
            q = r["quantities"].get(qid)
            if q is None:
                continue
            lines.append(f"  {q['title']:<38} {_quantity(q)}")
        lines.append("")
    findings = report["findings"]
    if findings:
        lines.append("Findings:")
        for f in findings:
            who = f" [{f['role']}]" if f.get("role") else ""
            lines.append(f"  {f['severity'].upper():<8} {f['check']}{who}: {f['message']}")
            for e in f.get("evidence", [])[:4]:
                lines.append(f"           - {e}")
    else:
        lines.append("Findings: none")
    c = report["severity_counts"]
    lines.append("")
    lines.append(f"{c['critical']} critical, {c['error']} error, {c['warning']} warning, {c['info']} info; "
                 f"exit {report['exit_code']}")
    return "\n".join(lines)
