"""Text for people. Nothing here decides a status: it prints what the report says."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    return str(v)


def _signals(sigs: dict[str, list[dict[str, str]]], key: str) -> str:
    got = sigs.get(key) or []
    if not got:
        return ""
    first = got[0]
    more = f" +{len(got) - 1} more" if len(got) > 1 else ""
    return f" [{first['signal']}: {first['evidence']}{more}]"


def detected_lines(det: dict[str, Any]) -> list[str]:
    lines = []
    engines = det.get("engines") or []
    if engines:
        for e in engines:
            lines.append(f"  engine      {e}{_signals(det.get('engine_signals', {}), e)}")
    else:
        lines.append("  engine      none detected")
    mode = det.get("lmcache_mode", "none")
    sig = ""
    for m in ("mp", "embedded"):
        if m in det.get("lmcache_mode_signals", {}):
            sig += _signals(det["lmcache_mode_signals"], m)
    lines.append(f"  lmcache     mode={mode}{sig}")
    present = det.get("lmcache_present_signals") or []
    if mode == "none":
        if det.get("lmcache_present"):
            first = present[0]
            more = f" +{len(present) - 1} more" if len(present) > 1 else ""
            lines.append(f"  lmcache     present, mode not shown [{first['signal']}: {first['evidence']}{more}]")
        elif "lmcache_present" in det:
            lines.append("  lmcache     no evidence (LMCache rows do not apply unless --expect-lmcache-mode is given)")
    conns = det.get("connectors") or []
    lines.append(f"  connector   {', '.join(conns) if conns else 'none detected'}"
                 + (_signals(det.get("connector_signals", {}), conns[0]) if conns else ""))
    for rt, v in sorted(det.get("versions", {}).items()):
        lines.append(f"  version     {rt}: {v.get('summary')} ({v.get('names_used', 0)} names)")
        for c in (v.get("conflicts") or [])[:3]:
            if "names" in c:
                lines.append(f"              conflict: {' vs '.join(c['names'])} ({', '.join(str(x) for x in c.get('versions', []))})")
        for b in (v.get("because") or [])[:3]:
            lines.append(f"              because: {b}")
    return lines


def coverage_text(report: dict[str, Any], title: str) -> str:
    out = [f"{title} (spec {report['spec']['version']}, {report['spec']['digest'][:19]})"]
    out.append("Inputs:")
    for s in report.get("inputs", []):
        out.append(f"  {s.get('role')}: {s.get('path')} ({s.get('records')} records, {s.get('problems')} problems)")
    out.append("Detected:")
    out.extend(detected_lines(report["detected"]))
    if "mode_check" in report:
        mc = report["mode_check"]
        out.append(f"Mode check: expected {mc['expected']}, detected {mc['detected']} -> {mc['result']}")
    out.append("Surfaces:")
    rows = report["surfaces"]
    width = max((len(r["id"]) for r in rows), default=10)
    out.append(f"  {'status':<15}{'row':<{width + 2}}measured/zero/registered/absent/n.a.  surface")
    for r in rows:
        c = r["counts"]
        cell = f"{c['measured']}/{c['present_zero']}/{c.get('registered_no_samples', 0)}/{c['absent']}/{c['not_applicable']}"
        out.append(f"  {r['status']:<15}{r['id']:<{width + 2}}{cell:<28}{r['surface']}")
    fc = report["family_counts"]
    out.append(
        f"Families: {fc['measured']} measured, {fc['present_zero']} present_zero, "
        f"{fc.get('registered_no_samples', 0)} registered_no_samples, "
        f"{fc['absent']} absent, {fc['not_applicable']} not_applicable"
    )
    for f in report.get("families", []):
        if f.get("incomplete"):
            out.append(f"  incomplete: {f['id']} ({', '.join(f['incomplete'])}: histogram or summary series cut short)")
        for m in f.get("metrics", []):
            if m.get("sentinel"):
                s = m["sentinel"]
                out.append(f"  sentinel:   {m['id']} = {_fmt(s['value'])} on {s['series']} series ({s['meaning']}): not a value")
            if m.get("scaled"):
                out.append(f"  scaled:     {m['id']} read in {m['scaled']['from']} (releases {m['scaled']['versions']}), divided by 100")
            if m.get("out_of_range"):
                out.append(f"  out of range: {m['id']} {m['out_of_range']['note']}")
    shown = [d for d in report.get("derived", {}).values()
             if d.get("value") is not None or d.get("value_as_read") is not None]
    if shown:
        out.append("Derived:")
        for d in shown:
            if d.get("value") is None:  # withheld: its inputs may be cut
                out.append(f"  {d['id']} = not given: {d.get('reason')} (as read: {_fmt(d['value_as_read'])})")
                continue
            extra = ""
            if d["op"] == "ratio":
                extra = f" ({_fmt(d.get('numerator'))} / {_fmt(d.get('denominator'))})"
            elif d["op"] == "histogram_mean":
                extra = f" (sum {_fmt(d.get('sum'))} / count {_fmt(d.get('count'))})"
            unit = f" {d['unit']}" if d.get("unit") else ""
            out.append(f"  {d['id']} = {_fmt(d['value'])}{unit}{extra}")
    kv = report.get("kv_cache_offload") or {}
    if kv:
        out.append("KV cache offload (kept apart by layer):")
        for layer, vals in sorted(kv.items()):
            have = {k: v for k, v in sorted(vals.items()) if v.get("value") is not None}
            parts = [f"{k.split('.', 1)[-1]}={_fmt(v['value'])}{(' ' + v['unit']) if v.get('unit') else ''}" for k, v in have.items()]
            missing = len(vals) - len(have)
            if missing:
                parts.append(f"{missing} value(s) without evidence")
            out.append(f"  {layer}: " + "; ".join(parts))
    gaps = report.get("gaps", [])
    out.append(f"Gaps: {len(gaps)}")
    for g in gaps[:12]:
        out.append(f"  {g['row']}: {g['item']} is {g['status']} ({g['why']}) -> {g['next_command']}")
    if len(gaps) > 12:
        out.append(f"  ... {len(gaps) - 12} more (see --output JSON)")
    probs = report.get("problems", [])
    if probs:
        out.append(f"Problems: {len(probs)}")
        for p in probs[:5]:
            loc = p.get("path", "")
            if p.get("line"):
                loc += f":{p['line']}"
            out.append(f"  {loc}: {p.get('message')}")
        if len(probs) > 5:
            out.append(f"  ... {len(probs) - 5} more (see --output JSON)")
    out.extend(findings_lines(report.get("findings")))
    return "\n".join(out)


def findings_lines(findings: list[dict[str, Any]] | None, limit: int = 12) -> list[str]:
    """The findings as the report lists them (worst first), with their count per severity."""
    if findings is None:
        return []
    per: dict[str, int] = {}
    for f in findings:
        per[f["severity"]] = per.get(f["severity"], 0) + 1
    out = [f"Findings: {len(findings)}" + (f" ({', '.join(f'{n} {s}' for s, n in per.items())})" if per else "")]
    for f in findings[:limit]:
        where = f" {f['subject']}:" if f.get("subject") else ""
        out.append(f"  {f['severity']:<9}{f['check']:<34}{where} {f['message']}")
    if len(findings) > limit:
        out.append(f"  ... {len(findings) - limit} more (see --output JSON)")
    return out


def window_text(summary: dict[str, Any], written: list[str]) -> str:
    """collect-metrics: what was collected, the hit rates and rates of the window, the problems."""
    sch = summary.get("schedule") or {}
    lines = ["InferGuard collect-metrics"]
    stopped = summary.get("stopped_early")
    lines.append(f"  {sch.get('mode', '?')}: {summary.get('ticks', 0)} of {sch.get('planned_ticks', '?')} tick(s) every "
                 f"{_fmt(sch.get('interval_seconds'))}s" + (f", {sch['skipped_ticks']} skipped (overran)" if sch.get("skipped_ticks") else "")
                 + (f"; stopped early ({stopped}), everything collected was kept" if stopped else ""))
    if sch.get("mode") == "live":
        tm = sch.get("tick_ms") or {}
        lines.append(f"  tick latency ms: p50 {_fmt(tm.get('p50'))}, p95 {_fmt(tm.get('p95'))}, max {_fmt(tm.get('max'))}")
    lines.append("Targets:")
    for t in summary.get("targets", []):
        lat = t.get("scrape_latency_ms") or {}
        lines.append(f"  {t['name']:<8} {t['source']}: {t['ok_ticks']}/{t['ticks']} scrape(s) answered"
                     + (f", {t['failed_ticks']} failed" if t.get("failed_ticks") else "")
                     + (f"; latency ms p50 {_fmt(lat.get('p50'))} p95 {_fmt(lat.get('p95'))}" if lat.get("p50") is not None else ""))
    rates = [d for d in summary.get("derived", {}).values() if d.get("op") == "ratio" and d.get("unit") == "ratio"]
    if rates:
        lines.append("Hit rates over the window:")
        for d in rates:
            val = f"{d['value']:.4f}" if d.get("value") is not None else f"n/a ({d.get('reason')})"
            lines.append(f"  {d['id']:<42} {val}  [{d.get('numerator')} / {d.get('denominator')}]")
    moving = [(k, m) for k, m in summary.get("metrics", {}).items() if m.get("type") == "counter" and m.get("window")
              and m["window"].get("rate")]
    if moving:
        lines.append("Counters that moved (delta, per second):")
        for k, m in moving[:15]:
            w = m["window"]
            lines.append(f"  {k:<42} {_fmt(w['delta'])}  {w['rate']:.3g}/s" + (f"  ({w['resets']} reset(s))" if w.get("resets") else ""))
        if len(moving) > 15:
            lines.append(f"  ... and {len(moving) - 15} more (see metrics_summary.json)")
    findings = summary.get("findings", [])
    if findings:
        by: dict[tuple[str, str], int] = {}
        for f in findings:
            key = (f["check"], (f.get("evidence") or {}).get("target", ""))
            by[key] = by.get(key, 0) + 1
        lines.append(f"Problems ({summary.get('findings_total', len(findings))}):")
        for (check, target), n in sorted(by.items()):
            first = next(f for f in findings if f["check"] == check and (f.get("evidence") or {}).get("target", "") == target)
            count = f"{n} tick(s); first: " if check.startswith("scrape/") else ""
            lines.append(f"  {first['severity']:<8} {check} {target}: {count}{first['message']}")
    for w in written:
        lines.append(f"Wrote {w}")
    return "\n".join(lines)
