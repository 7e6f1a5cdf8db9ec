"""Adding posts in plain SQL over a DB-API cursor: the write path of `queue add`.

Editors run `queue add` more than any other command, and importing SQLAlchemy and SQLModel
alone takes longer than the 300 ms such a command should. So this one write speaks SQL
directly, and `Store.add_posts` runs the same functions inside its own transaction: one
implementation, whichever way the connection was opened. Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..domain import LIVE_STATUSES, PostDraft
from ..errors import PinnedConflict, StoreError
from ..media import Medium
from ..timeutil import naive_utc
from .migrations import LATEST_VERSION

SQLITE_BUSY_TIMEOUT_MS = 30_000
CHANGES_CHANNEL = "scheduler_changes"
PINNED_LOCK = 7_345_002
SCHEMA_VERSION_SQL = "SELECT value FROM meta WHERE key = 'schema_version'"


@dataclass(frozen=True)
class SqlDialect:
    """What differs between the two databases at the DB-API level."""

    name: str  # sqlite | postgresql

    def sql(self, statement: str) -> str:
        """Statements are written with `?`; psycopg wants `%s`."""
        return statement if self.name == "sqlite" else statement.replace("?", "%s")

    def time(self, moment: datetime | None) -> Any:
        """A UTC time as the column holds it: SQLAlchemy's fixed-width text on SQLite (so
        text comparison orders correctly), a naive timestamp on PostgreSQL."""
        if moment is None:
            return None
        naive = naive_utc(moment)
        if self.name == "sqlite":
            return naive.strftime("%Y-%m-%d %H:%M:%S.%f")
        return naive

    @staticmethod
    def read_time(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC)


def sql_list(values: Iterable[str]) -> str:
    """`'planned', 'published'`: fixed values (the project's own enums, never input) written
    into a statement's `IN (...)`."""
    return ", ".join(f"'{value}'" for value in values)


def insert_posts(
    cursor: Any,
    dialect: SqlDialect,
    drafts: Sequence[PostDraft],
    *,
    now: datetime,
    spacing: Mapping[str, timedelta],
) -> list[int]:
    """Insert drafts (with the airings of pinned ones) inside the caller's write transaction.

    Raises PinnedConflict, naming the other post, when a pinned draft would break `spacing`.
    """
    lock_pinned(cursor, dialect)
    ids: list[int] = []
    batch: dict[int, str] = {}  # refused batches vanish, so their posts are named by place
    for number, draft in enumerate(drafts, start=1):
        if draft.at is not None:
            refuse_pinned_conflicts(cursor, dialect, draft, spacing, ignore_post=None, batch=batch)
        cursor.execute(
            dialect.sql(
                "INSERT INTO post (body, kind, at, expires, evergreen, editor, created, media, "
                "score, cancelled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
            ),
            (
                draft.body,
                draft.kind,
                dialect.time(draft.at),
                dialect.time(draft.expires),
                draft.evergreen,
                draft.editor,
                dialect.time(now),
                media_names(draft.media),
                draft.score,
                False,
            ),
        )
        post_id = int(cursor.fetchone()[0])
        insert_media(cursor, dialect, post_id, draft.media)
        for tag in draft.tags:
            cursor.execute(
                dialect.sql("INSERT INTO post_tag (post_id, tag) VALUES (?, ?)"), (post_id, tag)
            )
        for channel in draft.channels:
            cursor.execute(
                dialect.sql("INSERT INTO post_channel (post_id, channel) VALUES (?, ?)"),
                (post_id, channel),
            )
            if draft.at is not None:
                insert_pinned_airing(cursor, dialect, post_id, channel, draft, now=now)
        ids.append(post_id)
        batch[post_id] = draft.source or f"draft {number} of this batch"
    bump_revision(cursor, dialect)
    return ids


def insert_media(cursor: Any, dialect: SqlDialect, post_id: int, media: Sequence[Medium]) -> None:
    """Keep the post's media, bytes and all, in the caller's transaction (docs/design.md §7)."""
    for position, medium in enumerate(media):
        info = medium.info
        cursor.execute(
            dialect.sql(
                "INSERT INTO media (post_id, position, name, mime, size, sha256, data, alt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                post_id,
                position,
                info.name,
                info.mime,
                info.size,
                info.sha256,
                medium.data,
                medium.alt,
            ),
        )


def media_names(media: Sequence[Medium]) -> str:
    """`post.media`: the JSON list of the media's file names, what listings show."""
    return json.dumps([medium.name for medium in media], ensure_ascii=False)


def insert_pinned_airing(
    cursor: Any, dialect: SqlDialect, post_id: int, channel: str, draft: PostDraft, *, now: datetime
) -> None:
    cursor.execute(
        dialect.sql(
            "INSERT INTO airing (post_id, channel, kind, pinned, at, status, updated) "
            "VALUES (?, ?, ?, ?, ?, 'planned', ?)"
        ),
        (post_id, channel, draft.kind, True, dialect.time(draft.at), dialect.time(now)),
    )


def refuse_pinned_conflicts(
    cursor: Any,
    dialect: SqlDialect,
    draft: PostDraft,
    spacing: Mapping[str, timedelta],
    *,
    ignore_post: int | None,
    batch: Mapping[int, str] | None = None,
) -> None:
    """§3.2: a pinned post too close to another pinned post on a channel is refused."""
    assert draft.at is not None
    statuses = sql_list(LIVE_STATUSES)
    for channel in draft.channels:
        gap = spacing[channel]
        cursor.execute(
            dialect.sql(
                "SELECT post_id, at FROM airing WHERE channel = ? AND pinned = ? "
                f"AND status IN ({statuses}) AND at > ? AND at < ? AND post_id <> ? "
                "ORDER BY at, id LIMIT 1"
            ),
            (
                channel,
                True,
                dialect.time(draft.at - gap),
                dialect.time(draft.at + gap),
                -1 if ignore_post is None else ignore_post,
            ),
        )
        row = cursor.fetchone()
        if row is None:
            continue
        other_post, other_at = int(row[0]), dialect.read_time(row[1])
        prefix = f"{draft.source}: " if draft.source else ""
        named = batch[other_post] if batch and other_post in batch else f"post {other_post}"
        raise PinnedConflict(
            prefix=prefix, channel=channel, at=draft.at, other=named, other_at=other_at, gap=gap
        )


def lock_pinned(cursor: Any, dialect: SqlDialect) -> None:
    """Serialise pinned-time checks until the transaction ends; SQLite's BEGIN IMMEDIATE
    already does."""
    if dialect.name == "postgresql":
        cursor.execute(f"SELECT pg_advisory_xact_lock({PINNED_LOCK})")


def bump_revision(cursor: Any, dialect: SqlDialect) -> None:
    """Count a change to posts (the daemon polls it); on PostgreSQL also NOTIFY at commit."""
    cursor.execute(
        "INSERT INTO meta (key, value) VALUES ('revision', '1') ON CONFLICT (key) "
        "DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS VARCHAR(20))"
    )
    if dialect.name == "postgresql":
        cursor.execute(f"NOTIFY {CHANGES_CHANNEL}")


def prepare_sqlite(cursor: Any) -> None:
    """Every SQLite connection of the project, the store's and this one, starts so: wait for
    a busy writer instead of failing, WAL so readers never block the writer, foreign keys."""
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")


def add_posts_sqlite(
    path: str, drafts: Sequence[PostDraft], *, now: datetime, spacing: Mapping[str, timedelta]
) -> list[int] | None:
    """Add posts to an SQLite file with the stdlib driver, in a `BEGIN IMMEDIATE` transaction.

    Returns None, touching nothing, when the schema is missing or outdated: the caller then
    goes through the store, which migrates first.
    """
    try:
        return _add_posts_sqlite(path, drafts, now=now, spacing=spacing)
    except sqlite3.Error as exc:
        raise StoreError(f"database sqlite:///{path} failed: {exc}") from exc


def _add_posts_sqlite(
    path: str, drafts: Sequence[PostDraft], *, now: datetime, spacing: Mapping[str, timedelta]
) -> list[int] | None:
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        cursor = connection.cursor()
        prepare_sqlite(cursor)
        try:
            version = cursor.execute(SCHEMA_VERSION_SQL).fetchone()
        except sqlite3.OperationalError:  # no schema yet
            return None
        if version is None or int(version[0]) != LATEST_VERSION:
            return None
        cursor.execute("BEGIN IMMEDIATE")
        try:
            ids = insert_posts(cursor, SqlDialect("sqlite"), drafts, now=now, spacing=spacing)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        return ids
    finally:
        connection.close()


def planned_first_sqlite(path: str, post_id: int, *, beat_since: datetime) -> PlannedFirst:
    """What `queue add` reports for a floating post, with the stdlib driver: whether a daemon
    beat since `beat_since` (so it will plan the post soon) and the post's first live airing."""
    dialect = SqlDialect("sqlite")
    statuses = sql_list(LIVE_STATUSES)
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            beats = connection.execute(
                "SELECT count(*) FROM heartbeat WHERE state = 'running' AND beat >= ?",
                (dialect.time(beat_since),),
            ).fetchone()
            first = connection.execute(
                f"SELECT min(at) FROM airing WHERE post_id = ? AND status IN ({statuses})",
                (post_id,),
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise StoreError(f"database sqlite:///{path} failed: {exc}") from exc
    at = None if first is None or first[0] is None else dialect.read_time(first[0])
    return PlannedFirst(daemon_running=bool(beats and beats[0]), at=at)


@dataclass(frozen=True)
class PlannedFirst:
    daemon_running: bool
    at: datetime | None
