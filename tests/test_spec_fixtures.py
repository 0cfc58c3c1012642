"""Every fixture the Surfaces spec names, run through the real pipeline: one test per fixture."""
from __future__ import annotations

import pytest

from conftest import ROOT


def _cases():
    from inferguard.spec import default_specs

    spec = default_specs()
    out = []
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            for fx in row.get("fixtures", []):
                out.append(pytest.param(row["id"], fx["path"], id=f"{row['id']}::{fx['path']}"))
    return out


@pytest.mark.parametrize("row_id,path", _cases())
def test_fixture_meets_its_expectation(spec, row_id, path):
    from inferguard.flow.matrix import run_fixtures

    results = [r for r in run_fixtures(spec, ROOT, {row_id}) if r.path == path]
    assert results, f"{row_id} names {path} but no result came back"
    for r in results:
        assert r.exists, f"{path} is declared by {row_id} but does not exist"
        assert r.passed, f"{row_id} {path}: " + "; ".join(r.diff())


def test_specs_test_command_reports_expected_versus_got(tmp_path):
    import shutil

    from conftest import run_cli

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    surf = specs / "surfaces.yaml"
    text = surf.read_text()
    needle = "- {path: fixtures/packets/vllm-lmcache-mp-h100, expect: {status: covered}}"
    assert needle in text
    surf.write_text(text.replace(needle, "- {path: fixtures/packets/vllm-lmcache-mp-h100, expect: {status: zero}}", 1))
    proc = run_cli("specs", "test", "--specs", str(specs), "--row", "lmcache.mp_prometheus")
    assert proc.returncode == 1
    assert "FAIL  lmcache.mp_prometheus" in proc.stdout
    assert "status: expected zero, got covered" in proc.stdout
