"""Checks for specs/metrics/lmcache.yaml (MetricFamilies, runtime lmcache).

The spec must validate against its JSON Schema, keep ids and folded names unique, only use names
that occur in the reference inventories or in real captures (or that are explicitly allow-listed
as experimental), agree with the per-release inventories on version ranges, and cover every
lmcache_mp* family seen in the real captures.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO / "specs" / "metrics" / "lmcache.yaml"
SCHEMA_DIR = REPO / "schemas"
INVENTORIES = REPO / "fixtures" / "reference" / "inventories"  # copies of shared/reference/inventories
REAL = REPO / "fixtures" / "real"  # copies of shared/data/real files

H100_CAPTURE = REAL / "vllm-lmcache-mp-h100" / "lmcache_metrics_loaded.prom"
CPU056_CAPTURE = REAL / "lmcache-0.5.6-cpu" / "run2" / "metrics_after_traffic.txt"
EMBEDDED_CAPTURES = sorted((REAL / "lmcache-0.5.6-cpu" / "embedded").glob("*_metrics.txt"))

# Names that occur in no inventory file and no capture. Each must be marked
# `status: experimental` with a `note` in the spec; the reason is repeated here.
ALLOWED_UNLISTED = {
    # g0 prometheus_client names: only in the version-history table of lmcache-surfaces.md (section 9);
    # the names_by_version.json extraction for 0.3.15/0.4.1 holds no lmcache_mp names.
    "lmcache_mp:l1_read_keys": "g0 name from the reference version-history table",
    "lmcache_mp:l1_write_keys": "g0 name from the reference version-history table",
    "lmcache_mp:l1_evicted_keys": "g0 name from the reference version-history table",
    "lmcache_mp:sm_read_requests": "g0 name from the reference version-history table",
    "lmcache_mp:sm_read_succeed_keys": "g0 name from the reference version-history table",
    "lmcache_mp:sm_read_failed_keys": "g0 name from the reference version-history table",
    "lmcache_mp:sm_write_requests": "g0 name from the reference version-history table",
    "lmcache_mp:sm_write_succeed_keys": "g0 name from the reference version-history table",
    "lmcache_mp:sm_write_failed_keys": "g0 name from the reference version-history table",
    # names that only the production observability docs use (doc drift against the 0.5.6 code)
    "lmcache:num_p2p_requests": "docs-only name, not registered by the code",
    "lmcache:num_p2p_transferred_tokens": "docs-only name, not registered by the code",
    "lmcache:interval_get_blocking_failed_count": "docs-only spelling of lmcache:get_blocking_failed_count",
}

# lmcache_mp* families present in a capture that the spec deliberately does not cover: {name: reason}.
DELIBERATELY_UNCOVERED: dict[str, str] = {}

# Metrics whose aliases are exposed side by side in one release. They carry the same value, so the
# engine must read one of them, never add them.
CO_EXPOSED_ALIASES = {
    "lmcache_coordinator.key_directory_placements": "0.5.6 emits the deprecated lmcache_mp_ duplicate too",
    "lmcache_coordinator.key_directory_placement_bytes": "0.5.6 emits the deprecated lmcache_mp_ duplicate too",
}

FIXED_METRIC_IDS = {
    "lmcache_mp.lookup_requested_tokens",
    "lmcache_mp.lookup_hit_tokens",
    "lmcache_mp.l0_l1_store_throughput",
    "lmcache_mp.l0_l1_load_throughput",
    "lmcache_mp.l1_read_chunks",
    "lmcache_mp.l1_write_chunks",
}
FIXED_FAMILY_IDS = {"lmcache_mp.lookup", "lmcache_mp.l1", "lmcache_mp.l2", "lmcache_mp.throughput"}
GENERATIONS = {"g0", "g1", "g2", "embedded"}
COMPONENTS = {"mp", "embedded", "blend", "coordinator"}
FAMILY_PREFIX = {"mp": "lmcache_mp.", "embedded": "lmcache.", "blend": "lmcache_blend.",
                 "coordinator": "lmcache_coordinator."}


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def fold(name: str) -> str:
    """The engine's name folding: ':' and '.' become '_', then one trailing '_total' goes."""
    folded = name.replace(":", "_").replace(".", "_")
    if folded.endswith("_total"):
        folded = folded[: -len("_total")]
    return folded


def vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().split("."))


_CLAUSE = re.compile(r"^\s*(==|>=|<=|>|<|!=)?\s*([0-9][0-9.]*)\s*$")


def in_range(version: str, spec: str) -> bool:
    if spec.strip() == "*":
        return True
    v = vtuple(version)
    for clause in spec.split(","):
        m = _CLAUSE.match(clause)
        assert m, f"unsupported version clause {clause!r}"
        op, bound = m.group(1) or "==", vtuple(m.group(2))
        ok = {"==": v == bound, ">=": v >= bound, "<=": v <= bound, ">": v > bound,
              "<": v < bound, "!=": v != bound}[op]
        if not ok:
            return False
    return True


def lower_bound(spec: str | None) -> tuple[int, ...]:
    if not spec:
        return (999,)
    lows = [vtuple(m.group(2)) for c in spec.split(",")
            if (m := _CLAUSE.match(c)) and (m.group(1) or "==") in ("==", ">=", ">")]
    return max(lows) if lows else (0,)


def type_names(path: Path) -> list[str]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("# TYPE "):
            out.append(line.split()[2])
    return out


def sample_names(path: Path) -> set[str]:
    out = set()
    for line in path.read_text(errors="replace").splitlines():
        if line and not line.startswith("#"):
            out.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return out


def need_shared():
    assert INVENTORIES.is_dir() and REAL.is_dir(), "fixtures/reference and fixtures/real are part of the repository"


# ----------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec() -> dict:
    with SPEC_PATH.open() as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def metrics(spec) -> list[tuple[dict, dict]]:
    return [(fam, m) for fam in spec["families"] for m in fam["metrics"]]


@pytest.fixture(scope="module")
def names(metrics) -> list[tuple[dict, dict, dict]]:
    return [(fam, m, n) for fam, m in metrics for n in m["names"]]


@pytest.fixture(scope="module")
def prom_families() -> dict[str, dict[str, str]]:
    need_shared()
    return json.loads((INVENTORIES / "prom_families_by_version.json").read_text())


@pytest.fixture(scope="module")
def names_by_version() -> dict[str, list[str]]:
    need_shared()
    return json.loads((INVENTORIES / "names_by_version.json").read_text())


@pytest.fixture(scope="module")
def known_names(prom_families, names_by_version) -> set[str]:
    known: set[str] = set()
    for fams in prom_families.values():
        known.update(fams)
    for listed in names_by_version.values():
        known.update(listed)
    for line in (INVENTORIES / "lmcache-0.5.6.tsv").read_text().splitlines():
        cols = line.split("\t")
        if len(cols) > 3:
            known.add(cols[3])
    for line in (INVENTORIES / "instruments_056.jsonl").read_text().splitlines():
        if line.strip():
            known.update(str(a) for a in json.loads(line).get("args", []))
    captures = [*REAL.rglob("GET_metrics*.body"), *REAL.rglob("*metrics*.txt"), *REAL.rglob("*.prom")]
    for path in captures:
        known.update(type_names(path))
        known.update(sample_names(path))
    return known


# ----------------------------------------------------------------------------------------------
# schema and identity
# ----------------------------------------------------------------------------------------------

def test_spec_validates_against_schema(spec):
    common = json.loads((SCHEMA_DIR / "spec.common.v1.schema.json").read_text())
    schema = json.loads((SCHEMA_DIR / "spec.MetricFamilies.v1.schema.json").read_text())
    registry = Registry().with_resources([
        (common["$id"], Resource.from_contents(common)),
        ("spec.common.v1.schema.json", Resource.from_contents(common)),
    ])
    validator = Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    assert spec["kind"] == "MetricFamilies" and spec["runtime"] == "lmcache"


def test_ids_unique_and_disjoint(spec, metrics):
    family_ids = [f["id"] for f in spec["families"]]
    metric_ids = [m["id"] for _, m in metrics]
    derived_ids = [d["id"] for d in spec.get("derived", [])]
    for label, ids in (("family", family_ids), ("metric", metric_ids), ("derived", derived_ids)):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        assert not dupes, f"duplicate {label} ids: {dupes}"
    assert not set(family_ids) & set(metric_ids)
    assert not set(derived_ids) & (set(metric_ids) | set(family_ids))


def test_fixed_ids_present(spec, metrics):
    assert FIXED_METRIC_IDS <= {m["id"] for _, m in metrics}
    assert FIXED_FAMILY_IDS <= {f["id"] for f in spec["families"]}
    by_id = {m["id"]: fam["id"] for fam, m in metrics}
    assert by_id["lmcache_mp.lookup_requested_tokens"] == "lmcache_mp.lookup"
    assert by_id["lmcache_mp.lookup_hit_tokens"] == "lmcache_mp.lookup"
    assert by_id["lmcache_mp.l1_read_chunks"] == "lmcache_mp.l1"
    assert by_id["lmcache_mp.l1_write_chunks"] == "lmcache_mp.l1"
    assert by_id["lmcache_mp.l0_l1_store_throughput"] == "lmcache_mp.throughput"
    assert by_id["lmcache_mp.l0_l1_load_throughput"] == "lmcache_mp.throughput"


def test_exposed_names_unique_and_folded_names_map_to_one_metric(names):
    raw = [n["name"] for _, _, n in names]
    dupes = sorted({x for x in raw if raw.count(x) > 1})
    assert not dupes, f"exposed names listed twice: {dupes}"
    owners: dict[str, set[str]] = defaultdict(set)
    for _, m, n in names:
        owners[fold(n["name"])].add(m["id"])
    clashes = {k: sorted(v) for k, v in owners.items() if len(v) > 1}
    assert not clashes, f"folded names shared by several metrics: {clashes}"


def test_folded_names_unique_across_spec_set(names):
    """No other MetricFamilies file may claim a name this file folds to."""
    mine = {fold(n["name"]) for _, _, n in names}
    for other in sorted((REPO / "specs").rglob("*.yaml")):
        if other.resolve() == SPEC_PATH.resolve():
            continue
        for doc in yaml.safe_load_all(other.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "MetricFamilies":
                continue
            theirs = {fold(n["name"]) for f in doc.get("families", []) for m in f.get("metrics", [])
                      for n in m.get("names", [])}
            assert not mine & theirs, f"{other.name} reuses folded names: {sorted(mine & theirs)}"


# ----------------------------------------------------------------------------------------------
# structure rules
# ----------------------------------------------------------------------------------------------

def test_family_shape(spec):
    for fam in spec["families"]:
        assert fam.get("description"), fam["id"]
        assert fam.get("component") in COMPONENTS, fam["id"]
        assert fam["id"].startswith(FAMILY_PREFIX[fam["component"]]), fam["id"]
        for m in fam["metrics"]:
            assert m["id"].startswith(FAMILY_PREFIX[fam["component"]]), m["id"]


def test_required_when_only_where_conditional(spec):
    fams = {f["id"]: f for f in spec["families"]}
    assert fams["lmcache_mp.l2"]["required_when"] == "context.l2_configured"
    assert fams["lmcache_mp.l2_failures"]["required_when"] == "context.l2_configured"
    for fam in spec["families"]:
        if fam["component"] == "blend":
            assert fam.get("required_when") == "context.cacheblend_configured", fam["id"]
            assert fam.get("status") in ("experimental", "deprecated"), fam["id"]
        elif fam["component"] in ("mp", "coordinator"):
            if fam["id"] not in ("lmcache_mp.l2", "lmcache_mp.l2_failures"):
                assert "required_when" not in fam, fam["id"]
        elif "required_when" in fam:
            # embedded families gated on a provisional context key are marked experimental
            assert fam.get("status") == "experimental", fam["id"]


def test_every_name_has_generation_and_versions_oldest_first(metrics):
    for fam, m in metrics:
        previous = (0,)
        for n in m["names"]:
            assert n.get("generation") in GENERATIONS, (m["id"], n["name"])
            if fam["component"] == "embedded":
                assert n["generation"] == "embedded", n["name"]
            else:
                assert n["generation"] in ("g0", "g1", "g2"), n["name"]
            if n["generation"] == "g0":
                assert n["name"].startswith("lmcache_mp:"), n["name"]
            if "versions" not in n:
                assert n.get("status") == "experimental" and n.get("note"), n["name"]
            low = lower_bound(n.get("versions"))
            assert low >= previous, f"{m['id']}: {n['name']} listed before an older name"
            previous = low


def test_histogram_names_have_no_series_suffix(names):
    for _, m, n in names:
        if m["type"] in ("histogram", "summary"):
            assert not re.search(r"_(bucket|sum|count)$", n["name"]), n["name"]


def test_aggregation_rules(metrics):
    for _, m in metrics:
        if m["type"] in ("counter", "histogram"):
            assert m["aggregate"] == "sum", m["id"]
    by_id = {m["id"]: m for _, m in metrics}
    assert by_id["lmcache_mp.l1_usage_ratio"]["aggregate"] == "max"


def test_g0_g1_g2_example_chain(metrics):
    by_id = {m["id"]: m for _, m in metrics}
    chain = [(n["name"], n["generation"]) for n in by_id["lmcache_mp.l1_read_chunks"]["names"]]
    assert chain == [("lmcache_mp:l1_read_keys", "g0"), ("lmcache_mp_l1_read_keys_total", "g1"),
                     ("lmcache_mp_l1_read_chunks_total", "g2")]


# ----------------------------------------------------------------------------------------------
# names against the references
# ----------------------------------------------------------------------------------------------

def test_every_name_is_known_or_allow_listed(names, known_names):
    unknown = []
    for _, m, n in names:
        name = n["name"]
        candidates = {name, name + "_total"}
        if name.endswith("_total"):
            candidates.add(name[: -len("_total")])
        if candidates & known_names:
            continue
        if name in ALLOWED_UNLISTED:
            assert n.get("status") == "experimental" and n.get("note"), \
                f"{name} is allow-listed but not marked experimental with a note"
            continue
        unknown.append(f"{m['id']}: {name}")
    assert not unknown, "names found in no inventory or capture:\n" + "\n".join(unknown)


def test_allow_list_is_not_stale(names, known_names):
    listed = {n["name"] for _, _, n in names}
    assert set(ALLOWED_UNLISTED) <= listed, sorted(set(ALLOWED_UNLISTED) - listed)
    assert not set(ALLOWED_UNLISTED) & known_names, "allow-listed names that are known after all"


def test_version_ranges_agree_with_inventories(names, prom_families, names_by_version):
    """For every name an inventory tracks, the spec range must select exactly the sampled
    releases in which the inventory saw it."""
    problems = []
    prom_versions = list(prom_families)
    for _, m, n in names:
        name = n["name"]
        if "versions" not in n:
            continue
        if any(name in prom_families[v] for v in prom_versions):
            seen = {v for v in prom_versions if name in prom_families[v]}
            picked = {v for v in prom_versions if in_range(v, n["versions"])}
        elif any(name in names_by_version[v] for v in names_by_version):
            seen = {v for v in names_by_version if name in names_by_version[v]}
            picked = {v for v in names_by_version if in_range(v, n["versions"])}
        else:
            continue
        if seen != picked:
            problems.append(f"{name}: spec {n['versions']!r} selects {sorted(picked, key=vtuple)}, "
                            f"inventory has {sorted(seen, key=vtuple)}")
    assert not problems, "\n".join(problems)


def test_no_metric_exposes_two_names_in_one_release(metrics, prom_families):
    """Aliases of one metric must never be exposed together, or summing would double count."""
    clashes = []
    for _, m in metrics:
        if m["id"] in CO_EXPOSED_ALIASES:
            continue
        for version, fams in prom_families.items():
            present = [n["name"] for n in m["names"] if n["name"] in fams]
            if len(present) > 1:
                clashes.append(f"{m['id']} @ {version}: {present}")
    assert not clashes, "\n".join(clashes)


def test_co_exposed_aliases_are_marked(metrics):
    by_id = {m["id"]: m for _, m in metrics}
    for metric_id in CO_EXPOSED_ALIASES:
        deprecated = [n for n in by_id[metric_id]["names"] if n.get("status") == "deprecated"]
        assert deprecated and all(n.get("note") for n in deprecated), metric_id


# ----------------------------------------------------------------------------------------------
# coverage of the real captures
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("capture", [H100_CAPTURE, CPU056_CAPTURE], ids=["h100", "cpu-0.5.6-run2"])
def test_capture_lmcache_mp_families_covered(capture, names):
    need_shared()
    assert capture.is_file(), capture
    covered = {fold(n["name"]) for _, _, n in names}
    families = [t for t in type_names(capture) if t.startswith("lmcache_mp")]
    assert families, f"no lmcache_mp families in {capture}"
    missing = [t for t in families if fold(t) not in covered and t not in DELIBERATELY_UNCOVERED]
    assert not missing, f"{capture.name}: uncovered families {missing}"


def test_all_cpu_metric_bodies_covered(names):
    need_shared()
    covered = {fold(n["name"]) for _, _, n in names}
    bodies = sorted((REAL / "lmcache-0.5.6-cpu").rglob("GET_metrics*.body"))
    assert bodies
    missing = sorted({f"{b.relative_to(REAL)}: {t}" for b in bodies for t in type_names(b)
                      if t.startswith("lmcache_mp") and fold(t) not in covered
                      and t not in DELIBERATELY_UNCOVERED})
    assert not missing, missing


@pytest.mark.parametrize("capture", EMBEDDED_CAPTURES, ids=[p.name for p in EMBEDDED_CAPTURES])
def test_embedded_capture_families_covered(capture, names):
    need_shared()
    covered = {fold(n["name"]) for _, _, n in names}
    families = [t for t in type_names(capture)
                if t.startswith("lmcache:") and not t.endswith("_created")]
    assert families
    missing = [t for t in families if fold(t) not in covered]
    assert not missing, f"{capture.name}: uncovered families {missing}"


def test_h100_known_truths_map_to_fixed_ids(names):
    need_shared()
    owner = {fold(n["name"]): m["id"] for _, m, n in names}
    text = H100_CAPTURE.read_text()
    assert "lmcache_mp_l0_l1_store_throughput_gbs_GB_per_second_sum" in text
    assert owner[fold("lmcache_mp_l0_l1_store_throughput_gbs_GB_per_second")] == \
        "lmcache_mp.l0_l1_store_throughput"
    assert owner[fold("lmcache_mp_lookup_hit_tokens_total")] == "lmcache_mp.lookup_hit_tokens"
    assert owner[fold("lmcache_mp_lookup_requested_tokens_total")] == "lmcache_mp.lookup_requested_tokens"
    assert owner[fold("lmcache_mp_l1_read_keys_total")] == "lmcache_mp.l1_read_chunks"


# ----------------------------------------------------------------------------------------------
# derived values
# ----------------------------------------------------------------------------------------------

def test_derived_references_resolve(spec, metrics):
    by_id = {m["id"]: m for _, m in metrics}
    derived = {d["id"]: d for d in spec["derived"]}
    for d in spec["derived"]:
        if d["op"] == "ratio":
            for key in ("numerator", "denominator"):
                assert d[key] in by_id, (d["id"], d[key])
                assert by_id[d[key]]["type"] == "counter", (d["id"], d[key])
        elif d["op"] == "histogram_mean":
            assert by_id[d["metric"]]["type"] == "histogram", d["id"]
        else:
            assert all(x in by_id for x in d["metrics"]), d["id"]
    hit = derived["lmcache_mp.lookup_hit_rate"]
    assert (hit["op"], hit["numerator"], hit["denominator"]) == \
        ("ratio", "lmcache_mp.lookup_hit_tokens", "lmcache_mp.lookup_requested_tokens")
    for direction in ("store", "load"):
        mean = derived[f"lmcache_mp.l0_l1_{direction}_throughput_mean"]
        assert mean["op"] == "histogram_mean"
        assert mean["metric"] == f"lmcache_mp.l0_l1_{direction}_throughput"
        assert mean["unit"] == "GB/s" and mean["group"] == "kv_cache_offload.lmcache_mp"
        assert derived[f"lmcache_mp.l2_{direction}_throughput_mean"]["metric"] == \
            f"lmcache_mp.l2_{direction}_throughput"
    blend = derived["lmcache_blend.lookup_hit_rate"]
    assert (blend["numerator"], blend["denominator"]) == \
        ("lmcache_blend.lookup_hit_tokens", "lmcache_blend.lookup_requested_tokens")
