"""Compile MetricFamilies documents into a catalog with one exposed-name index."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.core.record import Record
from inferguard.spec.names import fold
from inferguard.core.problems import Problem
from inferguard.spec.marked import locate


class NameDef(Record):
    """One exposed name of a metric. Treated as immutable (hashable, by value)."""

    __slots__ = ("name", "versions", "generation", "status")
    _fields = __slots__

    def __init__(self, name: str, versions: str | None, generation: str | None, status: str) -> None:
        self.name = name
        self.versions = versions
        self.generation = generation
        self.status = status

    def __hash__(self) -> int:
        return hash((self.name, self.versions, self.generation, self.status))


class MetricDef(Record):
    _fields = ("id", "family", "runtime", "component", "type", "unit", "aggregate", "labels", "status",
               "title", "names", "conventions", "window_group", "quantiles")

    def __init__(self, id: str, family: str, runtime: str, component: str | None, type: str,  # noqa: A002
                 unit: str | None, aggregate: str, labels: tuple[str, ...], status: str, title: str,
                 names: tuple[NameDef, ...], conventions: tuple[dict[str, Any], ...] = (),
                 window_group: str | None = None, quantiles: tuple[float, ...] | None = None) -> None:
        self.id = id
        self.family = family
        self.runtime = runtime
        self.component = component
        self.type = type
        self.unit = unit
        self.aggregate = aggregate
        self.labels = labels
        self.status = status
        self.title = title
        self.names = names
        # Value conventions per release range: a sentinel meaning "no data yet", a percent scale.
        self.conventions = conventions
        # collect-metrics: the timeline group (the metric's own `window`, else its family's) and
        # the quantiles of its window summary (None: the Vocabulary's defaults).
        self.window_group = window_group
        self.quantiles = quantiles


class FamilyDef(Record):
    _fields = ("id", "runtime", "component", "title", "description", "status", "required_when", "metrics",
               "path", "where")
    _no_repr = _no_compare = frozenset({"where"})

    def __init__(self, id: str, runtime: str, component: str | None, title: str, description: str,  # noqa: A002
                 status: str, required_when: str | None, metrics: list[str], path: str = "",
                 where: tuple[Any, list[Any]] | None = None) -> None:
        self.id = id
        self.runtime = runtime
        self.component = component
        self.title = title
        self.description = description
        self.status = status
        self.required_when = required_when
        self.metrics = metrics
        self.path = path
        # (document, path inside it) of the family's id: its line is looked up when asked for,
        # so that a spec set read from the cache decodes no marks to build the catalog
        self.where = where

    @property
    def line(self) -> int | None:
        return locate(*self.where)[0] if self.where is not None else None


class DerivedDef(Record):
    _fields = ("id", "runtime", "title", "op", "unit", "group", "inputs")

    def __init__(self, id: str, runtime: str, title: str, op: str, unit: str | None,  # noqa: A002
                 group: str | None, inputs: dict[str, Any]) -> None:
        self.id = id
        self.runtime = runtime
        self.title = title
        self.op = op
        self.unit = unit
        self.group = group
        self.inputs = inputs


class MetricCatalog(Record):
    _fields = ("families", "metrics", "derived", "index", "exact", "releases", "not_mapped", "problems")

    def __init__(self, families: dict[str, FamilyDef] | None = None, metrics: dict[str, MetricDef] | None = None,
                 derived: dict[str, DerivedDef] | None = None, index: dict[str, tuple[str, NameDef]] | None = None,
                 exact: dict[str, tuple[str, NameDef]] | None = None,
                 releases: dict[str, tuple[str, ...]] | None = None, not_mapped: dict[str, str] | None = None,
                 problems: list[Problem] | None = None) -> None:
        self.families = {} if families is None else families
        self.metrics = {} if metrics is None else metrics
        self.derived = {} if derived is None else derived
        # fold(exposed name) -> (metric id, NameDef)
        self.index = {} if index is None else index
        # exact_key(exposed name) -> (metric id, NameDef): tells apart names that fold alike
        # (`lmcache_mp:l1_read_keys` of one release, `lmcache_mp_l1_read_keys_total` of another).
        self.exact = {} if exact is None else exact
        self.releases = {} if releases is None else releases        # runtime -> releases, oldest first
        self.not_mapped = {} if not_mapped is None else not_mapped  # inventory name -> reason
        self.problems = [] if problems is None else problems

    def lookup(self, exposed: str) -> tuple[str, NameDef] | None:
        return self.index.get(fold(exposed))

    def lookup_exact(self, exposed: str) -> tuple[str, NameDef] | None:
        """The NameDef of exactly this exposed form, else the folded match."""
        return self.exact.get(exact_key(exposed)) or self.lookup(exposed)

    def families_of(self, runtime: str) -> list[FamilyDef]:
        return [f for f in self.families.values() if f.runtime == runtime]


def exact_key(name: str) -> str:
    """An exposed name without its counter suffix; `:` and `_` stay apart."""
    return name[:-6] if name.endswith("_total") else name


def build_catalog(spec) -> MetricCatalog:
    cat = MetricCatalog()
    for sd in spec.spec_docs("MetricFamilies"):
        doc, path = sd.data, sd.path
        runtime = doc["runtime"]
        if doc.get("releases"):
            cat.releases[runtime] = tuple(doc["releases"])
        for group in doc.get("not_mapped", []):
            for n in group["names"]:
                cat.not_mapped[n] = group["reason"]
        for fi, fam in enumerate(doc["families"]):
            fid = fam["id"]
            where = (doc, ["families", fi, "id"])
            if fid in cat.families:
                line, col = locate(*where)
                first = cat.families[fid]
                cat.problems.append(Problem("spec", path, f"duplicate family id {fid!r} (first at {first.path}:{first.line})",
                                            line, col, rule="metrics/duplicate-id"))
                continue
            fdef = FamilyDef(
                fid, runtime, fam.get("component"), fam["title"], fam.get("description", ""),
                fam.get("status", "stable"), fam.get("required_when"), [], path, where,
            )
            cat.families[fid] = fdef
            for mi, met in enumerate(fam["metrics"]):
                mid = met["id"]
                if mid in cat.metrics or mid in cat.families:
                    mline, mcol = locate(doc, ["families", fi, "metrics", mi, "id"])
                    cat.problems.append(Problem("spec", path, f"duplicate metric id {mid!r}", mline, mcol, rule="metrics/duplicate-id"))
                    continue
                names = tuple(
                    NameDef(n["name"], n.get("versions"), n.get("generation"), n.get("status", met.get("status", "stable")))
                    for n in met["names"]
                )
                mdef = MetricDef(
                    mid, fid, runtime, fam.get("component"), met["type"], met.get("unit"),
                    met["aggregate"], tuple(met.get("labels", ())), met.get("status", fam.get("status", "stable")),
                    met.get("title", fam["title"]), names, tuple(met.get("value_conventions", ())),
                )
                win = {**fam.get("window", {}), **met.get("window", {})}
                mdef.window_group = win.get("group")
                mdef.quantiles = tuple(win["quantiles"]) if win.get("quantiles") else None
                cat.metrics[mid] = mdef
                fdef.metrics.append(mid)
                for ni, nd in enumerate(names):
                    key = fold(nd.name)
                    if key in cat.index and cat.index[key][0] != mid:
                        nline, ncol = locate(doc, ["families", fi, "metrics", mi, "names", ni, "name"])
                        other = cat.index[key][0]
                        cat.problems.append(Problem(
                            "spec", path,
                            f"exposed name {nd.name!r} is claimed by {other!r} and {mid!r}",
                            nline, ncol, rule="metrics/name-collision",
                        ))
                        continue
                    cat.index.setdefault(key, (mid, nd))
                    cat.exact.setdefault(exact_key(nd.name), (mid, nd))
        for di, der in enumerate(doc.get("derived", [])):
            did = der["id"]
            if did in cat.derived or did in cat.metrics:
                dline, dcol = locate(doc, ["derived", di, "id"])
                cat.problems.append(Problem("spec", path, f"duplicate derived id {did!r}", dline, dcol, rule="metrics/duplicate-id"))
                continue
            inputs = {k: der[k] for k in ("numerator", "denominator", "metric", "metrics") if k in der}
            cat.derived[did] = DerivedDef(did, runtime, der.get("title", did), der["op"], der.get("unit"), der.get("group"), inputs)
    # References from derived values to metrics are checked once every file is in.
    for sd in spec.spec_docs("MetricFamilies"):
        for di, der in enumerate(sd.data.get("derived", [])):
            refs = [der[k] for k in ("numerator", "denominator", "metric") if k in der] + list(der.get("metrics", []))
            for ref in refs:
                if ref not in cat.metrics and ref not in cat.derived:
                    line, col = locate(sd.data, ["derived", di])
                    cat.problems.append(Problem("spec", sd.path, f"derived {der['id']!r} refers to unknown metric {ref!r}", line, col, rule="metrics/unknown-ref"))
            if der["op"] == "histogram_mean" and der.get("metric") in cat.metrics:
                if cat.metrics[der["metric"]].type not in ("histogram", "summary"):
                    line, col = locate(sd.data, ["derived", di])
                    cat.problems.append(Problem("spec", sd.path, f"derived {der['id']!r}: histogram_mean needs a histogram or summary, {der['metric']!r} is a {cat.metrics[der['metric']].type}", line, col, rule="metrics/type"))
    return cat


def catalog(spec) -> MetricCatalog:
    return spec.compiled("metrics", build_catalog)
