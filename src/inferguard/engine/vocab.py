"""The vocabularies, defined once."""
from __future__ import annotations

# A metric or family in a packet.
MEASURED = "measured"
PRESENT_ZERO = "present_zero"
# Registered, nothing observed: HELP/TYPE lines without a sample, or only the value the spec
# declares as the runtime's "no data yet" sentinel. Neither measured nor absent.
REGISTERED_NO_SAMPLES = "registered_no_samples"
ABSENT = "absent"
NOT_APPLICABLE = "not_applicable"
ITEM_STATES = (MEASURED, PRESENT_ZERO, REGISTERED_NO_SAMPLES, ABSENT, NOT_APPLICABLE)

# One sentence per item state, for reports and the generated docs.
ITEM_STATE_MEANINGS = {
    MEASURED: "present, some non-zero value",
    PRESENT_ZERO: "present, every value zero",
    REGISTERED_NO_SAMPLES: "HELP/TYPE lines without a sample, or only a no-data sentinel such as vLLM V0's -1 hit rate: registered, nothing observed",
    ABSENT: "not in the evidence that was read",
    NOT_APPLICABLE: "does not apply to this deployment",
}

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
