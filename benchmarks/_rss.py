"""Peak resident memory of one child process, measured by the kernel (wait4's rusage).

Each command runs in its own child, so its peak is its own: nothing of the benchmark's
process (generators, the files it reads) is counted.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: this checkout's package first on the path."""
    env = dict(os.environ)
    env.update(extra or {})
    env.pop("INFERGUARD_DEBUG", None)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def measure(cmd: list[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
            stdout=subprocess.DEVNULL, timeout: float | None = None) -> dict:
    """Run `cmd`; return {seconds, peak_rss_mib, rc, stderr}. ru_maxrss is in KiB on Linux."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd or ROOT, env=env or child_env())
    deadline = None if timeout is None else time.monotonic() + timeout
    err = b""
    # Read stderr to the end (a full pipe would block the child), then reap it with wait4.
    assert proc.stderr is not None
    for chunk in iter(lambda: proc.stderr.read(65536), b""):
        err += chunk[-4096:]
        if deadline is not None and time.monotonic() > deadline:
            proc.kill()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    scale = 1024 if sys.platform != "darwin" else 1  # macOS reports bytes
    return {"seconds": round(seconds, 3), "peak_rss_mib": round(usage.ru_maxrss * scale / 2**20, 1),
            "rc": proc.returncode, "stderr": err.decode("utf-8", "replace")[-600:]}
