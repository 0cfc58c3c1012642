"""Findings: the one model every evaluating command reports its conclusions in.

A coverage gap, a mode mismatch, a reader problem, a lint result and a diagnosis are all
findings: a check id (`namespace/name`), a severity set in the spec that declares the check,
the row or rule it concerns (`subject`), a rendered message and pointers to the evidence that
produced it (artifact, metric and series, log line numbers, trace records). `--fail-on
SEVERITY` is decided here, never in the CLI. Pure data and pure functions: no I/O.
"""
from __future__ import annotations

from collections import abc

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Iterable, Mapping

from inferguard.core.record import FrozenRecord

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


class Finding(FrozenRecord):
    """One conclusion. `evidence` holds pointers, each a small mapping such as
    {"artifact": "lmcache.prom", "metric": "...", "series": {...}, "value": 0} or
    {"artifact": "lmcache.log", "lines": [12, 40]}; `confidence` is 0..1 where the check can
    be more or less sure (missing inputs lower it), else None."""

    _fields = ("check", "severity", "message", "subject", "evidence", "confidence", "remediation", "next_command")

    def __init__(self, check: str, severity: str, message: str, subject: str | None = None,
                 evidence: tuple[Mapping[str, Any], ...] = (), confidence: float | None = None,
                 remediation: str | None = None, next_command: str | None = None) -> None:
        set_ = object.__setattr__
        set_(self, "check", check)
        set_(self, "severity", severity)
        set_(self, "message", message)
        set_(self, "subject", subject)
        set_(self, "evidence", evidence)
        set_(self, "confidence", confidence)
        set_(self, "remediation", remediation)
        set_(self, "next_command", next_command)
        severity_rank(severity)

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


# ---------------------------------------------------------------------------- checks of a report
#
# The checks are declared in the Vocabulary spec (`checks`: id, severity, from, match) and
# compiled into the registry; nothing below names a severity. `from` says which part of a
# report a check reads; `match` which of its entries the check takes.


def check_matches(check: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    """Whether `check` takes `entry`, one item of the report part its `from` names: a gap
    ({status, collected}), a mode check ({result}), a problem ({source}) or a health verdict
    ({state}). A problem check without `match` takes only problems that name it."""
    match = check.get("match")
    if not match:
        return False
    for key, field_ in (("statuses", "status"), ("results", "result"), ("states", "state")):
        if key in match and entry.get(field_) not in match[key]:
            return False
    if "collected" in match and bool(entry.get("collected")) != match["collected"]:
        return False
    if "sources" in match and "*" not in match["sources"] and entry.get("source") not in match["sources"]:
        return False
    return True


def _pick(checks: list[Mapping[str, Any]], part: str, entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in checks if c["from"] == part and check_matches(c, entry)), None)


def _named(checks: list[Mapping[str, Any]], check_id: str) -> Mapping[str, Any]:
    from inferguard.core.problems import InternalError

    c = next((c for c in checks if c["id"] == check_id and c["from"] == "problem"), None)
    if c is None:  # our code named a check the Vocabulary does not declare
        raise InternalError(f"a problem names check {check_id!r}, which is not a declared problem check")
    return c


def collect_severity(checks: list[Mapping[str, Any]], check_id: str) -> str:
    """The severity the Vocabulary sets for a check a collector reports (`from: collect`)."""
    c = next((c for c in checks if c["id"] == check_id and c["from"] == "collect"), None)
    if c is None:  # our code named a check the Vocabulary does not declare
        from inferguard.core.problems import InternalError

        raise InternalError(f"a collector names check {check_id!r}, which is not a declared collect check")
    return c["severity"]


def _pointer(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None and v != [] and v != {}}


def item_label(item: Mapping[str, Any]) -> str:
    """How a gap names a row's item (engine.coverage.gaps): the family id, or `lane X (name)`."""
    if item.get("family"):
        return item["family"]
    return f"lane {item.get('lane')}" + (f" ({item['name']})" if item.get("name") else "")


def _gap_evidence(gap: Mapping[str, Any], report: Mapping[str, Any],
                  looked_for: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """Where a gap was looked for: the family's metrics (id, exposed names, the scrape and
    line where a series was seen; for a metric not seen, the names the spec knows it by),
    or the lane's files and the signals it had."""
    paths = {s.get("role"): s.get("path") for s in report.get("inputs") or []}
    scrapes = [s.get("path") for s in report.get("inputs") or [] if s.get("reader") == "prometheus"]
    row = next((r for r in report.get("surfaces") or [] if r.get("id") == gap["row"]), None) or {}
    item = next((i for i in row.get("items") or [] if item_label(i) == gap["item"]), None)
    out: list[dict[str, Any]] = []
    if item is not None and "family" in item:
        fam = next((f for f in report.get("families") or [] if f.get("id") == item["family"]), None) or {}
        for m in fam.get("metrics") or []:
            role, _, line = str(m.get("evidence") or "").rpartition(":")
            names = list(m.get("exposed_names") or [])
            out.append(_pointer(family=item["family"], metric=m.get("id"), status=m.get("status"), names=names,
                                looked_for=None if names else list(looked_for.get(m.get("id"), [])),
                                artifact=paths.get(role) if role else None,
                                line=int(line) if line.isdigit() and role else None))
        if gap.get("collected") and not any("artifact" in p for p in out):
            out += [_pointer(family=item["family"], artifact=p, looked_in=True) for p in scrapes]
        if not out:
            out.append(_pointer(family=item["family"]))
    elif item is not None:
        files = item.get("evidence") or []
        signals = item.get("signals") or {}
        out += [_pointer(lane=item["lane"], artifact=f, signals=dict(signals)) for f in files]
        if not files:
            out.append(_pointer(lane=item["lane"], requirement=item.get("name")))
    return out


def report_findings(report: Mapping[str, Any], checks: list[Mapping[str, Any]],
                    lanes: Mapping[str, Any] | None = None,
                    looked_for: Mapping[str, list[str]] | None = None) -> list[Finding]:
    """The findings of a coverage report (observability-coverage, lmcache-compat, evaluate):
    its mode check, the LMCache health verdict of its HTTP lane (`lanes`: the evidence lanes),
    its gaps and its problems, each under the first declared check that takes it; worst first.
    `looked_for`: metric id -> the exposed names the spec knows it by (pointers for a metric
    that was not seen)."""
    out: list[Finding] = []
    scrapes = [s.get("path") for s in report.get("inputs") or [] if s.get("reader") == "prometheus"]
    mc = report.get("mode_check")
    if mc:
        c = _pick(checks, "mode_check", mc)
        if c is not None:
            ev = [_pointer(mode=mode, signal=s.get("signal"), evidence=s.get("evidence"))
                  for mode, sigs in sorted((mc.get("signals") or {}).items()) for s in sigs]
            out.append(Finding(c["id"], c["severity"],
                               f"expected LMCache mode {mc['expected']}, detected {mc['detected']} ({mc['result']})",
                               subject="mode_check",
                               evidence=tuple(ev or [_pointer(detected=mc["detected"], artifact=p, looked_in=True)
                                                     for p in scrapes] or [_pointer(detected=mc["detected"])])))
    for src in ((lanes or {}).get("lmcache_http") or {}).get("sources") or []:
        health = (src.get("summary") or {}).get("health")
        if not isinstance(health, abc.Mapping):
            continue
        c = _pick(checks, "lmcache_health", health)
        if c is not None:
            reasons = list(health.get("reasons") or ([health["reason"]] if health.get("reason") else []))
            out.append(Finding(c["id"], c["severity"], f"LMCache server {health['state']}"
                               + (f": {'; '.join(reasons)}" if reasons else ""), subject="lmcache_http",
                               evidence=(_pointer(lane="lmcache_http", artifact=src.get("path"), route=health.get("route"),
                                                  basis=health.get("from"), reasons=reasons),)))
    for gap in report.get("gaps") or []:
        c = _pick(checks, "gap", gap)
        if c is None:
            continue
        out.append(Finding(c["id"], c["severity"], f"{gap['item']} is {gap['status']}: {gap.get('why')}",
                           subject=gap["row"], evidence=tuple(_gap_evidence(gap, report, looked_for or {})),
                           next_command=gap.get("next_command")))
    for p in report.get("problems") or []:
        c = _named(checks, p["check"]) if p.get("check") else _pick(checks, "problem", p)
        if c is None:
            continue
        out.append(Finding(c["id"], c["severity"], str(p.get("message")), subject=p.get("source"),
                           evidence=(_pointer(artifact=p.get("path"), line=p.get("line"), offset=p.get("offset")),)))
    return sorted(out, key=lambda f: -severity_rank(f.severity))


# ---------------------------------------------------------------------------- --fail-on


def fail_on_choices(aliases: list[Mapping[str, Any]], command: str) -> list[str]:
    """What `--fail-on` of `command` accepts: never, each severity, the aliases it offers."""
    return list(FAIL_ON_CHOICES) + [a["id"] for a in aliases if command in a.get("commands", ())]


def fails(fail_on: str, findings: Iterable[Finding | Mapping[str, Any]], aliases: list[Mapping[str, Any]]) -> bool:
    """Whether a command exits 1 under `--fail-on fail_on`: a severity floor (`never`: no
    floor), or an alias of the Vocabulary, a selection of checks whatever their severity."""
    if fail_on in FAIL_ON_CHOICES:
        return fails_on(findings, fail_on)
    alias = next((a for a in aliases if a["id"] == fail_on), None)
    if alias is None:  # click offers only declared ids
        from inferguard.core.problems import InternalError

        raise InternalError(f"--fail-on {fail_on!r} is neither a severity nor a declared alias")
    selected = set(alias["checks"])
    return any((f.check if isinstance(f, Finding) else f["check"]) in selected for f in findings)
