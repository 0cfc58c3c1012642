"""`inferguard diagnose-bottleneck`: read a job directory (a packet or a collect-metrics
output), build the Evidence, hand its diagnosis view to the engine, write
bottleneck_diagnosis.json and bottleneck_diagnosis.md. Also runs the DiagnosisRules tests
(inline cases and fixture folders) for `specs test`."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from inferguard.core.problems import InputError

REPORT_JSON = "bottleneck_diagnosis.json"
REPORT_MD = "bottleneck_diagnosis.md"
WINDOW_SUMMARY = "metrics_summary.json"   # written by collect-metrics


def _window(job_dir: str, problems: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The per-metric window of a collect-metrics output (metrics_summary.json, kind
    MetricsWindowSummary), or None. Each metric's `window` gives, for a counter, its delta and
    rate; for a histogram, its count delta and quantiles (p50, p95, ...); for a gauge, its
    min, max, last and quantiles. A summary that cannot be read, or that holds no per-metric
    window, is a problem of the run: the snapshot values are used and the report says so."""
    import re

    path = Path(job_dir) / WINDOW_SUMMARY
    if not path.is_file():
        return None
    from inferguard.flow.window import load_summary

    try:
        doc, _ = load_summary(job_dir)
    except InputError as exc:
        problems.append({"source": "metrics_summary", "path": str(path), "message": f"not used: {exc}"})
        return None
    metrics = doc.get("metrics") if isinstance(doc, dict) else None
    if not isinstance(metrics, dict):
        problems.append({"source": "metrics_summary", "path": str(path),
                         "message": "not used: no `metrics` mapping of metric id to its window values"})
        return None
    per: dict[str, Any] = {}
    seconds = None
    for key, entry in metrics.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("window"), dict):
            continue
        w = entry["window"]
        # keyed by metric id, or target/metric id when several targets expose one metric
        mid = entry["metric"] if isinstance(entry.get("metric"), str) else key
        delta = w.get("delta", w.get("count_delta"))
        quantiles = {k: v for k, v in w.items() if re.fullmatch(r"p[0-9]+", k)} or None
        got = {"delta": delta, "rate": w.get("rate"), "quantiles": quantiles, "window": dict(w),
               "type": entry.get("type"), "last": w.get("last"), "role": entry.get("role")}
        if mid in per:  # a second target: counters add up, the rest is kept per target only
            prev = per[mid]
            for k in ("delta", "rate"):
                if isinstance(prev.get(k), (int, float)) and isinstance(got.get(k), (int, float)):
                    prev[k] = prev[k] + got[k]
            continue
        per[mid] = got
        if isinstance(w.get("seconds"), (int, float)):
            seconds = w["seconds"] if seconds is None else max(seconds, w["seconds"])
    if not per:
        problems.append({"source": "metrics_summary", "path": str(path),
                         "message": "not used: no metric in it carries a window"})
        return None
    schedule = doc.get("schedule") if isinstance(doc.get("schedule"), dict) else {}
    if seconds is None and isinstance(schedule.get("duration_seconds"), (int, float)):
        seconds = schedule["duration_seconds"]
    return {"metrics": per, "seconds": seconds, "source": str(path)}


def job_evidence(job_dir: str, spec, context_overrides: Mapping[str, Any] | None = None):
    """(evidence, roles, window) of a job directory; nothing in it is required."""
    from inferguard.flow.coverage import build_evidence
    from inferguard.flow.packet import packet_inputs

    inputs, roles, _manifest, packet_problems = packet_inputs(job_dir, spec, dict(context_overrides or {}) or None,
                                                              window=False)
    evidence = build_evidence(inputs, spec)
    evidence["problems"][:0] = packet_problems
    window = _window(job_dir, evidence["problems"])
    return evidence, roles, window


def diagnose_job(job_dir: str, spec, overrides: Mapping[str, Any] | None = None,
                 context_overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    from inferguard.engine.coverage import derived_values
    from inferguard.engine.diagnosis import diagnose, diagnosis_view, severity_counts
    from inferguard.evidence import tool_info
    from inferguard.flow.coverage import LANES

    evidence, roles, window = job_evidence(job_dir, spec, context_overrides)
    view = diagnosis_view(evidence, derived_values(evidence, spec), LANES, window)
    result = diagnose(view, spec, overrides)
    missing = sorted(k for k, present in view["inputs"].items() if not present)
    from inferguard.packet import json_safe

    return json_safe({
        "apiVersion": "inferguard.dev/v1",
        "kind": "BottleneckDiagnosis",
        "tool": tool_info(),
        "spec": {"version": spec.version, "digest": spec.digest},
        "job_dir": job_dir,
        "basis": view["basis"],
        "basis_note": ("values are deltas and rates over the collect-metrics window" if window else
                       "one snapshot: counter values are cumulative since each process started"),
        "inputs": {"present": sorted(k for k, p in view["inputs"].items() if p), "missing": missing,
                   "files": {r: [os.path.basename(f) for f in fs] for r, fs in sorted(roles.items())}},
        "context": evidence["context"],
        "detected": view["detected"],
        "verdict": result["verdict"],
        "findings": result["findings"],
        "severity_counts": severity_counts(result["findings"]),
        "rules": result["rules"],
        "problems": evidence["problems"],
    })


# --------------------------------------------------------------------------- rule config


def read_rule_config(path: str) -> dict[str, Any]:
    """--rule-config: YAML `{thresholds: {rule id: {name: value}}}`. InputError (exit 2) on
    anything else, naming the file and line."""
    import yaml

    from inferguard.core.filecheck import require_input
    from inferguard.spec.yamlload import load_all

    require_input(path)
    raw = Path(path).read_bytes()
    if len(raw) > 1 << 20:
        raise InputError("larger than 1 MiB; not a rule config", path)
    try:
        docs = load_all(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("not UTF-8", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', None) or str(exc).splitlines()[0]}", path,
                         (mark.line + 1) if mark else None) from None
    doc = docs[0] if docs else None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or set(doc) - {"thresholds"}:
        raise InputError("expected a mapping with one key, `thresholds: {rule id: {threshold: value}}`", path,
                         getattr(doc, "line", None))
    th = doc.get("thresholds") or {}
    if not isinstance(th, dict):
        raise InputError("`thresholds` must map rule ids to {threshold: value}", path, getattr(th, "line", None))
    return th


def override_line(config: Any, where: tuple[str, ...]) -> int | None:
    """The line of an override in the loaded (marked) rule config."""
    from inferguard.spec.marked import locate

    line, _col = locate(config, list(where))
    return line


# --------------------------------------------------------------------------- spec tests


@dataclass
class DiagnosisTestResult:
    row: str            # the rule id (or the fixture folder's rules), as `specs test` prints it
    name: str
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    kind: str = "inline"

    @property
    def path(self) -> str:
        return f"(inline) {self.name}" if self.kind == "inline" else self.name

    @property
    def passed(self) -> bool:
        return not self.failures and not self.error

    def diff(self) -> list[str]:
        return [f"error: {self.error}"] if self.error else list(self.failures)


def write_case(case: Mapping[str, Any], folder: Path, spec=None) -> None:
    """An inline case's files written as a packet folder; its `scrapes` (exposition texts in
    time order per target) go through collect-metrics' offline run into the same folder, so
    a window case is judged from the summary collect-metrics itself writes."""
    for name, text in (case.get("files") or {}).items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    if case.get("scrapes"):
        _window_of_scrapes(case["scrapes"], folder, spec)
    if case.get("context"):
        import json

        (folder / "context.json").write_text(json.dumps(case["context"]), encoding="utf-8")


def _window_of_scrapes(scrapes: Mapping[str, Any], folder: Path, spec) -> None:
    from inferguard.collect.metrics import RunOptions, TargetSpec, run_offline

    if spec is None:
        from inferguard.spec import default_specs

        spec = default_specs()
    with tempfile.TemporaryDirectory(prefix="inferguard-scrapes-") as tmp:
        targets = []
        for who in ("engine", "lmcache"):
            texts = scrapes.get(who) or []
            files = []
            for i, text in enumerate(texts):
                p = Path(tmp) / f"{who}-{i}.prom"
                p.write_text(text, encoding="utf-8")
                files.append((str(p), None))
            if files:
                role = "lmcache_metrics" if who == "lmcache" else "engine_metrics"
                targets.append(TargetSpec(who, role, files=files))
        opts = RunOptions(output_dir=str(folder), interval_seconds=float(scrapes.get("interval_seconds", 10)),
                          context={"expected_engine": "auto"}, force=True)
        run_offline(targets, opts, spec)


def check_case(rule_id: str, case: Mapping[str, Any], report: Mapping[str, Any]) -> list[str]:
    exp = case["expect"]
    got = next((f for f in report["findings"] if f["check"] == rule_id), None)
    fails: list[str] = []
    if exp["fires"] and got is None:
        state = next((r["state"] for r in report["rules"] if r["rule"] == rule_id), "unknown")
        fails.append(f"expected {rule_id} to fire; it is {state}")
    if not exp["fires"] and got is not None:
        fails.append(f"expected {rule_id} to stay silent; it fired: {got['message']}")
    if got is not None:
        for text in exp.get("message_contains", []):
            if text not in got["message"]:
                fails.append(f"message does not contain {text!r}: {got['message']}")
        named = next((r.get("causes", []) for r in report["rules"] if r["rule"] == rule_id), [])
        for c in exp.get("causes", []):
            if c not in named:
                fails.append(f"cause {c} not named (causes: {named})")
    return fails


def run_diagnosis_tests(spec, root: Path | None, only: set[str] | None = None) -> list[DiagnosisTestResult]:
    """Every inline case of every rule (written as a packet, diagnosed as the command does)
    and every fixture folder of the DiagnosisRules documents (with root)."""
    from inferguard.engine.diagnosis import OverrideError, rules_of

    results: list[DiagnosisTestResult] = []
    for rule in rules_of(spec):
        if only and rule.id not in only:
            continue
        for case in rule.tests:
            res = DiagnosisTestResult(rule.id, case["name"])
            with tempfile.TemporaryDirectory(prefix="inferguard-diagtest-") as tmp:
                write_case(case, Path(tmp), spec)
                try:
                    rep = diagnose_job(tmp, spec, case.get("rule_config"))
                except (InputError, OverrideError) as exc:
                    res.error = str(exc).replace(tmp, "<case>")
                else:
                    res.failures = check_case(rule.id, case, rep)
            results.append(res)
    if root is None:
        return results
    for doc in spec.docs("DiagnosisRules"):
        for fx in doc.get("fixtures", []):
            wanted = set(fx.get("fires", [])) | set(fx.get("silent", []))
            if only and not (wanted & only):
                continue
            res = DiagnosisTestResult("diagnosis fixture", fx["path"], kind="fixture")
            d = root / fx["path"]
            if not d.is_dir():
                res.error = "fixture folder missing"
                results.append(res)
                continue
            try:
                rep = diagnose_job(str(d), spec)
            except InputError as exc:
                res.error = str(exc)
                results.append(res)
                continue
            fired = {f["check"]: f for f in rep["findings"]}
            detail = {r["rule"]: r for r in rep["rules"]}
            from inferguard.engine.findings import severity_rank

            for rid in fx.get("fires", []):
                if rid not in fired:
                    res.failures.append(f"expected {rid} to fire; it did not")
            for rid in fx.get("silent", []):
                if rid in fired:
                    res.failures.append(f"expected {rid} to stay silent; it fired: {fired[rid]['message']}")
            for rid, causes in (fx.get("causes") or {}).items():
                named = detail.get(rid, {}).get("causes", [])
                for c in causes:
                    if c not in named:
                        res.failures.append(f"{rid}: cause {c} not named (causes: {named})")
            for prefix, sev in (fx.get("no_severity_at_least") or {}).items():
                bad = [f["check"] for f in rep["findings"]
                       if f["check"].startswith(prefix) and severity_rank(f["severity"]) >= severity_rank(sev)]
                if bad:
                    res.failures.append(f"no {prefix}* finding may be {sev} or worse; got {', '.join(bad)}")
            results.append(res)
    return results
