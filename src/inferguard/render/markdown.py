"""Markdown renderings of reports (no status is decided here)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def coverage_markdown(report: dict[str, Any], title: str) -> str:
    det = report["detected"]
    out = [f"# {title}", "", f"Spec set {report['spec']['version']} (`{report['spec']['digest']}`)", ""]
    out.append(f"- Engines: {', '.join(det.get('engines') or ['none'])}")
    out.append(f"- LMCache mode: {det.get('lmcache_mode')}")
    out.append(f"- Connectors: {', '.join(det.get('connectors') or ['none'])}")
    if "mode_check" in report:
        mc = report["mode_check"]
        out.append(f"- Mode check: expected {mc['expected']}, detected {mc['detected']}: **{mc['result']}**")
    for rt, v in sorted((det.get("versions") or {}).items()):
        out.append(f"- Version ({rt}): {_cell(v.get('summary'))}")
    out += ["", "| Row | Surface | Status | measured | zero | registered | absent | n/a |", "|---|---|---|---|---|---|---|---|"]
    for r in report["surfaces"]:
        c = r["counts"]
        out.append(f"| `{r['id']}` | {_cell(r['surface'])} | {r['status']} | {c['measured']} | {c['present_zero']} | "
                   f"{c.get('registered_no_samples', 0)} | {c['absent']} | {c['not_applicable']} |")
    cut = [f for f in report.get("families", []) if f.get("incomplete")]
    if cut:
        out += ["", "Incomplete families (histogram or summary series cut short): "
                + ", ".join(f"`{f['id']}` ({', '.join(f['incomplete'])})" for f in cut)]
    out += ["", "## Gaps", ""]
    if not report["gaps"]:
        out.append("None.")
    for g in report["gaps"]:
        out.append(f"- `{g['row']}`: {_cell(g['item'])} is {g['status']}; next: `{g['next_command']}`")
    if "findings" in report:
        out += ["", "## Findings", ""]
        if not report["findings"]:
            out.append("None.")
        else:
            out += ["| Severity | Check | Subject | Finding |", "|---|---|---|---|"]
            for f in report["findings"]:
                out.append(f"| {f['severity']} | `{f['check']}` | {_cell(f.get('subject') or '')} | {_cell(f['message'])} |")
    out.append("")
    return "\n".join(out)
