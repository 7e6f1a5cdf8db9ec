"""Media files: read by the editor's own command at queue time, checked, kept by the store.

The daemon runs with other rights than the editors who queue posts, so it never opens a
path an editor named (docs/design.md §7): otherwise an editor who can't read `/etc/shadow` could
have the daemon upload it. `read_media` opens each file in the editor's process, reads at
most the limit plus one byte, and takes the type from the first bytes (an extension proves
nothing). The bytes then travel with the post through the database to the publisher.

Each platform's spec states its `MediaRule` (`publishers/<platform>.py`), beside its length
rules: what a platform would refuse is refused at queue time, never first at publish time.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import InputError

if TYPE_CHECKING:
    from .config import ChannelSettings

MIB = 1024 * 1024
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}
SNIFF_BYTES = 16  # enough for every signature below

# Contents that are refused everywhere, sniffed only to tell the editor what the file is.
_OTHER_TYPES = {
    "application/pdf": (b"%PDF-", "a PDF document"),
    "application/zip": (b"PK\x03\x04", "a ZIP archive"),
    "application/x-executable": (b"\x7fELF", "a program (ELF)"),
    "image/tiff": (b"II*\x00", "a TIFF image"),
}
UNKNOWN_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class MediaRule:
    """What one platform takes: how many files, of which types, how large each may be."""

    max_files: int
    max_bytes: int
    types: tuple[str, ...] = tuple(IMAGE_TYPES)
    # Alt text: at most `max_alt` of `alt_unit` as `alt_measure` counts; None: not sent.
    max_alt: int | None = None
    alt_unit: str = "characters"


# All the media of one import: every row's are held in memory until the rows are stored in
# one transaction (all or none), so their sum is bounded as well as each file.
IMPORT_MEDIA_LIMIT = 256 * MIB


@dataclass(frozen=True)
class MediumInfo:
    """A kept medium described without its bytes: what listings and edits check."""

    name: str
    mime: str
    size: int
    sha256: str
    alt: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Name, type, size, sha256, and `alt` when the medium has alt text."""
        described = {"name": self.name, "mime": self.mime, "size": self.size, "sha256": self.sha256}
        if self.alt is not None:
            described["alt"] = self.alt
        return described


@dataclass(frozen=True)
class Medium:
    """A medium as the scheduler keeps it: the file's name (no directory), type and bytes."""

    name: str
    mime: str
    data: bytes = field(repr=False)
    alt: str | None = None  # the description a screen reader reads, checked at queue time

    @property
    def info(self) -> MediumInfo:
        return MediumInfo(
            self.name, self.mime, len(self.data), hashlib.sha256(self.data).hexdigest(), self.alt
        )


class MediaBudget:
    """The media bytes one command may still read, for commands that read many posts."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, label: str, size: int) -> None:
        """Count `size` bytes of file `label`, or refuse it: nothing is read past the limit."""
        if size > self.left:
            raise InputError(
                f"media file {label!r} brings the media of this import over "
                f"{format_size(self.limit)}; split it into smaller imports"
            )
        self.left -= size


def media_rule(channel: ChannelSettings) -> MediaRule:
    """The channel's media rule; InputError when its platform takes no media (yet)."""
    rule = channel.platform.media
    if rule is not None:
        return rule
    reason = channel.platform.no_media or f"{channel.publisher} takes no media"
    raise InputError(
        f"channel {channel.name!r} ({channel.publisher}) can't take media: {reason}; "
        "remove the media or that channel"
    )


def read_media(
    paths: Sequence[str],
    channels: Sequence[ChannelSettings],
    *,
    budget: MediaBudget | None = None,
    alts: Sequence[str | None] = (),
) -> tuple[Medium, ...]:
    """Read and check the files an editor attached, with the editor's own rights.

    `alts` are the media's alt texts in order (one per file at most; an empty one is none).
    Raises InputError naming the file, the rule it breaks and what the file is. No file is
    read beyond the smallest size limit of the target channels plus one byte, nor beyond
    what is left of `budget`.
    """
    checked_alts = check_alts(alts, len(paths), channels)
    if not paths:
        return ()
    rules = [(channel, media_rule(channel)) for channel in channels]
    _check_count(len(paths), rules)
    return tuple(
        replace(_read_checked(path, rules, budget), alt=alt)
        for path, alt in zip(paths, checked_alts, strict=True)
    )


def check_alts(
    alts: Sequence[str | None], count: int, channels: Sequence[ChannelSettings]
) -> tuple[str | None, ...]:
    """The alt texts of `count` media, one per medium (None where none is given).

    Raises InputError for more alt texts than media, a control character (a line break
    included: alt text is read aloud as one paragraph), or an alt text longer than a target
    platform accepts, naming the medium, the limit and the actual length.
    """
    if len(alts) > count:
        raise InputError(
            f"{len(alts)} alt texts given for {count} media file(s); give at most one "
            "--alt per --media, in the same order"
        )
    checked: list[str | None] = []
    for number, alt in enumerate(alts, start=1):
        text = (alt or "").strip()
        if not text:
            checked.append(None)
            continue
        if any(_is_control(char) for char in text):
            raise InputError(
                f"alt text {number} holds a line break or another control character; "
                "write it as one line of plain text"
            )
        for channel in channels:
            rule = media_rule(channel)
            if rule.max_alt is None:
                continue
            length = alt_length(text, rule)
            if length > rule.max_alt:
                raise InputError(
                    f"alt text {number} is {length} {rule.alt_unit} long; channel "
                    f"{channel.name!r} ({channel.publisher}) accepts at most {rule.max_alt}"
                )
        checked.append(text)
    return (*checked, *([None] * (count - len(checked))))


def alt_length(text: str, rule: MediaRule) -> int:
    """`text`'s length as the platform of `rule` counts alt text."""
    if rule.alt_unit == "graphemes":
        from .text import graphemes

        return graphemes(text)
    return len(text)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


# Bidi overrides and isolates would reorder what a screen or screen reader shows.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_kept_media(media: Sequence[MediumInfo], channels: Sequence[ChannelSettings]) -> None:
    """The rules of `read_media` for media already kept, when an edit changes the channels."""
    if not media:
        return
    rules = [(channel, media_rule(channel)) for channel in channels]
    _check_count(len(media), rules)
    for medium in media:
        check_medium(medium.name, medium.mime, medium.size, rules)
    check_alts([medium.alt for medium in media], len(media), channels)


def check_medium(
    label: str,
    mime: str,
    size: int,
    rules: Sequence[tuple[ChannelSettings, MediaRule]],
) -> None:
    """Refuse one medium that a target channel would not take, naming limit and actual."""
    for channel, rule in rules:
        if mime not in rule.types:
            accepted = ", ".join(IMAGE_TYPES.get(t, t) for t in rule.types)
            raise InputError(
                f"media file {label!r} is {describe_type(mime)}; channel {channel.name!r} "
                f"({channel.publisher}) takes {accepted} images"
            )
        if size > rule.max_bytes:
            raise InputError(
                f"media file {label!r} is {format_size(size)}; channel {channel.name!r} "
                f"({channel.publisher}) takes files up to {format_size(rule.max_bytes)}"
            )


def sniff(head: bytes) -> str:
    """The media type the content starts like (its first `SNIFF_BYTES`), else UNKNOWN_TYPE."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for mime, (signature, _) in _OTHER_TYPES.items():
        if head.startswith(signature):
            return mime
    return UNKNOWN_TYPE


def describe_type(mime: str) -> str:
    """What a sniffed type is, in words: `a PNG image`, `a PDF document`."""
    if mime in IMAGE_TYPES:
        return f"a {IMAGE_TYPES[mime]} image"
    if mime in _OTHER_TYPES:
        return _OTHER_TYPES[mime][1]
    return "of no type recognised (not a PNG, JPEG, GIF or WebP image)"


def format_size(size: int) -> str:
    """Bytes exactly, and MiB beside them from 1 MiB on: `17,000,000 bytes (16.2 MiB)`."""
    if size < MIB:
        return f"{size:,} bytes"
    return f"{size:,} bytes ({size / MIB:.1f} MiB)"


def _check_count(count: int, rules: Sequence[tuple[ChannelSettings, MediaRule]]) -> None:
    for channel, rule in rules:
        if count > rule.max_files:
            raise InputError(
                f"{count} media files given; channel {channel.name!r} ({channel.publisher}) "
                f"takes at most {rule.max_files}"
            )


def _read_checked(
    path: str,
    rules: Sequence[tuple[ChannelSettings, MediaRule]],
    budget: MediaBudget | None,
) -> Medium:
    """Open `path` with the caller's rights, check type and size, then read the bytes.

    The size checked is the open file's, and the read is bounded all the same, for a file
    that grows while it is read.
    """
    limit = min(rule.max_bytes for _, rule in rules)
    with _open_regular_file(path) as file:
        try:
            head = file.read(SNIFF_BYTES)
            size = os.fstat(file.fileno()).st_size
            check_medium(path, sniff(head), size, rules)
            if budget is not None:
                budget.take(path, size)
            data = head + file.read(limit + 1 - len(head))
        except OSError as exc:
            raise InputError(f"media file {path!r} can't be read: {exc.strerror}") from None
    if len(data) > limit:
        raise InputError(
            f"media file {path!r} grew past {format_size(limit)} while it was read; "
            "the target channels take files up to that size"
        )
    return Medium(name=_safe_name(path), mime=sniff(head), data=data)


def _open_regular_file(path: str) -> BinaryIO:
    """`path` opened for reading, or InputError when it can't be or is not a regular file.

    `O_NONBLOCK` keeps a FIFO from blocking the open. The type is checked on the open
    descriptor, so a file swapped for another after a check can't slip through.
    """
    try:
        descriptor = os.open(os.path.expanduser(path), os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"media file {path!r} does not exist") from None
    except OSError as exc:
        raise InputError(f"media file {path!r} can't be read: {exc.strerror}") from None
    except ValueError:  # a NUL byte: no file can have that name
        raise InputError(f"media file {path!r} is not a valid path") from None
    mode = os.fstat(descriptor).st_mode
    if stat.S_ISREG(mode):
        return os.fdopen(descriptor, "rb")
    os.close(descriptor)
    if stat.S_ISDIR(mode):
        raise InputError(f"media file {path!r} is a directory, not a file")
    raise InputError(f"media file {path!r} is not a regular file")


def _safe_name(path: str) -> str:
    """The file's own name, without its directory and with control characters replaced: the
    name is sent to platforms in a multipart header and shown in listings."""
    name = os.path.basename(os.path.normpath(path)) or "medium"
    return "".join(char if char.isprintable() else "_" for char in name)
