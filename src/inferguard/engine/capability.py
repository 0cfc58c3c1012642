"""The tool's own capability per matrix row, checklist lane states and the score.

Pure computation over facts gathered elsewhere (which readers import, which fixtures pass
and with what provenance, which commands exist and are tested). Nobody types a status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inferguard.engine.vocab import (
    ABSENT, CAP_LIVE, CAP_MISSING, CAP_PARTIAL, CAP_SUPPORTED, MEASURED, NOT_APPLICABLE, PRESENT_ZERO,
)

PRESENT = (MEASURED, PRESENT_ZERO)
REAL_ORIGINS = ("live", "real_capture", "derived")


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
    families_measured: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def real(self) -> bool:
        """Captured from a running system (live, a real capture, or derived from one)."""
        return self.origin in REAL_ORIGINS

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


def row_capability(row: dict[str, Any], results: list[FixtureResult], readers: dict[str, bool],
                   live_replayed: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """`supported` only when passing fixtures captured from real systems show every required
    item measured (non-zero): an all-zero capture proves parsing, not behaviour, and a
    synthetic fixture proves the reader, not a deployment; either leaves the row `partial`.
    `live_validated` needs more than a live capture: the fixture must also be in
    `live_replayed`, the live fixtures whose replay passed every command the Checklist's
    `live_validation` declares (flow/replay.py)."""
    missing_readers = [s for s in row["sources"] if not readers.get(s, False)]
    required = [item_key(r) for r in row["requires"] if not r.get("optional")]
    passing = [r for r in results if r.passed]
    real = [r for r in passing if r.real]
    proven: set[str] = set()          # measured in a real passing fixture
    measured_any: set[str] = set()    # measured in any passing fixture
    present: set[str] = set()         # present (zero or not) in any passing fixture
    for r in passing:
        for k, st in r.got_items.items():
            if st in PRESENT:
                present.add(k)
            if st == MEASURED:
                measured_any.add(k)
                if r.real:
                    proven.add(k)
    uncovered = [k for k in required if k not in present]
    zero_only = [k for k in required if k in present and k not in measured_any]
    synthetic_only = [k for k in required if k in measured_any and k not in proven]
    if missing_readers:
        status = CAP_MISSING
    elif uncovered or zero_only or synthetic_only or not real:
        status = CAP_PARTIAL
    elif any(r.origin == "live" and r.path in live_replayed
             and all(r.got_items.get(k) in (MEASURED, NOT_APPLICABLE) for k in required)
             and any(r.got_items.get(k) == MEASURED for k in required) for r in real):
        status = CAP_LIVE
    else:
        status = CAP_SUPPORTED
    live_fixtures = sorted({r.path for r in real if r.origin == "live"})
    return {
        "row": row["id"],
        "status": status,
        "missing_readers": missing_readers,
        "uncovered_items": uncovered,
        "zero_only_items": zero_only,
        "synthetic_only_items": synthetic_only,
        "fixtures_passing": len(passing),
        "fixtures_passing_real": len(real),
        "fixtures_declared": len(row.get("fixtures", [])),
        "live_fixtures": live_fixtures,
        "live_fixtures_not_replayed": [p for p in live_fixtures if p not in live_replayed],
    }


def family_capability(fid: str, results: list[FixtureResult], readers: dict[str, bool],
                      live_replayed: set[str] | frozenset[str] = frozenset()) -> str:
    """Measured (non-zero) in a passing real fixture: fixture_backed (live_validated when live
    and its replay passed every declared command, see row_capability); measured only in
    synthetic fixtures: synthetic_backed (less credit); present only at zero, or nowhere:
    parser_only when the Prometheus reader exists."""
    measured = [r for r in results if r.passed and fid in r.families_measured]
    if any(r.origin == "live" and r.path in live_replayed for r in measured):
        return "live_validated"
    if any(r.real for r in measured):
        return "fixture_backed"
    if measured:
        return "synthetic_backed"
    return "parser_only" if readers.get("prometheus") else "missing"


_ROW_TO_LANE = {CAP_MISSING: "missing", CAP_PARTIAL: "parser_only", CAP_SUPPORTED: "fixture_backed", CAP_LIVE: "live_validated"}


def checklist(spec_doc: dict[str, Any], rows: dict[str, dict[str, Any]], results: list[FixtureResult],
              readers: dict[str, bool], commands: dict[str, str], destructive_guarded: bool,
              live_replayed: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Lane states and the score. `commands`: command -> missing|parser_only|fixture_backed."""
    credits = spec_doc["credits"]

    def item_state(item: dict[str, Any]) -> tuple[str, str]:
        if "row" in item:
            cap = rows[item["row"]]
            if (cap["status"] == CAP_PARTIAL and cap.get("synthetic_only_items") and not cap["uncovered_items"]
                    and not cap.get("zero_only_items") and not cap["missing_readers"]):
                return f"row {item['row']}", "synthetic_backed"
            return f"row {item['row']}", _ROW_TO_LANE[cap["status"]]
        if "family" in item:
            return f"family {item['family']}", family_capability(item["family"], results, readers, live_replayed)
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
