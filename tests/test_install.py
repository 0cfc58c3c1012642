"""What a user installs does what the checkout does, and our own failures are never input problems.

The wheel is built from a copy of the sources (a stale build/ folder can never leak into it),
its contents are checked against the tree, and the installed copy is run from another folder.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import H100, ROOT, run_cli

SRC = ROOT / "src" / "inferguard"


# --------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    tree = work / "tree"
    tree.mkdir()
    for name in ("src", "specs", "schemas"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    out = work / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(tree)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = list(out.glob("inferguard-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_every_module_spec_and_schema(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {"inferguard/" + p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")}
    specs = {"inferguard/_data/specs/" + p.relative_to(ROOT / "specs").as_posix() for p in (ROOT / "specs").rglob("*.yaml")}
    schemas = {"inferguard/_data/schemas/" + p.name for p in (ROOT / "schemas").glob("*.json")}
    assert len(modules) > 40 and len(specs) >= 10 and len(schemas) >= 15
    assert not modules - names, sorted(modules - names)
    assert not specs - names, sorted(specs - names)
    assert not schemas - names, sorted(schemas - names)
    # and nothing else under the package: no stale module from an old build
    shipped = {n for n in names if n.startswith("inferguard/") and n.endswith(".py")}
    assert shipped == modules, sorted(shipped ^ modules)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (its dependencies are the test env's)."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return target


def _run_installed(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("INFERGUARD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "inferguard", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_installed_wheel_runs_from_another_folder_like_the_checkout(installed, tmp_path):
    where = _run_installed(installed, "--version", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    probe = subprocess.run([sys.executable, "-c", "import inferguard, sys; print(inferguard.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(installed)))
    assert Path(probe.stdout.strip()).is_relative_to(installed), probe.stdout

    got = _run_installed(installed, "evaluate", str(H100), "--format", "json", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert "No module named" not in got.stdout + got.stderr
    mine = run_cli("evaluate", str(H100), "--format", "json", cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr
    assert json.loads(got.stdout) == json.loads(mine.stdout)
    rows = {r["id"]: r["status"] for r in json.loads(got.stdout)["surfaces"]}
    assert rows["lmcache.logs"] != "zero"

    tested = _run_installed(installed, "specs", "test", "--root", str(ROOT), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr
    assert " 0 failed" in tested.stdout and "No module named" not in tested.stdout

    checked = _run_installed(installed, "docs", "build", "--check", "--root", str(ROOT), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr
    assert "docs are up to date" in checked.stdout
    assert not (tmp_path / "docs").exists()


def test_docs_build_outside_a_checkout_refuses(tmp_path):
    proc = run_cli("docs", "build", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not inside an InferGuard checkout" in proc.stderr
    assert not (tmp_path / "docs").exists()
    proc = run_cli("specs", "test", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "not an InferGuard checkout" in proc.stderr


def test_docs_build_finds_the_checkout_from_a_subfolder():
    proc = run_cli("docs", "build", "--check", cwd=ROOT / "fixtures" / "packets")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "docs are up to date" in proc.stdout


# --------------------------------------------------------------------------- internal errors


def _boom(*_a, **_kw):
    raise AttributeError("'NoneType' object has no attribute 'group'")


@pytest.mark.expect_internal_error
def test_reader_defect_in_evaluate_is_exit_3(monkeypatch):
    from inferguard.cli.app import main
    from inferguard.readers import logs

    monkeypatch.setattr(logs, "read", _boom)
    res = CliRunner().invoke(main, ["evaluate", str(H100)])
    assert res.exit_code == 3
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inferguard: error: internal error: AttributeError")
    assert "Traceback" not in res.output


@pytest.mark.expect_internal_error
def test_prometheus_reader_defect_is_not_an_input_problem(monkeypatch, tmp_path):
    from inferguard.cli.app import main
    from inferguard.readers import prometheus

    monkeypatch.setattr(prometheus, "read", _boom)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["observability-coverage", "--engine-metrics-file", str(H100 / "engine.prom"),
                                    "--output", str(out)])
    assert res.exit_code == 3 and "internal error: AttributeError" in res.output
    assert not out.exists()


@pytest.mark.expect_internal_error
def test_reader_defect_in_collect_leaves_a_failed_packet_naming_the_lane(monkeypatch, tmp_path):
    from inferguard.cli.app import main
    from inferguard.readers import logs

    monkeypatch.setattr(logs, "read", _boom)
    out = tmp_path / "packet"
    res = CliRunner().invoke(main, ["collect-lmcache", "--output-dir", str(out),
                                    "--lmcache-metrics-file", str(H100 / "lmcache.prom"),
                                    "--lmcache-log-file", str(H100 / "lmcache_server.log"),
                                    "--lmcache-trace-file", str(ROOT / "fixtures/lmcache/trace-0.5.6-cpu/storage_trace.lct")])
    assert res.exit_code == 3
    assert "internal error" in res.output and "lane lmcache_log: AttributeError" in res.output
    m = json.loads((out / "packet_manifest.json").read_text())
    assert m["state"] == "failed"
    assert m["lanes"]["lmcache_log"]["status"] == "failed"
    assert "AttributeError" in m["lanes"]["lmcache_log"]["reason"]
    # what could be collected was: metrics and the trace lane
    assert m["lanes"]["lmcache_trace"]["status"] in ("ok", "problems")
    assert (out / "lmcache.prom").is_file()
    # and evaluating that packet says the log lane was not read, never that it was empty
    monkeypatch.undo()
    ev = CliRunner().invoke(main, ["evaluate", str(out), "--format", "json"])
    assert ev.exit_code == 0, ev.output
    rep = json.loads(ev.output)
    msgs = [p["message"] for p in rep["problems"]]
    assert any("lane was not read when the packet was collected" in m for m in msgs)
    assert any("not complete (state failed)" in m for m in msgs)
    logs_row = next(r for r in rep["surfaces"] if r["id"] == "lmcache.logs")
    assert logs_row["status"] != "zero"


@pytest.mark.expect_internal_error
def test_missing_dependency_stops_every_command_at_start(monkeypatch):
    from inferguard.core import install_check
    from inferguard.cli.app import main

    real = install_check.findable
    monkeypatch.setattr(install_check, "findable", lambda name: name != "msgpack" and real(name))
    res = CliRunner().invoke(main, ["evaluate", str(H100)])
    assert res.exit_code == 3
    assert "broken install: missing msgpack" in res.output
    help_res = CliRunner().invoke(main, ["--help"])
    assert help_res.exit_code == 0 and "Exit codes" in help_res.output


def test_findable_answers_as_importlib_util_find_spec():
    from inferguard.core.install_check import RUNTIME_MODULES, findable

    for name in [*RUNTIME_MODULES, "json", "inferguard", "no_such_module_x1", "_sre", "marshal"]:
        assert findable(name) == (importlib.util.find_spec(name) is not None), name


def test_every_spec_kind_plugin_is_registered():
    from inferguard.spec.loader import KIND_PLUGINS

    modules = {p.stem for p in (SRC / "spec" / "kinds").glob("*.py") if p.stem != "__init__"}
    assert modules == set(KIND_PLUGINS.values())


def test_every_lane_reader_imports():
    from inferguard.readers import LANE_READERS, lane_reader

    for lane in LANE_READERS:
        assert callable(lane_reader(lane)), lane


# --------------------------------------------------------------------------- the suite's own guard


def test_the_suite_fails_a_test_with_an_internal_error(tmp_path):
    """A test in which InferGuard hits an internal error fails even when it asserts nothing
    about it (the command exited, the test moved on): the guard in conftest.py sees it."""
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_guard.py").write_text(
        "from click.testing import CliRunner\n"
        "from inferguard.cli.app import main\n"
        "from inferguard.readers import logs\n"
        f"H100 = {str(H100)!r}\n"
        "def _boom(*a, **k):\n"
        "    raise KeyError('x')\n"
        "def test_quiet(monkeypatch):\n"
        "    monkeypatch.setattr(logs, 'read', _boom)\n"
        "    CliRunner().invoke(main, ['evaluate', H100])\n"
        "def test_clean():\n"
        "    CliRunner().invoke(main, ['evaluate', H100])\n")
    env = {k: v for k, v in os.environ.items() if k != "INFERGUARD_INTERNAL_ERROR_LOG"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "ERROR test_guard.py::test_quiet" in proc.stdout and "test_clean" not in proc.stdout.split("short test summary")[-1]
    assert "internal error(s) in InferGuard during this test" in proc.stdout
    assert "KeyError" in proc.stdout


def test_tests_import_the_installed_package_not_the_checkout():
    """With the src/ layout the checkout's top holds no importable package; in CI
    (INFERGUARD_REQUIRE_INSTALLED=1) the package must come from site-packages."""
    import inferguard

    where = Path(inferguard.__file__).resolve()
    assert not (ROOT / "inferguard").exists()
    installed = "site-packages" in where.parts
    assert installed or where.is_relative_to(ROOT / "src"), where
    if os.environ.get("INFERGUARD_REQUIRE_INSTALLED") == "1":
        assert installed and not where.is_relative_to(ROOT / "src"), f"tests import the checkout: {where}"
