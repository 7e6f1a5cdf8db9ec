"""SQLModel tables and the filters every read shares (the enums are in `scheduler.domain`).

The tables are created and upgraded only by `migrations.py`, the schema's history; these
classes map them, column for column: types and lengths, nullability, defaults, keys,
indexes and unique constraints, so that the schema `SQLModel.metadata` describes is the
one the latest migration leaves (`tests/test_schema.py` builds both and compares them on
SQLite and PostgreSQL). Times are stored as naive UTC (portable across SQLite and
PostgreSQL) and come back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    DOUBLE_PRECISION,
    TIMESTAMP,
    BigInteger,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlmodel import Field, SQLModel, col

from ..domain import LIVE_STATUSES, AiringKind, AiringStatus, InboxStatus
from ..timeutil import naive_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database."""

    impl = TIMESTAMP
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _typed(sa_type: Any, *, server_default: Any = None, **kwargs: Any) -> Any:
    """A field of the column type the migrations give it, with their DEFAULT, if any."""
    if server_default is not None:
        kwargs["sa_column_kwargs"] = {"server_default": server_default}
    if sa_type is not None:  # None: the type the annotation maps to
        kwargs["sa_type"] = sa_type
    return Field(**kwargs)


def _utc_field(**kwargs: Any) -> Any:
    return _typed(UTCDateTime, **kwargs)


def _id_field(**kwargs: Any) -> Any:
    """Ids are BIGINT in the schema; mapped as plain integers, PostgreSQL binds them as
    32-bit and every id past 2^31 fails."""
    return _typed(BigInteger, **kwargs)


def _key_field() -> Any:
    """A table's own id: an identity column on PostgreSQL; on SQLite INTEGER PRIMARY KEY
    AUTOINCREMENT (the rowid itself, never reused), with `_AUTOINCREMENT` in the table args."""
    return Field(
        default=None,
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        sa_column_args=[Identity()],
    )


_AUTOINCREMENT = {"sqlite_autoincrement": True}
_NAME = String(100)  # channels, tags, meta keys
_WORD = String(16)  # kinds, statuses, outcomes
_WHO = String(200)  # editors, daemon owners, hosts
_REMOTE = String(500)  # platform ids, authors, cursors
_URL = String(2000)


class Post(SQLModel, table=True):
    __table_args__ = _AUTOINCREMENT

    id: int | None = _key_field()
    body: str = _typed(Text)
    kind: str = _typed(_WORD)
    at: datetime | None = _utc_field(default=None)  # pinned time, or None when floating
    expires: datetime | None = _utc_field(default=None)
    evergreen: bool = _typed(None, default=True, server_default=true())
    editor: str = _typed(_WHO)
    created: datetime = _utc_field()
    # JSON list of the media's file names (the bytes are in `Media`)
    media: str = _typed(Text, default="[]", server_default="[]")
    # engagement score when known; best first among reposts
    score: float | None = _typed(DOUBLE_PRECISION, default=None)
    cancelled: bool = _typed(None, default=False, server_default=false())


class PostChannel(SQLModel, table=True):
    __tablename__ = "post_channel"

    post_id: int = _id_field(foreign_key="post.id", primary_key=True)
    channel: str = _typed(_NAME, primary_key=True)


class Airing(SQLModel, table=True):
    __table_args__ = (
        Index("ix_airing_status_at", "status", "at"),
        # One live airing per post, channel and time, whatever the concurrency of planners
        # (migration 4): `write_plan` inserts with ON CONFLICT DO NOTHING against it.
        Index(
            "ux_airing_live_slot",
            "post_id",
            "channel",
            "at",
            unique=True,
            sqlite_where=text(f"status IN ({', '.join(repr(str(s)) for s in LIVE_STATUSES)})"),
            postgresql_where=text(f"status IN ({', '.join(repr(str(s)) for s in LIVE_STATUSES)})"),
        ),
        # A channel's published airings, for reports over a window (migration 9).
        Index(
            "ix_airing_published",
            "channel",
            "published_at",
            "at",
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
        _AUTOINCREMENT,
    )

    id: int | None = _key_field()
    post_id: int = _id_field(foreign_key="post.id", index=True)
    channel: str = _typed(_NAME)
    kind: str = _typed(_WORD)
    pinned: bool = _typed(None, default=False, server_default=false())
    at: datetime = _utc_field()
    status: str = _typed(_WORD, default=AiringStatus.planned)
    idempotency_key: str | None = _typed(String(100), default=None, unique=True)
    owner: str | None = _typed(_WHO, default=None)
    lease_until: datetime | None = _utc_field(default=None)
    remote_id: str | None = _typed(_REMOTE, default=None)
    remote_url: str | None = _typed(_URL, default=None)
    error: str | None = _typed(Text, default=None)
    published_at: datetime | None = _utc_field(default=None)
    updated: datetime = _utc_field()
    # An airing's identity for life (docs/design.md §5), set when it is first claimed and never
    # changed: the text it sends (so history shows what aired, whatever edits follow) and
    # the due time it is sent with (Bluesky's record key is derived from it), however often
    # `queue retry` moves `at`.
    body: str | None = _typed(Text, default=None)
    first_due: datetime | None = _utc_field(default=None)
    # an attempt may have reached the platform; never cleared
    maybe_sent: bool = _typed(None, default=False, server_default=false())
    # taken back from a dead owner since its last recorded outcome
    recoveries: int = _typed(Integer, default=0, server_default=text("0"))


class Attempt(SQLModel, table=True):
    """One try at publishing an airing: the audit trail behind `failed` and `unconfirmed`."""

    __table_args__ = _AUTOINCREMENT

    id: int | None = _key_field()
    airing_id: int = _id_field(foreign_key="airing.id", index=True)
    owner: str = _typed(_WHO)
    started: datetime = _utc_field()
    finished: datetime | None = _utc_field(default=None)
    outcome: str | None = _typed(_WORD, default=None)  # published | retry | failed | interrupted
    detail: str | None = _typed(Text, default=None)


class Media(SQLModel, table=True):
    """One medium of a post, bytes and all: read at queue time, never opened by the daemon."""

    post_id: int = _id_field(foreign_key="post.id", primary_key=True)
    position: int = _typed(Integer, primary_key=True)  # order of attachment, from 0
    name: str = _typed(Text)  # the file's own name, no directory
    mime: str = _typed(String(100))  # sniffed from the content at queue time
    size: int = _id_field()
    sha256: str = _typed(CHAR(64))
    data: bytes
    # alt text, checked against every target platform at queue time
    alt: str | None = _typed(Text, default=None)


class InboxItem(SQLModel, table=True):
    """A reply, mention or quote read from a platform (§10). Its text comes from outside and
    is stored as received; every output removes control characters and escapes it."""

    __tablename__ = "inbox_item"
    __table_args__ = (
        UniqueConstraint("channel", "platform_id"),
        Index("ix_inbox_item_status_at", "status", "at"),
        Index("ix_inbox_item_reply_airing", "reply_airing_id"),
        _AUTOINCREMENT,
    )

    id: int | None = _key_field()
    channel: str = _typed(_NAME)
    platform_id: str = _typed(_REMOTE)  # the platform's id of the answering post
    kind: str = _typed(_WORD)
    author: str = _typed(_REMOTE)
    text: str = _typed(Text)
    at: datetime = _utc_field()
    url: str | None = _typed(_URL, default=None)
    airing_id: int | None = _id_field(default=None, foreign_key="airing.id")  # ours it answers
    post_id: int | None = _id_field(default=None, foreign_key="post.id")
    status: str = _typed(_WORD, default=InboxStatus.open)
    reply_airing_id: int | None = _id_field(default=None, foreign_key="airing.id")
    # JSON: what a reply needs (status id, or the uri/cid strong refs)
    target: str = _typed(Text, default="{}")
    # the "waits longer than response_time" warning was logged
    warned: bool = _typed(None, default=False, server_default=false())
    received: datetime = _utc_field()


class ListenCursor(SQLModel, table=True):
    """Per channel, how far the platform's notifications have been read."""

    __tablename__ = "listen_cursor"

    channel: str = _typed(_NAME, primary_key=True)
    cursor: str = _typed(_REMOTE)
    updated: datetime = _utc_field()


class MetricSnapshot(SQLModel, table=True):
    """One reading of a published airing's counts (§11); every reading is kept."""

    __tablename__ = "metric_snapshot"
    __table_args__ = (Index("ix_metric_snapshot_airing", "airing_id", "at"), _AUTOINCREMENT)

    id: int | None = _key_field()
    airing_id: int = _id_field(foreign_key="airing.id")
    at: datetime = _utc_field()
    likes: int = _id_field()
    shares: int = _id_field()
    replies: int = _id_field()
    quotes: int = _id_field(default=0, server_default=text("0"))
    step: int | None = _typed(Integer, default=None)  # index in `[metrics].read_after`
    in_window: bool  # taken within the engagement window (see `store.metrics`)
    source: str = _typed(_WORD)  # platform | import


class AiringEngagement(SQLModel, table=True):
    """The snapshot an airing's engagement is read from (§11): its latest taken within the
    engagement window, copied here whenever snapshots are written (`store.metrics`)."""

    __tablename__ = "airing_engagement"
    # INTEGER PRIMARY KEY on SQLite: the given airing id is the rowid, read directly
    airing_id: int = _typed(
        BigInteger().with_variant(Integer(), "sqlite"), foreign_key="airing.id", primary_key=True
    )
    snapshot_id: int = _id_field(foreign_key="metric_snapshot.id")
    at: datetime = _utc_field()  # the snapshot's
    likes: int = _id_field()
    shares: int = _id_field()
    replies: int = _id_field()
    quotes: int = _id_field()


class FollowerSnapshot(SQLModel, table=True):
    """A channel's follower count when it was read (§11)."""

    __tablename__ = "follower_snapshot"
    channel: str = _typed(_NAME, primary_key=True)
    at: datetime = _utc_field(primary_key=True)
    followers: int = _id_field()


class PostTag(SQLModel, table=True):
    """`queue add --tag`: what `report` groups and `--compare` sets side by side."""

    __tablename__ = "post_tag"
    __table_args__ = (Index("ix_post_tag_tag", "tag"),)

    post_id: int = _id_field(foreign_key="post.id", primary_key=True)
    tag: str = _typed(_NAME, primary_key=True)


class Heartbeat(SQLModel, table=True):
    """One row per running daemon, refreshed every tick; `status` reads it."""

    owner: str = _typed(_WHO, primary_key=True)
    pid: int = _typed(Integer)
    host: str = _typed(_WHO)
    started: datetime = _utc_field()
    beat: datetime = _utc_field()
    state: str = _typed(_WORD, default="running")


class Meta(SQLModel, table=True):
    """Key/value facts about the database: the schema version and the change counter."""

    key: str = _typed(_NAME, primary_key=True)
    value: str = _typed(Text)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table a model maps: what statements over many rows at once are built on."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


# Replies (§10) are conversation: planning, the audit, spacing and `queue list` leave them out.
BROADCAST_POST = col(Post.kind) != AiringKind.reply
BROADCAST_AIRING = col(Airing.kind) != AiringKind.reply

# The columns of `domain.AiringRow`, in its field order: how every read of airings for
# planning and the daemon's downtime policy selects them.
AIRING_ROW = (
    col(Airing.id),
    col(Airing.post_id),
    col(Airing.channel),
    col(Airing.kind),
    col(Airing.pinned),
    col(Airing.at),
    col(Airing.status),
    col(Airing.remote_url),
    col(Airing.error),
    col(Airing.idempotency_key).is_not(None),
)
