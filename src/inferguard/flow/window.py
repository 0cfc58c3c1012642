"""collect-metrics between I/O and the window math: each tick's parsed scrapes go in, the
timeline rows of that tick come out; at the end, the window summary (metrics_summary.json).
Also the other way round: a summary read back as window Evidence, so that coverage,
lmcache-compat and evaluate judge the window (a counter flat over the window is
`present_zero` there, a metric absent from every tick stays `absent`).

What goes to which timeline group, the quantiles of each summary, how series aggregate and
which hit rates are computed all come from the MetricFamilies specs (`window`, `aggregate`,
`derived`) and the Vocabulary (`window`); nothing here names a metric.
"""
from __future__ import annotations

import math
from typing import Any

from inferguard.engine.window import MetricWindow, ratio
from inferguard.readers.exposition import Exposition, parse_labels

SUMMARY_KIND = "MetricsWindowSummary"
TIMELINE_FILE = "engine_metrics_timeline.jsonl"
RAW_FILE = "raw_samples.jsonl"
SUMMARY_FILE = "metrics_summary.json"
LABEL_CACHE_BUDGET = 200_000
FINDINGS_KEPT = 1000        # findings kept in full over a run; past it they are only counted
ERRORS_KEPT = 1000          # failed ticks kept in full per target; past it they are only counted


class SeriesKeys:
    """Raw label text -> (series key without `le`, le, labels), cached over the whole run:
    a series is parsed once, not once per tick."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, str | None]] = {}
        self._labels: dict[str, dict[str, str]] = {}

    def split(self, raw: str) -> tuple[str, str | None]:
        got = self._cache.get(raw)
        if got is None:
            if 'le="' not in raw and "le=" not in raw:
                got = (raw, None)
            else:
                labels = parse_labels(raw) or {}
                le = labels.pop("le", None)
                got = (",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()), le)
            if len(self._cache) >= LABEL_CACHE_BUDGET:
                self._cache.clear()
            self._cache[raw] = got
        return got

    def labels(self, key: str) -> dict[str, str]:
        got = self._labels.get(key)
        if got is None:
            got = (parse_labels(key) or {}) if key else {}
            if len(self._labels) < LABEL_CACHE_BUDGET:
                self._labels[key] = got
        return got


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _conventions(mdef, keys: SeriesKeys, series: dict[str, float]) -> dict[str, float]:
    """The spec's value conventions: a no-data sentinel is no sample; a percent is /100."""
    if not mdef.conventions:
        return series
    out: dict[str, float] = {}
    for raw, v in series.items():
        labels = keys.labels(raw) if any(c.get("when_label") for c in mdef.conventions) else {}
        keep = True
        for conv in mdef.conventions:
            if conv.get("when_label") and conv["when_label"] not in labels:
                continue
            if "sentinel" in conv and v == conv["sentinel"]:
                keep = False
                break
            if conv.get("scale") == "percent":
                v = v / 100.0
        if keep:
            out[raw] = v
    return out


def scrape_series(expo: Exposition, cat, keys: SeriesKeys) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """metric id -> (exposed name, kind, series) of one parsed scrape. Of two exposed names of
    one metric in one scrape (a deprecated alias kept for a release) the newest is read."""
    chosen: dict[str, tuple[int, Any]] = {}
    for fd in expo.families.values():
        mdef = cat.metrics[fd.metric_id]
        hit = cat.lookup(fd.name)
        rank = mdef.names.index(hit[1]) if hit is not None and hit[1] in mdef.names else -1
        prev = chosen.get(mdef.id)
        if prev is None or rank > prev[0]:
            chosen[mdef.id] = (rank, fd)
    out: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for mid, (_rank, fd) in chosen.items():
        mdef = cat.metrics[mid]
        if fd.buckets or fd.sums or fd.counts:
            series: dict[str, Any] = {}
            for raw, v in fd.buckets:
                key, le = keys.split(raw)
                if le is None:
                    continue
                series.setdefault(key, [{}, None, None])[0][le] = v
            for raw, v in fd.counts.items():
                series.setdefault(keys.split(raw)[0], [{}, None, None])[1] = v
            for raw, v in fd.sums.items():
                series.setdefault(keys.split(raw)[0], [{}, None, None])[2] = v
            for key, entry in series.items():
                if entry[1] is None:  # no _count: the +Inf bucket counts the observations
                    inf = next((c for le, c in entry[0].items() if le in ("+Inf", "Inf", "+inf", "inf")), None)
                    entry[1] = inf
            out[mid] = (fd.name, "histogram", {k: tuple(v) for k, v in series.items()})
        elif fd.samples:
            out[mid] = (fd.name, "value", _conventions(mdef, keys, fd.samples))
    return out


def registered_metrics(expo: Exposition, cat) -> dict[str, str]:
    """metric id -> exposed name, for families named by HELP/TYPE lines without a sample."""
    out: dict[str, str] = {}
    for name in expo.declared:
        if name in expo.families or name in expo.other_families or name.endswith("_created"):
            continue
        hit = cat.lookup(name)
        if hit is not None:
            out.setdefault(hit[0], name)
    return out


class Target:
    """One scraped endpoint over the window."""

    def __init__(self, name: str, role: str, source: str):
        self.name = name          # engine, lmcache, or any name a caller gives
        self.role = role          # engine_metrics | lmcache_metrics
        self.source = source      # URL or the files' folder
        self.metrics: dict[str, MetricWindow] = {}
        self.registered: dict[str, str] = {}
        self.ticks = 0
        self.ok_ticks = 0
        self.errors: list[dict[str, Any]] = []
        self.failed_ticks = 0
        self.latencies: list[float] = []
        self.last_ok_tick: int | None = None
        self.last_tick_metrics: set[str] = set()
        self.namespaces: dict[str, Any] = {}
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.parse_problems = 0
        self.prev_t: float | None = None     # the time of the previous scrape that answered
        self.last_seen: dict[str, Any] = {}  # the series of the last scrape that answered
        self.prev_complete = False           # the previous scrape that answered was read whole


class Window:
    """The state of a collect-metrics run: every target's metrics over the ticks so far."""

    def __init__(self, spec, labels: dict[str, str] | None = None, context: dict[str, Any] | None = None):
        from inferguard.spec.metrics import catalog
        from inferguard.spec.registry import registry_of

        self.spec = spec
        self.cat = catalog(spec)
        win = registry_of(spec).get("window") or {}
        self.groups = [g["id"] for g in win.get("groups", [])]
        self.hq = list(win.get("histogram_quantiles") or [0.5, 0.95, 0.99])
        self.gq = list(win.get("gauge_quantiles") or [])
        self.labels = dict(labels or {})
        self.context = dict(context or {})
        self.keys = SeriesKeys()
        self.targets: dict[str, Target] = {}
        self.ticks = 0
        self.namespaces = [ns for doc in spec.docs("Detection") for ns in doc.get("namespaces", [])]
        self.findings: list[dict[str, Any]] = []
        self.findings_total = 0
        self.stopped_early: str | None = None
        self.schedule: dict[str, Any] = {}
        self.checks = registry_of(spec).get("checks") or []

    def lookup(self, name: str) -> str | None:
        hit = self.cat.lookup(name)
        return hit[0] if hit is not None else None

    def target(self, name: str, role: str, source: str) -> Target:
        t = self.targets.get(name)
        if t is None:
            t = self.targets[name] = Target(name, role, source)
        return t

    def _finding(self, f: dict[str, Any]) -> None:
        """Record a finding of a declared `from: collect` check, at the severity the Vocabulary sets."""
        from inferguard.engine.findings import collect_severity

        f = {"check": f["check"], "severity": collect_severity(self.checks, f["check"]),
             **{k: v for k, v in f.items() if k != "check"}}
        self.findings_total += 1
        if len(self.findings) < FINDINGS_KEPT:
            self.findings.append(f)

    def add_scrape(self, target: Target, tick: int, wall: float, t: float, expo: Exposition | None,
                   scrape: dict[str, Any], problems: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """One target's scrape of one tick (`expo` None when there was no usable answer).
        Returns the timeline rows: one per window group that had values, or one row without a
        group when the scrape failed or carried nothing grouped."""
        from inferguard.evidence import _namespace_counts

        target.ticks += 1
        if target.first_time is None:
            target.first_time = wall
        target.last_time = wall
        if scrape.get("latency_ms") is not None:
            target.latencies.append(scrape["latency_ms"])
        if scrape.get("error"):
            f = {"check": "scrape/" + scrape.get("error_kind", "failed"),
                 "message": f"{target.name}: tick {tick}: {scrape['error']}",
                 "evidence": {"target": target.name, "source": scrape.get("source", target.source), "tick": tick}}
            target.failed_ticks += 1
            if len(target.errors) < ERRORS_KEPT:
                target.errors.append({"tick": tick, "time": wall, "error": scrape["error"],
                                      "kind": scrape.get("error_kind", "failed"), "latency_ms": scrape.get("latency_ms")})
            self._finding(f)
        for p in problems or []:
            target.parse_problems += 1
            if target.parse_problems <= 20:
                self._finding({"check": "scrape/parse-problem",
                               "message": f"{target.name}: tick {tick}: {p.get('message')}",
                               "evidence": {"target": target.name, "source": scrape.get("source", target.source),
                                            "tick": tick, "line": p.get("line")}})
        base = {"tick": tick, "time": wall, "target": target.name, "role": target.role}
        if self.labels:
            base["labels"] = self.labels
        if expo is None:  # the last tick that answered keeps saying what was present
            return [{**base, "group": None, "scrape": scrape, "values": {}}]
        born_after = target.prev_t if target.prev_complete else None
        target.ok_ticks += 1
        target.last_ok_tick = tick
        target.registered.update(registered_metrics(expo, self.cat))
        if self.namespaces:
            target.namespaces = _namespace_counts(expo, self.namespaces)
        by_group: dict[str, dict[str, Any]] = {}
        seen = scrape_series(expo, self.cat, self.keys)
        target.last_tick_metrics = set(seen)
        target.last_seen = seen
        for mid, (name, kind, series) in seen.items():
            mdef = self.cat.metrics[mid]
            mw = target.metrics.get(mid)
            if mw is None:
                mw = target.metrics[mid] = MetricWindow(mid, mdef.type if kind != "histogram" else "histogram", mdef.aggregate)
            view = mw.add_tick(tick, t, name, kind, series, born_after)
            group = mdef.window_group
            if group is None:
                continue
            if mdef.aggregate == "none":
                view = {"series": [{"labels": self.keys.labels(k), "value": (v if kind != "histogram" else v[1])}
                                   for k, v in list(series.items())[:20]]}
            view["from"] = name
            view["series_count"] = len(series)
            if view.get("increase") is not None and target.prev_t is not None:
                dt = t - target.prev_t
                view["rate"] = view["increase"] / dt if dt > 0 else None
            by_group.setdefault(group, {})[mid] = {k: v for k, v in view.items() if v is not None}
        target.prev_t = t
        # a series missing from a scrape that was cut may lie past the cut: not "created since"
        target.prev_complete = not scrape.get("cut")
        rows = [{**base, "group": g, "scrape": scrape, "values": vals}
                for g in self.groups for vals in [by_group.get(g)] if vals]
        return rows or [{**base, "group": None, "scrape": scrape, "values": {}}]

    # ------------------------------------------------------------------ summary

    def summary(self) -> dict[str, Any]:
        from inferguard.evidence import tool_info

        metrics: dict[str, Any] = {}
        targets = []
        owners: dict[str, int] = {}
        for tg in self.targets.values():
            for mid in set(tg.metrics) | set(tg.registered):
                owners[mid] = owners.get(mid, 0) + 1

        def _key(mid: str, tg: Target) -> str:
            # the metric id, or `target/id` when more than one target has the metric
            return mid if owners.get(mid, 0) <= 1 else f"{tg.name}/{mid}"

        for tg in self.targets.values():
            lat = sorted(tg.latencies)
            from inferguard.engine.window import quantile_of_values

            targets.append({
                "name": tg.name, "role": tg.role, "source": tg.source, "ticks": tg.ticks, "ok_ticks": tg.ok_ticks,
                "failed_ticks": tg.failed_ticks, "first_time": tg.first_time, "last_time": tg.last_time,
                "last_ok_tick": tg.last_ok_tick,
                "scrape_latency_ms": {"p50": quantile_of_values(lat, 0.5), "p95": quantile_of_values(lat, 0.95),
                                      "max": lat[-1] if lat else None},
                "errors": tg.errors[:100], "errors_not_shown": max(0, tg.failed_ticks - 100),
                "parse_problems": tg.parse_problems,
                "namespaces": tg.namespaces,
            })
            for mid, mw in tg.metrics.items():
                mdef = self.cat.metrics[mid]
                quants = list(mdef.quantiles) if mdef.quantiles else self.hq
                gq = list(mdef.quantiles) if mdef.quantiles else self.gq
                s = mw.summary(self.keys.labels, quants, gq)
                entry = {"metric": mid, "family": mdef.family, "runtime": mdef.runtime, "unit": mdef.unit,
                         "group": mdef.window_group, "target": tg.name, "role": tg.role,
                         "present_last_tick": mid in tg.last_tick_metrics, **s}
                metrics[_key(mid, tg)] = entry
            for mid, name in tg.registered.items():
                k = _key(mid, tg)
                if k in metrics:
                    continue
                mdef = self.cat.metrics[mid]
                metrics[k] = {"metric": mid, "family": mdef.family, "runtime": mdef.runtime, "unit": mdef.unit,
                              "group": mdef.window_group, "target": tg.name, "role": tg.role, "type": mdef.type,
                              "aggregate": mdef.aggregate, "from": [name], "registered": True, "ticks_present": 0,
                              "series_count": 0, "last_tick_series": 0, "present_last_tick": False,
                              "window": None, "active": False, "series": []}
        derived = self._derived(metrics)
        self._engine_check()
        findings = list(self.findings)
        return {
            "apiVersion": "inferguard.dev/v1",
            "kind": SUMMARY_KIND,
            "tool": tool_info(),
            "spec": {"version": self.spec.version, "digest": self.spec.digest},
            "labels": self.labels,
            "context": self.context,
            "schedule": self.schedule,
            "ticks": self.ticks,
            "stopped_early": self.stopped_early,
            "targets": targets,
            "metrics": dict(sorted(metrics.items())),
            "derived": derived,
            "findings": findings[:500],
            "findings_total": self.findings_total,
        }

    def _engine_check(self) -> None:
        """--engine names the engine behind the engine target; say so when its scrapes show
        another engine's metrics and none of the declared one's."""
        expected = self.context.get("expected_engine")
        engines = {r["id"] for r in (self.spec.docs("Vocabulary") or [{}])[0].get("runtimes", []) if r.get("kind") == "engine"}
        if expected not in engines:
            return
        for tg in self.targets.values():
            if tg.role != "engine_metrics" or not tg.metrics:
                continue
            seen = {self.cat.metrics[m].runtime for m in tg.metrics} & engines
            if seen and expected not in seen:
                self._finding({"check": "collect/engine-mismatch",
                               "message": f"{tg.name}: --engine {expected}, but its scrapes carry {', '.join(sorted(seen))} "
                                          f"metrics and no {expected} metric",
                               "evidence": {"target": tg.name, "source": tg.source,
                                            "metrics": sorted(tg.metrics)[:5]}})

    def _derived(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The spec's derived values over the window: ratios of counter deltas (hit rates),
        histogram means from sum and count deltas, sums of deltas. Each names its inputs."""
        by_metric: dict[str, list[dict[str, Any]]] = {}
        for e in metrics.values():
            by_metric.setdefault(e["metric"], []).append(e)

        def window_value(mid: str) -> tuple[float | None, list[str], list[str]]:
            es = [e for e in by_metric.get(mid, []) if e.get("window")]
            if not es:
                return None, [], []
            vals = []
            for e in es:
                w = e["window"]
                if e["type"] == "counter":
                    vals.append(w.get("delta"))
                elif e["type"] in ("histogram", "summary"):
                    vals.append(w.get("count_delta"))
                else:
                    vals.append(w.get("last"))
            vals = [v for v in vals if v is not None]
            names = [n for e in es for n in e["from"]]
            return (math.fsum(vals) if vals else None), names, [e["target"] for e in es]

        out: dict[str, Any] = {}
        for did, d in self.cat.derived.items():
            res: dict[str, Any] = {"id": did, "runtime": d.runtime, "title": d.title, "op": d.op, "unit": d.unit,
                                   "inputs": d.inputs, "value": None}
            if d.op == "ratio":
                num, nn, nt = window_value(d.inputs["numerator"])
                den, dn, dt = window_value(d.inputs["denominator"])
                if not nn and not dn:
                    continue  # neither input was scraped: nothing to say
                res["numerator"], res["denominator"] = num, den
                res["value"], reason = ratio(num, den)
                if reason:
                    res["reason"] = reason
                elif d.unit == "ratio" and not (0.0 <= res["value"] <= 1.0):
                    res["reason"] = f"outside [0, 1] ({num} / {den}): the inputs are not a part and its whole"
                    res["value"] = None
                res["from"] = {"numerator": nn, "denominator": dn}
                res["targets"] = sorted(set(nt + dt))
                ntype = self.cat.metrics.get(d.inputs["numerator"])
                res["basis"] = "ratio of counter deltas over the window" if ntype is not None and ntype.type == "counter" else "ratio of window values (last tick for gauges)"
            elif d.op == "histogram_mean":
                es = [e for e in by_metric.get(d.inputs["metric"], []) if e.get("window")]
                if not es:
                    continue
                dc = math.fsum(e["window"].get("count_delta") or 0.0 for e in es)
                ds = math.fsum(e["window"].get("sum_delta") or 0.0 for e in es)
                res["count_delta"], res["sum_delta"] = dc, ds
                res["value"] = ds / dc if dc > 0 else None
                if dc <= 0:
                    res["reason"] = "no observation during the window"
                res["from"] = [n for e in es for n in e["from"]]
                res["basis"] = "sum delta over count delta over the window"
            elif d.op in ("sum", "difference"):
                got = [window_value(m) for m in d.inputs["metrics"]]
                if not any(g[1] for g in got):
                    continue
                vals = [g[0] for g in got]
                if any(v is None for v in vals):
                    res["reason"] = "input absent during the window"
                else:
                    res["value"] = math.fsum(vals) if d.op == "sum" else vals[0] - math.fsum(vals[1:])
                res["from"] = [n for g in got for n in g[1]]
                res["basis"] = "window deltas"
            out[did] = res
        return out


# --------------------------------------------------------------------------- window evidence

MAX_SUMMARY_BYTES = 256 * 1024 * 1024


def load_summary(folder: str) -> tuple[dict[str, Any], str]:
    """The window summary of a collect-metrics output folder, checked against its schema."""
    import os

    from inferguard.core.filecheck import require_input
    from inferguard.core.problems import InputError
    from inferguard.readers.jsonio import JsonInputError, load_file
    from inferguard.spec.loader import schema_validator

    path = os.path.join(folder, SUMMARY_FILE) if os.path.isdir(folder) else folder
    if not os.path.exists(path):
        part = os.path.join(folder, TIMELINE_FILE + ".part")
        why = " (a run was killed before it ended: only the timeline .part is there)" if os.path.exists(part) else ""
        raise InputError(f"no {SUMMARY_FILE}: not a collect-metrics output folder{why}", folder)
    require_input(path)
    try:
        doc = load_file(path, MAX_SUMMARY_BYTES)
    except JsonInputError as exc:
        raise InputError(f"not usable JSON at byte {exc.offset}: {exc.message}", path) from None
    if not isinstance(doc, dict) or doc.get("kind") != SUMMARY_KIND:
        raise InputError(f"not a {SUMMARY_KIND} document", path)
    v = schema_validator("metrics_summary.v1.schema.json")
    if v is None:
        from inferguard.core.problems import InternalError

        raise InternalError("schemas/metrics_summary.v1.schema.json is missing from this install")
    errors = sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = "/".join(map(str, errors[0].absolute_path)) or "(top)"
        raise InputError(f"not a valid metrics summary at {where}: {errors[0].message[:200]}", path)
    return doc, path


def add_window(evidence: dict[str, Any], summary: dict[str, Any], path: str) -> None:
    """Window evidence from a summary: a metric is present when the last tick that answered
    had it; it is measured when it moved during the window (a counter or a histogram with a
    positive delta, a gauge with a non-zero value), present_zero when it was flat; a metric
    no tick had is absent. Values are the window's (deltas for counters and histograms, the
    last value for gauges)."""
    ok_targets = {t["name"]: t for t in summary.get("targets", [])}
    for t in summary.get("targets", []):
        evidence["sources"].append({
            "role": t["role"], "path": f"{path} (target {t['name']}: {t['source']})", "reader": "prometheus",
            "records": t.get("ok_ticks", 0), "problems": t.get("failed_ticks", 0) + t.get("parse_problems", 0),
            "summary": {"window": True, "ticks": t.get("ticks"), "ok_ticks": t.get("ok_ticks")},
            "namespaces": t.get("namespaces") or {},
            "unmapped_families": [], "unmapped_families_total": 0, "registered_without_samples": [],
        })
        if t.get("ok_ticks", 0) == 0:
            evidence["problems"].append({"source": "collect-metrics", "path": path,
                                         "message": f"target {t['name']} ({t['source']}) never answered during the window"})
    metrics = evidence["metrics"]
    for key, m in summary.get("metrics", {}).items():
        mid = m["metric"]
        present = bool(m.get("present_last_tick")) and m.get("last_tick_series", 0) > 0
        tg = ok_targets.get(m.get("target"), {})
        w = m.get("window") or {}
        entry: dict[str, Any] = {
            "metric": mid, "family": m["family"], "runtime": m["runtime"], "type": m["type"],
            "exposed_names": list(m.get("from") or []), "exposed_type": m["type"],
            "source": m.get("role", "engine_metrics"), "line": f"window of {m.get('ticks_present', 0)} tick(s)",
            "created_series": 0, "series": m.get("last_tick_series", 0) if present else 0,
            "nonzero": bool(m.get("active")) and present, "nonfinite": m.get("nonfinite_samples", 0),
            "aggregate": m.get("aggregate"), "window": True,
            "label_values": _label_values(m.get("series") or []),
            "series_shown": [],
        }
        if m.get("registered") or (not present and m.get("ticks_present")):
            # Declared, or seen earlier in the window but gone by the last tick that answered.
            entry["registered"] = bool(m.get("registered"))
            if not present and m.get("ticks_present"):
                entry["note"] = (f"present in {m['ticks_present']} tick(s), not in the last tick that answered "
                                 f"(tick {tg.get('last_ok_tick')})")
        if m["type"] == "counter":
            entry["value"] = w.get("delta")
        elif m["type"] in ("histogram", "summary"):
            entry["count"] = w.get("count_delta")
            entry["sum"] = w.get("sum_delta")
            entry["value"] = w.get("count_delta")
        else:
            entry["value"] = w.get("last")
        if mid in metrics:
            old = metrics[mid]
            old["series"] += entry["series"]
            old["nonzero"] = old["nonzero"] or entry["nonzero"]
            old["exposed_names"] = list(dict.fromkeys(old["exposed_names"] + entry["exposed_names"]))
            for k in ("value", "count", "sum"):
                if entry.get(k) is not None:
                    old[k] = (old.get(k) or 0.0) + entry[k]
        else:
            metrics[mid] = entry
    evidence["window"] = {"path": path, "ticks": summary.get("ticks"), "schedule": summary.get("schedule"),
                          "stopped_early": summary.get("stopped_early"), "labels": summary.get("labels") or {}}


def _label_values(series: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for s in series:
        for k, v in (s.get("labels") or {}).items():
            out.setdefault(k, set()).add(v)
    return {k: sorted(v)[:20] for k, v in sorted(out.items())}
