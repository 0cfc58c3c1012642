"""One version verdict per runtime, from the names a scrape exposes and the names it lacks.

The release list of a runtime and the range of every exposed name come from the MetricFamilies
specs (`releases`, `names[].versions`, `value_conventions[].versions`); which metrics every
release registers comes from the Detection spec (`version_evidence`). Nothing here knows a
release number.

- Names present: a release is kept only when every present name exists in it.
- Names absent: when the scrape looks complete (no cut histogram, and at least half of the
  always-registered metrics present), a release is ruled out when it would have shown a
  name that is missing: an always-registered metric, or another name of a metric that is
  present (the name a release emits beside or instead of the one seen). Names without a range,
  deprecated names (a release may hide them) and experimental names never rule a release out.
- Verdicts: `consistent` (the releases left), `older_than_known` (nothing left, and the names
  absent are names the oldest known release already had, or a present name predates it),
  `inconsistent` (the present names belong to naming generations no release shares; the
  conflicting names are listed).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.engine.status import metric_status
from inferguard.engine.vocab import ABSENT
from inferguard.core import recache

_CLAUSE = recache.compile(r"\s*(==|>=|<=|!=|>|<)?\s*([0-9][0-9a-z.+-]*)\s*")
_DIGITS = recache.compile(r"\d+")


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in _DIGITS.findall(v))


def in_range(rng: str | None, release: str) -> bool:
    """Whether `release` satisfies a spec range such as ">=0.6.6,<0.9.2" (None or "*": always)."""
    if not rng or rng.strip() == "*":
        return True
    r = version_key(release)
    for part in rng.split(","):
        m = _CLAUSE.fullmatch(part)
        if m is None:
            return False
        op, v = m.group(1) or "==", version_key(m.group(2))
        if not {"==": r == v, "!=": r != v, ">=": r >= v, "<=": r <= v, ">": r > v, "<": r < v}[op]:
            return False
    return True


def _below_all(rng: str | None, oldest: str) -> bool:
    """A range with an upper bound at or below the oldest known release (it names older releases)."""
    if not rng:
        return False
    for part in rng.split(","):
        m = _CLAUSE.fullmatch(part)
        if m and m.group(1) in ("<", "<=") and version_key(m.group(2)) <= version_key(oldest):
            return m.group(1) == "<" or version_key(m.group(2)) < version_key(oldest)
    return False


def _present_names(evidence: dict[str, Any], cat, runtime: str) -> dict[str, dict[str, Any]]:
    """Exposed name -> {metric, versions, generation} for every present metric of the runtime."""
    out: dict[str, dict[str, Any]] = {}
    for mid, entry in evidence.get("metrics", {}).items():
        m = cat.metrics.get(mid)
        if m is None or m.runtime != runtime or metric_status(entry) == ABSENT:
            continue
        names = list(entry.get("exposed_names", [])) + list(entry.get("also_exposed_as", []))
        for i, name in enumerate(names):
            hit = cat.lookup_exact(name)
            if hit is None or hit[0] != mid:
                continue
            rng = entry.get("versions") if i == 0 and entry.get("versions") else hit[1].versions
            out[name] = {"metric": mid, "versions": rng, "generation": hit[1].generation}
    return out


def _evidence_of_absence(nd) -> bool:
    """Only a name with a known range and a settled status says something by its absence
    (deprecated names may be hidden, experimental ones are uncertain)."""
    return bool(nd.versions) and nd.status not in ("deprecated", "experimental")


def _absent_names(evidence: dict[str, Any], cat, runtime: str, present: dict[str, dict[str, Any]],
                  always: list[str]) -> list[tuple[str, str | None, str]]:
    """(name, range, why) of names a release would show that the scrape lacks."""
    shown = set(present)
    present_metrics = {p["metric"] for p in present.values()}
    out: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    for mid in sorted(present_metrics):
        m = cat.metrics[mid]
        for nd in m.names:
            if nd.name in shown or nd.name in seen or not _evidence_of_absence(nd):
                continue
            if any(cat.lookup_exact(s) and cat.lookup_exact(s)[1] is nd for s in shown):
                continue
            seen.add(nd.name)
            out.append((nd.name, nd.versions, f"another name of {mid}, which is present"))
    for mid in always:
        m = cat.metrics.get(mid)
        if m is None or m.runtime != runtime or mid in present_metrics:
            continue
        if metric_status(evidence.get("metrics", {}).get(mid)) != ABSENT:
            continue
        for nd in m.names:
            if nd.name in seen or not _evidence_of_absence(nd):
                continue
            seen.add(nd.name)
            out.append((nd.name, nd.versions, f"{mid} is registered by every release"))
    return out


def _complete(evidence: dict[str, Any], cat, runtime: str, always: list[str]) -> tuple[bool, str]:
    metrics = evidence.get("metrics", {})
    cut = sorted(mid for mid, e in metrics.items()
                 if e.get("incomplete") and cat.metrics.get(mid) and cat.metrics[mid].runtime == runtime)
    if cut:
        return False, f"histograms cut short ({', '.join(cut[:3])}): names absent are not used"
    if always:
        have = sum(1 for mid in always if metric_status(metrics.get(mid)) != ABSENT)
        if have * 2 < len(always):
            return False, (f"only {have} of the {len(always)} metrics every release registers are present "
                           "(a partial paste?): names absent are not used")
    return True, "names absent are used (the scrape looks complete)"


def _verdict(evidence: dict[str, Any], cat, runtime: str, releases: tuple[str, ...], always: list[str]) -> dict[str, Any] | None:
    present = _present_names(evidence, cat, runtime)
    ranged = {n: p for n, p in present.items() if p["versions"]}
    if not ranged:
        return None
    oldest, newest = releases[0], releases[-1]
    generations = sorted({p["generation"] for p in present.values() if p["generation"]})
    base = {"releases_known": list(releases), "names_used": len(ranged), "generations": generations,
            "basis": "names present and absent, against the spec's per-release name ranges"}
    older = sorted(n for n, p in ranged.items() if _below_all(p["versions"], oldest))
    cand = [r for r in releases if all(in_range(p["versions"], r) for p in ranged.values())]
    if not cand:
        if older and all(in_range(p["versions"], oldest) or n in older for n, p in ranged.items()):
            return {**base, "verdict": "older_than_known", "releases": [],
                    "summary": f"older than {oldest}, the oldest release known",
                    "because": [f"{n} exists only before {oldest} ({ranged[n]['versions']})" for n in older[:5]]}
        conflicts = []
        names = sorted(ranged)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                ra, rb = ranged[a]["versions"], ranged[b]["versions"]
                if not any(in_range(ra, r) and in_range(rb, r) for r in releases) and not (
                        a in older or b in older):
                    conflicts.append({"names": [a, b], "versions": [ra, rb],
                                      "generations": [ranged[a]["generation"], ranged[b]["generation"]]})
        if not conflicts:
            conflicts = [{"names": names[:10], "versions": [ranged[n]["versions"] for n in names[:10]]}]
        shown = ", ".join(" vs ".join(c["names"]) for c in conflicts[:3])
        return {**base, "verdict": "inconsistent", "releases": [], "conflicts": conflicts[:20],
                "summary": f"inconsistent: names of different naming generations in one scrape ({shown})"}
    complete, why = _complete(evidence, cat, runtime, always)
    excluded: dict[str, list[str]] = {}
    if complete:
        for name, rng, reason in _absent_names(evidence, cat, runtime, present, always):
            for r in cand:
                if in_range(rng, r):
                    excluded.setdefault(r, []).append(f"{name} ({reason})")
    left = [r for r in cand if r not in excluded]
    out = {**base, "absence": why}
    if excluded:
        out["excluded_by_absence"] = {r: sorted(v)[:5] for r, v in excluded.items()}
    if not left:
        if cand[0] == oldest:
            return {**out, "verdict": "older_than_known", "releases": [],
                    "summary": f"older than {oldest}, the oldest release known: it lacks names {oldest} already had",
                    "because": excluded[oldest][:5]}
        return {**out, "verdict": "inconsistent", "releases": [],
                "conflicts": [{"present": sorted(ranged)[:10], "absent": excluded[cand[0]][:10]}],
                "summary": f"inconsistent: the names present point to {cand[0]}-{cand[-1]}, "
                           "and names those releases show are missing"}
    lo, hi = left[0], left[-1]
    text = lo if lo == hi else f"{lo} to {hi}"
    also = []
    if lo == oldest:
        also.append(f"older than {oldest}, the oldest release known")
    if hi == newest:
        also.append(f"newer than {newest}, the newest release known")
    if also:
        text += "; could also be " + " or ".join(also)
    return {**out, "verdict": "consistent", "releases": left, "summary": f"consistent with {text}"}


def version_verdicts(evidence: dict[str, Any], spec, cat) -> dict[str, dict[str, Any]]:
    always: dict[str, list[str]] = {}
    for doc in spec.docs("Detection"):
        for ve in doc.get("version_evidence", []):
            always.setdefault(ve["runtime"], []).extend(ve["registered_always"])
    out: dict[str, dict[str, Any]] = {}
    for runtime, releases in sorted(cat.releases.items()):
        v = _verdict(evidence, cat, runtime, releases, always.get(runtime, []))
        if v is not None:
            out[runtime] = v
    return out
