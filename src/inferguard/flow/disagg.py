"""The pipeline behind `inferguard disagg status`: scrape the roles (concurrently, once or over
a short window), read each scrape into evidence, detect the engine, version and connector of
each role, and hand everything to the engine for the quantities and findings."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import IO, Any

from inferguard.evidence import add_exposition, new_evidence, tool_info

DEFAULT_MAX_SCRAPE_BYTES = 256 * 1024 * 1024
MAX_PROBLEMS_KEPT = 20


@dataclass
class DisaggInputs:
    urls: dict[str, str]                          # role -> /metrics URL
    engine: str = "auto"                          # auto | vllm | sglang
    timeout_seconds: float = 5.0
    duration_seconds: float = 0.0
    interval_seconds: float | None = None
    max_scrape_bytes: int = DEFAULT_MAX_SCRAPE_BYTES
    threshold_overrides: list[str] = field(default_factory=list)


def _read_scrape(spec, cat, namespaces, role: str, resp, body: IO[bytes] | None) -> dict[str, Any]:
    """One scrape of one role: what the transport said and, for a 2xx answer, its evidence."""
    from inferguard.collect.http import charset_of
    from inferguard.engine.disagg import DOWN, HTTP_ERROR, UNREADABLE, UP
    from inferguard.engine.detect import detect
    from inferguard.readers import prometheus

    out: dict[str, Any] = {"http_status": resp.status, "error": resp.error, "bytes": resp.nbytes,
                           "elapsed_ms": round(resp.elapsed_ms, 1), "problems": [], "samples": 0}
    if resp.error is not None or resp.status is None:
        out["state"] = DOWN
        out["error"] = resp.error or "no HTTP answer"
        return out
    if not 200 <= resp.status < 300:
        out["state"] = HTTP_ERROR
        return out
    lookup = lambda n: (cat.lookup(n) or (None,))[0]  # noqa: E731
    text = io.TextIOWrapper(body, encoding=charset_of(resp.content_type), errors="replace", newline=None)
    try:
        cut = resp.cut
        if resp.truncated:
            cut = f"the scrape is larger than --max-scrape-bytes; only the first {resp.nbytes} bytes were read"
        expo, result = prometheus.read(resp.url, lookup, lines=text, cut=cut)
    finally:
        text.detach()
    evidence = new_evidence(spec, {})
    add_exposition(evidence, expo, result, cat, role, namespaces)
    out["samples"] = expo.samples
    out["problems"] = evidence["problems"][:MAX_PROBLEMS_KEPT]
    out["problems_total"] = len(evidence["problems"]) + result.problems_dropped
    if expo.samples == 0 and not expo.declared:
        out["state"] = UNREADABLE
        return out
    out["state"] = UP
    out["detected"] = detect(evidence, spec)
    out["metrics"] = evidence["metrics"]
    return out


def _runtime_of(engine: str, detected: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """The runtime whose quantities are read: --engine when given, else the one engine detected
    (vLLM or SGLang) over the role's scrapes; and every engine detected."""
    seen: list[str] = []
    for d in detected:
        for e in d.get("engines", []):
            if e not in seen:
                seen.append(e)
    if engine != "auto":
        return engine, seen
    engines = [e for e in seen if e in ("vllm", "sglang")]
    return (engines[0] if len(engines) == 1 else None), seen


def disagg_status(inputs: DisaggInputs, spec) -> dict[str, Any]:
    from inferguard.collect.roles import scrape_rounds
    from inferguard.engine import disagg as eng
    from inferguard.spec.metrics import catalog

    doc = eng.disagg_doc(spec)
    th = eng.thresholds(doc, inputs.threshold_overrides)
    cat = catalog(spec)
    namespaces = [ns for d in spec.docs("Detection") for ns in d.get("namespaces", [])]
    rounds = scrape_rounds(
        inputs.urls, timeout_seconds=inputs.timeout_seconds, duration_seconds=inputs.duration_seconds,
        interval_seconds=inputs.interval_seconds, max_bytes=inputs.max_scrape_bytes,
        consume=lambda role, resp, body: _read_scrape(spec, cat, namespaces, role, resp, body))
    required = {r["id"]: r["required"] for r in doc["roles"]}
    titles = {r["id"]: r["title"] for r in doc["roles"]}
    roles: list[dict[str, Any]] = []
    for role, url in inputs.urls.items():
        scrapes = []
        for rnd in rounds:
            s = dict(rnd["results"][role])
            s["at"] = rnd["at"]
            scrapes.append(s)
        good = [s for s in scrapes if s["state"] == eng.UP]
        runtime, seen = _runtime_of(inputs.engine, [s["detected"] for s in good])
        for s in good:
            metrics = s.pop("metrics")
            s["quantities"] = eng.read_quantities(metrics, runtime, doc, cat)
            s["role_label"] = eng.role_label(metrics, runtime, doc)
        last = good[-1]["detected"] if good else None
        r = {
            "role": role, "title": titles[role], "url": url, "required": required[role],
            "engine": runtime, "engines_detected": seen,
            "engine_evidence": [f"{sig['signal']}: {sig['evidence']}" for sig in
                                (last or {}).get("engine_signals", {}).get(runtime or "", [])][:3],
            "scrapes": scrapes,
        }
        if last is not None:
            v = (last.get("versions") or {}).get(runtime or "") or {}
            r["version"] = {k: v.get(k) for k in ("verdict", "releases", "summary")} if v else None
            r["connectors"] = last.get("connectors", [])
            r["connector_evidence"] = [f"{c}: {sig['signal']}: {sig['evidence']}"
                                       for c, sigs in last.get("connector_signals", {}).items() for sig in sigs][:3]
            r["lmcache_mode"] = last.get("lmcache_mode")
        roles.append(r)
    window = None
    if len(rounds) > 1:
        window = round(rounds[-1]["at"] - rounds[0]["at"], 3)
    for r in roles:
        r["view"] = eng.role_view(r, doc, window)
    findings = eng.judge(roles, doc, th, expected_engine=None if inputs.engine == "auto" else inputs.engine,
                         window_seconds=window)
    notes = doc.get("connector_notes") or {}
    out_roles = []
    for r in roles:
        state = _role_state(r["scrapes"], eng)
        out_roles.append({
            "role": r["role"], "title": r["title"], "url": r["url"], "required": r["required"], "state": state,
            "engine": r["engine"], "engines_detected": r["engines_detected"], "engine_evidence": r["engine_evidence"],
            "version": r.get("version"), "connectors": r.get("connectors", []),
            "connector_evidence": r.get("connector_evidence", []),
            "connector_note": notes.get(r["engine"] or "") if not r.get("connectors") else None,
            "lmcache_mode": r.get("lmcache_mode"),
            "role_label": next((s["role_label"] for s in reversed(r["scrapes"]) if s.get("role_label")), None),
            "quantities": r["view"],
            "scrapes": [{k: s.get(k) for k in ("at", "state", "http_status", "error", "bytes", "elapsed_ms", "samples",
                                               "problems", "problems_total") if k in s} for s in r["scrapes"]],
        })
    from inferguard.readers.base import json_safe

    report = {
        "apiVersion": "inferguard.dev/v1",
        "kind": "DisaggStatusReport",
        "tool": tool_info(),
        "spec": {"version": spec.version, "digest": spec.digest},
        "options": {"engine": inputs.engine, "timeout_seconds": inputs.timeout_seconds,
                    "duration_seconds": inputs.duration_seconds, "interval_seconds": inputs.interval_seconds},
        "window": {"scrapes": len(rounds), "seconds": window,
                   "basis": "window" if window is not None else "single scrape"},
        "thresholds": th,
        "roles": out_roles,
        "findings": findings,
        "severity_counts": eng.severity_counts(findings),
        "exit_code": eng.exit_code(findings),
    }
    return json_safe(report)


def _role_state(scrapes: list[dict[str, Any]], eng) -> str:
    states = {s["state"] for s in scrapes}
    if states == {eng.UP}:
        return "up"
    if eng.UP in states:
        return "intermittent"
    if states == {eng.UNREADABLE}:
        return "unreadable"
    return "down"
