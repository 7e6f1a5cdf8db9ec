"""The only place with a database session: queries, claims, leases and migrations.

One code path serves SQLite and PostgreSQL. On SQLite every write transaction starts with
`BEGIN IMMEDIATE` (WAL, busy timeout), so the daemon and several CLI processes queue behind
each other instead of failing with "database is locked" when a reader upgrades to a writer.
Methods take the time as an argument; none reads the clock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    String,
    bindparam,
    case,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    text,
    true,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, SQLModel, col, select

from ..domain import (
    LIVE_STATUSES,
    NEEDS_EDITOR,
    ON_AIR,
    AiringKind,
    AiringRow,
    AiringStatus,
    AttemptOutcome,
    ChannelWindow,
    InboxStatus,
    PostDraft,
    PostRow,
    WindowRows,
    may_be_out,
    post_status,
    retry_keeps,
)
from ..errors import InputError, PostNotFound, StoreError
from ..measuring import Weights
from ..media import Medium, MediumInfo
from . import listings
from .listings import PostListing
from .migrations import LATEST_VERSION, MIGRATIONS
from .models import (
    Airing,
    Attempt,
    Heartbeat,
    InboxItem,
    Media,
    Meta,
    Post,
    PostChannel,
)
from .post_sql import (
    SCHEMA_VERSION_SQL,
    SQLITE_BUSY_TIMEOUT_MS,
    SqlDialect,
    bump_revision,
    insert_media,
    insert_pinned_airing,
    insert_posts,
    lock_pinned,
    media_names,
    prepare_sqlite,
    refuse_pinned_conflicts,
)

# Replies (§10) are conversation: planning, the audit, spacing and `queue list` leave them out.
_BROADCAST_POST = col(Post.kind) != AiringKind.reply
_BROADCAST_AIRING = col(Airing.kind) != AiringKind.reply
_MIGRATION_LOCK = 7_345_001
_PLANNER_LOCK = 7_345_003


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed airing with everything needed to send it, read in the claim transaction."""

    id: int
    post_id: int
    channel: str
    kind: str
    at: datetime
    idempotency_key: str
    lease_until: datetime
    body: str  # the text to send: rendered at the first claim and kept for life
    media: tuple[Medium, ...]  # the bytes kept at queue time, in order
    first_at: datetime  # when the post first aired (or is planned to) on this channel
    due: datetime  # the due time it was first sent with, sent on every later attempt
    maybe_sent: bool  # an earlier attempt may have reached the platform
    revision: int  # the change counter when claimed: unchanged means not cancelled since
    reply_to: Mapping[str, str] | None = None  # a reply airing's target (inbox item `target`)


# How a claimed airing's text is made from its post (`Claimed.body` holds the post's body).
Render = Callable[[Claimed], str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed airing ended, for `Store.record_outcomes`."""

    airing_id: int
    status: str  # published | failed | unconfirmed | cancelled | planned (handed back)
    outcome: str  # published | failed | interrupted | cancelled | released
    at: datetime
    detail: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    maybe_sent: bool = False  # some attempt, this one or an earlier, may have reached it


@dataclass(frozen=True)
class Cancellation:
    """What `Store.cancel_post` did, so the CLI can say it truthfully."""

    record: PostRecord
    cancelled: tuple[int, ...]  # planned airings that will never go out
    in_flight: tuple[int, ...]  # claimed by a daemon: stopped before sending, if not begun
    aired: tuple[int, ...]  # published airings, which stay in history as they are
    maybe_out: tuple[int, ...] = ()  # put back by `retry`, may be out from an earlier attempt


@dataclass(frozen=True)
class PostRecord:
    """A post read together with its channels and airings."""

    post: Post
    channels: tuple[str, ...]
    airings: tuple[Airing, ...] = field(default_factory=tuple)
    media: tuple[MediumInfo, ...] = ()  # in order, without their bytes
    tags: tuple[str, ...] = ()  # `queue add --tag`, sorted

    @property
    def id(self) -> int:
        assert self.post.id is not None
        return self.post.id

    def status(self, now: datetime) -> str:
        """queued | published | failed | missed | unconfirmed | cancelled | expired."""
        return post_status(
            cancelled=self.post.cancelled,
            expires=self.post.expires,
            statuses={airing.status for airing in self.airings},
            now=now,
        )


POST_STATUSES = ("queued", "published", "failed", "missed", "unconfirmed", "cancelled", "expired")


def redact_url(url: str) -> str:
    """The database URL without its password, fit for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown by scheme only
        return url.split(":", 1)[0] + "://…"


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = _make_engine(url)
        self._sql = SqlDialect(self.dialect)
        self._write_engine = self.engine.execution_options(write=True)

    def close(self) -> None:
        self.engine.dispose()

    # --- sessions --------------------------------------------------------------------------

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        engine = self._write_engine if write else self.engine
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            # Connection lost, server restarting, lock timeout…: one error type for callers.
            raise StoreError(
                f"database {redact_url(self.url)} failed: {_first_line(exc.orig)}"
            ) from exc

    # --- schema ----------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self.session() as session:
            return _schema_version(session)

    def migrate(self) -> int:
        """Bring the schema up to date, keeping all data; return the version it is at."""
        with self.session(write=True) as session:
            if self.dialect == "postgresql":
                # Two processes upgrading at once would both try to create the tables.
                session.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            session.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS meta "
                    "(key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)"
                )
            )
            current = _schema_version(session)
            if current > LATEST_VERSION:
                raise StoreError(
                    f"database schema version {current} is newer than this program knows "
                    f"({LATEST_VERSION}); upgrade the program"
                )
            for migration in MIGRATIONS:
                if migration.version > current:
                    for statement in migration.sql(self.dialect):
                        session.execute(text(statement))
                    _set_meta(session, "schema_version", str(migration.version))
            return LATEST_VERSION

    def ensure_schema(self) -> None:
        """Migrate only when needed: a read is cheaper than a write lock on every command."""
        try:
            current = self.schema_version()
        except StoreError:
            current = 0  # no meta table yet
        if current != LATEST_VERSION:
            self.migrate()

    # --- change counter (how the daemon notices CLI writes) ----------------------------------

    def revision(self) -> int:
        with self.session() as session:
            return _revision(session)

    # --- posts -----------------------------------------------------------------------------

    def add_posts(
        self, drafts: Sequence[PostDraft], *, now: datetime, spacing: Mapping[str, timedelta]
    ) -> list[int]:
        """Store all drafts or none. Pinned drafts get their airings at once.

        Raises InputError when a pinned draft would break `spacing` (per channel) with another
        pinned post, naming that post.
        """
        with self.session(write=True) as session:
            return insert_posts(_cursor(session), self._sql, drafts, now=now, spacing=spacing)

    def get_post(self, post_id: int) -> PostRecord:
        with self.session() as session:
            return _read_record(session, post_id)

    def list_posts(
        self, *, channel: str | None = None, status: str | None = None, now: datetime
    ) -> list[PostListing]:
        """Posts oldest first, with their airings, as light records (`store.listings`)."""
        with self.session() as session:
            records = listings.list_posts(_cursor(session), self._sql, channel=channel)
        if status is not None:
            records = [record for record in records if record.status(now) == status]
        return records

    def all_posts(self) -> list[PostRecord]:
        with self.session() as session:
            return _read_records(session, channel=None)

    def edit_post(
        self,
        post_id: int,
        changes: Mapping[str, Any],
        *,
        now: datetime,
        spacing: Mapping[str, timedelta],
    ) -> PostRecord:
        """Apply `changes` (PostDraft field names); planned airings that never left are dropped
        so the planner places the post again under its new terms.

        What may already be on a platform keeps its identity: a published, unconfirmed or
        retried (keyed) airing keeps its row, its body as sent and its time, so a new body
        only reaches airings not yet sent. Raises PostNotFound, or InputError when the post is
        cancelled, being published, already (maybe) aired where the change would rewrite
        history, or the new pinned time conflicts.
        """
        with self.session(write=True) as session:
            lock_pinned(_cursor(session), self._sql)
            record = _read_record(session, post_id)
            post = record.post
            if post.cancelled:
                raise InputError(f"post {post_id} is cancelled; queue a new post instead")
            if any(a.status == AiringStatus.publishing for a in record.airings):
                raise InputError(f"post {post_id} is being published right now; try again shortly")
            aired = [a for a in record.airings if _may_be_out(a)]
            for key in ("at", "kind", "channels"):
                if key in changes and aired and changes[key] != _current(record, key):
                    raise InputError(
                        f"post {post_id} has already aired, so its {key} can't change; "
                        "queue a new post instead"
                    )
            merged = _draft_of(record, changes)
            if merged.at is not None:
                refuse_pinned_conflicts(
                    _cursor(session), self._sql, merged, spacing, ignore_post=post_id
                )
            for key in ("body", "kind", "at", "expires", "evergreen", "score"):
                setattr(post, key, getattr(merged, key))
            if "media" in changes:
                post.media = media_names(changes["media"])
                session.execute(delete(Media).where(col(Media.post_id) == post_id))
                insert_media(_cursor(session), self._sql, post_id, changes["media"])
            elif "alt" in changes:  # new alt texts for the media kept, by position
                for position, alt in enumerate(changes["alt"]):
                    session.execute(
                        update(Media)
                        .where(col(Media.post_id) == post_id, col(Media.position) == position)
                        .values(alt=alt)
                    )
            session.add(post)
            for airing in record.airings:
                if airing.status == AiringStatus.planned and not _may_be_out(airing):
                    _delete_airing(session, airing)  # a missed one put back has attempts
            if set(merged.channels) != set(record.channels):
                for link in session.exec(
                    select(PostChannel).where(col(PostChannel.post_id) == post_id)
                ).all():
                    session.delete(link)
                for channel in merged.channels:
                    session.add(PostChannel(post_id=post_id, channel=channel))
            session.flush()
            if merged.at is not None and not aired:
                for channel in merged.channels:
                    insert_pinned_airing(
                        _cursor(session), self._sql, post_id, channel, merged, now=now
                    )
            note_change(session)
            session.flush()
            return _read_record(session, post_id)

    def cancel_post(self, post_id: int, *, now: datetime) -> Cancellation:
        """Cancel what has not aired: planned airings become `cancelled`; one a daemon has
        claimed is stopped by the daemon's check before each send (`is_cancelled`), unless
        its request already left. Published airings stay `published`, and a planned one an
        earlier attempt may have delivered becomes `unconfirmed`, not `cancelled`."""
        with self.session(write=True) as session:
            record = _read_record(session, post_id)
            record.post.cancelled = True
            session.add(record.post)
            cancelled, maybe_out = [], []
            for airing in record.airings:
                if airing.status == AiringStatus.planned and airing.maybe_sent:
                    airing.status = AiringStatus.unconfirmed
                    airing.error = (
                        "cancelled after an attempt that may have reached the platform; "
                        "not sent again: check the channel"
                    )
                    maybe_out.append(airing.id)
                elif airing.status == AiringStatus.planned:
                    airing.status = AiringStatus.cancelled
                    cancelled.append(airing.id)
                else:
                    continue
                airing.updated = now
                session.add(airing)
            note_change(session)
            session.flush()
            return Cancellation(
                record=_read_record(session, post_id),
                cancelled=_ids(cancelled),
                in_flight=_ids(a.id for a in record.airings if a.status == AiringStatus.publishing),
                aired=_ids(a.id for a in record.airings if a.status == AiringStatus.published),
                maybe_out=_ids(maybe_out),
            )

    def is_cancelled(self, airing_id: int) -> bool:
        """Has the airing's post been cancelled? The daemon asks right before each send."""
        with self.session() as session:
            return bool(
                session.execute(
                    sa_select(col(Post.cancelled))
                    .join(Airing, col(Airing.post_id) == col(Post.id))
                    .where(col(Airing.id) == airing_id)
                ).scalar()
            )

    def retry_post(self, post_id: int, *, now: datetime) -> list[int]:
        """Put failed, missed and unconfirmed airings back; return their ids.

        Each is the same airing again (docs/design.md §5): its row, idempotency key, body and
        due time as first sent stay, so a retry after a lost answer is deduplicated by the
        platform.
        It goes out at once (at its own time if that is still ahead). Only a floating airing
        that was never claimed (no key) is removed, so the planner gives it the next free slot.
        """
        with self.session(write=True) as session:
            record = _read_record(session, post_id)
            if record.post.cancelled:
                raise InputError(f"post {post_id} is cancelled; it can't be retried")
            stuck = [a for a in record.airings if a.status in NEEDS_EDITOR]
            if not stuck:
                raise InputError(
                    f"post {post_id} has no failed, missed or unconfirmed airing to retry"
                )
            for airing in stuck:
                if retry_keeps(
                    pinned=airing.pinned,
                    kind=airing.kind,
                    keyed=airing.idempotency_key is not None,
                ):
                    airing.status = AiringStatus.planned
                    airing.at = max(airing.at, now)
                    airing.error = None
                    airing.owner = None
                    airing.lease_until = None
                    airing.recoveries = 0
                    airing.updated = now
                    session.add(airing)
                else:
                    _delete_airing(session, airing)
            note_change(session)
            return [a.id for a in stuck if a.id is not None]

    # --- the daemon's side: plan, claims, leases --------------------------------------------

    def planning_rows(self) -> tuple[list[PostRow], list[AiringRow]]:
        """Every post and airing as light rows (no bodies): what planning reads.

        Plain column tuples, not ORM objects, so 100,000 posts fit in a few tens of megabytes.
        """
        with self.session() as session:
            channels_of: dict[int, list[str]] = defaultdict(list)
            for post_id, channel in session.execute(
                select(PostChannel.post_id, PostChannel.channel)
            ).all():
                channels_of[post_id].append(channel)
            posts = [
                PostRow(
                    id=row[0],
                    kind=row[1],
                    created=row[2],
                    expires=row[3],
                    evergreen=row[4],
                    pinned=row[5],
                    score=row[6],
                    cancelled=row[7],
                    channels=tuple(sorted(channels_of.get(row[0], ()))),
                )
                for row in session.execute(
                    sa_select(
                        col(Post.id),
                        col(Post.kind),
                        col(Post.created),
                        col(Post.expires),
                        col(Post.evergreen),
                        col(Post.at).is_not(None),
                        col(Post.score),
                        col(Post.cancelled),
                    )
                    .where(_BROADCAST_POST)
                    .order_by(col(Post.id))
                ).all()
            ]
            airings = [
                AiringRow(*row)
                for row in session.execute(
                    sa_select(
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
                    .where(col(Airing.status) != AiringStatus.cancelled, _BROADCAST_AIRING)
                    .order_by(col(Airing.at), col(Airing.id))
                ).all()
            ]
            return posts, airings

    def window_rows(
        self,
        channels: Sequence[ChannelWindow],
        *,
        start: datetime,
        end: datetime,
        history_from: datetime,
    ) -> WindowRows:
        """The rows planning [start, end) at `start` needs, history from `history_from` on:
        what calendar, simulate and status read (see `store.listings`)."""
        with self.session() as session:
            return listings.window_rows(
                _cursor(session),
                self._sql,
                channels,
                start=start,
                end=end,
                history_from=history_from,
            )

    def queued_counts(self, channels: Sequence[str], *, now: datetime) -> dict[str, int]:
        """Per channel, the posts still to air there (`status`'s queued posts)."""
        with self.session() as session:
            return listings.queued_counts(_cursor(session), self._sql, channels, now=now)

    def open_inbox_items(self) -> list[InboxItem]:
        """Open inbox items oldest first (what planning's `StoredPlan` reads)."""
        from .inbox import InboxStore  # inbox.py builds on this module

        return [entry.item for entry in InboxStore(self).entries()]

    def engagements(self, weights: Weights) -> list[tuple[int, str, float]]:
        """(post, channel, engagement) of every measured published airing (§11): what the
        planner's repost scores are made of. See `store.metrics`."""
        from .metrics import engagements  # metrics builds on this module

        return engagements(self, weights)

    def sent_bodies(self, airing_ids: Iterable[int]) -> dict[int, str]:
        """The text each of these airings was sent with, for those claimed at least once."""
        wanted = sorted(set(airing_ids))
        result: dict[int, str] = {}
        with self.session() as session:
            for batch in chunked(wanted):
                result.update(
                    session.execute(
                        sa_select(col(Airing.id), col(Airing.body)).where(
                            col(Airing.id).in_(batch), col(Airing.body).is_not(None)
                        )
                    ).all()
                )
        return result

    def bodies(self, post_ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(post_ids))
        result: dict[int, str] = {}
        with self.session() as session:
            for batch in chunked(wanted):
                result.update(
                    session.execute(select(Post.id, Post.body).where(col(Post.id).in_(batch))).all()
                )
        return result

    def write_plan(
        self,
        *,
        remove: Sequence[int],
        add: Sequence[tuple[str, int, str, datetime]],
        now: datetime,
        expected_revision: int,
    ) -> bool:
        """Replace planned airings in one transaction: delete `remove` (only those still planned
        and floating) and insert `add` as (channel, post_id, kind, at). Returns False, writing
        nothing, when posts changed since the plan was made, so a stale plan never lands.

        A post already live (planned, publishing or published) on that channel at that time is
        not inserted again: another planner got there first (the unique index of migration 4
        decides, so it holds on PostgreSQL between concurrent transactions too).
        """
        with self.session(write=True) as session:
            if _revision(session) != expected_revision:
                return False
            for batch in chunked(remove):
                session.execute(
                    delete(Airing).where(
                        col(Airing.id).in_(batch),
                        col(Airing.status) == AiringStatus.planned,
                        col(Airing.pinned).is_(False),
                    )
                )
            if add:
                rows = [
                    {
                        "post_id": post_id,
                        "channel": channel,
                        "kind": kind,
                        "at": at,
                        "status": AiringStatus.planned,
                        "updated": now,
                    }
                    for channel, post_id, kind, at in add
                ]
                session.execute(_insert_new_airings(self.dialect), rows)
            return True

    def claim_due(
        self,
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        key_prefix: str,
        channels: Sequence[str],
        render: Render | None = None,
    ) -> list[Claimed]:
        """Move due planned airings to `publishing` for `owner`, in one atomic statement.

        Each claimed airing gets its identity (kept if it already had one: a retry or a
        recovered lease): its idempotency key, the due time it is sent with, and its text,
        `render` of the post (the post's body as it is when `render` is None). With an attempt
        row, all in the same transaction, so they are stored before the first request.
        On PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas claim side by side. What sending
        needs (body, media, first airing) is read in the same transaction, a few queries for
        the whole batch.
        """
        due = (
            select(Airing.id)
            .where(
                col(Airing.status) == AiringStatus.planned,
                col(Airing.at) <= now,
                col(Airing.channel).in_(list(channels)),
            )
            .order_by(col(Airing.at), col(Airing.id))
            .limit(limit)
            .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
        )
        with self.session(write=True) as session:
            rows = session.execute(
                update(Airing)
                .where(col(Airing.id).in_(due.scalar_subquery()))
                .values(
                    status=AiringStatus.publishing,
                    owner=owner,
                    lease_until=now + lease,
                    updated=now,
                    first_due=func.coalesce(col(Airing.first_due), col(Airing.at)),
                )
                .returning(col(Airing.id))
            ).all()
            ids = [row[0] for row in rows]
            if not ids:
                return []
            session.execute(
                update(Airing)
                .where(col(Airing.id).in_(ids), col(Airing.idempotency_key).is_(None))
                .values(idempotency_key=key_prefix + cast(Airing.id, String(20)))
            )
            session.execute(
                insert(Attempt),
                [{"airing_id": airing_id, "owner": owner, "started": now} for airing_id in ids],
            )
            return _keep_bodies(session, _claimed_rows(session, ids), render)

    def record_outcomes(self, outcomes: Sequence[Outcome], *, owner: str) -> int:
        """Record how claimed airings ended, all in one transaction; returns how many were
        still ours (an airing whose lease was lost meanwhile is left to its new owner)."""
        if not outcomes:
            return 0
        airing = SQLModel.metadata.tables["airing"]
        attempt = SQLModel.metadata.tables["attempt"]
        set_airing = (
            airing.update()
            .where(
                airing.c.id == bindparam("b_id"),
                airing.c.owner == owner,
                airing.c.status == AiringStatus.publishing,
            )
            .values(
                status=bindparam("b_status"),
                owner=bindparam("b_owner"),
                maybe_sent=or_(airing.c.maybe_sent, bindparam("b_maybe_sent")),  # never cleared
                recoveries=0,
                lease_until=None,
                updated=bindparam("b_at"),
                error=bindparam("b_error"),
                published_at=bindparam("b_published_at"),
                remote_id=bindparam("b_remote_id"),
                remote_url=bindparam("b_remote_url"),
            )
        )
        close_attempt = (
            attempt.update()
            .where(
                attempt.c.airing_id == bindparam("b_id"),
                attempt.c.owner == owner,
                attempt.c.finished.is_(None),
            )
            .values(
                finished=bindparam("b_at"),
                outcome=bindparam("b_outcome"),
                detail=bindparam("b_error"),
            )
        )
        rows = [
            {
                "b_id": o.airing_id,
                "b_status": o.status,
                # A handed-back airing is nobody's; the others keep who sent them.
                "b_owner": None if o.status == AiringStatus.planned else owner,
                "b_at": o.at,
                "b_error": None if o.status == AiringStatus.published else o.detail,
                "b_published_at": o.at if o.status == AiringStatus.published else None,
                "b_remote_id": o.remote_id,
                "b_remote_url": o.remote_url,
                "b_outcome": o.outcome,
                "b_maybe_sent": o.maybe_sent,
            }
            for o in outcomes
        ]
        published = [o.airing_id for o in outcomes if o.status == AiringStatus.published]
        with self.session(write=True) as session:
            connection = session.connection()
            updated = _rowcount(connection.execute(set_airing, rows))
            connection.execute(close_attempt, rows)
            for batch in chunked(published):  # an item is answered once its reply is out
                connection.execute(
                    update(InboxItem)
                    .where(col(InboxItem.reply_airing_id).in_(batch))
                    .values(status=InboxStatus.answered)
                )
            return updated

    def extend_lease(self, airing_id: int, *, owner: str, until: datetime) -> bool:
        """Keep a long retry from looking dead; False if the airing is no longer ours."""
        with self.session(write=True) as session:
            result = session.execute(
                update(Airing)
                .where(
                    col(Airing.id) == airing_id,
                    col(Airing.owner) == owner,
                    col(Airing.status) == AiringStatus.publishing,
                )
                .values(lease_until=until)
            )
            return _rowcount(result) == 1

    def extend_leases(self, airing_ids: Sequence[int], *, owner: str, until: datetime) -> None:
        """The lease heartbeat: extend the leases of `owner`'s airings being sent to `until`
        (a longer one, covering a wait the platform asked for, stays). An airing no longer
        `owner`'s (taken back, or already recorded) is left alone."""
        with self.session(write=True) as session:
            for batch in chunked(airing_ids):
                session.execute(
                    update(Airing)
                    .where(
                        col(Airing.id).in_(batch),
                        col(Airing.owner) == owner,
                        col(Airing.status) == AiringStatus.publishing,
                        col(Airing.lease_until) < until,
                    )
                    .values(lease_until=until)
                )

    def note_sending(self, airing_id: int, *, owner: str) -> None:
        """Mark that a request is about to leave, for platforms that can't deduplicate: after a
        crash, an airing without this mark is known not to have been sent."""
        with self.session(write=True) as session:
            session.execute(
                update(Attempt)
                .where(
                    col(Attempt.airing_id) == airing_id,
                    col(Attempt.owner) == owner,
                    col(Attempt.finished).is_(None),
                )
                .values(outcome=AttemptOutcome.sending)
            )

    def expired_leases(self, *, now: datetime) -> list[tuple[Airing, Attempt | None]]:
        """Airings left `publishing` by a process whose lease ran out, each with its latest
        attempt (its start time, and outcome "sending" once a request may have left)."""
        with self.session() as session:
            airings = session.exec(
                select(Airing).where(
                    col(Airing.status) == AiringStatus.publishing, col(Airing.lease_until) < now
                )
            ).all()
            result = []
            for airing in airings:
                attempt = session.exec(
                    select(Attempt)
                    .where(col(Attempt.airing_id) == airing.id)
                    .order_by(col(Attempt.id).desc())
                ).first()
                result.append((airing, attempt))
            return result

    def recover_lease(
        self,
        airing_id: int,
        *,
        dead_owner: str,
        status: str,
        now: datetime,
        detail: str,
        maybe_sent: bool,
    ) -> bool:
        """Take an expired airing back from a dead owner: as `planned` to be sent again, or
        `unconfirmed`/`failed` for an editor. Counts the recovery (see `Airing.recoveries`)."""
        with self.session(write=True) as session:
            result = session.execute(
                update(Airing)
                .where(
                    col(Airing.id) == airing_id,
                    col(Airing.owner) == dead_owner,
                    col(Airing.status) == AiringStatus.publishing,
                    col(Airing.lease_until) < now,
                )
                .values(
                    status=status,
                    owner=None,
                    lease_until=None,
                    error=None if status == AiringStatus.planned else detail,
                    maybe_sent=maybe_sent,
                    recoveries=col(Airing.recoveries) + 1,
                    updated=now,
                )
            )
            recovered = _rowcount(result) == 1
            if recovered:
                session.execute(
                    update(Attempt)
                    .where(col(Attempt.airing_id) == airing_id, col(Attempt.finished).is_(None))
                    .values(finished=now, outcome=AttemptOutcome.interrupted, detail=detail)
                )
            return recovered

    def overdue(self, *, now: datetime) -> list[Airing]:
        """Planned airings whose time has passed, oldest first."""
        with self.session() as session:
            return list(
                session.exec(
                    select(Airing)
                    .where(
                        col(Airing.status) == AiringStatus.planned,
                        col(Airing.at) < now,
                        _BROADCAST_AIRING,  # a late reply is still sent, never replanned
                    )
                    .order_by(col(Airing.at), col(Airing.id))
                ).all()
            )

    def settle_overdue(
        self,
        *,
        missed: Sequence[int],
        replan: Sequence[int],
        moved: Sequence[tuple[int, datetime]],
        now: datetime,
    ) -> None:
        """Apply the downtime policy the dispatcher decided: pinned airings too late become
        `missed`, floating ones are removed (the planner gives them new slots), the rest move.
        """
        with self.session(write=True) as session:
            planned = col(Airing.status) == AiringStatus.planned
            for batch in chunked(missed):
                session.execute(
                    update(Airing)
                    .where(col(Airing.id).in_(batch), planned)
                    .values(
                        status=AiringStatus.missed,
                        updated=now,
                        error="missed: not sent within misfire_grace of its pinned time",
                    )
                )
            for batch in chunked(replan):
                session.execute(delete(Airing).where(col(Airing.id).in_(batch), planned))
            for airing_id, at in moved:
                session.execute(
                    update(Airing)
                    .where(col(Airing.id) == airing_id, planned)
                    .values(at=at, updated=now)
                )

    def last_on_air(self) -> dict[str, datetime]:
        """Per channel, when the latest published or publishing airing went out: its publish
        time when it went out late (after downtime), else its planned time."""
        aired = func.coalesce(col(Airing.published_at), col(Airing.at))
        # Both are later than `at` or equal, so the greater of the two is taken per row.
        when = case((aired > col(Airing.at), aired), else_=col(Airing.at))
        with self.session() as session:
            rows = session.execute(
                select(Airing.channel, func.max(when))
                .where(col(Airing.status).in_([str(s) for s in ON_AIR]), _BROADCAST_AIRING)
                .group_by(col(Airing.channel))
            ).all()
            return {channel: at for channel, at in rows if at is not None}

    def next_due(self) -> datetime | None:
        with self.session() as session:
            return session.execute(
                select(func.min(Airing.at)).where(col(Airing.status) == AiringStatus.planned)
            ).scalar()

    def key_prefix(self) -> str:
        """A random id of this database, so idempotency keys never repeat across databases."""
        import uuid

        with self.session(write=True) as session:
            # Replicas starting together race to create it: the first insert wins (the others
            # wait for it to commit, then insert nothing) and all read the same row.
            session.execute(
                text(
                    "INSERT INTO meta (key, value) VALUES ('instance', :value) "
                    "ON CONFLICT (key) DO NOTHING"
                ),
                {"value": uuid.uuid4().hex[:12]},
            )
            row = session.get(Meta, "instance")
            assert row is not None
            return row.value + "-"

    def beat(self, *, owner: str, pid: int, host: str, now: datetime, state: str) -> None:
        with self.session(write=True) as session:
            row = session.get(Heartbeat, owner)
            if row is None:
                row = Heartbeat(owner=owner, pid=pid, host=host, started=now, beat=now, state=state)
            row.beat = now
            row.state = state
            session.add(row)

    def heartbeats(self) -> list[Heartbeat]:
        with self.session() as session:
            return list(session.exec(select(Heartbeat).order_by(col(Heartbeat.beat).desc())).all())


class PlannerLock:
    """Which replica plans: the holder of a PostgreSQL session advisory lock.

    The lock lives as long as its connection, so when the planning replica dies (or its
    backend is killed) the lock is freed and the next replica to ask takes over. In pg_locks
    it is the advisory lock with classid 7345003 and objid the hash of the schema. On SQLite
    there is one machine and `BEGIN IMMEDIATE` already serialises writers: always held.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._connection: Any = None

    def held(self) -> bool:
        """True when this process may plan; tries to take the lock when it doesn't hold it."""
        if self._store.dialect != "postgresql":
            return True
        try:
            if self._connection is not None:
                self._connection.exec_driver_sql("SELECT 1")  # still ours?
                self._connection.commit()  # never sit idle inside a transaction
                return True
            connection = self._store.engine.connect()
            # Advisory locks are per database, so the key includes the schema: deployments
            # (or test runs) in other schemas of the same database each keep a planner.
            taken = connection.exec_driver_sql(
                f"SELECT pg_try_advisory_lock({_PLANNER_LOCK}, hashtext(current_schema()))"
            ).scalar()
            connection.commit()
            if taken:
                self._connection = connection
                return True
            connection.close()
            return False
        except DBAPIError:
            self.release()
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # dropping the session frees the lock
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None


# --- module helpers ------------------------------------------------------------------------


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own transaction handling is turned off so `_on_begin` decides.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            prepare_sqlite(cursor)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            write = connection.get_execution_options().get("write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (DBAPIError, ImportError, ValueError) as exc:
        raise StoreError(f"database {redact_url(url)} can't be used: {exc}") from None


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _schema_version(session: Session) -> int:
    try:
        row = session.execute(text(SCHEMA_VERSION_SQL)).first()
    except OperationalError:
        raise
    except DBAPIError:  # PostgreSQL: no meta table yet
        return 0
    return int(row[0]) if row else 0


def _set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)
    session.flush()


def _revision(session: Session) -> int:
    row = session.get(Meta, "revision")
    return int(row.value) if row else 0


def note_change(session: Session) -> None:
    """Move the change counter in `session`'s transaction: the daemon notices and replans."""
    session.flush()
    bump_revision(_cursor(session), SqlDialect(session.get_bind().dialect.name))


def _cursor(session: Session) -> Any:
    """A DB-API cursor inside the session's transaction, for the plain-SQL write path."""
    return session.connection().connection.cursor()


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _insert_new_airings(dialect: str) -> Any:
    """INSERT INTO airing … ON CONFLICT DO NOTHING, in the dialect's own form."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = SQLModel.metadata.tables["airing"]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _delete_airing(session: Session, airing: Airing) -> None:
    # The attempts go first, at once: the models have no ORM relationship, so a flush would
    # not know to delete them before the airing their foreign key points to.
    session.execute(delete(Attempt).where(col(Attempt.airing_id) == airing.id))
    session.delete(airing)


def _claimed_rows(session: Session, ids: Sequence[int]) -> tuple[list[Claimed], set[int]]:
    """The claimed airings, and the ids of those claimed for the first time (no text kept)."""
    rows = session.execute(
        sa_select(
            col(Airing.id),
            col(Airing.post_id),
            col(Airing.channel),
            col(Airing.kind),
            col(Airing.at),
            col(Airing.idempotency_key),
            col(Airing.lease_until),
            func.coalesce(col(Airing.body), col(Post.body)),
            col(Airing.first_due),
            col(Airing.maybe_sent),
            col(Airing.body).is_not(None),
            col(InboxItem.target),
        )
        .join(Post, col(Post.id) == col(Airing.post_id))
        .outerjoin(InboxItem, col(InboxItem.reply_airing_id) == col(Airing.id))
        .where(col(Airing.id).in_(ids))
        .order_by(col(Airing.at), col(Airing.id))
    ).all()
    post_ids = sorted({row[1] for row in rows})
    media_of_post: dict[int, list[Medium]] = defaultdict(list)
    for post_id, name, mime, data, alt in session.execute(
        sa_select(
            col(Media.post_id), col(Media.name), col(Media.mime), col(Media.data), col(Media.alt)
        )
        .where(col(Media.post_id).in_(post_ids))
        .order_by(col(Media.post_id), col(Media.position))
    ).all():
        media_of_post[post_id].append(Medium(name=name, mime=mime, data=bytes(data), alt=alt))
    revision = _revision(session)
    first_at = {
        (post_id, channel): at
        for post_id, channel, at in session.execute(
            sa_select(col(Airing.post_id), col(Airing.channel), func.min(Airing.at))
            .where(
                col(Airing.post_id).in_(post_ids),
                col(Airing.status).in_([str(s) for s in LIVE_STATUSES]),
            )
            .group_by(col(Airing.post_id), col(Airing.channel))
        ).all()
    }
    claimed = [
        Claimed(
            id=row[0],
            post_id=row[1],
            channel=row[2],
            kind=row[3],
            at=row[4],
            idempotency_key=row[5],
            lease_until=row[6],
            body=row[7],
            media=tuple(media_of_post.get(row[1], ())),
            first_at=first_at.get((row[1], row[2]), row[4]),
            due=row[8],
            maybe_sent=row[9],
            revision=revision,
            reply_to=json.loads(row[11]) if row[11] is not None else None,
        )
        for row in rows
    ]
    return claimed, {row[0] for row in rows if not row[10]}


def _keep_bodies(
    session: Session, read: tuple[list[Claimed], set[int]], render: Render | None
) -> list[Claimed]:
    """Render the text of airings claimed for the first time and keep it on the airing, so
    every later attempt sends, and history shows, exactly that text."""
    claimed, fresh = read
    if not fresh:
        return claimed
    result = [
        replace(c, body=render(c)) if render is not None and c.id in fresh else c for c in claimed
    ]
    airing = SQLModel.metadata.tables["airing"]
    session.connection().execute(
        airing.update().where(airing.c.id == bindparam("b_id")).values(body=bindparam("b_body")),
        [{"b_id": c.id, "b_body": c.body} for c in result if c.id in fresh],
    )
    return result


def _may_be_out(airing: Airing) -> bool:
    return may_be_out(airing.status, keyed=airing.idempotency_key is not None)


def _ids(ids: Iterable[int | None]) -> tuple[int, ...]:
    return tuple(i for i in ids if i is not None)


def _read_record(session: Session, post_id: int) -> PostRecord:
    post = session.get(Post, post_id)
    if post is None:
        raise PostNotFound(post_id)
    channels = session.exec(
        select(PostChannel.channel)
        .where(col(PostChannel.post_id) == post_id)
        .order_by(col(PostChannel.channel))
    ).all()
    airings = session.exec(
        select(Airing)
        .where(col(Airing.post_id) == post_id)
        .order_by(col(Airing.at), col(Airing.id))
    ).all()
    media = _media_infos(session, where=col(Media.post_id) == post_id).get(post_id, [])
    return PostRecord(
        post=post,
        channels=tuple(channels),
        airings=tuple(airings),
        media=tuple(media),
        tags=tuple(tags_of(session, post_id).get(post_id, ())),
    )


def _read_records(session: Session, *, channel: str | None) -> list[PostRecord]:
    posts_query = select(Post).where(_BROADCAST_POST).order_by(col(Post.id))
    links_query = select(PostChannel)
    airings_query = select(Airing).where(_BROADCAST_AIRING).order_by(col(Airing.at), col(Airing.id))
    media_posts: Any = true()
    if channel is not None:
        wanted = select(PostChannel.post_id).where(col(PostChannel.channel) == channel)
        posts_query = posts_query.where(col(Post.id).in_(wanted))
        links_query = links_query.where(col(PostChannel.post_id).in_(wanted))
        airings_query = airings_query.where(col(Airing.channel) == channel)
        media_posts = col(Media.post_id).in_(wanted)
    channels_of: dict[int, list[str]] = defaultdict(list)
    for link in session.exec(links_query).all():
        channels_of[link.post_id].append(link.channel)
    airings_of: dict[int, list[Airing]] = defaultdict(list)
    for airing in session.exec(airings_query).all():
        airings_of[airing.post_id].append(airing)
    media_of_post = _media_infos(session, where=media_posts)
    post_tags = tags_of(session, None)
    return [
        PostRecord(
            post=post,
            channels=tuple(sorted(channels_of[post.id])) if post.id is not None else (),
            airings=tuple(airings_of.get(post.id or 0, ())),
            media=tuple(media_of_post.get(post.id or 0, ())),
            tags=tuple(post_tags.get(post.id or 0, ())),
        )
        for post in session.exec(posts_query).all()
    ]


def tags_of(session: Session, post_id: int | None) -> dict[int, list[str]]:
    """Tags by post, sorted: of one post, or of every post (`None`)."""
    query = "SELECT post_id, tag FROM post_tag"
    if post_id is not None:
        query += " WHERE post_id = :post_id"
    tags: dict[int, list[str]] = defaultdict(list)
    for row_post, tag in session.execute(
        text(query + " ORDER BY post_id, tag"), {"post_id": post_id}
    ):
        tags[row_post].append(tag)
    return tags


def _media_infos(session: Session, *, where: Any) -> dict[int, list[MediumInfo]]:
    """The kept media of the posts `where` picks, by post and in order, no bytes."""
    media: dict[int, list[MediumInfo]] = defaultdict(list)
    for post_id, name, mime, size, sha256, alt in session.execute(
        sa_select(
            col(Media.post_id),
            col(Media.name),
            col(Media.mime),
            col(Media.size),
            col(Media.sha256),
            col(Media.alt),
        )
        .where(where)
        .order_by(col(Media.post_id), col(Media.position))
    ).all():
        media[post_id].append(MediumInfo(name=name, mime=mime, size=size, sha256=sha256, alt=alt))
    return media


def _current(record: PostRecord, key: str) -> Any:
    if key == "channels":
        return tuple(sorted(record.channels))
    return getattr(record.post, key)


def _draft_of(record: PostRecord, changes: Mapping[str, Any]) -> PostDraft:
    post = record.post
    values: dict[str, Any] = {
        "body": post.body,
        "kind": post.kind,
        "channels": record.channels,
        "editor": post.editor,
        "at": post.at,
        "expires": post.expires,
        "evergreen": post.evergreen,
        "score": post.score,
    }
    values.update((key, value) for key, value in changes.items() if key != "alt")  # media's
    values["channels"] = tuple(sorted(values["channels"]))
    return PostDraft(**values)


def chunked(items: Iterable[int], size: int = 500) -> Iterator[list[int]]:
    batch: list[int] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
