"""Where this user's cache entries live ($XDG_CACHE_HOME/inferguard, else ~/.cache/inferguard),
and how one is read and written: only a regular file of this user, never through a link,
replaced atomically, best effort (no cache is never an error).

Every entry is sealed the same way (`seal`/`unseal`): a magic line naming what it holds, the
whole identity of what it was computed from (the entry is used only when that identity is the
one asked for, byte for byte), a CRC-32 of the payload, then the payload. The CRC guards
against a damaged file (a torn or cut write, a disk error). It is not a defence against
someone who can write to this user's cache directory: such a writer could as well store a
matching digest of any kind, so a cryptographic hash would cost time (and the import of
hashlib on every command's path) for no protection."""
from __future__ import annotations

import os
import stat
import zlib


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


def short_name(identity: bytes) -> str:
    """16 hex digits naming an entry file after its identity (the identity itself is checked
    inside the entry, so two identities with one name only replace each other's entry)."""
    return f"{zlib.crc32(identity):08x}{zlib.adler32(identity):08x}"


def seal(magic: bytes, identity: bytes, payload: bytes) -> bytes:
    return (magic + len(identity).to_bytes(4, "big") + identity
            + zlib.crc32(payload).to_bytes(4, "big") + payload)


def unseal(blob: bytes | None, magic: bytes, identity: bytes) -> bytes | None:
    """The payload of a sealed entry for `identity`, or None (absent, foreign, stale, damaged)."""
    if blob is None or not blob.startswith(magic):
        return None
    at = len(magic)
    if blob[at:at + 4] != len(identity).to_bytes(4, "big"):
        return None
    at += 4
    if blob[at:at + len(identity)] != identity:
        return None
    at += len(identity)
    payload = blob[at + 4:]
    if len(blob) < at + 4 or zlib.crc32(payload).to_bytes(4, "big") != blob[at:at + 4]:
        return None
    return payload
