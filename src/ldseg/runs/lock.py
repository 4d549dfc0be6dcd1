"""The run-folder lock: one training process (``train`` or ``train --resume``) per run folder.

:class:`RunLock` holds an exclusive ``fcntl.flock`` on ``RUN/.ldseg.lock`` for the whole
training, post-training steps included, and writes its holder (pid, host, start time) into it.
A second process fails at once: "RUN is in use by pid N on HOST since T". The operating system
drops the lock of a killed process, but the file stays: a lock file that is left while nobody
holds the lock is stale. When its pid is not running on this host the lock is taken over with a
warning (so ``--resume`` after a kill just works); when that cannot be told (another host, or a
pid that runs again) the command stops and says to delete the file once nothing uses the run.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from ldseg.errors import RunFolderError

LOCK_NAME = ".ldseg.lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; the lock file alone marks the folder in use
    fcntl = None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _holder(text: str) -> dict:
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
        f"since {holder.get('since', '?')}"
    )


class RunLock:
    """``with RunLock(run_dir):`` trains into ``run_dir`` alone (see the module docstring).

    The folder is created if needed; a folder this lock created and that is empty again when it
    is released is removed (a refused or failed start leaves nothing behind).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.folder = Path(run_dir)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._created = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if not self.folder.exists():
            try:
                self.folder.mkdir(parents=True)
                self._created = True
            except FileExistsError:
                pass
            except OSError as err:
                raise RunFolderError(f"{self.folder}: cannot create ({err.strerror})") from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise RunFolderError(f"{self.path}: cannot lock ({err.strerror})") from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    text = self._read(fd)
                    os.close(fd)
                    self._cleanup_folder()
                    raise RunFolderError(
                        f"{self.folder} is in use by {_describe(_holder(text))} (lock "
                        f"{self.path}); wait for it to finish or choose another folder"
                    ) from None
            try:  # the file may have been removed by its last holder meanwhile: lock again
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        left = self._read(fd).strip()
        if left:
            self._stale(_holder(left))
        record = {"pid": os.getpid(), "host": socket.gethostname()}
        record["since"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)

    def _stale(self, holder: dict) -> None:
        """A lock file left while nobody holds the lock: taken over when its process is gone."""
        pid, host = holder.get("pid"), holder.get("host")
        gone = (
            host == socket.gethostname()
            and isinstance(pid, int)
            and (pid == os.getpid() or not _pid_running(pid))
        )
        if gone:
            print(
                f"ldseg: warning: {self.path}: stale lock of {_describe(holder)} (no longer "
                "running; killed?) taken over",
                file=sys.stderr,
            )
            return
        self.release(remove=False)
        raise RunFolderError(
            f"{self.path}: left by {_describe(holder)}, which may still be running; if no process "
            f"uses {self.folder}, delete {self.path} and run the command again"
        )

    @staticmethod
    def _read(fd: int) -> str:
        try:
            return os.pread(fd, 4096, 0).decode(errors="replace")
        except OSError:
            return ""

    def release(self, remove: bool = True) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # drops the flock
        self._fd = None
        self._cleanup_folder()

    def _cleanup_folder(self) -> None:
        if self._created:
            try:
                self.folder.rmdir()  # only if empty
            except OSError:
                pass
            else:
                self._created = False


def training_lock(run_dir: str | Path) -> AbstractContextManager:
    """The lock of a training process: :class:`RunLock` on rank 0 (the process that writes
    the run folder; the only one outside ``torchrun``), nothing on the other ranks."""
    return RunLock(run_dir) if os.environ.get("RANK", "0") == "0" else nullcontext()
