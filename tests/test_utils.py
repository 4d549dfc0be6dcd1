"""Atomic writes: whole files or none, with the permissions a plain write would give."""

import os
import stat

import pytest

from ldseg.utils import atomic_write, atomic_write_text, stale_temporaries


def test_atomic_write_gives_the_mode_of_a_plain_write(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_a_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "result.json", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old" and stale_temporaries(tmp_path) == []
