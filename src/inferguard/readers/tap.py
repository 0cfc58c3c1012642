"""Hash an input while a reader reads it, so a collection reads each input once.

`collect-lmcache` records a sha256 of every source. Inside `hashing(paths)`, a reader that
opens one of those paths through `open_tapped` gets a buffered file whose raw reads also
feed that file's digest, in file order (bytes read again after a seek back are not hashed
twice). Whatever the reader skipped (a seek forward, an early stop) is read once more at the
end, from where the digest stopped, so the digest is always of the whole file.
"""
from __future__ import annotations

import contextvars
import io
import os
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Iterator

_BUFFER = 1 << 20


class Tap:
    """The running digest of one file: bytes [0, hashed) are in it."""

    def __init__(self, path: str):
        self.path = path
        import hashlib  # imported here: only hashing pays its import

        self.h = hashlib.sha256()
        self.hashed = 0
        self.size = 0

    def feed(self, pos: int, data: memoryview) -> None:
        end = pos + len(data)
        if pos <= self.hashed < end:
            self.h.update(data[self.hashed - pos:])
            self.hashed = end

    def finish(self) -> tuple[int, str]:
        """(size, sha256) of the whole file; reads only what the reader did not."""
        with open(self.path, "rb") as fh:
            fh.seek(self.hashed)
            while True:
                block = fh.read(_BUFFER)
                if not block:
                    break
                self.h.update(block)
                self.hashed += len(block)
        self.size = self.hashed
        return self.size, self.h.hexdigest()


_TAPS: contextvars.ContextVar[dict[str, Tap] | None] = contextvars.ContextVar("inferguard_taps", default=None)


def _key(path: str) -> str:
    return os.path.realpath(path)


@contextmanager
def hashing() -> Iterator[dict[str, Tap]]:
    """Within the block, every file opened through `open_tapped` is hashed as it is read;
    the dict maps the real path of each such file to its Tap."""
    taps: dict[str, Tap] = {}
    token = _TAPS.set(taps)
    try:
        yield taps
    finally:
        _TAPS.reset(token)


def digest(taps: dict[str, Tap], path: str) -> tuple[int, str]:
    """(size, sha256) of `path`: from its tap when a reader read it, else by reading it."""
    tap = taps.get(_key(path)) or Tap(path)
    return tap.finish()


class _TappedRaw(io.FileIO):
    def __init__(self, path: str, tap: Tap):
        super().__init__(path, "rb")
        self._tap = tap
        self._pos = 0

    def readinto(self, b) -> int | None:  # type: ignore[override]
        n = super().readinto(b)
        if n:
            self._tap.feed(self._pos, memoryview(b)[:n])
            self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            return self.readall()
        buf = bytearray(size)
        n = self.readinto(buf) or 0
        return bytes(buf[:n])

    def readall(self) -> bytes:  # type: ignore[override]
        out = bytearray()
        buf = bytearray(_BUFFER)
        while True:
            n = self.readinto(buf)
            if not n:
                break
            out += buf[:n]
        return bytes(out)

    def seek(self, pos: int, whence: int = 0) -> int:  # type: ignore[override]
        self._pos = super().seek(pos, whence)
        return self._pos


def open_tapped(path: str):
    """open(path, "rb"), hashed on the way when a `hashing()` block is active."""
    taps = _TAPS.get()
    if taps is None:
        return open(path, "rb")
    key = _key(path)
    tap = taps.get(key)
    if tap is None:
        tap = taps[key] = Tap(key)
    return io.BufferedReader(_TappedRaw(path, tap), buffer_size=_BUFFER)
