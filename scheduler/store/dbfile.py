"""One daemon per SQLite file, and noticing when that file is replaced (docs/design.md §5).

SQLite has no replicas: two daemons on one file would both plan and both send. `DaemonLock`
holds an exclusive `flock` on `<database>.lock` for the daemon's life; the kernel frees it
when the process ends, kill -9 included, so a crash never leaves a stale lock behind. The
lock file names who holds it, so a refused daemon can say which one runs.

A database file removed or replaced under a running daemon (a restored backup, `rm` and a
new file made by the next command) would leave the daemon planning and publishing from the
unlinked file while editors and `status` see another one. `DatabaseFile` remembers the
device and inode the daemon started on and says when the path no longer leads there.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import SchedulerError
from ..timeutil import iso_utc

SQLITE_PREFIX = "sqlite:///"


class DaemonAlreadyRunning(SchedulerError):
    """Another daemon holds the lock of this SQLite database."""

    def __init__(self, database: Path, holder: dict[str, object]) -> None:
        if holder:
            who = f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
        else:
            who = "a process that is still starting"
        super().__init__(
            f"another daemon already runs on {database}: {who}; only one daemon may use an "
            "SQLite database (stop that one first, or use PostgreSQL for replicas)"
        )


class DaemonLockUnavailable(SchedulerError):
    """The lock file beside the database can't be opened (rights, a symbolic link)."""


class DatabaseFileChanged(SchedulerError):
    """The SQLite file the daemon opened is no longer the one at its path."""


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (config makes it absolute); None for PostgreSQL."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    return Path(url.removeprefix(SQLITE_PREFIX))


def lock_file(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DaemonLock:
    """The exclusive right to run a daemon on one SQLite file, held until `release()`."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor = descriptor

    @classmethod
    def acquire(cls, database: Path, *, now: datetime) -> DaemonLock:
        """Take the lock or raise DaemonAlreadyRunning naming the holder (pid, host, since);
        DaemonLockUnavailable when the lock file can't be opened."""
        path = lock_file(database)
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DaemonLockUnavailable(
                f"can't open the daemon lock file {path} ({exc.strerror}); the daemon needs to "
                "create and write it beside the database"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise DaemonAlreadyRunning(database, holder) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": iso_utc(now)}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(holder).encode() + b"\n", 0)
        return cls(path, descriptor)

    def release(self) -> None:
        """Give the lock up. The file stays: removing it could let two daemons lock two
        different files under one name."""
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1


def _read_holder(descriptor: int) -> dict[str, object]:
    try:
        value = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
    except ValueError:  # the holder is between truncating and writing its line
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class DatabaseFile:
    """The identity (device, inode) of the SQLite file a daemon works on."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> DatabaseFile:
        status = os.stat(path)
        return cls(path, status.st_dev, status.st_ino)

    def check(self) -> None:
        """Raise DatabaseFileChanged when the path is gone or leads to another file."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            raise DatabaseFileChanged(
                f"database file {self.path} was removed while the daemon ran; stopping "
                "(start the daemon again to use a new database)"
            ) from None
        except OSError as exc:
            raise DatabaseFileChanged(
                f"database file {self.path} can no longer be checked ({exc.strerror}); stopping"
            ) from None
        if (status.st_dev, status.st_ino) != (self.device, self.inode):
            raise DatabaseFileChanged(
                f"database file {self.path} was replaced by another file while the daemon "
                "ran; stopping (start the daemon again to use the new one)"
            )
