"""The generated matrix: deterministic, computed from specs and fixtures, never typed."""
from __future__ import annotations

import re
import shlex
import shutil

import pytest

from conftest import ROOT, run_cli


def _workspace(tmp_path):
    """A copy of what the docs are built from: specs, fixtures, tests (for test references),
    and the pyproject.toml that marks a checkout."""
    for name in ("specs", "fixtures", "tests"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "docs").mkdir()
    return tmp_path


def _build(ws):
    proc = run_cli("docs", "build", "--root", str(ws), "--specs", str(ws / "specs"))
    assert proc.returncode == 0, proc.stderr
    text = (ws / "docs" / "coverage-matrix.md").read_text()
    score = float(re.search(r"\*\*Score: ([0-9.]+) / 100\*\*", text).group(1))
    return text, score


def _row_capability(text, row_id):
    line = next(l for l in text.splitlines() if f"<br>`{row_id}` |" in l)
    return line.split(" | ")[5].split(" ")[0]


def test_same_inputs_same_bytes(tmp_path):
    ws = _workspace(tmp_path)
    first, _ = _build(ws)
    second, _ = _build(ws)
    assert first == second
    assert first.startswith("<!-- GENERATED FILE")


def test_deleting_a_fixture_lowers_score_and_changes_row(tmp_path):
    ws = _workspace(tmp_path)
    before, score_before = _build(ws)
    # live_validated: the live L1-too-small capture replays through every command, diagnose-bottleneck too
    assert _row_capability(before, "lmcache.lookup_hash") == "live_validated"
    # both real captures that show lookup-hash evidence
    shutil.rmtree(ws / "fixtures" / "lmcache" / "lookup-hash-0.5.6-cpu")
    shutil.rmtree(ws / "fixtures" / "diagnosis" / "l1-too-small-0.5.6-cpu")
    after, score_after = _build(ws)
    assert score_after < score_before
    assert _row_capability(after, "lmcache.lookup_hash") == "partial"
    assert "`lmcache.lookup_hash`: `fixtures/lmcache/lookup-hash-0.5.6-cpu` is declared but missing" in after
    assert "`lmcache.lookup_hash`: `fixtures/diagnosis/l1-too-small-0.5.6-cpu` is declared but missing" in after


def test_synthetic_or_all_zero_evidence_is_at_most_partial(tmp_path):
    """A row is supported only on real, non-zero evidence; synthetic measured families earn
    less checklist credit than real ones, and the same fixture called real earns more."""
    ws = _workspace(tmp_path)
    before, score_before = _build(ws)
    # synthetic only: partial, and the matrix says why
    assert _row_capability(before, "sglang.queue") == "partial"
    assert "synthetic fixtures only for: sglang.queue" in before
    assert "family sglang.queue: synthetic_backed" in before
    # a real capture without traffic (all counters zero): partial, parsing proven, behaviour not
    assert _row_capability(before, "lmcache.embedded_prometheus") == "partial"
    assert "all-zero evidence only for: lmcache.retrieve, lmcache.store" in before
    # the same SGLang fixture, declared a real capture: supported, and the score rises
    prov = ws / "fixtures" / "sglang" / "healthy-hicache-pd-prefill-0.5.23" / "PROVENANCE.yaml"
    prov.write_text(prov.read_text().replace("origin: synthetic", "origin: real_capture"))
    after, score_after = _build(ws)
    assert _row_capability(after, "sglang.queue") == "supported"
    assert "family sglang.queue: fixture_backed" in after
    assert score_after > score_before


def test_a_live_fixture_alone_is_not_live_validated(tmp_path):
    """A capture marked live is real evidence (the row rises to supported), but live_validated
    also needs the capture replayed through every live_validation command: this copy is not
    in that list, so the row stops at supported and the plan says why."""
    ws = _workspace(tmp_path)
    before, score_before = _build(ws)
    assert "live_validated" not in _row_capability(before, "sglang.queue")
    live = ws / "fixtures" / "sglang" / "queue-live-copy"
    shutil.copytree(ws / "fixtures" / "sglang" / "healthy-hicache-pd-prefill-0.5.23", live)
    (live / "PROVENANCE.yaml").write_text("origin: live\ndescription: test copy marked live\n")
    surf = ws / "specs" / "surfaces.yaml"
    text = surf.read_text()
    anchor = "      - {path: fixtures/sglang/healthy-hicache-pd-prefill-0.5.23, expect: {status: covered}}\n"
    i = text.index("  - id: sglang.queue")
    j = text.index(anchor, i) + len(anchor)
    surf.write_text(text[:j] + "      - {path: fixtures/sglang/queue-live-copy, expect: {status: covered}}\n" + text[j:])
    after, score_after = _build(ws)
    assert _row_capability(after, "sglang.queue") == "supported"
    assert "`sglang.queue`: live capture(s) `fixtures/sglang/queue-live-copy` not validated by the live replay" in after
    assert score_after > score_before


def _set_live_commands(ws, keep, add_missing=None):
    """The workspace's Checklist with live_validation reduced to the commands in `keep` (their
    expectations kept) plus, if given, a command no build has (with an expectation)."""
    import yaml

    path = ws / "specs" / "checklist.yaml"
    doc = yaml.safe_load(path.read_text())
    lv = doc["live_validation"]
    lv["commands"] = [c for c in lv["commands"] if c["command"] in keep]
    for fx in lv["fixtures"]:
        fx["expect"] = {k: v for k, v in fx["expect"].items() if k in keep}
    if add_missing:
        lv["commands"].append({"command": add_missing, "args": ["--output", "$OUT"]})
        for fx in lv["fixtures"]:
            fx["expect"][add_missing] = {"exit": 0}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_live_validated_follows_the_declared_command_list(tmp_path):
    """The same live captures, two command lists. With a listed command this build does not
    have, the replay is pending and no row is live_validated; with the list of commands that
    exist and pass, the rows their live captures cover are. The set is the spec's, not the code's."""
    ws = _workspace(tmp_path)
    present = ["collect-lmcache", "lmcache-compat", "observability-coverage"]
    rows = ("lmcache.mp_prometheus", "lmcache.mp_http", "lmcache.logs")
    _set_live_commands(ws, present, add_missing="no-such-command")
    pending, score_pending = _build(ws)
    assert "| `fixtures/lmcache/live-0.5.6-cpu` | pending | " in pending
    assert "`no-such-command`: pending" in pending
    for row in rows:
        assert _row_capability(pending, row) == "supported", row
    _set_live_commands(ws, present)
    validated, score_validated = _build(ws)
    assert "| `fixtures/lmcache/live-0.5.6-cpu` | validated | " in validated
    for row in rows:
        assert _row_capability(validated, row) == "live_validated", row
    assert "family lmcache_mp.lookup: live_validated" in validated
    assert "family lmcache_mp.lookup: live_validated" not in pending
    assert score_validated > score_pending


def test_bundled_live_validation_lists_the_four_commands_and_waits_for_missing_ones():
    """The spec lists all four commands; a listed command this build lacks keeps every row
    below live_validated (on a build that has it, it must pass for any row to get there)."""
    from inferguard.cli.app import main
    from inferguard.flow.matrix import build_matrix
    from inferguard.spec import default_specs

    spec = default_specs()
    listed = [c["command"] for c in spec.docs("Checklist")[0]["live_validation"]["commands"]]
    assert listed == ["collect-lmcache", "lmcache-compat", "observability-coverage", "diagnose-bottleneck"]
    m = build_matrix(spec, ROOT, main)
    for rp in m["replays"]:
        for c in rp.commands:
            assert c.status == ("passed" if c.command in main.commands else "pending"), (rp.path, c)
    if any(rp.pending for rp in m["replays"]):
        assert all(r["capability"]["status"] != "live_validated" for r in m["rows"])


def test_live_validated_only_where_a_live_fixture_passes():
    from inferguard.flow.matrix import build_matrix
    from inferguard.spec import default_specs

    from inferguard.cli.app import main

    m = build_matrix(default_specs(), ROOT, main)
    for r in m["rows"]:
        if r["capability"]["status"] == "live_validated":
            assert any(f.passed and f.origin == "live" for f in r["fixtures"]), r["row"]["id"]


def test_check_reports_drift(tmp_path):
    ws = _workspace(tmp_path)
    _build(ws)
    ok = run_cli("docs", "build", "--root", str(ws), "--specs", str(ws / "specs"), "--check")
    assert ok.returncode == 0, ok.stdout
    (ws / "docs" / "coverage-matrix.md").write_text("hand edit\n")
    bad = run_cli("docs", "build", "--root", str(ws), "--specs", str(ws / "specs"), "--check")
    assert bad.returncode == 1
    assert "coverage-matrix.md" in bad.stdout and "differ" in bad.stdout


def _next_commands():
    from inferguard.spec import default_specs

    for doc in default_specs().docs("Surfaces"):
        for row in doc["rows"]:
            yield pytest.param(row["next_command"], id=row["id"])


@pytest.mark.parametrize("command", list(_next_commands()))
def test_every_next_command_is_a_valid_invocation(command):
    import click

    from inferguard.cli.app import main

    words = shlex.split(command)
    assert words[0] == "inferguard"
    group, rest, ctx = main, words[1:], None
    while isinstance(group, click.Group):
        ctx = click.Context(group, info_name=rest[0] if ctx else "inferguard", parent=ctx)
        assert rest, f"{command!r} names no command"
        sub = group.get_command(ctx, rest[0])
        assert sub is not None, f"unknown command {rest[0]!r} in {command!r}"
        group, name, rest = sub, rest[0], rest[1:]
    try:
        group.make_context(name, rest, parent=ctx)
    except click.UsageError as exc:  # unknown option, bad choice, missing value
        pytest.fail(f"{command!r}: {exc.format_message()}")


def test_broken_checklist_weights_fail_lint(tmp_path):
    bad = tmp_path / "checklist.yaml"
    text = (ROOT / "specs" / "checklist.yaml").read_text().replace("    weight: 8\n", "    weight: 9\n", 1)
    bad.write_text(text)
    proc = run_cli("specs", "lint", str(bad), str(ROOT / "specs" / "surfaces.yaml"), str(ROOT / "specs" / "metrics"))
    assert proc.returncode == 2
    assert re.search(r"checklist\.yaml:\d+:\d+: checklist/weights: lane and closeout weights sum to 101, not 100", proc.stdout), proc.stdout
    assert proc.stdout.count("\n") == 1, proc.stdout  # nothing else: references resolve into the bundled set


def test_command_states_come_from_what_specs_test_ran_not_from_test_files(tmp_path):
    """A command is fixture_backed only by the proof its Checklist item names; the test files
    play no part (removing tests/ changes no command state), and a failing inline test makes
    `specs test` and `docs build` parser_only."""
    from test_inline_spec_tests import SPEC_DECODING, _workspace as spec_workspace

    ws = spec_workspace(tmp_path)
    text, _ = _build(ws)
    states = dict(re.findall(r"command (evaluate|specs test|docs build|specs lint|collect-lmcache): (\w+)", text))
    assert states["evaluate"] == "fixture_backed" and states["specs test"] == "fixture_backed"
    assert states["specs lint"] == "fixture_backed"
    assert states["collect-lmcache"] == "live_validated"  # the live capture replayed through it passed

    shutil.rmtree(ws / "tests")
    again, _ = _build(ws)
    assert dict(re.findall(r"command (evaluate|specs test|docs build|specs lint|collect-lmcache): (\w+)", again)) == states

    (ws / "specs" / "spec_decoding.yaml").write_text(SPEC_DECODING.replace("status: covered", "status: partial"))
    failing, _ = _build(ws)
    after = dict(re.findall(r"command (evaluate|specs test|docs build|specs lint|collect-lmcache): (\w+)", failing))
    assert after["specs test"] == "parser_only" and after["docs build"] == "parser_only"
    assert after["evaluate"] == "fixture_backed"
