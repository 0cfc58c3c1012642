"""Metric, family and lane status from evidence, and the ONE surface rollup."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Iterable

from inferguard.engine.vocab import (
    ABSENT, COVERED, ITEM_STATES, MEASURED, MISSING, NOT_APPLICABLE, PARTIAL, PRESENT_ZERO,
    REGISTERED_NO_SAMPLES, ZERO,
)


def metric_status(entry: dict[str, Any] | None) -> str:
    """measured: present with some non-zero value; present_zero: present, all zero;
    registered_no_samples: declared (or only a no-data sentinel), nothing observed; absent."""
    if not entry:
        return ABSENT
    if not entry.get("series"):
        return REGISTERED_NO_SAMPLES if entry.get("registered") else ABSENT
    if entry.get("nonzero"):
        return MEASURED
    if entry.get("sentinel_series") and entry.get("sentinel_series") == entry.get("series"):
        return REGISTERED_NO_SAMPLES
    return PRESENT_ZERO


def combine(statuses: Iterable[str]) -> str:
    """Family (or any group) status over its members' statuses."""
    sts = [s for s in statuses if s != NOT_APPLICABLE]
    if not sts:
        return NOT_APPLICABLE
    if MEASURED in sts:
        return MEASURED
    if PRESENT_ZERO in sts:
        return PRESENT_ZERO
    if REGISTERED_NO_SAMPLES in sts:
        return REGISTERED_NO_SAMPLES
    return ABSENT


def lane_status(lanes: dict[str, Any], lane: str, signals: list[str] | None) -> tuple[str, dict[str, int]]:
    """A lane requirement: absent without the lane; else measured when a named signal counts > 0."""
    doc = lanes.get(lane)
    if doc is None:
        return ABSENT, {}
    sig = doc.get("signals", {})
    if signals:
        seen = {s: int(sig.get(s, 0)) for s in signals}
    else:
        seen = {k: int(v) for k, v in sig.items()}
    if any(v > 0 for v in seen.values()):
        return MEASURED, seen
    return PRESENT_ZERO, seen


def rollup(item_statuses: Iterable[str]) -> str:
    """The surface status over its required items. Used by every report.

    covered: every applicable item measured; zero: every item present (with zero values or
    registered without samples), none measured; missing: every item absent; partial: anything
    in between; not_applicable: no item applies.
    """
    sts = [s for s in item_statuses if s != NOT_APPLICABLE]
    if not sts:
        return NOT_APPLICABLE
    if all(s == MEASURED for s in sts):
        return COVERED
    if all(s == ABSENT for s in sts):
        return MISSING
    if all(s in (PRESENT_ZERO, REGISTERED_NO_SAMPLES) for s in sts):
        return ZERO
    return PARTIAL


def counts(statuses: Iterable[str], states: Iterable[str] = ITEM_STATES) -> dict[str, int]:
    out = {s: 0 for s in states}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out
