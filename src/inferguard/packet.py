"""Packet directories and output files: safe writes, digests, the manifest.

Nothing of the user's is destroyed by a write:
- a regular file (or nothing) at the path is replaced atomically: a temporary file in the
  same folder, then a rename; a file that was there keeps its permission bits;
- a symlink is written through: its target is replaced atomically (a regular file) or
  written into (a device); the link itself stays;
- a character or block device (`/dev/null`, `/dev/full`, a terminal) is written into
  directly, never replaced; a write error there is an error naming the path;
- a FIFO, a socket or a directory is refused;
- a new file gets the mode the umask allows (0666 & ~umask), never more; a copy of a source
  never gets more permission bits than its source had.
"""
from __future__ import annotations

import errno
import json
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.core import paths as pathtext
from inferguard.core.filecheck import file_kind as _kind
from inferguard.core.problems import InputError


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(source_mode: int | None = None) -> int:
    """Permission bits for a file this tool creates: what the umask allows, and, for a copy,
    never more than the source had."""
    mode = 0o666 & ~umask()
    if source_mode is not None:
        mode &= stat.S_IMODE(source_mode)
    return mode


def _resolve_target(path: str, follow_symlinks: bool) -> tuple[str, os.stat_result | None]:
    """(the path a write goes to, its stat or None when nothing is there).

    With follow_symlinks, a symlink chain is followed to its final target (a dangling link
    names the file to create); a loop is an error."""
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return path, None
    if not stat.S_ISLNK(lst.st_mode):
        return path, lst
    if not follow_symlinks:
        raise InputError("is a symlink; not replaced", str(path))
    real = os.path.realpath(path)
    try:
        return real, os.stat(real)
    except FileNotFoundError:
        try:
            os.lstat(real)
        except FileNotFoundError:
            return real, None  # a dangling link: create its target
        raise InputError("symlink loop", str(path)) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symlink loop", str(path)) from None
        raise


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _mkstemp(folder: str, prefix: str, suffix: str) -> tuple[int, str]:
    """tempfile.mkstemp(prefix=, suffix=, dir=): a new file only this user can read, created
    exclusively under a random name. Done here because importing tempfile pulls in shutil,
    random and the compressors, which cost more than the write of a small report."""
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(name, _TEMP_FLAGS, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no usable temporary name found", str(folder))


def _write_fd(fd: int, data: bytes, shown: str) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", shown) from None
        view = view[n:]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, source_mode: int | None = None,
                       follow_symlinks: bool = True) -> str:
    """Write `data` to `path` without ever replacing something that is not a regular file.

    A regular file is replaced atomically (keeping its mode); a new one gets
    `new_file_mode(source_mode)`; a device is written into; a FIFO, socket or directory is
    refused with an InputError. Returns the path written (a symlink's target when followed),
    written as pathlib writes it."""
    shown = str(path)
    target, st = _resolve_target(pathtext.pure(path), follow_symlinks)
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        try:
            fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            raise InputError(f"cannot open for writing: {exc.strerror or exc}", shown) from None
        try:
            _write_fd(fd, data, shown)
        finally:
            os.close(fd)
        return target
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"is {_kind(st.st_mode)}; not replaced", shown)
    mode = stat.S_IMODE(st.st_mode) if st is not None else new_file_mode(source_mode)
    if source_mode is not None:
        mode &= stat.S_IMODE(source_mode)
    try:
        parent = os.path.dirname(target) or "."
        os.makedirs(parent, exist_ok=True)
        fd, tmp = _mkstemp(parent, f".{os.path.basename(target)}.", ".tmp")
    except OSError as exc:  # named by the user's path, never by the temporary file's
        raise InputError(f"cannot write: {exc.strerror or exc}", shown) from None
    try:
        try:
            _write_fd(fd, data, shown)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise InputError(f"cannot write: {exc.strerror or exc}", shown) from None
    except BaseException:
        _discard(tmp)
        raise
    return target


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float written as Prometheus spells it (`+Inf`, `-Inf`,
    `NaN`): JSON has no such numbers, and a measured infinity is not an absent value."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return "NaN" if obj != obj else ("+Inf" if obj > 0 else "-Inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: str | os.PathLike[str], obj: Any, **kw: Any) -> str:
    text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"), **kw)


def write_text_atomic(path: str | os.PathLike[str], text: str, **kw: Any) -> str:
    return write_bytes_atomic(path, text.encode("utf-8"), **kw)


def copy_file_atomic(src: str | os.PathLike[str], dest: str | os.PathLike[str], *, part_suffix: str = ".part",
                     chunk: int = 1 << 20) -> tuple[int, str]:
    """Copy `src` to `dest` through `dest + part_suffix` and a rename, hashing while copying.

    The copy never has more permission bits than its source, nor than the umask allows; a
    non-regular file at `dest` is refused, never replaced. Returns (size, sha256)."""
    from pathlib import Path

    dest = Path(dest)
    try:
        dst = os.lstat(dest)
    except FileNotFoundError:
        dst = None
    if dst is not None and not stat.S_ISREG(dst.st_mode):
        raise InputError(f"is {'a symlink' if stat.S_ISLNK(dst.st_mode) else _kind(dst.st_mode)}; not replaced",
                         str(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + part_suffix)
    import hashlib  # imported here: only hashing pays its import

    h = hashlib.sha256()
    size = 0
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    src_fd = os.open(src, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(src_fd, "rb") as fin:
        src_mode = os.fstat(fin.fileno()).st_mode
        if not stat.S_ISREG(src_mode):
            raise InputError(f"is {_kind(src_mode)}, expected a regular file", str(src))
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(part, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as fout:
                while True:
                    block = fin.read(chunk)
                    if not block:
                        break
                    h.update(block)
                    size += len(block)
                    fout.write(block)
                fout.flush()
                os.fsync(fout.fileno())
            os.chmod(part, new_file_mode(src_mode))
            os.replace(part, dest)
        except BaseException:
            try:
                os.unlink(part)
            except OSError:
                pass
            raise
    return size, h.hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    import hashlib  # imported here: only hashing pays its import

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


__all__ = [
    "copy_file_atomic", "new_file_mode", "sha256_file", "umask", "write_bytes_atomic",
    "write_json_atomic", "write_text_atomic",
]
