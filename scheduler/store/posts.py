"""What editors do to posts: add, read, edit, cancel and retry, with the editor rules.

Editor writes go through ORM objects (a few rows each, and the rules read as plain
attribute changes); pinned-time checks and inserts run the fast path's SQL (`post_sql`)
in the same transaction, so `queue add` and the store share one implementation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, true, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from ..domain import (
    NEEDS_EDITOR,
    AiringKind,
    AiringStatus,
    PostDraft,
    may_be_out,
    post_status,
    retry_keeps,
)
from ..errors import InputError, PostNotFound, ReplyNotAPost
from ..media import MediumInfo
from .db import Database, dbapi_cursor
from .listings import PostListing
from .meta import note_change
from .models import (
    BROADCAST_AIRING,
    BROADCAST_POST,
    Airing,
    Attempt,
    InboxItem,
    Media,
    Post,
    PostChannel,
    PostTag,
)
from .post_sql import (
    insert_media,
    insert_pinned_airing,
    insert_posts,
    lock_pinned,
    media_names,
    refuse_pinned_conflicts,
)


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


class PostJobs(Database):
    def add_posts(
        self, drafts: Sequence[PostDraft], *, now: datetime, spacing: Mapping[str, timedelta]
    ) -> list[int]:
        """Store all drafts or none. Pinned drafts get their airings at once.

        Raises InputError when a pinned draft would break `spacing` (per channel) with another
        pinned post, naming that post.
        """
        with self.session(write=True) as session:
            return insert_posts(dbapi_cursor(session), self._sql, drafts, now=now, spacing=spacing)

    def get_post(self, post_id: int) -> PostRecord:
        with self.session() as session:
            return _read_record(session, post_id)

    def list_posts(
        self, *, channel: str | None = None, status: str | None = None, now: datetime
    ) -> list[PostListing]:
        """Posts oldest first, with their airings, as light records (`store.listings`)."""
        return self.view().list_posts(channel=channel, status=status, now=now)

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
            lock_pinned(dbapi_cursor(session), self._sql)
            _lock_airings(session, post_id)
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
                    dbapi_cursor(session), self._sql, merged, spacing, ignore_post=post_id
                )
            for key in ("body", "kind", "at", "expires", "evergreen", "score"):
                setattr(post, key, getattr(merged, key))
            if "media" in changes:
                post.media = media_names(changes["media"])
                session.execute(delete(Media).where(col(Media.post_id) == post_id))
                insert_media(dbapi_cursor(session), self._sql, post_id, changes["media"])
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
                        dbapi_cursor(session), self._sql, post_id, channel, merged, now=now
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
            _lock_airings(session, post_id)
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

    def retry_post(self, post_id: int, *, now: datetime) -> list[int]:
        """Put failed, missed and unconfirmed airings back; return their ids.

        Each is the same airing again (docs/design.md §5): its row, idempotency key, body and
        due time as first sent stay, so a retry after a lost answer is deduplicated by the
        platform.
        It goes out at once (at its own time if that is still ahead). Only a floating airing
        that was never claimed (no key) is removed, so the planner gives it the next free slot.
        """
        with self.session(write=True) as session:
            _lock_airings(session, post_id)
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


def _lock_airings(session: Session, post_id: int) -> None:
    """Hold the post's airings until the editor's transaction ends (PostgreSQL: `FOR
    UPDATE`; SQLite's `BEGIN IMMEDIATE` already serialises writers). A daemon's claim in
    progress is waited for and then seen, so an edit, cancel or retry never overwrites or
    removes an airing claimed after it was read; a claim that comes later skips these rows
    (`SKIP LOCKED`) until the editor's change is in."""
    session.execute(
        sa_select(col(Airing.id)).where(col(Airing.post_id) == post_id).with_for_update()
    )


def _delete_airing(session: Session, airing: Airing) -> None:
    # The attempts go first, at once: the models have no ORM relationship, so a flush would
    # not know to delete them before the airing their foreign key points to.
    session.execute(delete(Attempt).where(col(Attempt.airing_id) == airing.id))
    session.delete(airing)


def _may_be_out(airing: Airing) -> bool:
    return may_be_out(airing.status, keyed=airing.idempotency_key is not None)


def _ids(ids: Iterable[int | None]) -> tuple[int, ...]:
    return tuple(i for i in ids if i is not None)


def _read_record(session: Session, post_id: int) -> PostRecord:
    post = session.get(Post, post_id)
    if post is None:
        raise PostNotFound(post_id)
    if post.kind == AiringKind.reply:
        # A reply's text is stored as a post so it is claimed and keyed like any airing, but
        # it is conversation (§10): editors reach it through its inbox item, never as a post.
        item = session.exec(
            select(InboxItem.id)
            .join(Airing, col(Airing.id) == col(InboxItem.reply_airing_id))
            .where(col(Airing.post_id) == post_id)
        ).first()
        raise ReplyNotAPost(post_id, item)
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
    posts_query = select(Post).where(BROADCAST_POST).order_by(col(Post.id))
    links_query = select(PostChannel)
    airings_query = select(Airing).where(BROADCAST_AIRING).order_by(col(Airing.at), col(Airing.id))
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
    query = sa_select(col(PostTag.post_id), col(PostTag.tag)).order_by(
        col(PostTag.post_id), col(PostTag.tag)
    )
    if post_id is not None:
        query = query.where(col(PostTag.post_id) == post_id)
    tags: dict[int, list[str]] = defaultdict(list)
    for row_post, tag in session.execute(query):
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
