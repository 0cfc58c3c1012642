"""Where this user's cache entries live ($XDG_CACHE_HOME/inferguard, else ~/.cache/inferguard),
and how one is read and written: only a regular file of this user, never through a link,
replaced atomically, best effort (no cache is never an error)."""
from __future__ import annotations

import os
import stat


def cache_dir() -> str | None:
    """The cache directory (it may not exist yet), or None when there is none."""
    try:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    except (KeyError, RuntimeError):  # no home directory to expand
        return None
    if not base or base.startswith("~"):
        return None
    return os.path.join(base, "inferguard")


def read_own_file(path, max_bytes: int) -> bytes | None:
    """The bytes of a regular file of this user (never following a link), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read(max_bytes)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def write_own_file(path, blob: bytes, prefix: str = ".memo-") -> bool:
    """Best effort, atomic; only a regular file (or nothing) at `path` is ever replaced.
    Whether the file was written."""
    try:
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return False
        except FileNotFoundError:
            pass
        import tempfile

        folder = os.path.dirname(os.fspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except (OSError, ValueError):
        return False
    return True
