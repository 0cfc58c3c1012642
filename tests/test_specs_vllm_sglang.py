"""Checks for specs/metrics/vllm.yaml and specs/metrics/sglang.yaml.

The spec files are validated against their JSON Schema, ids and exposed names are checked for
uniqueness after name folding, and every exposed name is checked against the reference inventories
and the real captures under the shared data directory.
"""
from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "fixtures" / "reference"  # copies from shared/reference
INVENTORIES = REFERENCE / "inventories"
REAL = ROOT / "fixtures" / "real"  # copies of shared/data/real files
SCHEMAS = ROOT / "schemas"
SPEC_FILES = {
    "vllm": ROOT / "specs" / "metrics" / "vllm.yaml",
    "sglang": ROOT / "specs" / "metrics" / "sglang.yaml",
}
SGLANG_FIXTURES = ROOT / "fixtures" / "sglang"

VLLM_RELEASES = ["0.6.6", "0.7.3", "0.8.5", "0.9.2", "0.10.2", "0.11.0",
                 "0.13.0", "0.17.0", "0.21.0", "0.25.0", "0.29.0", "0.33.0"]

# Names that are in neither the inventories nor the real captures. Each one must be marked
# `status: experimental` with a `note:` on its name entry; the reason it is listed is given here.
ALLOWED_UNINVENTORIED = {
    # vLLM OffloadingConnector metrics, defined through metadata constants (reference 1.4).
    "vllm:kv_offload_load_bytes_total": "reference 1.4",
    "vllm:kv_offload_store_bytes_total": "reference 1.4",
    "vllm:kv_offload_load_time_total": "reference 1.4",
    "vllm:kv_offload_store_time_total": "reference 1.4",
    "vllm:kv_offload_load_size": "reference 1.4",
    "vllm:kv_offload_store_size": "reference 1.4",
    "vllm:kv_offload_lookup_sync_delay_seconds": "reference 1.4",
    "vllm:kv_offload_lookup_async_delay_seconds": "reference 1.4",
    "vllm:kv_offload_allocation_failure_total": "reference 1.4",
    "vllm:kv_offload_stores_skipped_total": "reference 1.4",
    "vllm:kv_offload_cpu_cache_usage_perc": "reference 1.4",
    "vllm:kv_offload_cpu_cache_write_usage_perc": "reference 1.4",
    "vllm:kv_offload_cpu_cache_read_usage_perc": "reference 1.4",
    "vllm:kv_offload_config_info": "reference 1.4",
    "vllm:kv_offload_tiering_read_bytes_total": "reference 1.4 (brace expansion)",
    "vllm:kv_offload_tiering_write_bytes_total": "reference 1.4 (brace expansion)",
    "vllm:kv_offload_tiering_read_time_total": "reference 1.4 (brace expansion)",
    "vllm:kv_offload_tiering_write_time_total": "reference 1.4 (brace expansion)",
    "vllm:kv_offload_tiering_chunk_queries_total": "reference 1.4 (brace expansion)",
    "vllm:kv_offload_tiering_chunk_hits_total": "reference 1.4 (brace expansion)",
    # SGLang names of older releases, only in the 2.4 alias map.
    "sglang:time_per_output_token_seconds": "reference 2.4",
    "sglang:queue_time_s": "reference 2.4",
    "sglang:avg_request_queue_latency": "reference 2.4",
    "sglang:num_prefill_prealloc_queue_reqs": "reference 2.4",
    "sglang:num_prefill_infight_queue_reqs": "reference 2.4",
}

# vLLM names whose version range deliberately extends past what the AST inventories show.
VLLM_VERSION_EXCEPTIONS = {
    # created dynamically in V1 (not in the AST table); reference 1.6 and the real capture show it
    "vllm:cache_config_info",
    # declared through constants from 0.25 on and still emitted in 0.33 (reference 1.4)
    "vllm:kv_offload_total_bytes_total",
    "vllm:kv_offload_total_time_total",
    "vllm:kv_offload_size",
}

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+\S+")
_TYPE_RE = re.compile(r"^#\s+(?:TYPE|HELP)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s")
_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def fold(name: str) -> str:
    """The engine's exposed-name key: ':' and '.' become '_', one trailing '_total' goes."""
    key = name.replace(":", "_").replace(".", "_")
    if key.endswith("_total"):
        key = key[: -len("_total")]
    return key


def family_names_from_exposition(text: str) -> set[str]:
    """Metric family names from Prometheus text: TYPE/HELP names, and sample names without suffixes."""
    names: set[str] = set()
    for line in text.splitlines():
        m = _TYPE_RE.match(line)
        if m:
            names.add(m.group(1))
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if m:
            sample = m.group(1)
            names.add(sample)
            for suffix in _SUFFIXES:
                if sample.endswith(suffix):
                    names.add(sample[: -len(suffix)])
    return names


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


def parse_range(spec: str) -> tuple[str | None, str | None, bool]:
    """(lower bound, upper bound, upper inclusive) of a simple range such as '>=0.6.6,<0.13.0'."""
    lower = upper = None
    inclusive = False
    for part in spec.split(","):
        part = part.strip()
        m = re.match(r"^(>=|<=|<|>|==)?\s*([0-9][0-9a-z.+-]*)$", part)
        assert m, f"unsupported version constraint {part!r}"
        op, ver = m.group(1) or "==", m.group(2)
        if op in (">=", "=="):
            lower = ver
        if op in ("<", "<="):
            upper, inclusive = ver, op == "<="
    return lower, upper, inclusive


# ----------------------------------------------------------------------------- loading


@lru_cache(maxsize=None)
def load_spec(runtime: str) -> dict:
    with SPEC_FILES[runtime].open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def validator() -> Draft202012Validator:
    main = json.loads((SCHEMAS / "spec.MetricFamilies.v1.schema.json").read_text(encoding="utf-8"))
    common = json.loads((SCHEMAS / "spec.common.v1.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resources([
        (main["$id"], Resource.from_contents(main)),
        (common["$id"], Resource.from_contents(common)),
    ])
    Draft202012Validator.check_schema(main)
    return Draft202012Validator(main, registry=registry)


def iter_metrics():
    for runtime in SPEC_FILES:
        for fam in load_spec(runtime)["families"]:
            for met in fam["metrics"]:
                yield runtime, fam, met


def iter_names():
    for runtime, fam, met in iter_metrics():
        for entry in met["names"]:
            yield runtime, fam, met, entry


@lru_cache(maxsize=None)
def vllm_inventory() -> dict[str, set[str]]:
    """folded name -> releases whose AST inventory declares it."""
    seen: dict[str, set[str]] = {}
    for release in VLLM_RELEASES:
        with (INVENTORIES / f"vllm-{release}.tsv").open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if len(row) > 3 and row[3].startswith("vllm:"):
                    seen.setdefault(fold(row[3]), set()).add(release)
    return seen


@lru_cache(maxsize=None)
def known_names() -> frozenset[str]:
    """Folded names from every inventory TSV, names_by_version.json and the real captures."""
    folded: set[str] = set()
    for tsv in sorted(INVENTORIES.glob("*.tsv")):
        with tsv.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh, delimiter="\t"):
                for cell in row[3:4]:
                    if re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:.]*$", cell):
                        folded.add(fold(cell))
    by_version = json.loads((INVENTORIES / "names_by_version.json").read_text(encoding="utf-8"))
    for names in by_version.values():
        folded.update(fold(n) for n in names)
    for path in sorted(REAL.rglob("*")):
        if not path.is_file() or path.suffix not in (".prom", ".txt", ".body"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "# TYPE " not in text:
            continue
        folded.update(fold(n) for n in family_names_from_exposition(text))
    return frozenset(folded)


@lru_cache(maxsize=None)
def sglang_since_from_reference() -> dict[str, str]:
    """'since (sampled)' column of the SGLang 0.5.23 table (reference section 2.3)."""
    text = (REFERENCE / "sglang-0.5.23-metrics-table.md").read_text(encoding="utf-8")
    since: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\| `(sglang:[^`]+)` \| \w+ \| [^|]* \| [^|]* \| ([0-9.]+) \|", line)
        if m:
            since[m.group(1)] = m.group(2)
    return since


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize("runtime", sorted(SPEC_FILES))
def test_spec_is_schema_valid(runtime):
    doc = load_spec(runtime)
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    assert doc["kind"] == "MetricFamilies"
    assert doc["runtime"] == runtime


@pytest.mark.parametrize("runtime", sorted(SPEC_FILES))
def test_ids_carry_the_runtime_prefix(runtime):
    doc = load_spec(runtime)
    for fam in doc["families"]:
        assert fam["id"].startswith(runtime + "."), fam["id"]
        assert fam.get("description"), f"family {fam['id']} needs a description"
        for met in fam["metrics"]:
            assert met["id"].startswith(runtime + "."), met["id"]
    for der in doc.get("derived", []):
        assert der["id"].startswith(runtime + "."), der["id"]


def test_schema_rejects_a_broken_document():
    broken = {"apiVersion": "inferguard.dev/v1", "kind": "MetricFamilies", "runtime": "tgi",
              "families": [{"id": "x", "title": "t", "metrics": []}]}
    assert list(validator().iter_errors(broken))


# ----------------------------------------------------------------------------- uniqueness


def test_family_metric_and_derived_ids_are_unique_across_both_files():
    seen: dict[str, str] = {}
    for runtime in SPEC_FILES:
        doc = load_spec(runtime)
        ids = [("family", f["id"]) for f in doc["families"]]
        ids += [("metric", m["id"]) for f in doc["families"] for m in f["metrics"]]
        ids += [("derived", d["id"]) for d in doc.get("derived", [])]
        for kind, ident in ids:
            assert ident not in seen, f"{kind} id {ident!r} already used as {seen[ident]}"
            seen[ident] = f"{kind} in {runtime}"


def test_exposed_names_are_unique_after_folding():
    owner: dict[str, str] = {}
    for _, _, met, entry in iter_names():
        key = fold(entry["name"])
        assert key not in owner, (
            f"{entry['name']!r} (metric {met['id']}) folds to {key!r}, already listed by {owner[key]}"
        )
        owner[key] = f"{met['id']} as {entry['name']!r}"


def test_name_entries_are_family_names_not_series():
    for _, _, met, entry in iter_names():
        name = entry["name"]
        if met["type"] in ("histogram", "summary", "gaugehistogram"):
            assert not name.endswith(("_bucket", "_sum", "_count")), name
        assert not name.endswith("_created"), name


# ----------------------------------------------------------------------------- provenance of names


def test_every_exposed_name_is_inventoried_or_explicitly_allowed():
    known = known_names()
    unknown = []
    for _, _, met, entry in iter_names():
        name = entry["name"]
        if fold(name) in known:
            continue
        if name not in ALLOWED_UNINVENTORIED:
            unknown.append(f"{met['id']}: {name}")
            continue
        assert entry.get("status") == "experimental", f"{name} is not inventoried; mark it experimental"
        assert entry.get("note", "").strip(), f"{name} is not inventoried; its entry needs a note on the source"
    assert not unknown, "names found in no inventory and no real capture:\n" + "\n".join(unknown)


def test_allow_list_has_no_stale_entries():
    listed = {entry["name"] for _, _, _, entry in iter_names()}
    known = known_names()
    for name in ALLOWED_UNINVENTORIED:
        assert name in listed, f"allow-listed {name} is not used by any spec"
        assert fold(name) not in known, f"allow-listed {name} is inventoried now; drop it from the allow-list"


def test_vllm_version_ranges_match_the_inventories():
    inventory = vllm_inventory()
    problems = []
    for runtime, _, met, entry in iter_names():
        if runtime != "vllm" or "versions" not in entry or entry.get("status") == "experimental":
            continue
        name = entry["name"]
        releases = inventory.get(fold(name))
        if not releases:
            continue
        ordered = sorted(releases, key=version_key)
        lower, upper, inclusive = parse_range(entry["versions"])
        if lower != ordered[0]:
            problems.append(f"{name}: lower bound {lower}, inventory first shows it in {ordered[0]}")
        if name in VLLM_VERSION_EXCEPTIONS:
            continue
        last = ordered[-1]
        if last == VLLM_RELEASES[-1]:
            if upper is not None:
                problems.append(f"{name}: still present in {last} but capped at {entry['versions']}")
            continue
        after = VLLM_RELEASES[VLLM_RELEASES.index(last) + 1]
        expected = (last, True) if inclusive else (after, False)
        if (upper, inclusive) != expected:
            problems.append(f"{name}: last in {last}, so the range should end <{after}; got {entry['versions']}")
    assert not problems, "\n".join(problems)


def test_sglang_version_ranges_match_the_reference_table():
    since = sglang_since_from_reference()
    problems = []
    for runtime, _, met, entry in iter_names():
        if runtime != "sglang" or entry.get("status") == "experimental":
            continue
        name = entry["name"]
        assert "versions" in entry, f"{name} needs a version range"
        lower, upper, _ = parse_range(entry["versions"])
        if name in since and lower != since[name]:
            problems.append(f"{name}: lower bound {lower}, reference 2.3 says since {since[name]}")
        if upper is not None:
            problems.append(f"{name}: present in 0.5.23 but capped at {entry['versions']}")
    assert not problems, "\n".join(problems)


def test_aliases_are_ordered_oldest_first():
    for _, _, met, entry_list in ((r, f, m, m["names"]) for r, f, m in iter_metrics()):
        lowers = []
        for entry in entry_list:
            if "versions" not in entry:
                continue
            lower, upper, _ = parse_range(entry["versions"])
            lowers.append(version_key(lower or upper or "0"))
        assert lowers == sorted(lowers), f"{met['id']}: names are not ordered oldest first"


def test_uncertain_names_are_flagged():
    for _, _, met, entry in iter_names():
        if entry.get("status") == "experimental":
            assert entry.get("note") or met.get("note"), f"{entry['name']} is experimental without a note"


# ----------------------------------------------------------------------------- content


def _metric_index() -> dict[str, dict]:
    return {met["id"]: met for _, _, met in iter_metrics()}


def _family_index() -> dict[str, dict]:
    return {fam["id"]: fam for runtime in SPEC_FILES for fam in load_spec(runtime)["families"]}


def _names_of(metric_id: str) -> list[str]:
    return [e["name"] for e in _metric_index()[metric_id]["names"]]


def test_renames_are_aliases_of_one_metric():
    assert _names_of("vllm.inter_token_latency_seconds") == [
        "vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds"]
    assert _names_of("vllm.kv_cache_usage_perc") == ["vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"]
    assert _names_of("sglang.inter_token_latency_seconds") == [
        "sglang:time_per_output_token_seconds", "sglang:inter_token_latency_seconds"]
    # block-counting old prefix cache counters stay separate from the token-based ones
    assert _names_of("vllm.prefix_cache_hits") == ["vllm:prefix_cache_hits_total"]
    assert _names_of("vllm.gpu_prefix_cache_hits") == ["vllm:gpu_prefix_cache_hits_total"]


def test_aggregation_rules():
    metrics = _metric_index()
    for mid, met in metrics.items():
        if met["type"] in ("counter", "histogram"):
            # token counters of the radix-cache collector repeat one logical count per TP rank
            allowed = {"sum", "max"} if mid in {"sglang.hicache_backup_tokens", "sglang.load_back_tokens"} else {"sum"}
            assert met["aggregate"] in allowed, mid
        assert "labels" in met, f"{mid} needs its expected label names"
    for mid in ("vllm.num_requests_running", "vllm.num_requests_waiting",
                "sglang.num_running_reqs", "sglang.num_queue_reqs"):
        assert metrics[mid]["aggregate"] == "sum", mid
    for mid in ("vllm.kv_cache_usage_perc", "sglang.token_usage"):
        assert metrics[mid]["aggregate"] == "max", mid
    assert metrics["vllm.cache_config_info"]["aggregate"] == "last"
    assert "source" in metrics["vllm.prompt_tokens_by_source"]["labels"]
    assert "transfer_type" in metrics["vllm.kv_offload_total_bytes"]["labels"]


def test_required_when_expressions():
    import jmespath
    families = _family_index()
    expected = {
        "vllm.kv_offload": "context.cpu_offload_configured",
        "vllm.external_prefix_cache": "context.external_cache_configured || detected.lmcache_mode != 'none'",
        "vllm.kv_transfer_connectors": "context.disaggregated",
        "sglang.disaggregation": "context.disaggregated",
    }
    for fid, expr in expected.items():
        assert families[fid].get("required_when") == expr, fid
    for fid, fam in families.items():
        if "required_when" in fam:
            compiled = jmespath.compile(fam["required_when"])
            assert fid in expected, f"{fid} has an unexpected required_when"
            base = {"context": {"cpu_offload_configured": False, "external_cache_configured": False,
                                "disaggregated": False},
                    "detected": {"lmcache_mode": "none", "engines": []}}
            assert not compiled.search(base), fid
    ext = jmespath.compile(families["vllm.external_prefix_cache"]["required_when"])
    assert ext.search({"context": {"external_cache_configured": False}, "detected": {"lmcache_mode": "mp"}})


def test_derived_values_refer_to_known_metrics():
    metrics = _metric_index()
    derived = {d["id"]: d for runtime in SPEC_FILES for d in load_spec(runtime).get("derived", [])}
    for did, der in derived.items():
        refs = [der[k] for k in ("numerator", "denominator", "metric") if k in der] + der.get("metrics", [])
        for ref in refs:
            assert ref in metrics or ref in derived, f"{did} refers to unknown {ref}"
        if der["op"] == "histogram_mean":
            assert metrics[der["metric"]]["type"] in ("histogram", "summary"), did
        if der["op"] == "ratio":
            for side in ("numerator", "denominator"):
                ref = der[side]
                if ref in metrics and metrics[ref]["type"] == "counter":
                    other = der["denominator" if side == "numerator" else "numerator"]
                    assert metrics[other]["type"] == "counter", f"{did}: counter over non-counter"
    hit = derived["vllm.prefix_cache_hit_rate"]
    assert (hit["numerator"], hit["denominator"]) == ("vllm.prefix_cache_hits", "vllm.prefix_cache_queries")
    ext = derived["vllm.external_prefix_cache_hit_rate"]
    assert (ext["numerator"], ext["denominator"]) == ("vllm.external_prefix_cache_hits",
                                                      "vllm.external_prefix_cache_queries")
    sg = derived["sglang.cache_hit_rate_from_tokens"]
    assert (sg["numerator"], sg["denominator"]) == ("sglang.cached_tokens", "sglang.prompt_tokens")
    offload = [d for d in derived.values() if d.get("group") == "kv_cache_offload.vllm_native"]
    assert {d["op"] for d in offload} >= {"sum", "ratio", "histogram_mean"}


# ----------------------------------------------------------------------------- captures and fixtures


def _index() -> dict[str, str]:
    return {fold(entry["name"]): met["id"] for _, _, met, entry in iter_names()}


def test_real_vllm_capture_resolves_the_core_families():
    text = (REAL / "vllm-lmcache-mp-h100" / "vllm_metrics_loaded.prom").read_text(encoding="utf-8")
    index = _index()
    resolved = {index[fold(n)] for n in family_names_from_exposition(text) if fold(n) in index}
    for mid in ("vllm.time_to_first_token_seconds", "vllm.inter_token_latency_seconds",
                "vllm.e2e_request_latency_seconds", "vllm.request_queue_time_seconds",
                "vllm.num_requests_running", "vllm.num_requests_waiting", "vllm.prompt_tokens",
                "vllm.generation_tokens", "vllm.kv_cache_usage_perc", "vllm.prefix_cache_queries",
                "vllm.prefix_cache_hits", "vllm.external_prefix_cache_queries",
                "vllm.external_prefix_cache_hits", "vllm.prompt_tokens_by_source",
                "vllm.prompt_tokens_cached", "vllm.cache_config_info"):
        assert mid in resolved, mid


def _origin(folder: Path) -> str:
    return yaml.safe_load((folder / "PROVENANCE.yaml").read_text(encoding="utf-8"))["origin"]


def _scrape_fixtures() -> list[Path]:
    """The SGLang scrape fixtures (log fixtures beside them are checked in test_real_deployments.py)."""
    return [p for p in SGLANG_FIXTURES.iterdir() if p.is_dir() and any(p.glob("engine.*"))]


# The hand-built cases of the SGLang naming history; real pastes from public issues are
# checked for their source URL instead (their old names predate the spec's sampled releases).
SGLANG_CASES = sorted(p.name for p in _scrape_fixtures() if _origin(p) == "synthetic")
SGLANG_REAL_CASES = sorted(p.name for p in _scrape_fixtures() if _origin(p) == "real_capture")


@pytest.mark.parametrize("case", SGLANG_REAL_CASES)
def test_sglang_real_pastes_name_their_public_source(case):
    prov = yaml.safe_load((SGLANG_FIXTURES / case / "PROVENANCE.yaml").read_text(encoding="utf-8"))
    assert str(prov["source"]).startswith("https://github.com/sgl-project/sglang/")
    assert prov["versions"]["sglang"] and prov["description"].strip()


def test_sglang_fixture_cases_exist():
    assert len(SGLANG_CASES) >= 2


@pytest.mark.parametrize("case", SGLANG_CASES)
def test_sglang_fixture_names_resolve_and_provenance_is_complete(case):
    folder = SGLANG_FIXTURES / case
    prov = yaml.safe_load((folder / "PROVENANCE.yaml").read_text(encoding="utf-8"))
    assert prov["origin"] == "synthetic"
    assert str(prov["created"]) == "2026-11-29"
    assert prov["versions"]["sglang"]
    assert prov["description"].strip() and prov["derived_from"].strip()
    text = (folder / "engine.prom").read_text(encoding="utf-8")
    index = _index()
    families = {n for n in family_names_from_exposition(text)
                if not n.endswith(_SUFFIXES) or fold(n) in index}
    assert families
    unresolved = sorted(n for n in families if fold(n) not in index)
    assert not unresolved, f"{case}: names the spec does not know: {unresolved}"
    for name in families:
        entry = next(e for _, _, m, e in iter_names() if fold(e["name"]) == fold(name))
        if "versions" in entry:
            lower, upper, inclusive = parse_range(entry["versions"])
            v = version_key(str(prov["versions"]["sglang"]))
            assert lower is None or v >= version_key(lower), f"{case}: {name} is newer than the fixture version"
            if upper is not None:
                assert v <= version_key(upper) if inclusive else v < version_key(upper), (
                    f"{case}: {name} was gone before the fixture version")
