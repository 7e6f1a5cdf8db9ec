"""What editors ask for, checked against the config before anything is stored.

`draft_post` turns raw editor input (strings as typed) into a validated `PostDraft`;
`read_import` does the same for every row of a .csv or .jsonl file, so an import is refused
as a whole with the bad rows named.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..config import Config
from ..domain import POST_KINDS, PostDraft
from ..errors import InputError, SchedulerError
from ..inputfile import MB, UnreadableInput, read_text_file, read_text_stream
from ..media import IMPORT_MEDIA_LIMIT, MediaBudget, check_kept_media, read_media
from ..text import length_problem
from ..timeutil import WHEN_HINT, iso_utc, local_label, parse_when

if TYPE_CHECKING:  # the store is imported only by the commands that read records
    from ..store.store import PostRecord

IMPORT_COLUMNS = (
    "text",
    "channel",
    "kind",
    "at",
    "expires",
    "evergreen",
    "media",
    "alt",
    "editor",
    "score",
    "tags",
)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}
MAX_LISTED_ROW_ERRORS = 20
BODY_FILE_LIMIT = 1 * MB
IMPORT_FILE_LIMIT = 50 * MB
EDITOR_MAX_CHARS = 200  # the width of post.editor
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Tags name experiments on a command line: plain words (any script), nothing to escape.
_TAG = re.compile(r"^[\w.-]{1,100}\Z")


@dataclass(frozen=True)
class RawPost:
    """Editor input before validation: times still as typed, channels as named."""

    body: str | None
    channels: Sequence[str]
    kind: str | None
    at: str | None = None
    expires: str | None = None
    evergreen: bool = True
    media: Sequence[str] = ()
    editor: str = ""
    alt: Sequence[str] = ()  # one alt text per medium, in order
    score: float | None = None
    tags: Sequence[str] = ()


def spacing_by_channel(config: Config) -> dict[str, timedelta]:
    return {name: channel.min_spacing for name, channel in config.channels.items()}


def parse_time(
    text: str, *, what: str, config: Config, channels: Sequence[str], now: datetime
) -> datetime:
    """A `WHEN` in the single target channel's timezone, else the scheduler's (§4)."""
    tz = config.zone(channels[0]) if len(channels) == 1 else config.scheduler.timezone
    try:
        return parse_when(text, now=now, tz=tz)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


def draft_post(
    raw: RawPost,
    config: Config,
    *,
    now: datetime,
    source: str = "",
    media_budget: MediaBudget | None = None,
) -> PostDraft:
    """Validate `raw` against every target channel; raise InputError naming the problem.

    `media_budget` bounds the media bytes read across the drafts that share it (an import).
    """
    prefix = f"{source}: " if source else ""

    def refuse(message: str) -> InputError:
        return InputError(prefix + message)

    channels = tuple(dict.fromkeys(raw.channels))  # keep order, drop repeats
    if not channels:
        known = ", ".join(sorted(config.channels))
        raise refuse(f"no channel given; use --channel with one of: {known}")
    try:
        settings = [config.channel(name) for name in channels]
    except InputError as exc:
        raise refuse(str(exc)) from None
    if not raw.kind:
        raise refuse("no kind given; use --kind core or --kind entertaining")
    if raw.kind not in POST_KINDS:
        raise refuse(f"kind {raw.kind!r} is not accepted; use core or entertaining")
    body = (raw.body or "").strip()
    if not body:
        raise refuse("the body is empty; give TEXT, --file PATH or --file - (standard input)")
    for what, value in (("the body", body), ("the editor name", raw.editor)):
        problem = unstorable_text_problem(value, what)
        if problem:
            raise refuse(problem)
    if len(raw.editor) > EDITOR_MAX_CHARS:
        raise refuse(
            f"the editor name is {len(raw.editor)} characters long; "
            f"at most {EDITOR_MAX_CHARS} are accepted"
        )
    for channel in settings:
        problem = length_problem(body, channel, media=bool(raw.media))
        if problem:
            raise refuse(problem)
    try:
        at = (
            parse_time(raw.at, what="--at", config=config, channels=channels, now=now)
            if raw.at
            else None
        )
        expires = (
            parse_time(raw.expires, what="--expires", config=config, channels=channels, now=now)
            if raw.expires
            else None
        )
    except InputError as exc:
        raise refuse(str(exc)) from None
    # Answered in the zone the editor's time was read in, with its offset.
    zone = config.zone(channels[0] if len(channels) == 1 else None)

    def shown(moment: datetime) -> str:
        return local_label(moment, zone)

    # `--at now` is a WHEN like any other (§4): it means "as soon as possible", not the past.
    if at is not None and at < now:
        raise refuse(
            f"pinned time {shown(at)} is in the past (now is {shown(now)}); give a later --at"
        )
    if expires is not None and expires <= now:
        raise refuse(
            f"expiry {shown(expires)} is in the past (now is {shown(now)}); give a later --expires"
        )
    if at is not None and expires is not None and expires <= at:
        raise refuse(f"expiry {shown(expires)} is not after the pinned time {shown(at)}")
    tags = tuple(dict.fromkeys(raw.tags))
    for tag in tags:
        if not _TAG.match(tag):
            raise refuse(
                f"tag {tag!r} is not accepted; a tag is 1-100 letters, digits, '-', '_' or '.'"
            )
    try:
        media = read_media(raw.media, settings, budget=media_budget, alts=raw.alt)  # slowest
    except InputError as exc:
        raise refuse(str(exc)) from None
    return PostDraft(
        body=body,
        kind=raw.kind,
        channels=channels,
        editor=raw.editor,
        at=at,
        expires=expires,
        evergreen=raw.evergreen,
        media=media,
        score=raw.score,
        tags=tags,
        source=source,
    )


def unstorable_text_problem(text: str, what: str) -> str | None:
    """Why `text` can't be stored exactly, or None. PostgreSQL can't hold NUL, and no UTF-8
    database can hold a lone surrogate (how Python carries bytes that are not UTF-8), so both
    are refused on every backend before anything is written."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    position = found.start() + 1
    if found.group() == "\0":
        return f"{what} contains a NUL character (U+0000) at character {position}; remove it"
    return (
        f"{what} contains U+{ord(found.group()):04X} at character {position}, which is not "
        "text (a lone surrogate, or bytes that are not UTF-8); remove it"
    )


def read_body(text: str | None, file: str | None, stdin_text: str | None) -> str | None:
    """The body from TEXT or --file (`-` is standard input); giving both is refused."""
    if text is not None and file is not None:
        raise InputError("give the body either as TEXT or with --file, not both")
    if file is None:
        return text
    if file == "-":
        return stdin_text
    try:
        return _text_file_newlines(read_text_file(file, limit=BODY_FILE_LIMIT))
    except UnreadableInput as exc:
        raise InputError(f"--file {file!r} {exc.reason}") from None


def read_stdin_body(stream: BinaryIO) -> str:
    """The body piped to `--file -`, bounded like a body file."""
    try:
        return _text_file_newlines(read_text_stream(stream, limit=BODY_FILE_LIMIT))
    except UnreadableInput as exc:
        raise InputError(f"standard input (--file -) {exc.reason}") from None


def _text_file_newlines(text: str) -> str:
    """A body file's line ends as `\n`, whatever editor saved it (as text files are read)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def edit_changes(
    current: PostRecord,
    config: Config,
    *,
    now: datetime,
    body_text: str | None,
    file: str | None,
    stdin_text: str | None,
    channels: Sequence[str] | None,
    kind: str | None,
    at: str | None,
    expires: str | None,
    evergreen: bool | None,
    media: Sequence[str] | None,
    alt: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The fields an edit changes, validated as a whole post would be.

    `alt` with `media`: the new media's alt texts. `alt` alone: new alt texts for the kept
    media, from the first on (an empty one removes that medium's); the others keep theirs.

    `--at none` makes a pinned post floating; `--expires none` removes the expiry. A time the
    edit leaves alone is not checked against `now` again (it may rightly be in the past).
    `--media none` removes the media. Media the edit leaves alone are not read again, but
    are checked against the new channels.
    """
    post = current.post
    body = read_body(body_text, file, stdin_text)
    float_it = at is not None and at.strip().lower() == "none"
    never_expire = expires is not None and expires.strip().lower() == "none"
    if media is not None and [path.strip().lower() for path in media] == ["none"]:
        media = []
    keep_at = post.at if post.at and post.at > now else None
    keep_expires = post.expires if post.expires and post.expires > now else None
    raw = RawPost(
        body=body if body is not None else post.body,
        channels=channels or current.channels,
        kind=kind or post.kind,
        at=None if float_it else at or (iso_utc(keep_at) if keep_at else None),
        expires=None
        if never_expire
        else expires or (iso_utc(keep_expires) if keep_expires else None),
        evergreen=post.evergreen if evergreen is None else evergreen,
        media=media or (),
        editor=post.editor,
        alt=alt if media is not None and alt else (),
    )
    if media is None and alt and not current.media:
        raise InputError(f"post {post.id} has no media to describe; give --media with --alt")
    draft = draft_post(raw, config, now=now)
    kept = tuple(current.media)
    if media is None and alt:
        if len(alt) > len(kept):
            raise InputError(
                f"{len(alt)} alt texts given for the {len(kept)} media file(s) of post "
                f"{post.id}; give at most one --alt per medium, in order"
            )
        kept = tuple(
            replace(medium, alt=(alt[i].strip() or None) if i < len(alt) else medium.alt)
            for i, medium in enumerate(kept)
        )
    if media is None:
        targets = [config.channel(name) for name in draft.channels]
        check_kept_media(kept, targets)
        for channel in targets if kept else ():
            problem = length_problem(draft.body, channel, media=True)
            if problem:
                raise InputError(problem)
    changes: dict[str, Any] = {}
    if body is not None:
        changes["body"] = draft.body
    if channels:
        changes["channels"] = draft.channels
    if kind is not None:
        changes["kind"] = draft.kind
    if at is not None:
        changes["at"] = draft.at
    if expires is not None:
        changes["expires"] = draft.expires
    if evergreen is not None:
        changes["evergreen"] = evergreen
    if media is not None:
        changes["media"] = draft.media
    elif alt:
        changes["alt"] = tuple(medium.alt for medium in kept)
    if not changes:
        raise InputError(
            "nothing to change; give a new TEXT, --file, --channel, --kind, --at, --expires, "
            "--media, --alt or --evergreen/--no-evergreen"
        )
    return changes


# --- import ---------------------------------------------------------------------------------


def read_import(path: Path, config: Config, *, now: datetime, editor: str) -> list[PostDraft]:
    """Every row of a .csv or .jsonl file as a draft; InputError listing each bad row.

    Bodies come through exactly as written (every line end and separator kept); a file that
    could be read two ways (a column twice, `text` and `body` both) is refused, not guessed.
    """
    from ..render.progress import ProgressBar

    rows = list(file_rows(path))  # the file is read whole anyway; the bar needs the count
    drafts: list[PostDraft] = []
    problems: list[str] = []
    media_budget = MediaBudget(IMPORT_MEDIA_LIMIT)
    with ProgressBar("queue import: checking rows", len(rows)) as bar:
        for label, row in rows:
            where = f"{path.name}: {label}"
            try:
                if isinstance(row, str):
                    raise InputError(row)
                raw = _raw_from_row(row, editor)
                drafts.append(
                    draft_post(raw, config, now=now, source=where, media_budget=media_budget)
                )
            except SchedulerError as exc:
                message = str(exc)
                problems.append(message if message.startswith(where) else f"{where}: {message}")
            bar.advance()
    if problems:
        shown = problems[:MAX_LISTED_ROW_ERRORS]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more rows with problems")
        if len(shown) == 1:  # one bad row: one line, like every other refusal
            raise InputError(f"nothing was imported: {shown[0]}")
        raise InputError("nothing was imported:\n" + "\n".join(shown))
    if not drafts:
        raise InputError(f"{path.name}: has no rows to import")
    return drafts


def file_rows(
    path: Path,
    columns: Sequence[str] = IMPORT_COLUMNS,
    aliases: Sequence[str] = ("body", "channels"),
) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    """(label, row) of a .csv or .jsonl file read with bounds; a row that can't be read is
    its problem as text. `columns` (and `aliases`) are the names accepted. Raises InputError
    for a file that can't be read at all."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise InputError(f"{str(path)!r} must be a .csv or .jsonl file")
    try:
        content = read_text_file(path, limit=IMPORT_FILE_LIMIT, encoding="utf-8-sig")
    except UnreadableInput as exc:
        raise InputError(f"{str(path)!r} {exc.reason}") from None
    accepted = (tuple(columns), tuple(aliases))
    return _csv_rows(content, *accepted) if suffix == ".csv" else _jsonl_rows(content, *accepted)


# Two names for one field: a row that gives both could mean either, so it is refused.
_ALIASES = (("text", "body"), ("channel", "channels"))


def _ambiguity(names: Sequence[str], what: str) -> str | None:
    """Why these column or key names can't be read one way only, or None."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return f"{what} {name!r} appears twice; keep one"
        seen.add(name)
    for first, second in _ALIASES:
        if first in seen and second in seen:
            return f"{what}s {first!r} and {second!r} both give the {first}; keep one"
    return None


def _csv_rows(
    content: str, columns: tuple[str, ...], aliases: tuple[str, ...]
) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    # newline="": line ends inside quoted cells belong to the cell; only \r and \n end a
    # record, never U+2028, NEL or a form feed.
    reader = csv.reader(io.StringIO(content, newline=""))
    number, where = 0, "header"
    try:
        header = [name.strip() for name in next(reader, [])]
        unknown = [name for name in header if name not in columns and name not in aliases]
        if unknown:
            accepted = ", ".join(columns)
            yield "header", f"unknown column {unknown[0]!r}; accepted: {accepted}"
            return
        problem = _ambiguity(header, "column")
        if problem:
            yield "header", problem
            return
        where = "row 1"
        for cells in reader:
            if not cells:  # a blank line between records
                continue
            number += 1
            where = f"row {number + 1}"  # the next record, should reading it fail
            if len(cells) > len(header):
                yield f"row {number}", "has more fields than the header"
                continue
            yield f"row {number}", dict(zip(header, cells, strict=False))
    except csv.Error as exc:  # the reader can't go on past a broken record
        yield where, f"not valid CSV ({exc})"


def _jsonl_rows(
    content: str, columns: tuple[str, ...], aliases: tuple[str, ...]
) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    # Only \n ends a line: U+2028 and NEL are valid inside a JSON string (str.splitlines
    # would cut the row there), and json.loads accepts the \r of a CRLF file as whitespace.
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        try:
            value = json.loads(line, object_pairs_hook=_object_without_repeats)
        except json.JSONDecodeError as exc:
            yield f"line {number}", f"not valid JSON ({exc.msg})"
            continue
        except _RepeatedKey as exc:
            yield f"line {number}", f"key {exc.key!r} appears twice; keep one"
            continue
        except RecursionError:
            yield f"line {number}", "is nested too deeply to be a post"
            continue
        except ValueError:  # an integer of more digits than Python converts
            yield f"line {number}", "holds a number too long to read"
            continue
        if not isinstance(value, dict):
            yield f"line {number}", "must be a JSON object"
            continue
        unknown = [key for key in value if key not in columns and key not in aliases]
        if unknown:
            yield (
                f"line {number}",
                f"unknown field {unknown[0]!r}; accepted: {', '.join(columns)}",
            )
            continue
        problem = _ambiguity(list(value), "key")
        if problem:
            yield f"line {number}", problem
            continue
        yield f"line {number}", value


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json.loads would keep the last silently)."""
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise _RepeatedKey(key)
        value[key] = item
    return value


def _raw_from_row(row: Mapping[str, Any], default_editor: str) -> RawPost:
    return RawPost(
        body=_text(row.get("text", row.get("body")), "text"),
        channels=_names(row.get("channel", row.get("channels"))),
        kind=_text(row.get("kind"), "kind"),
        at=_text(row.get("at"), "at") or None,
        expires=_text(row.get("expires"), "expires") or None,
        evergreen=_flag(row.get("evergreen"), "evergreen"),
        media=_names(row.get("media")),
        alt=_alts(row.get("alt")),
        editor=_text(row.get("editor"), "editor") or default_editor,
        score=_score(row.get("score")),
        tags=_names(row.get("tags")),
    )


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, not {type(value).__name__}")
    return value


def _names(value: Any) -> list[str]:
    """A list, or text separated by spaces, commas or semicolons."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").replace(";", " ").split() if part]
    raise InputError(f"{value!r} must be a name or a list of names")


def _alts(value: Any) -> list[str]:
    """Alt texts, one per medium in order: a JSON list, or a CSV cell separated by `|` (alt
    texts hold the spaces and commas that separate media names)."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    if isinstance(value, str):
        return value.split("|") if value.strip() else []
    raise InputError(f"alt {value!r} must be a text or a list of texts, one per medium")


def _flag(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE if value.strip() else True
    raise InputError(f"{name} {value!r} must be true or false")


def _score(value: Any) -> float | None:
    """A finite number: `inf` or `nan` would be stored and then printed as invalid JSON."""
    if value is None or value == "":
        return None
    not_a_number = InputError(f"score {value!r} must be a number")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise not_a_number
    try:
        score = float(value)
    except (ValueError, OverflowError):
        raise not_a_number from None
    if not math.isfinite(score):
        raise InputError(f"score {value!r} must be a finite number")
    return score


__all__ = [
    "IMPORT_COLUMNS",
    "WHEN_HINT",
    "RawPost",
    "draft_post",
    "file_rows",
    "read_body",
    "read_import",
]
