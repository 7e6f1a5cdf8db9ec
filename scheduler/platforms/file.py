"""What the file publisher is: one `path`, media described but kept, and deduplication by
the idempotency key in every line. The client is `publishers/file.py`."""

from __future__ import annotations

from ..config import read_path
from ..media import MIB, MediaRule
from .spec import Deduplication, Option, PlatformSpec

SPEC = PlatformSpec(
    name="file",
    options=(Option("path", read_path, required=True),),
    client="scheduler.publishers.file:FilePublisher",
    # Only each medium's description is written, but the bytes are kept in the database all
    # the same, so the same bound as Mastodon's keeps an import from filling it.
    media=MediaRule(max_files=4, max_bytes=16 * MIB, max_alt=1500),
    deduplication=Deduplication(),  # the idempotency key in every line, checked first
)
