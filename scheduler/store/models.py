"""SQLModel tables and the filters every read shares (the enums are in `scheduler.domain`).

The tables are created and upgraded only by `scheduler.migrations`; these classes map them.
Times are stored as naive UTC (portable across SQLite and PostgreSQL) and come back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, TypeDecorator
from sqlmodel import Field, SQLModel, col

from ..domain import AiringKind, AiringStatus, InboxStatus
from ..timeutil import naive_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _utc_field(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _id_field(**kwargs: Any) -> Any:
    """Ids are BIGINT in the schema; mapped as plain integers, PostgreSQL binds them as
    32-bit and every id past 2^31 fails."""
    return Field(sa_type=BigInteger, **kwargs)


class Post(SQLModel, table=True):
    id: int | None = _id_field(default=None, primary_key=True)
    body: str
    kind: str
    at: datetime | None = _utc_field(default=None)  # pinned time, or None when floating
    expires: datetime | None = _utc_field(default=None)
    evergreen: bool = True
    editor: str
    created: datetime = _utc_field()
    media: str = "[]"  # JSON list of the media's file names (the bytes are in `Media`)
    score: float | None = None  # engagement score when known; best first among reposts
    cancelled: bool = False


class PostChannel(SQLModel, table=True):
    __tablename__ = "post_channel"

    post_id: int = _id_field(foreign_key="post.id", primary_key=True)
    channel: str = Field(primary_key=True)


class Airing(SQLModel, table=True):
    id: int | None = _id_field(default=None, primary_key=True)
    post_id: int = _id_field(foreign_key="post.id", index=True)
    channel: str
    kind: str
    pinned: bool = False
    at: datetime = _utc_field()
    status: str = AiringStatus.planned
    idempotency_key: str | None = None
    owner: str | None = None
    lease_until: datetime | None = _utc_field(default=None)
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    published_at: datetime | None = _utc_field(default=None)
    updated: datetime = _utc_field()
    # An airing's identity for life (docs/design.md §5), set when it is first claimed and never
    # changed: the text it sends (so history shows what aired, whatever edits follow) and
    # the due time it is sent with (Bluesky's record key is derived from it), however often
    # `queue retry` moves `at`.
    body: str | None = None
    first_due: datetime | None = _utc_field(default=None)
    maybe_sent: bool = False  # an attempt may have reached the platform; never cleared
    recoveries: int = 0  # taken back from a dead owner since its last recorded outcome


class Attempt(SQLModel, table=True):
    """One try at publishing an airing: the audit trail behind `failed` and `unconfirmed`."""

    id: int | None = _id_field(default=None, primary_key=True)
    airing_id: int = _id_field(foreign_key="airing.id", index=True)
    owner: str
    started: datetime = _utc_field()
    finished: datetime | None = _utc_field(default=None)
    outcome: str | None = None  # published | retry | failed | interrupted
    detail: str | None = None


class Media(SQLModel, table=True):
    """One medium of a post, bytes and all: read at queue time, never opened by the daemon."""

    post_id: int = _id_field(foreign_key="post.id", primary_key=True)
    position: int = Field(primary_key=True)  # order of attachment, from 0
    name: str  # the file's own name, no directory
    mime: str  # sniffed from the content at queue time
    size: int
    sha256: str
    data: bytes
    alt: str | None = None  # alt text, checked against every target platform at queue time


class InboxItem(SQLModel, table=True):
    """A reply, mention or quote read from a platform (§10). Its text comes from outside and
    is stored as received; every output removes control characters and escapes it."""

    __tablename__ = "inbox_item"

    id: int | None = _id_field(default=None, primary_key=True)
    channel: str
    platform_id: str  # the platform's id of the answering post, unique per channel
    kind: str
    author: str
    text: str
    at: datetime = _utc_field()
    url: str | None = None
    airing_id: int | None = _id_field(default=None, foreign_key="airing.id")  # ours it answers
    post_id: int | None = _id_field(default=None, foreign_key="post.id")
    status: str = InboxStatus.open
    reply_airing_id: int | None = _id_field(default=None, foreign_key="airing.id")
    target: str = "{}"  # JSON: what a reply needs (status id, or the uri/cid strong refs)
    warned: bool = False  # the "waits longer than response_time" warning was logged
    received: datetime = _utc_field()


class ListenCursor(SQLModel, table=True):
    """Per channel, how far the platform's notifications have been read."""

    __tablename__ = "listen_cursor"

    channel: str = Field(primary_key=True)
    cursor: str
    updated: datetime = _utc_field()


class MetricSnapshot(SQLModel, table=True):
    """One reading of a published airing's counts (§11); every reading is kept."""

    __tablename__ = "metric_snapshot"
    id: int | None = _id_field(default=None, primary_key=True)
    airing_id: int = _id_field(foreign_key="airing.id")
    at: datetime = _utc_field()
    likes: int = _id_field()
    shares: int = _id_field()
    replies: int = _id_field()
    quotes: int = _id_field(default=0)
    step: int | None = None  # index in `[metrics].read_after`; None for an import
    in_window: bool  # taken within the engagement window (see `store.metrics`)
    source: str  # platform | import


class FollowerSnapshot(SQLModel, table=True):
    """A channel's follower count when it was read (§11)."""

    __tablename__ = "follower_snapshot"
    channel: str = Field(primary_key=True)
    at: datetime = _utc_field(primary_key=True)
    followers: int = _id_field()


class PostTag(SQLModel, table=True):
    """`queue add --tag`: what `report` groups and `--compare` sets side by side."""

    __tablename__ = "post_tag"
    post_id: int = _id_field(foreign_key="post.id", primary_key=True)
    tag: str = Field(primary_key=True)


class Heartbeat(SQLModel, table=True):
    """One row per running daemon, refreshed every tick; `status` reads it."""

    owner: str = Field(primary_key=True)
    pid: int
    host: str
    started: datetime = _utc_field()
    beat: datetime = _utc_field()
    state: str = "running"


class Meta(SQLModel, table=True):
    """Key/value facts about the database: the schema version and the change counter."""

    key: str = Field(primary_key=True)
    value: str


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
