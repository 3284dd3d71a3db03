"""The data dir's lock: one server, or one restore, at a time on a data dir.

Two servers on one data dir would both append to the metric store's WAL and each drop the
other's segments after compacting; a restore under a running server would replace its database
mid-write. `fleetdeck server` holds this lock for its life and `fleetdeck backup restore` while
it works. It is an advisory `flock` on `DATA_DIR/server.lock`: the kernel releases it when the
process ends, however it ends, so a killed server never leaves a stale lock behind. The file
holds who took it, for the message the next one prints.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_FILE = "server.lock"


class DataDirBusy(RuntimeError):
    """Another process holds the data dir."""


class DataDirLock:
    def __init__(self, data_dir: Path, holder: str) -> None:
        self.path = data_dir / LOCK_FILE
        self.holder = holder
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DataDirBusy(f"{self.path.parent} is in use by {other}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.holder} (pid {os.getpid()})\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


# What a data dir holds (besides this lock and the agent install's download cache).
DATABASE_FILE = "fleetdeck.db"  # the SQLite database, unless a database URL says otherwise
KEYS_DIR = "keys"  # audit.key and secret.key: auth/keys.py
TLS_DIR = "tls"  # the private CA and certificate of `--tls auto`: tls.py
TSDB_WAL_DIR = "tsdb-wal"  # the metric store's write-ahead log: tsdb/wal.py
