"""bottleneck_diagnosis.md and the terminal summary of diagnose-bottleneck. Renders the
report the engine produced; decides nothing."""
from __future__ import annotations

import json
from typing import Any, Mapping


def _pointer(p: Mapping[str, Any]) -> str:
    parts = [f"`{p.get('artifact')}`"]
    if "metric" in p:
        where = f" line {p['line']}" if p.get("line") else ""
        parts.append(f"metric `{p['metric']}` (`{p.get('exposed_name')}`{where}) = {p.get('value')}")
        if p.get("series"):
            parts.append("series " + "; ".join(json.dumps(s.get("labels", {}), sort_keys=True) for s in p["series"][:3]))
    if "log_category" in p:
        lines = ", ".join(f"{x['file'].rsplit('/', 1)[-1]}:{x['line']}" for x in p.get("examples", []))
        parts.append(f"log `{p['log_category']}` x{p['count']} (lines {lines})")
    if "http" in p:
        parts.append(f"HTTP `{p['http']}` = {json.dumps(p.get('value'), sort_keys=True)[:200]}")
    if "lane" in p:
        nonzero = {k: v for k, v in (p.get("signals") or {}).items() if v}
        parts.append(f"lane `{p['lane']}` signals {json.dumps(nonzero, sort_keys=True)[:200]}")
    if "argv" in p:
        parts.append(f"{p['argv']} argv")
    if "lookup_hash" in p:
        v = p.get("value") or {}
        parts.append(f"lookup-hash reuse: share {v.get('share')} over {v.get('chunk_hashes_considered')} chunk hashes")
    return ", ".join(parts)


def diagnosis_markdown(report: Mapping[str, Any]) -> str:
    v = report["verdict"]
    out = [f"# Bottleneck diagnosis of `{report['job_dir']}`", ""]
    out.append(f"**Verdict: {v['status']}**" + (f" — `{v['rule']}` ({v['severity']}, confidence {v.get('confidence')})"
                                                if v.get("rule") else ""))
    out += ["", v["message"], ""]
    if v.get("causes"):
        out += [f"Likely cause(s): {', '.join('`' + c + '`' for c in v['causes'])}", ""]
    if v.get("annotations"):
        out += [f"Evidence gaps noted: {', '.join('`' + c + '`' for c in v['annotations'])}", ""]
    out += [f"Basis: {report['basis']} ({report['basis_note']}).", ""]
    out += ["Verdict priority: " + "; ".join(v["priority"]) + ".", ""]
    ins = report["inputs"]
    out += [f"Inputs found: {', '.join(ins['present']) or 'none'}.",
            f"Inputs missing (lower the confidence of rules that read them): {', '.join(ins['missing']) or 'none'}.", ""]
    out += [f"## Findings ({len(report['findings'])})", ""]
    if not report["findings"]:
        out += ["No rule fired.", ""]
    detail = {r["rule"]: r for r in report["rules"]}
    for f in report["findings"]:
        d = detail.get(f["check"], {})
        out += [f"### `{f['check']}` — {f['severity']} ({d.get('basis')}, confidence {f.get('confidence')})", "",
                f["message"], ""]
        if d.get("causes"):
            out.append(f"- Likely cause(s): {', '.join('`' + c + '`' for c in d['causes'])}")
        if d.get("explains"):
            out.append(f"- Explains: {', '.join('`' + c + '`' for c in d['explains'])}")
        th = ", ".join(f"{k} = {t['value']} {t['unit']} ({t['source']})" for k, t in d.get("thresholds", {}).items())
        if th:
            out.append(f"- Thresholds: {th}")
        for p in f.get("evidence", []):
            out.append(f"- Evidence: {_pointer(p)}")
        if d.get("missing_inputs"):
            out.append(f"- Missing inputs: {', '.join(d['missing_inputs'])}")
        out.append(f"- Remediation: {f.get('remediation')}")
        out.append(f"- Next: `{f.get('next_command')}`")
        out.append("")
    not_eval = [r["rule"] for r in report["rules"] if r["state"] == "not_evaluated"]
    if not_eval:
        out += ["## Rules not evaluated (none of their inputs found)", "", ", ".join(f"`{r}`" for r in not_eval), ""]
    if report["problems"]:
        out += ["## Problems reading the inputs", ""]
        for p in report["problems"][:50]:
            loc = p.get("path") or ""
            if p.get("line"):
                loc += f":{p['line']}"
            out.append(f"- {loc}: {p.get('message')}")
        out.append("")
    return "\n".join(out)


def diagnosis_text(report: Mapping[str, Any], written: list[str]) -> str:
    v = report["verdict"]
    lines = [f"InferGuard bottleneck diagnosis of {report['job_dir']}"]
    head = f"verdict: {v['status']}"
    if v.get("rule"):
        head += f" - {v['rule']} ({v['severity']}, confidence {v.get('confidence')})"
    lines += [head, f"  {v['message']}"]
    for f in report["findings"]:
        lines.append(f"  [{f['severity']:<8}] {f['check']}: {f['message']}")
    ins = report["inputs"]
    lines.append(f"inputs missing: {', '.join(ins['missing']) or 'none'}")
    if report["problems"]:
        lines.append(f"problems: {len(report['problems'])} (see the JSON)")
    for w in written:
        lines.append(f"Wrote {w}")
    return "\n".join(lines)
