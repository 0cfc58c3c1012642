"""What a path given as an input must be before anything opens it.

Opening a FIFO blocks until a writer comes, and reading a device can go on forever, so a
path that is not a regular file (or a folder, where one is accepted) is refused up front
with a reason that names it. A symbolic link loop, a dangling link and an unreachable
path each get their own words instead of "No such file".
"""
from __future__ import annotations

import errno
import os
import stat

from inferguard.core.problems import InputError


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def input_problem(path: str, *, allow_dir: bool = False) -> str | None:
    """Why `path` cannot be read as an input, or None when it can."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENOENT:
            return "dangling symbolic link" if os.path.islink(path) else "No such file"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "Permission denied"
        if exc.errno == errno.ENOTDIR:
            return "No such file (a part of the path is not a folder)"
        if exc.errno == errno.ENAMETOOLONG:
            return "file name too long"
        return exc.strerror or str(exc)
    except ValueError:  # an embedded NUL byte
        return "not a valid path"
    if stat.S_ISDIR(st.st_mode):
        return None if allow_dir else "is a directory, expected a file"
    if not stat.S_ISREG(st.st_mode):
        return f"is {file_kind(st.st_mode)}, not a regular file; refusing to read it"
    if not os.access(path, os.R_OK):
        return "Permission denied"
    return None


def require_input(path: str, *, allow_dir: bool = False) -> None:
    """Raise InputError (one line naming `path`) unless it can be read as an input."""
    why = input_problem(path, allow_dir=allow_dir)
    if why is not None:
        raise InputError(why, path=str(path))
