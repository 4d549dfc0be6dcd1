"""Atomic writes (whole files or none, with the permissions a plain write would give), free
output folders, numbers for printing."""

import os
import stat

import pytest

from ldseg.utils import atomic_write, atomic_write_text, fmt, free_dir, stale_temporaries


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


def test_free_dir_takes_the_first_absent_or_empty_folder(tmp_path):
    base = tmp_path / "ldseg-demo"
    assert free_dir(base) == base
    base.mkdir()
    assert free_dir(base) == base  # empty: free
    (base / "run").mkdir()
    (tmp_path / "ldseg-demo-2").mkdir()
    (tmp_path / "ldseg-demo-2" / "x").write_text("")
    assert free_dir(base) == tmp_path / "ldseg-demo-3"


def test_fmt():
    assert fmt(None) == "n/a" and fmt(0.123456) == "0.1235" and fmt(2.5, 1) == "2.5"
