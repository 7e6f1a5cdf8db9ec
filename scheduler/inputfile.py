"""Reading the files and standard input that a user names: bounded, regular files, UTF-8.

A path on the command line or in a config can be anything: `/dev/zero`, a FIFO nobody
writes to, a 20 GB log. Every read here takes at most `limit + 1` bytes and refuses past
`limit`, opens without blocking and refuses what is not a regular file, and decodes strictly,
so a bad input is one clear sentence instead of a hang, an exhausted memory or a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

MB = 1_000_000


class UnreadableInput(Exception):
    """Why an input can't be taken as text. `reason` completes a sentence that begins with
    what was read: "--file 'x' " + "is larger than 1 MB". `missing` marks a path that does
    not exist, for callers that explain where the path came from."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        self.reason = reason
        self.missing = missing
        super().__init__(reason)


def read_text_file(path: Path | str, *, limit: int, encoding: str = "utf-8") -> str:
    """The text of the regular file `path`, exactly as stored (no newline translation).

    Raises UnreadableInput when it does not exist, is not a regular file (device, FIFO,
    directory), holds more than `limit` bytes, can't be read, or is not valid `encoding`.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UnreadableInput("does not exist", missing=True) from None
    except OSError as exc:
        raise UnreadableInput(f"can't be read: {exc.strerror}") from None
    # Checked before the descriptor becomes a file object: `fdopen` itself refuses a
    # directory with an exception of its own.
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UnreadableInput("is not a regular file (but a device, FIFO or directory)")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = _read_bounded(handle, limit)
        except OSError as exc:
            raise UnreadableInput(f"can't be read: {exc.strerror}") from None
    return _decode(data, encoding)


def read_text_stream(stream: BinaryIO, *, limit: int) -> str:
    """Standard input (or any byte stream) as UTF-8 text, at most `limit` bytes.

    Raises UnreadableInput like `read_text_file`.
    """
    return _decode(_read_bounded(stream, limit), "utf-8")


def size_text(limit: int) -> str:
    return f"{limit // MB} MB" if limit % MB == 0 else f"{limit} bytes"


def _read_bounded(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UnreadableInput(f"is larger than {size_text(limit)}")
    return data


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"is not UTF-8 text (invalid byte at offset {exc.start})") from None
