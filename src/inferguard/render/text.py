"""Text for people. Nothing here decides a status: it prints what the report says."""
from __future__ import annotations

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
    conns = det.get("connectors") or []
    lines.append(f"  connector   {', '.join(conns) if conns else 'none detected'}"
                 + (_signals(det.get("connector_signals", {}), conns[0]) if conns else ""))
    for rt, v in sorted(det.get("versions", {}).items()):
        gens = ", ".join(f"{g}x{n}" for g, n in sorted(v.get("generations", {}).items()))
        ranges = ", ".join(sorted(v.get("name_ranges", {})))
        lines.append(f"  names       {rt}: generations {gens or '-'}; name ranges {ranges or '-'} ({v.get('basis')})")
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
    out.append(f"  {'status':<15}{'row':<{width + 2}}measured/zero/absent/n.a.  surface")
    for r in rows:
        c = r["counts"]
        out.append(
            f"  {r['status']:<15}{r['id']:<{width + 2}}"
            f"{c['measured']}/{c['present_zero']}/{c['absent']}/{c['not_applicable']:<17}{r['surface']}"
        )
    fc = report["family_counts"]
    out.append(
        f"Families: {fc['measured']} measured, {fc['present_zero']} present_zero, "
        f"{fc['absent']} absent, {fc['not_applicable']} not_applicable"
    )
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
    return "\n".join(out)
