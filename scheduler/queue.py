"""What editors ask for, checked against the config before anything is stored.

`draft_post` turns raw editor input (strings as typed) into a validated `PostDraft`;
`read_import` does the same for every row of a .csv or .jsonl file, so an import is refused
as a whole with the bad rows named.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config
from .errors import InputError, SchedulerError
from .media import IMPORT_MEDIA_LIMIT, MediaBudget, check_kept_media, read_media
from .post_sql import PostDraft
from .text import length_problem
from .timeutil import WHEN_HINT, iso_utc, parse_when

if TYPE_CHECKING:  # the store is imported only by the commands that read records
    from .store import PostRecord

POST_KINDS = ("core", "entertaining")
IMPORT_COLUMNS = (
    "text",
    "channel",
    "kind",
    "at",
    "expires",
    "evergreen",
    "media",
    "editor",
    "score",
)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}
MAX_LISTED_ROW_ERRORS = 20


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
    score: float | None = None


def spacing_by_channel(config: Config) -> dict[str, timedelta]:
    return {name: channel.min_spacing for name, channel in config.channels.items()}


def parse_time(
    text: str, *, what: str, config: Config, channels: Sequence[str], now: datetime
) -> datetime:
    """A `WHEN` in the single target channel's timezone, else the scheduler's (§4)."""
    tz = config.channel(channels[0]).timezone if len(channels) == 1 else config.scheduler.timezone
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
    if raw.kind not in POST_KINDS:
        raise refuse(f"kind {raw.kind!r} is not accepted; use core or entertaining")
    body = (raw.body or "").strip()
    if not body:
        raise refuse("the body is empty; give TEXT, --file PATH or --file - (standard input)")
    for channel in settings:
        problem = length_problem(body, channel)
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
    # `--at now` is a WHEN like any other (§4): it means "as soon as possible", not the past.
    if at is not None and at < now:
        raise refuse(
            f"pinned time {iso_utc(at)} is in the past (now is {iso_utc(now)}); give a later --at"
        )
    if expires is not None and expires <= now:
        raise refuse(
            f"expiry {iso_utc(expires)} is in the past (now is {iso_utc(now)}); "
            "give a later --expires"
        )
    if at is not None and expires is not None and expires <= at:
        raise refuse(f"expiry {iso_utc(expires)} is not after the pinned time {iso_utc(at)}")
    try:
        media = read_media(raw.media, settings, budget=media_budget)  # last: the slowest
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
        source=source,
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
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--file {file!r} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(f"--file {file!r} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"--file {file!r} can't be read: {exc.strerror}") from None


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
) -> dict[str, Any]:
    """The fields an edit changes, validated as a whole post would be.

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
    )
    draft = draft_post(raw, config, now=now)
    if media is None:
        check_kept_media(current.media, [config.channel(name) for name in draft.channels])
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
    if not changes:
        raise InputError(
            "nothing to change; give a new TEXT, --file, --channel, --kind, --at, --expires, "
            "--media or --evergreen/--no-evergreen"
        )
    return changes


# --- import ---------------------------------------------------------------------------------


def read_import(path: Path, config: Config, *, now: datetime, editor: str) -> list[PostDraft]:
    """Every row of a .csv or .jsonl file as a draft; InputError listing each bad row."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise InputError(f"{str(path)!r} must be a .csv or .jsonl file")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{str(path)!r} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(f"{str(path)!r} is not UTF-8 text") from None
    rows = _csv_rows(content) if suffix == ".csv" else _jsonl_rows(content)
    drafts: list[PostDraft] = []
    problems: list[str] = []
    media_budget = MediaBudget(IMPORT_MEDIA_LIMIT)
    for label, row in rows:
        where = f"{path.name}: {label}"
        try:
            if isinstance(row, str):
                raise InputError(row)
            raw = _raw_from_row(row, editor)
            drafts.append(draft_post(raw, config, now=now, source=where, media_budget=media_budget))
        except SchedulerError as exc:
            message = str(exc)
            problems.append(message if message.startswith(where) else f"{where}: {message}")
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


def _csv_rows(content: str) -> Iterable[tuple[str, Mapping[str, Any] | str]]:
    reader = csv.DictReader(content.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in IMPORT_COLUMNS and name != "body"]
    if unknown:
        yield "header", f"unknown column {unknown[0]!r}; accepted: {', '.join(IMPORT_COLUMNS)}"
        return
    for number, row in enumerate(reader, start=1):
        if None in row:
            yield f"row {number}", "has more fields than the header"
            continue
        yield f"row {number}", {key.strip(): value for key, value in row.items()}


def _jsonl_rows(content: str) -> Iterable[tuple[str, Mapping[str, Any] | str]]:
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {number}", f"not valid JSON ({exc.msg})"
            continue
        if not isinstance(value, dict):
            yield f"line {number}", "must be a JSON object"
            continue
        unknown = [
            key for key in value if key not in IMPORT_COLUMNS and key not in ("body", "channels")
        ]
        if unknown:
            yield (
                f"line {number}",
                f"unknown field {unknown[0]!r}; accepted: {', '.join(IMPORT_COLUMNS)}",
            )
            continue
        yield f"line {number}", value


def _raw_from_row(row: Mapping[str, Any], default_editor: str) -> RawPost:
    return RawPost(
        body=_text(row.get("text", row.get("body"))),
        channels=_names(row.get("channel", row.get("channels"))),
        kind=_text(row.get("kind")),
        at=_text(row.get("at")) or None,
        expires=_text(row.get("expires")) or None,
        evergreen=_flag(row.get("evergreen"), "evergreen"),
        media=_names(row.get("media")),
        editor=_text(row.get("editor")) or default_editor,
        score=_score(row.get("score")),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{value!r} must be text")
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


def _flag(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE if value.strip() else True
    raise InputError(f"{name} {value!r} must be true or false")


def _score(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"score {value!r} must be a number") from None


__all__ = ["IMPORT_COLUMNS", "WHEN_HINT", "RawPost", "draft_post", "read_body", "read_import"]
