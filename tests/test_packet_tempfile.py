"""The temporary file an atomic write goes through: new, exclusive, private, never a link."""
from __future__ import annotations

import os
import stat

import pytest

from inferguard import packet


def test_a_new_private_file_under_a_fresh_name(tmp_path):
    fd, name = packet._mkstemp(tmp_path, ".report.json.", ".tmp")
    os.close(fd)
    assert os.path.dirname(name) == str(tmp_path)
    base = os.path.basename(name)
    assert base.startswith(".report.json.") and base.endswith(".tmp")
    assert stat.S_IMODE(os.lstat(name).st_mode) == 0o600


def test_a_taken_name_is_never_reused(tmp_path, monkeypatch):
    draws = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(packet.os, "urandom", lambda n: next(draws))
    fd1, first = packet._mkstemp(tmp_path, "p.", ".tmp")
    os.close(fd1)
    fd2, second = packet._mkstemp(tmp_path, "p.", ".tmp")   # the first draw is taken: the next one
    os.close(fd2)
    assert first != second and os.path.basename(second) == "p." + "01" * 6 + ".tmp"


def test_a_link_at_the_drawn_name_is_not_followed(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere"
    os.symlink(target, tmp_path / ("p." + "00" * 6 + ".tmp"))
    draws = iter([b"\x00" * 6, b"\x02" * 6])
    monkeypatch.setattr(packet.os, "urandom", lambda n: next(draws))
    fd, name = packet._mkstemp(tmp_path, "p.", ".tmp")
    os.close(fd)
    assert not target.exists() and name.endswith("02" * 6 + ".tmp")


def test_an_unwritable_folder_is_an_oserror(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(OSError):
        packet._mkstemp(missing, "p.", ".tmp")
