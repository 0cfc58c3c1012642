"""Nothing of the user's is destroyed, through the command line.

- `--output` never replaces what is not a regular file: a symlink is written through (its
  target replaced atomically), a device is written into, a FIFO or a folder is refused;
  `--output -` is standard output.
- `collect-lmcache --output-dir` deletes only what this tool wrote and can prove it wrote
  (listed in its own previous manifest, sha256 unchanged); a folder holding anything else is
  refused unless --force, and even then kept; a killed run's leftovers are cleaned.
- Files respect the umask and never widen a source's mode.
- An unusable cache directory costs nothing.

Devices: /dev/null and /dev/full are used only after the FIFO and symlink cases have shown
that the write path never replaces a non-regular file, and each test checks afterwards that
the device is still the same character device.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, H100, ROOT

ENGINE = str(H100 / "engine.prom")
HTTP = FIXTURES / "lmcache" / "http-0.5.6-cpu" / "http"


def ig(*args: str, umask: int | None = None, env: dict[str, str] | None = None, timeout: float = 120,
       cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("INFERGUARD_DEBUG", None)
    e.update(env or {})
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([sys.executable, "-m", "inferguard", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=e, timeout=timeout, preexec_fn=pre)


def cover(output: str, *extra: str, **kw) -> subprocess.CompletedProcess:
    return ig("observability-coverage", "--engine-metrics-file", ENGINE, "--output", output, *extra, **kw)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("inferguard: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


# ---------------------------------------------------------------- --output


def test_output_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    res = cover(str(link))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == target.name
    assert json.loads(target.read_text())["kind"] == "ObservabilityCoverageReport"
    assert _mode(target) == 0o640  # a replaced file keeps its mode
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "sub" / "made.json")
    (tmp_path / "sub").mkdir()
    res = cover(str(link))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and json.loads((tmp_path / "sub" / "made.json").read_text())["kind"]


def test_output_fifo_is_refused_and_left_alone(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "to-fifo"
    link.symlink_to(fifo)
    for path in (fifo, link):
        res = cover(str(path), timeout=60)  # a write into a FIFO with no reader would hang
        assert res.returncode == 2
        assert _one_error_line(res) == f"inferguard: error: {path}: is a FIFO (named pipe); not replaced"
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert link.is_symlink()


def test_output_folder_is_refused(tmp_path):
    res = cover(str(tmp_path))
    assert res.returncode == 2 and tmp_path.is_dir()
    assert "directory" in res.stderr and "Traceback" not in res.stderr


def test_output_symlink_loop_is_named_as_such(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    res = cover(str(a))
    assert res.returncode == 2 and _one_error_line(res) == f"inferguard: error: {a}: symlink loop"
    assert a.is_symlink() and b.is_symlink()


def test_output_that_cannot_be_written_names_the_users_path(tmp_path):
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    res = cover(str(a_file / "r.json"))
    assert res.returncode == 2
    assert _one_error_line(res) == f"inferguard: error: {a_file / 'r.json'}: Not a directory"
    assert a_file.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["plain"]


def test_output_dash_is_standard_output():
    res = cover("-")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["kind"] == "ObservabilityCoverageReport"
    assert "Surfaces" in res.stderr  # the text summary went to stderr, not into the JSON
    assert not (ROOT / "-").exists()
    res = cover("-", "--format", "json")
    assert json.loads(res.stdout)["kind"] == "ObservabilityCoverageReport"


def _char_device(path: str) -> tuple[int, int]:
    st = os.lstat(path)
    assert stat.S_ISCHR(st.st_mode), f"{path} is not a character device"
    return st.st_rdev, st.st_ino


def test_output_dev_null_is_written_into_never_replaced():
    before = _char_device("/dev/null")
    res = cover("/dev/null")
    after = _char_device("/dev/null")
    assert res.returncode == 0, res.stderr
    assert before == after and "Wrote /dev/null" in res.stdout


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_output_dev_full_is_one_line_error_and_the_device_stays():
    before = _char_device("/dev/full")
    res = cover("/dev/full")
    assert _char_device("/dev/full") == before
    assert res.returncode == 2
    assert _one_error_line(res) == "inferguard: error: /dev/full: cannot write: No space left on device"


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o022, 0o644), (0o027, 0o640)])
def test_new_output_file_respects_the_umask(tmp_path, umask, mode):
    out = tmp_path / "r.json"
    res = cover(str(out), umask=umask)
    assert res.returncode == 0, res.stderr
    assert _mode(out) == mode


def test_evaluate_and_compat_write_the_same_way(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    res = ig("evaluate", str(H100), "--output", str(fifo), timeout=60)
    assert res.returncode == 2 and "is a FIFO (named pipe); not replaced" in res.stderr
    res = ig("lmcache-compat", "--lmcache-metrics-file", str(H100 / "lmcache.prom"), "--output", "-", "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout)["kind"] == "LMCacheCompatReport"


# ---------------------------------------------------------------- collect-lmcache --output-dir


def collect(out: Path, *extra: str, **kw) -> subprocess.CompletedProcess:
    return ig("collect-lmcache", "--output-dir", str(out), "--lmcache-health-file", str(HTTP / "GET_healthcheck.body"),
              *extra, **kw)


def _manifest(out: Path) -> dict:
    return json.loads((out / "packet_manifest.json").read_text())


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_folder_with_other_files_is_refused_and_untouched(tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "lmcache.prom").write_text("mine\n")
    (out / "notes.txt").write_text("keep me\n")
    res = collect(out, "--lmcache-metrics-file", str(H100 / "lmcache.prom"))
    assert res.returncode == 2
    line = _one_error_line(res)
    assert line.startswith(f"inferguard: error: {out}: holds files this tool did not write (lmcache.prom and 1 more)")
    assert "--force" in line
    assert _files(out) == {"lmcache.prom", "notes.txt"}
    assert (out / "lmcache.prom").read_text() == "mine\n"


def test_force_collects_into_it_and_deletes_nothing_of_the_users(tmp_path):
    out = tmp_path / "p"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "data.bin").write_bytes(b"\x00\x01")
    (out / "notes.txt").write_text("keep me\n")
    for _ in range(2):
        res = collect(out, "--force")
        assert res.returncode == 0, res.stderr
    assert (out / "notes.txt").read_text() == "keep me\n" and (out / "sub" / "data.bin").read_bytes() == b"\x00\x01"
    assert _manifest(out)["state"] == "complete"


def test_rerun_of_its_own_packet_needs_no_force_and_leaves_nothing_stale(tmp_path):
    out = tmp_path / "p"
    log = tmp_path / "server.log"
    log.write_text("INFO starting\n")
    res = collect(out, "--engine-log-file", str(log), "--keep-raw")
    assert res.returncode == 0, res.stderr
    assert "raw/engine_log/server.log" in _files(out)
    assert any(w["path"] == "raw/engine_log/server.log" for w in _manifest(out)["written"])
    res = collect(out)
    assert res.returncode == 0, res.stderr
    m = _manifest(out)
    assert not (out / "raw").exists()  # the --keep-raw copy of the first run was listed, so removed
    assert _files(out) == {"packet_manifest.json"} | {w["path"] for w in m["written"]}
    assert m["pending"] == []
    for w in m["written"]:
        assert _sha(out / w["path"]) == w["sha256"]


def test_a_crafted_manifest_never_deletes_outside_trees_links_or_edited_files(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    out = tmp_path / "p"
    (out / "tree" / "deep").mkdir(parents=True)
    (out / "tree" / "deep" / "f.txt").write_text("x")
    (out / "link.txt").symlink_to(outside)
    (out / "http").mkdir()
    (out / "http" / "file_health.body").write_text("edited by hand\n")
    sha_out = _sha(outside)
    crafted = {
        "apiVersion": "inferguard.dev/v1", "kind": "PacketManifest", "command": "collect-lmcache",
        "written": [
            {"path": "../outside.txt", "size": 9, "sha256": sha_out},
            {"path": str(outside), "size": 9, "sha256": sha_out},
            {"path": "link.txt", "size": 9, "sha256": sha_out},
            {"path": "tree", "size": 1, "sha256": "0" * 64},
            {"path": "tree/deep/../../../outside.txt", "size": 9, "sha256": sha_out},
            {"path": "http/file_health.body", "size": 20, "sha256": "1" * 64},
        ],
        "pending": [{"path": "tree", "sha256": "3" * 64}, {"path": ".."}],
        "artifacts": [{"path": ".", "copied": True, "sha256": "2" * 64}],
        "lanes": {"x": {"evidence": "../outside.txt", "sha256": sha_out}},
    }
    (out / "packet_manifest.json").write_text(json.dumps(crafted))
    res = collect(out)
    assert res.returncode == 2
    assert "holds files this tool did not write" in _one_error_line(res)
    for forced in (False, True):
        if forced:
            res = collect(out, "--force")
            assert res.returncode == 0, res.stderr
        assert outside.read_text() == "precious\n"
        assert (out / "tree" / "deep" / "f.txt").read_text() == "x"
        assert (out / "link.txt").is_symlink() and os.readlink(out / "link.txt") == str(outside)
    # With --force the packet is written; a file of the same name as the user's edited one is
    # written beside it, never over it.
    assert (out / "http" / "file_health.body").read_text() == "edited by hand\n"
    assert _manifest(out)["state"] == "complete"


_KILL = r"""
import os, sys
from pathlib import Path
import inferguard.collect.lmcache as lm

def killed(src, dest, **kw):
    # A kill -9 in the middle of a copy: half the bytes in the .part file, then gone.
    part = Path(str(dest) + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(Path(src).read_bytes()[:5])
    os._exit(137)

lm.copy_file_atomic = killed
from inferguard.cli.app import main
main(sys.argv[1:], prog_name="inferguard")
"""


def test_a_killed_runs_leftovers_are_its_own_and_are_cleaned(tmp_path):
    out = tmp_path / "p"
    log = tmp_path / "server.log"
    log.write_text("INFO starting\nINFO more\n")
    e = dict(os.environ)
    e.pop("INFERGUARD_DEBUG", None)
    res = subprocess.run([sys.executable, "-c", _KILL, "collect-lmcache", "--output-dir", str(out),
                          "--lmcache-health-file", str(HTTP / "GET_healthcheck.body"), "--engine-log-file", str(log),
                          "--keep-raw"], capture_output=True, text=True, env=e, cwd=ROOT, timeout=120)
    assert res.returncode == 137, res.stderr
    m = _manifest(out)
    assert m["state"] == "collecting"
    assert {"path": "raw/engine_log/server.log"} in m["pending"]  # a copy: its sha256 is known only after
    assert (out / "raw" / "engine_log" / "server.log.part").is_file()
    # A kill during a manifest save leaves the temporary file of that atomic write.
    (out / ".packet_manifest.json.k1ll3d_x.tmp").write_text("{")
    res = collect(out)
    assert res.returncode == 0, res.stderr
    files = _files(out)
    assert not any(f.endswith((".part", ".tmp")) for f in files), files
    assert not (out / "raw").exists()
    assert _manifest(out)["state"] == "complete"


def test_a_file_renamed_in_just_before_a_kill_is_removed_only_with_its_announced_sha256(tmp_path):
    out = tmp_path / "p"
    assert collect(out).returncode == 0
    m = _manifest(out)
    # As a kill between the rename and the next manifest save leaves it: still pending.
    entry = next(w for w in m["written"] if w["path"] == "http/file_health.body")
    m["written"].remove(entry)
    m["pending"] = [{"path": entry["path"], "sha256": entry["sha256"]}]
    (out / "packet_manifest.json").write_text(json.dumps(m))
    assert collect(out).returncode == 0
    # The same, but the file no longer has the sha256 announced: it is not provably ours.
    m = _manifest(out)
    m["written"] = [w for w in m["written"] if w["path"] != "http/file_health.body"]
    m["pending"] = [{"path": "http/file_health.body", "sha256": "f" * 64}]
    (out / "packet_manifest.json").write_text(json.dumps(m))
    res = collect(out)
    assert res.returncode == 2 and "(http/file_health.body)" in _one_error_line(res)
    assert (out / "http" / "file_health.body").is_file()


def test_keep_raw_copies_never_widen_the_source_mode(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("INFO starting\n")
    os.chmod(log, 0o600)
    lh = tmp_path / "lookup_hashes"
    lh.mkdir()
    src = FIXTURES / "lmcache" / "lookup-hash-0.5.6-cpu" / "lookup_hashes" / "lookup_hashes_20261129_082823_000000.jsonl"
    (lh / src.name).write_bytes(src.read_bytes())
    os.chmod(lh / src.name, 0o640)
    out = tmp_path / "p"
    res = collect(out, "--engine-log-file", str(log), "--lmcache-lookup-hash-path", str(lh), "--keep-raw", umask=0o022)
    assert res.returncode == 0, res.stderr
    assert _mode(out / "raw" / "engine_log" / "server.log") == 0o600
    assert _mode(out / "raw" / "lmcache_lookup_hash" / "lookup_hashes" / src.name) == 0o640
    assert _mode(out / "lmcache_http_evidence.json") == 0o644
    written = {w["path"] for w in _manifest(out)["written"]}
    assert f"raw/lmcache_lookup_hash/lookup_hashes/{src.name}" in written


def test_packet_files_respect_the_umask(tmp_path):
    out = tmp_path / "p"
    res = collect(out, "--lmcache-metrics-file", str(H100 / "lmcache.prom"), umask=0o077)
    assert res.returncode == 0, res.stderr
    modes = {p.name: _mode(p) for p in out.rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o600}, modes


# ---------------------------------------------------------------- the spec set cache


def test_an_unusable_cache_directory_costs_nothing(tmp_path):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    for env in ({"XDG_CACHE_HOME": str(a_file)},
                {"XDG_CACHE_HOME": str(a_file / "under" / "a" / "file")},
                {"XDG_CACHE_HOME": "", "HOME": str(a_file)}):
        res = ig("observability-coverage", "--engine-metrics-file", ENGINE, "--format", "json", env=env)
        assert res.returncode == 0, (env, res.stderr)
        assert json.loads(res.stdout)["kind"] == "ObservabilityCoverageReport"
    assert a_file.read_text() == "x"


def test_a_fifo_or_folder_at_the_cache_entry_path_is_never_opened(tmp_path, monkeypatch):
    from inferguard.spec import loader

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    identity = loader.load_specs(trust_cache=True)._memo.identity   # what the bundled set's entry is keyed by
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    entry = Path(loader._cache_path(identity))
    assert entry is not None and str(entry).startswith(str(cache))
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)
    res = ig("specs", "list", env={"XDG_CACHE_HOME": str(cache)}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert stat.S_ISFIFO(os.stat(entry).st_mode)  # not replaced, not trusted
    assert loader._read_cache(entry, identity) is None
    os.unlink(entry)
    entry.mkdir()  # a folder where the entry goes is not an entry either
    (entry / "keep").write_text("k")
    res = ig("specs", "list", env={"XDG_CACHE_HOME": str(cache)})
    assert res.returncode == 0, res.stderr
    assert (entry / "keep").read_text() == "k"
    assert loader._read_cache(entry, identity) is None
