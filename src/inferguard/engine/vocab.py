"""The vocabularies, defined once."""
from __future__ import annotations

# A metric or family in a packet.
MEASURED = "measured"
PRESENT_ZERO = "present_zero"
ABSENT = "absent"
NOT_APPLICABLE = "not_applicable"
ITEM_STATES = (MEASURED, PRESENT_ZERO, ABSENT, NOT_APPLICABLE)

# A surface (coverage-matrix row) in a packet.
COVERED = "covered"
PARTIAL = "partial"
ZERO = "zero"
MISSING = "missing"
SURFACE_STATES = (COVERED, PARTIAL, ZERO, MISSING, NOT_APPLICABLE)

# The tool's own capability per matrix row (computed, never typed).
CAP_MISSING = "missing"
CAP_PARTIAL = "partial"
CAP_SUPPORTED = "supported"
CAP_LIVE = "live_validated"
CAPABILITY_STATES = (CAP_MISSING, CAP_PARTIAL, CAP_SUPPORTED, CAP_LIVE)

# Checklist lane states.
LANE_STATES = ("missing", "parser_only", "synthetic_backed", "fixture_backed", "live_validated", "destructive_skipped", "mixed")

# Finding severities, lowest first.
SEVERITIES = ("info", "warning", "error", "critical")


def severity_at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor)
