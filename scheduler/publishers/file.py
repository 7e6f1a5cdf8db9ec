"""`file` publisher: one JSON line per airing, appended to a local file (docs/design.md §7).

It is the shipped default channel, so a newcomer sees the daemon publish without any account.
Exactly-once comes from the idempotency key in every line: the file is locked, scanned for
that key and only then appended to, so a retry (or a second replica) never writes a line
twice. The key, not the airing id, because the key includes the database's random identity:
a re-created database or a restored backup numbers its airings from 1 again, and its posts
must not be skipped as already written. The file is never written through a symbolic link.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..config import ChannelSettings
from ..errors import PermanentPublishError, TransientPublishError
from .base import Delivery, Receipt


class FilePublisher:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def from_channel(
        cls,
        channel: ChannelSettings,
        client: object,
        *,
        now: object,
        new_async_client: object = None,
    ) -> FilePublisher:
        """Same signature as the network publishers; a file needs no client nor clock."""
        return cls(channel.option("path"))

    def __repr__(self) -> str:
        return f"FilePublisher({str(self.path)!r})"

    def publish(self, delivery: Delivery) -> Receipt:
        """Append the delivery's line unless a line with its idempotency key is already there.

        Returns the line's number as `remote_id` and a `file://…#L<n>` URL. Raises
        PermanentPublishError when the path is a symbolic link or not a regular file.
        """
        line = json.dumps(delivery.as_json(), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._open() as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
                handle.seek(0)
                content = handle.read()
                number = _line_of(content, delivery.airing_id, delivery.idempotency_key)
                if number is None:
                    if content and not content.endswith(b"\n"):
                        # A crash mid-write left half a line: end it so ours stays whole.
                        handle.write(b"\n")
                        content += b"\n"
                    handle.write(line.encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())
                    number = content.count(b"\n") + 1
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise PermanentPublishError(
                f"file {str(self.path)!r} can't be written: {exc.strerror}"
            ) from None
        except OSError as exc:  # disk full, I/O error: may pass
            raise TransientPublishError(
                f"file {str(self.path)!r} can't be written: {exc.strerror}"
            ) from None
        return Receipt(
            remote_id=str(number), remote_url=f"{self.path.resolve().as_uri()}#L{number}"
        )

    async def publish_async(self, delivery: Delivery) -> Receipt:
        """`publish` in a thread: file locks, reads and fsync would hold up the event loop."""
        return await asyncio.to_thread(self.publish, delivery)

    def _open(self) -> BinaryIO:
        """The output file for reading and appending, refusing a symbolic link (O_NOFOLLOW,
        so no one can point the daemon's writes at another file) or anything not a file."""
        # O_NONBLOCK: opening a FIFO would otherwise wait for a reader; a file ignores it.
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            descriptor = os.open(self.path, flags, 0o666)  # the umask decides, as open() does
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PermanentPublishError(
                    f"file {str(self.path)!r} is a symbolic link; the file publisher writes "
                    "only to a regular file (set `path` to the file itself)"
                ) from None
            raise
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise PermanentPublishError(
                f"file {str(self.path)!r} is not a regular file; the file publisher writes "
                "only to a regular file"
            )
        return os.fdopen(descriptor, "a+b")

    async def connect_async(self) -> None:
        pass  # nothing to open ahead: each airing opens the file anew

    def close(self) -> None:
        pass

    async def close_async(self) -> None:
        pass


def _line_of(content: bytes, airing_id: int, key: str) -> int | None:
    """The 1-based number of the line holding idempotency key `key`, if any.

    Lines are written by `json.dumps` with `airing_id` first, so a prefix test finds
    candidates without parsing the whole file; a candidate is then parsed to compare keys.
    """
    prefix = b'{"airing_id": %d,' % airing_id
    for number, raw in enumerate(content.split(b"\n"), start=1):
        if raw.startswith(prefix):
            try:
                if json.loads(raw).get("idempotency_key") == key:
                    return number
            except ValueError:
                continue  # the half line a crash left: that write never completed
    return None
