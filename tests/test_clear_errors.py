"""Clear errors: one line, exit 2, the user's own path, and no vacuous success."""
from __future__ import annotations

import os

import pytest

from conftest import H100, run_cli

ENGINE = str(H100 / "engine.prom")


def _one_line_exit_2(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("inferguard: error: ") and "internal error" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (("observability-coverage", "--bogus"), "No such option '--bogus'"),
    (("observability-coverage", "--engine-metrics-file"), "requires an argument"),
    (("lmcache-compat", "--expect-mode", "weird", "--lmcache-metrics-file", ENGINE), "'weird' is not one of"),
    (("collect-lmcache",), "Missing option '--output-dir'"),
    (("observability-coverage", "--max-scrape-bytes", "12X", "--engine-metrics-file", ENGINE), "is not a size"),
    (("no-such-command",), "No such command 'no-such-command'"),
])
def test_usage_errors_are_one_line(args, words):
    line = _one_line_exit_2(run_cli(*args))
    assert words in line and "--help" in line


def test_observability_coverage_with_no_input_is_a_usage_error():
    line = _one_line_exit_2(run_cli("observability-coverage"))
    assert "give at least one metrics file or URL" in line


def test_a_symlink_loop_is_not_no_such_file(tmp_path):
    loop = tmp_path / "loop.prom"
    loop.symlink_to(loop)
    line = _one_line_exit_2(run_cli("observability-coverage", "--engine-metrics-file", str(loop)))
    assert line == f"inferguard: error: {loop}: symbolic link loop"
    dangling = tmp_path / "dangling.prom"
    dangling.symlink_to(tmp_path / "gone.prom")
    line = _one_line_exit_2(run_cli("lmcache-compat", "--lmcache-metrics-file", str(dangling)))
    assert line == f"inferguard: error: {dangling}: dangling symbolic link"


def test_a_write_error_names_the_users_path_not_a_temporary_file():
    # /sys refuses new files even to root, so this holds whoever runs the tests
    target = "/sys/inferguard-test-report.json"
    assert not os.path.exists(target)
    line = _one_line_exit_2(run_cli("observability-coverage", "--engine-metrics-file", ENGINE, "--output", target))
    assert line.startswith(f"inferguard: error: {target}: ") and ".tmp" not in line
    assert not os.path.exists(target)


# --------------------------------------------------------------------------- vacuous successes


def test_specs_lint_on_a_folder_without_yaml_is_an_error(tmp_path):
    (tmp_path / "README.txt").write_text("no specs here\n")
    proc = run_cli("specs", "lint", str(tmp_path))
    assert proc.returncode == 2
    assert f"{tmp_path}: spec/empty: no spec files (*.yaml, *.yml) in this folder" in proc.stdout


def test_specs_test_on_a_folder_without_yaml_is_an_error(tmp_path):
    line = _one_line_exit_2(run_cli("specs", "test", "--specs", str(tmp_path)))
    assert "no spec files" in line


def test_specs_test_with_an_unknown_row_is_an_error():
    line = _one_line_exit_2(run_cli("specs", "test", "--row", "no.such.row"))
    assert "unknown row or rule id(s): no.such.row" in line


def test_specs_lint_on_an_emptied_detection_document_is_an_error(tmp_path):
    d = tmp_path / "specs"
    d.mkdir()
    (d / "detection.yaml").write_text("apiVersion: inferguard.dev/v1\nkind: Detection\n"
                                      "engines: []\nlmcache_modes: []\nconnectors: []\napplicability: []\n")
    proc = run_cli("specs", "lint", str(d))
    assert proc.returncode == 2
    for key, line in (("engines", 3), ("lmcache_modes", 4), ("connectors", 5), ("applicability", 6)):
        assert f"detection.yaml:{line}:1: spec/schema: $.{key}: [] should be non-empty" in proc.stdout


@pytest.mark.parametrize("cmd, who", [("observability-coverage", "engine"), ("lmcache-compat", "lmcache"),
                                      ("collect-lmcache", "engine")])
def test_a_metrics_file_and_url_together_is_an_error(tmp_path, cmd, who):
    extra = ("--output-dir", str(tmp_path / "p")) if cmd == "collect-lmcache" else ()
    line = _one_line_exit_2(run_cli(cmd, *extra, f"--{who}-metrics-file", ENGINE,
                                    f"--{who}-metrics-url", "http://127.0.0.1:9/metrics"))
    assert f"give --{who}-metrics-file or --{who}-metrics-url, not both" in line
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("url, why", [
    ("ftp://127.0.0.1:8080", "not an http(s) URL"),
    ("http://", "no host in the URL"),
    ("http://127.0.0.1:99999", "the port is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "the port is not a number from 1 to 65535"),
    ("http://127.0.0.1:80x", "the port is not a number from 1 to 65535"),
    ("http://127.0.0.1:8080\r\nX-Injected: 1", "whitespace or control characters"),
    ("http://127.0.0.1:8080 /x", "whitespace or control characters"),
    ("http://127.0.0.1:8080/?a=b", "a base URL takes no query or fragment"),
])
def test_a_bad_lmcache_http_base_url_is_exit_2_and_nothing_is_written(tmp_path, url, why):
    out = tmp_path / "p"
    line = _one_line_exit_2(run_cli("collect-lmcache", "--output-dir", str(out), "--lmcache-http-base-url", url))
    assert line.startswith("inferguard: error: --lmcache-http-base-url ") and why in line
    assert not out.exists()


def test_a_bad_metrics_url_is_exit_2_before_anything_is_sent():
    line = _one_line_exit_2(run_cli("observability-coverage", "--engine-metrics-url", "http://127.0.0.1:70000/metrics"))
    assert "--engine-metrics-url" in line and "65535" in line


def test_a_bare_group_still_shows_its_help():
    proc = run_cli("specs")
    assert proc.returncode == 2
    assert "Commands:" in proc.stderr and "lint" in proc.stderr and "inferguard: error" not in proc.stderr


def test_spec_flags_refuse_a_fifo_and_name_a_symlink_loop(tmp_path):
    fifo = tmp_path / "specs.yaml"
    os.mkfifo(fifo)
    proc = run_cli("specs", "lint", str(fifo))
    assert proc.returncode == 2 and "is a FIFO (named pipe), not a regular file" in proc.stdout + proc.stderr
    line = _one_line_exit_2(run_cli("specs", "test", "--specs", str(fifo)))
    assert "FIFO" in line
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    assert _one_line_exit_2(run_cli("specs", "lint", str(loop))) == f"inferguard: error: {loop}: symbolic link loop"
