"""Findings: the one model every evaluating command reports its conclusions in.

A coverage gap, a mode mismatch, a reader problem, a lint result and a diagnosis are all
findings: a check id (`namespace/name`), a severity set in the spec that declares the check,
the row or rule it concerns (`subject`), a rendered message and pointers to the evidence that
produced it (artifact, metric and series, log line numbers, trace records). `--fail-on
SEVERITY` is decided here, never in the CLI. Pure data and pure functions: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

# Ordered from least to most severe; `--fail-on never` is the absence of a threshold.
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
FAIL_ON_CHOICES: tuple[str, ...] = ("never",) + SEVERITIES


def severity_rank(severity: str) -> int:
    """The position of `severity` in SEVERITIES; a severity nobody declared is our defect."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        from inferguard.core.problems import InternalError

        raise InternalError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})") from None


@dataclass(frozen=True)
class Finding:
    """One conclusion. `evidence` holds pointers, each a small mapping such as
    {"artifact": "lmcache.prom", "metric": "...", "series": {...}, "value": 0} or
    {"artifact": "lmcache.log", "lines": [12, 40]}; `confidence` is 0..1 where the check can
    be more or less sure (missing inputs lower it), else None."""

    check: str
    severity: str
    message: str
    subject: str | None = None
    evidence: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    confidence: float | None = None
    remediation: str | None = None
    next_command: str | None = None

    def __post_init__(self) -> None:
        severity_rank(self.severity)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "severity": self.severity, "message": self.message}
        if self.subject is not None:
            out["subject"] = self.subject
        out["evidence"] = [dict(e) for e in self.evidence]
        for key in ("confidence", "remediation", "next_command"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def at_or_above(findings: Iterable[Finding | Mapping[str, Any]], threshold: str) -> list:
    """The findings whose severity is `threshold` or worse; none for `never`."""
    if threshold == "never":
        return []
    floor = severity_rank(threshold)
    return [f for f in findings if severity_rank(_severity(f)) >= floor]


def fails_on(findings: Iterable[Finding | Mapping[str, Any]], threshold: str) -> bool:
    """Whether a command exits 1 under `--fail-on threshold`."""
    return bool(at_or_above(findings, threshold))


def worst(findings: Iterable[Finding | Mapping[str, Any]]) -> str | None:
    """The most severe severity among `findings`, None when there are none."""
    ranks = [severity_rank(_severity(f)) for f in findings]
    return SEVERITIES[max(ranks)] if ranks else None


def _severity(f: Finding | Mapping[str, Any]) -> str:
    return f.severity if isinstance(f, Finding) else f["severity"]
