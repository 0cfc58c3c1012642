"""The tool's own capability per matrix row, checklist lane states and the score.

Pure computation over facts gathered elsewhere (which readers import, which fixtures pass
and with what provenance, which commands exist and are tested). Nobody types a status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inferguard.engine.vocab import ABSENT, CAP_LIVE, CAP_MISSING, CAP_PARTIAL, CAP_SUPPORTED, MEASURED, PRESENT_ZERO

PRESENT = (MEASURED, PRESENT_ZERO)


@dataclass
class FixtureResult:
    """One fixture of one row, run through the real pipeline."""

    row: str
    path: str
    exists: bool
    origin: str | None
    expected_status: str
    got_status: str | None
    expected_items: dict[str, str] = field(default_factory=dict)
    got_items: dict[str, str] = field(default_factory=dict)
    families_present: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        if not self.exists or self.error or self.got_status != self.expected_status:
            return False
        return all(self.got_items.get(k) == v for k, v in self.expected_items.items())

    def diff(self) -> list[str]:
        if not self.exists:
            return [f"fixture {self.path} does not exist"]
        if self.error:
            return [f"error: {self.error}"]
        out = []
        if self.got_status != self.expected_status:
            out.append(f"status: expected {self.expected_status}, got {self.got_status}")
        for k, v in self.expected_items.items():
            if self.got_items.get(k) != v:
                out.append(f"item {k}: expected {v}, got {self.got_items.get(k, ABSENT)}")
        return out


def item_key(req: dict[str, Any]) -> str:
    if "family" in req:
        return req["family"]
    return f"lane:{req['lane']}" + (f":{req['name']}" if req.get("name") else "")


def row_capability(row: dict[str, Any], results: list[FixtureResult], readers: dict[str, bool]) -> dict[str, Any]:
    missing_readers = [s for s in row["sources"] if not readers.get(s, False)]
    required = [item_key(r) for r in row["requires"] if not r.get("optional")]
    passing = [r for r in results if r.passed]
    covered: set[str] = set()
    for r in passing:
        covered.update(k for k, st in r.got_items.items() if st in PRESENT)
    uncovered = [k for k in required if k not in covered]
    if missing_readers:
        status = CAP_MISSING
    elif uncovered or not passing:
        status = CAP_PARTIAL
    elif any(r.origin == "live" for r in passing):
        status = CAP_LIVE
    else:
        status = CAP_SUPPORTED
    return {
        "row": row["id"],
        "status": status,
        "missing_readers": missing_readers,
        "uncovered_items": uncovered,
        "fixtures_passing": len(passing),
        "fixtures_declared": len(row.get("fixtures", [])),
    }


def family_capability(fid: str, results: list[FixtureResult], readers: dict[str, bool]) -> str:
    passing = [r for r in results if r.passed and fid in r.families_present]
    if any(r.origin == "live" for r in passing):
        return "live_validated"
    if passing:
        return "fixture_backed"
    return "parser_only" if readers.get("prometheus") else "missing"


_ROW_TO_LANE = {CAP_MISSING: "missing", CAP_PARTIAL: "parser_only", CAP_SUPPORTED: "fixture_backed", CAP_LIVE: "live_validated"}


def checklist(spec_doc: dict[str, Any], rows: dict[str, dict[str, Any]], results: list[FixtureResult],
              readers: dict[str, bool], commands: dict[str, str], destructive_guarded: bool) -> dict[str, Any]:
    """Lane states and the score. `commands`: command -> missing|parser_only|fixture_backed."""
    credits = spec_doc["credits"]

    def item_state(item: dict[str, Any]) -> tuple[str, str]:
        if "row" in item:
            return f"row {item['row']}", _ROW_TO_LANE[rows[item["row"]]["status"]]
        if "family" in item:
            return f"family {item['family']}", family_capability(item["family"], results, readers)
        if "command" in item:
            return f"command {item['command']}", commands.get(item["command"], "missing")
        return f"http {item['http_policy']} routes", ("destructive_skipped" if destructive_guarded else "missing")

    sections = {}
    score = 0.0
    for section in ("lanes", "closeout"):
        out = []
        for lane in spec_doc[section]:
            items = [dict(zip(("item", "state"), item_state(i))) for i in lane["items"]]
            states = {i["state"] for i in items}
            state = states.pop() if len(states) == 1 else "mixed"
            credit = sum(float(credits[i["state"]]) for i in items) / len(items)
            points = float(lane["weight"]) * credit
            score += points
            out.append({"id": lane["id"], "title": lane["title"], "weight": lane["weight"], "state": state,
                        "credit": round(credit, 4), "points": round(points, 2), "items": items})
        sections[section] = out
    return {"lanes": sections["lanes"], "closeout": sections["closeout"], "score": round(score, 1)}
