"""The specs against the copy of the reference inventories kept in fixtures/reference/inventories/.

Every metric name of every inventoried release is an alias in the MetricFamilies specs or is
listed under `not_mapped` with a reason; every spec range holds each release whose inventory has
the name; the release lists the version verdicts use are the inventoried ones; and a scrape made
of exactly one release's names gets a version verdict that contains that release.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from inferguard.engine.versions import in_range
from inferguard.spec.metrics import catalog

INV = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "inventories"


def _load(name: str) -> dict:
    return json.loads((INV / f"{name}.json").read_text(encoding="utf-8"))


def _by_release() -> dict[str, dict[str, set[str]]]:
    """runtime -> release -> names."""
    out: dict[str, dict[str, set[str]]] = {}
    for rt in ("vllm", "sglang"):
        out[rt] = {r: set(names) for r, names in _load(rt)["releases"].items()}
    lm = _load("lmcache")
    rels: dict[str, set[str]] = {}
    for key in ("names_by_version", "prom_families_by_version"):
        for r, names in lm[key].items():
            rels.setdefault(r, set()).update(names)
    rels.setdefault("0.5.6", set()).update(lm["tsv_0.5.6"])
    out["lmcache"] = rels
    return out


@pytest.fixture(scope="module")
def cat(spec):
    return catalog(spec)


def test_inventory_copy_is_there_with_its_provenance():
    assert (INV / "PROVENANCE.yaml").is_file()
    inv = _by_release()
    assert len(inv["vllm"]) == 12 and len(inv["lmcache"]) == 12 and set(inv["sglang"]) == {"0.5.23"}
    assert sum(len(v) for rels in inv.values() for v in rels.values()) > 2000


def test_every_inventory_name_is_known_to_the_specs(cat):
    unknown = sorted({n for rels in _by_release().values() for names in rels.values() for n in names
                      if cat.lookup(n) is None and n not in cat.not_mapped})
    assert unknown == [], f"{len(unknown)} inventory names the specs neither map nor list under not_mapped: {unknown[:20]}"


def test_not_mapped_lists_only_inventory_names_and_never_a_mapped_one(cat):
    every = {n for rels in _by_release().values() for names in rels.values() for n in names}
    stale = sorted(n for n in cat.not_mapped if n not in every)
    assert stale == [], f"not_mapped names that no inventory holds: {stale}"
    both = sorted(n for n in cat.not_mapped if cat.lookup(n) is not None)
    assert both == [], f"names both mapped and listed as not mapped: {both}"
    assert all(reason.strip() for reason in cat.not_mapped.values())


def test_spec_ranges_hold_every_release_whose_inventory_has_the_name(cat):
    wrong = []
    for rt, rels in _by_release().items():
        for rel, names in rels.items():
            for n in names:
                hit = cat.lookup_exact(n)
                if hit is None or "." in n:
                    # OTel instrument names are never exposed as such; their Prometheus forms
                    # (prom_families_by_version) are the ones checked.
                    continue
                if not in_range(hit[1].versions, rel):
                    wrong.append(f"{n} is in the {rt} {rel} inventory, spec range of {hit[1].name!r} is {hit[1].versions!r}")
    assert wrong == [], "\n".join(wrong[:20])


def test_release_lists_are_the_inventoried_releases(cat):
    inv = _by_release()
    key = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    assert list(cat.releases["vllm"]) == sorted(inv["vllm"], key=key)
    assert list(cat.releases["lmcache"]) == sorted(inv["lmcache"], key=key)
    assert set(inv["sglang"]) <= set(cat.releases["sglang"])


@pytest.mark.parametrize("runtime", ["vllm", "lmcache"])
def test_a_scrape_of_one_release_names_gets_a_verdict_that_holds_that_release(runtime, cat, tmp_path):
    for rel, names in sorted(_by_release()[runtime].items()):
        # Exposed forms only (OTel instrument names have dots and are never exposed as such).
        mapped = sorted(n for n in names if "." not in n and cat.lookup(n) is not None
                        and cat.metrics[cat.lookup(n)[0]].runtime == runtime)
        if not mapped:
            continue
        prom = tmp_path / f"{runtime}-{rel}.prom"
        prom.write_text("".join(f"{n} 1\n" for n in mapped), encoding="utf-8")
        out = tmp_path / f"{runtime}-{rel}.json"
        flag = "--engine-metrics-file" if runtime == "vllm" else "--lmcache-metrics-file"
        res = run_cli("observability-coverage", flag, str(prom), "--output", str(out))
        assert res.returncode == 0, res.stderr
        verdict = json.loads(out.read_text())["detected"]["versions"][runtime]
        assert verdict["verdict"] == "consistent", (rel, verdict)
        assert rel in verdict["releases"], (rel, verdict["summary"])
