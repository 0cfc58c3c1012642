"""Live replay: a live capture's HTTP bodies served from a loopback server, collect-lmcache run
against it and the other live_validation commands on the packet, each judged against the
fixture's expectations in the Checklist spec. A pass needs every listed command."""
from __future__ import annotations

import shutil
import socket
import time
import urllib.error
import urllib.request

import pytest

from conftest import FIXTURES, ROOT, run_cli

LIVE = "fixtures/lmcache/live-0.5.6-cpu"
PRESENT = ("collect-lmcache", "lmcache-compat", "observability-coverage")


def _get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type")


def test_replay_server_serves_the_saved_bodies_and_nothing_else():
    from inferguard.collect.replay_server import ReplayServer

    fx = FIXTURES / "lmcache" / "live-0.5.6-cpu"
    with ReplayServer(fx, deadline_seconds=30) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        status, body, ctype = _get(srv.url + "/healthcheck")
        assert (status, body) == (200, (fx / "http" / "GET_healthcheck.body").read_bytes())
        assert ctype == "application/json"
        status, body, ctype = _get(srv.url + "/metrics")
        assert status == 200 and body == (fx / "http" / "GET_metrics.body").read_bytes()
        assert ctype.startswith("text/plain; version=0.0.4")
        assert _get(srv.url + "/")[1] == (fx / "http" / "GET_.body").read_bytes()
        # not captured: 404, whatever the name looks like
        assert _get(srv.url + "/cache/objects")[0] == 404
        assert _get(srv.url + "/../PROVENANCE.yaml")[0] == 404
        assert _get(srv.url + "/%2e%2e/PROVENANCE.yaml")[0] == 404
        # nothing but GET, and nothing is changed
        assert _get(srv.url + "/cache/clear", method="POST")[0] == 405
        assert ("POST", "/cache/clear") in srv.requests and ("GET", "/healthcheck") in srv.requests


def test_replay_server_stops_itself_at_its_deadline():
    from inferguard.collect.replay_server import ReplayServer

    srv = ReplayServer(FIXTURES / "lmcache" / "live-0.5.6-cpu", deadline_seconds=0.3).start()
    port = int(srv.url.rsplit(":", 1)[1])
    assert _get(srv.url + "/healthcheck")[0] == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            break
        time.sleep(0.1)
    else:
        srv.stop()
        pytest.fail("the replay server was still accepting connections 5 s after its 0.3 s deadline")
    srv.stop()  # idempotent


def _live_section(commands):
    from inferguard.spec import default_specs

    spec = default_specs()
    lv = dict(spec.docs("Checklist")[0]["live_validation"])
    lv["commands"] = [c for c in lv["commands"] if c["command"] in commands] + \
        [{"command": c, "args": []} for c in commands if c not in {x["command"] for x in lv["commands"]}]
    fx = next(f for f in lv["fixtures"] if f["path"] == LIVE)
    return spec, lv, fx


def test_live_fixture_replay_passes_every_present_command():
    from inferguard.cli.app import main
    from inferguard.flow.replay import replay_fixture

    spec, lv, fx = _live_section(PRESENT)
    res = replay_fixture(spec, ROOT, main, fx, lv)
    assert res.error is None
    assert [(c.command, c.status, c.exit_code) for c in res.commands] == [(c, "passed", 0) for c in PRESENT], res.diff()
    assert res.validated and not res.failed and not res.pending


def test_a_listed_command_the_build_lacks_is_pending_never_a_pass():
    from inferguard.cli.app import main
    from inferguard.flow.replay import replay_fixture

    spec, lv, fx = _live_section(PRESENT + ("no-such-command",))
    fx = dict(fx, expect=dict(fx["expect"], **{"no-such-command": {"exit": 0}}))
    res = replay_fixture(spec, ROOT, main, fx, lv)
    statuses = {c.command: c.status for c in res.commands}
    assert statuses == {**{c: "passed" for c in PRESENT}, "no-such-command": "pending"}
    assert res.pending == ["no-such-command"]
    assert not res.validated and not res.failed


def _workspace(tmp_path):
    for name in ("specs", "fixtures"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _specs_test(ws):
    return run_cli("specs", "test", "--root", str(ws), "--specs", str(ws / "specs"))


def test_specs_test_replays_the_live_fixtures():
    from inferguard.cli.app import main

    proc = _specs_test(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in (LIVE, "fixtures/diagnosis/l1-too-small-0.5.6-cpu"):
        for cmd in PRESENT:
            assert f"pass  {'(live replay) ' + cmd:<32} {path}" in proc.stdout, proc.stdout
        mark = "pass" if "diagnose-bottleneck" in main.commands else "PEND"
        assert f"{mark}  {'(live replay) diagnose-bottleneck':<32} {path}" in proc.stdout, proc.stdout
    assert "live replay: " in proc.stdout.splitlines()[-1]


@pytest.mark.parametrize("tamper, failing, diff", [
    # the lookup counters gone from the served /metrics: the derived hit rate is no longer 0.375
    ("metrics", "observability-coverage", 'derived."lmcache_mp.lookup_hit_rate".value: expected 0.375, got None'),
    # the served health body says unhealthy: the packet's health verdict is not the captured one
    ("health", "collect-lmcache", "health.lmcache: expected 'healthy', got 'unhealthy'"),
])
def test_a_tampered_live_fixture_fails_its_replay(tmp_path, tamper, failing, diff):
    ws = _workspace(tmp_path)
    http = ws / LIVE / "http"
    if tamper == "metrics":
        body = http / "GET_metrics.body"
        body.write_text("".join(l for l in body.read_text().splitlines(True) if "lmcache_mp_lookup" not in l))
    else:
        (http / "GET_healthcheck.body").write_text('{"status":"unhealthy"}')
    proc = _specs_test(ws)
    assert proc.returncode == 1, proc.stdout
    assert f"FAIL  {'(live replay) ' + failing:<32} {LIVE}" in proc.stdout, proc.stdout
    assert diff in proc.stdout, proc.stdout
    if failing == "collect-lmcache":
        # what the others would judge was collected wrong: they are not run, and say why
        assert f"SKIP  {'(live replay) lmcache-compat':<32} {LIVE}" in proc.stdout
    # the untouched live capture still replays
    assert f"pass  {'(live replay) collect-lmcache':<32} fixtures/diagnosis/l1-too-small-0.5.6-cpu" in proc.stdout
    assert "1 failed" in proc.stdout.splitlines()[-1]


def test_capability_needs_the_replay_not_just_a_live_origin():
    from inferguard.engine.capability import FixtureResult, row_capability

    row = {"id": "r", "sources": ["prometheus"], "requires": [{"family": "f"}], "fixtures": [{"path": "fx"}]}
    res = FixtureResult("r", "fx", True, "live", "covered", "covered", got_items={"f": "measured"},
                        families_measured=["f"])
    readers = {"prometheus": True}
    assert row_capability(row, [res], readers)["status"] == "supported"
    assert row_capability(row, [res], readers)["live_fixtures_not_replayed"] == ["fx"]
    assert row_capability(row, [res], readers, frozenset({"other"}))["status"] == "supported"
    assert row_capability(row, [res], readers, frozenset({"fx"}))["status"] == "live_validated"
    real = FixtureResult("r", "fx", True, "real_capture", "covered", "covered", got_items={"f": "measured"})
    assert row_capability(row, [real], readers, frozenset({"fx"}))["status"] == "supported"


@pytest.mark.parametrize("edit, rule", [
    (lambda t: t.replace("        lmcache-compat:\n          json: {mode_check.result: match, detected.lmcache_mode: mp}\n",
                         "", 1), "checklist/live-missing-expectation"),
    (lambda t: t.replace("        collect-lmcache: [--lmcache-lookup-hash-path", "        collect-lmcach: [--lmcache-lookup-hash-path", 1),
     "checklist/live-unknown-command"),
    (lambda t: t.replace("    - path: fixtures/lmcache/live-0.5.6-cpu\n", "    - path: fixtures/lmcache/http-0.5.6-cpu\n", 1),
     "checklist/live-fixture"),
    (lambda t: t.replace('"surfaces[?id==\'lmcache.mp_http\'].status | [0]": covered',
                         '"surfaces[?id==\'lmcache.mp_http\'.status | [0]": covered', 1), "expr/syntax"),
])
def test_live_validation_lint(tmp_path, edit, rule):
    ws = _workspace(tmp_path)
    path = ws / "specs" / "checklist.yaml"
    text = path.read_text()
    changed = edit(text)
    assert changed != text
    path.write_text(changed)
    proc = run_cli("specs", "lint", "--root", str(ws), str(ws / "specs"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"checklist.yaml:" in proc.stdout and f": {rule}: " in proc.stdout, proc.stdout


def test_collect_lmcache_is_proven_only_by_a_passing_live_replay():
    """collect-lmcache writes packets from live servers; what proves it is the replay of a live
    capture through it (`proven_by: live_replay`): parser_only without a replay, and without
    a validated one (a failed or pending command anywhere in the replay)."""
    from inferguard.cli.app import main
    from inferguard.flow.matrix import _command_states
    from inferguard.flow.replay import FAILED, PASSED, PENDING, CommandResult, ReplayResult
    from inferguard.spec import default_specs

    spec = default_specs()
    cmds = ["collect-lmcache", "lmcache-compat", "observability-coverage", "diagnose-bottleneck"]

    def replay(last_status):
        return ReplayResult("fixtures/lmcache/live-0.5.6-cpu", "live",
                            [CommandResult(c, PASSED, 0) for c in cmds[:-1]] + [CommandResult(cmds[-1], last_status, 0)])

    def state(replays):
        return _command_states(spec, ROOT, main, [], [], replays, [])["collect-lmcache"]

    assert state([]) == "parser_only"
    assert state([replay(FAILED)]) == "parser_only"
    assert state([replay(PENDING)]) == "parser_only"
    assert state([replay(PASSED)]) == "live_validated"
