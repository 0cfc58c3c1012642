from __future__ import annotations

import json
import os
import shutil
import tempfile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
H100 = FIXTURES / "packets" / "vllm-lmcache-mp-h100"


# Every internal error (an exception from InferGuard's own code, reported as exit 3 or as a
# failed lane) is appended to this file, in-process and in subprocesses alike; a test in which
# one occurred fails, unless it is marked `expect_internal_error`.
INTERNAL_LOG = Path(tempfile.mkdtemp(prefix="inferguard-internal-")) / "internal_errors.jsonl"
os.environ["INFERGUARD_INTERNAL_ERROR_LOG"] = str(INTERNAL_LOG)


def pytest_configure(config):
    config.addinivalue_line("markers", "expect_internal_error: the test provokes an internal error on purpose")
    config.addinivalue_line("markers", "live: needs a real LMCache server (scripts/lmcache-live.sh)")


@pytest.fixture(autouse=True)
def _no_internal_errors(request):
    before = INTERNAL_LOG.stat().st_size if INTERNAL_LOG.exists() else 0
    request.node._internal_log_start = before
    yield
    if not INTERNAL_LOG.exists() or INTERNAL_LOG.stat().st_size == before:
        return
    with INTERNAL_LOG.open(encoding="utf-8") as fh:
        fh.seek(before)
        new = [json.loads(line) for line in fh if line.strip()]
    if request.node.get_closest_marker("expect_internal_error"):
        return
    pytest.fail("internal error(s) in InferGuard during this test:\n" +
                "\n".join(e["traceback"] for e in new), pytrace=False)


def internal_errors_of(request) -> list[dict]:
    """The internal errors recorded so far in a test marked `expect_internal_error`."""
    before = getattr(request.node, "_internal_log_start", 0)
    if not INTERNAL_LOG.exists():
        return []
    with INTERNAL_LOG.open(encoding="utf-8") as fh:
        fh.seek(before)
        return [json.loads(line) for line in fh if line.strip()]


def run_cli(*args: str, cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess (what a user runs)."""
    env = dict(os.environ)
    env.pop("INFERGUARD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "inferguard", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300)


@pytest.fixture(scope="session")
def spec():
    from inferguard.spec import default_specs

    return default_specs()


@pytest.fixture(scope="session")
def report_validator():
    from inferguard.spec.loader import schema_validator

    return schema_validator("report.coverage.v1.schema.json")


def validate(validator, doc) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


def load_json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


_SCRATCH: dict[str, Path] = {}


def scratch_dir(name: str) -> Path:
    """A scratch folder for property tests (hypothesis does not mix with function fixtures),
    made on first use and removed when the session ends."""
    if name not in _SCRATCH:
        _SCRATCH[name] = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    return _SCRATCH[name]


def pytest_sessionfinish(session, exitstatus):
    for d in _SCRATCH.values():
        shutil.rmtree(d, ignore_errors=True)
