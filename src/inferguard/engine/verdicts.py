"""Verdicts: from the facts readers report to healthy/unhealthy, consistent/inconsistent,
match/mismatch. (Findings and the --fail-on decision: engine/findings.py.)

Readers say what they saw (what a health body said and with which HTTP status, how many
disagreements each replay view has with the authoritative one); the rules that turn those
facts into a verdict are here, with their tables in the specs: the `health` section of the
HttpEndpoints spec and the `satisfies` of each LMCache mode in the Vocabulary. Pure
functions over plain data: no I/O.

`judge` is applied to every reader result right after the read, wherever a reader is called
(the coverage flow, collect-lmcache), so the verdicts land in the lane evidence exactly where
the readers used to put them.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Iterable, Mapping

# ---------------------------------------------------------------------------- applying them


def judge(result: Any, specs: Any = None) -> Any:
    """Write the verdicts that `result` (a reader's ReadResult) calls for into its summary and
    signals, from the facts the reader reported; return it. A result of a reader with no
    verdict is returned as it is. `specs`: the spec set (or documents) whose tables apply,
    the bundled one when None."""
    if result.reader == "lmcache_http":
        from inferguard.spec.kinds.http_endpoints import load_index

        summary = result.summary
        status = summary.get("status")
        if status is not None and status_unhealthy(status):
            result.bump("status_unhealthy")
        health, signals = lmcache_health(result.facts.get("healthchecks") or [], status or {},
                                         summary.get("periodic_threads_health") or {}, load_index(specs).health)
        for sig, n in signals.items():
            result.bump(sig, n)
        summary["health"] = health
    elif result.reader == "lmcache_trace_replay" and "cross_checks" in result.summary:
        replay_cross_checks(result.summary["cross_checks"])
    return result


# ---------------------------------------------------------------------------- LMCache health


def healthcheck_state(fact: Mapping[str, Any], rules: Mapping[str, Any]) -> dict[str, Any]:
    """One healthcheck answer: the state its body's `status` maps to (spec `health.said`),
    unhealthy whatever it said when the HTTP status is one of `health.unhealthy_http_status`."""
    out: dict[str, Any] = {"state": (rules.get("said") or {}).get(fact.get("said"), "unknown")}
    if fact.get("reason") is not None:
        out["reason"] = fact["reason"]
    if fact.get("http_status") in (rules.get("unhealthy_http_status") or ()):
        out["state"] = "unhealthy"
    out["route"] = fact.get("route")
    return out


def status_unhealthy(status: Mapping[str, Any]) -> bool:
    """A /status body reports itself or one of its components unhealthy."""
    return status.get("is_healthy") is False or bool(status.get("unhealthy_components"))


def lmcache_health(healthchecks: list[Mapping[str, Any]], status: Mapping[str, Any],
                   periodic: Mapping[str, Any], rules: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """The server's health from the last healthcheck answer, the /status summary and the
    /periodic-threads-health summary; and the lane signals it sets (health_ok or
    health_unhealthy, the other one 0), none when there was nothing to judge from.

    Any unhealthy report wins (each becomes a reason); without a healthcheck answer, a
    /status that says is_healthy=true makes it healthy (`from: status`)."""
    health: dict[str, Any] = {"state": "unknown"}
    if healthchecks:
        health.update(healthcheck_state(healthchecks[-1], rules))
    reasons = []
    if health["state"] == "unhealthy":
        reasons.append(health.get("reason") or "healthcheck reports unhealthy")
    if status.get("is_healthy") is False:
        reasons.append("status is_healthy=false")
    if periodic.get("healthy") is False:
        reasons.append(f"{periodic.get('unhealthy_count', '?')} periodic thread(s) unhealthy")
    if health["state"] == "unknown" and status.get("is_healthy") is True and not reasons:
        health["state"] = "healthy"
        health["from"] = "status"
    if reasons:
        health["state"] = "unhealthy"
        health["reasons"] = reasons
        health.pop("reason", None)
    signals: dict[str, int] = {}
    if healthchecks or status or periodic:
        if health["state"] == "healthy":
            signals = {"health_ok": 1, "health_unhealthy": 0}
        elif health["state"] == "unhealthy":
            signals = {"health_unhealthy": 1, "health_ok": 0}
    return health, signals


# ---------------------------------------------------------------------------- trace replay


def replay_agrees(disagreements: int) -> bool:
    """A replay view (or recording) is consistent with the authoritative one when the reader
    found no disagreement at all: counts are exact, and the mean tolerances the reader applies
    are the print precision of each format, not a margin."""
    return disagreements == 0


def replay_cross_checks(checks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each cross-check of the reader with its verdict (`agrees`) filled in."""
    out = []
    for c in checks:
        c["agrees"] = replay_agrees(c["disagreements"])
        out.append(c)
    return out


# ---------------------------------------------------------------------------- LMCache mode


def mode_check(expected: str, detected: str, signals: Any, modes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Whether the detected LMCache mode is the expected one. Each mode of the Vocabulary lists
    the expectations it `satisfies` (`both` satisfies mp and embedded; any mode but `none`
    satisfies auto). With `auto` the result is detected | no_lmcache, else match | mismatch."""
    mode = next((m for m in modes if m.get("id") == detected), None)
    ok = expected in ((mode or {}).get("satisfies") or ())
    if expected == "auto":
        result = "detected" if ok else "no_lmcache"
    else:
        result = "match" if ok else "mismatch"
    return {"expected": expected, "detected": detected, "result": result, "signals": signals}
