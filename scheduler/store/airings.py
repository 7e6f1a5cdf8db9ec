"""The daemon's side of airings: claims, leases, outcomes, recovery and downtime (§5).

Every statement here is SQLAlchemy Core over the mapped tables, touching many rows at once
and returning plain values or frozen rows, never ORM objects: this is the hot path of a
burst, and what a caller holds can't be flushed back by accident.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import String, bindparam, case, cast, delete, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from ..domain import (
    LIVE_STATUSES,
    ON_AIR,
    AiringRow,
    AiringStatus,
    AttemptOutcome,
    InboxStatus,
)
from ..media import Medium
from .db import Database, chunked, rowcount
from .meta import revision_of
from .models import (
    AIRING_ROW,
    BROADCAST_AIRING,
    Airing,
    Attempt,
    InboxItem,
    Media,
    Post,
    table_of,
)


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


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    """An airing left `publishing` by an owner whose lease ran out, and its latest attempt."""

    id: int
    post_id: int
    channel: str
    owner: str  # the process that claimed it and stopped
    first_due: datetime | None  # the due time it was first sent with
    maybe_sent: bool  # an earlier attempt may have reached the platform
    recoveries: int  # taken back from dead owners since its last recorded outcome
    attempted: bool  # it has an attempt row (every claim writes one)
    last_outcome: str | None  # of the latest attempt: "sending" once a request may have left


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


class AiringJobs(Database):
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
        airing = table_of(Airing)
        attempt = table_of(Attempt)
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
            updated = rowcount(connection.execute(set_airing, rows))
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
            return rowcount(result) == 1

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

    def expired_leases(self, *, now: datetime) -> list[ExpiredLease]:
        """Airings left `publishing` by a process whose lease ran out, oldest id first, each
        with its latest attempt's outcome ("sending" once a request may have left)."""
        latest = (
            sa_select(col(Attempt.id))
            .where(col(Attempt.airing_id) == col(Airing.id))
            .order_by(col(Attempt.id).desc())
            .limit(1)
            .correlate(Airing)
            .scalar_subquery()
        )
        with self.session() as session:
            rows = session.execute(
                sa_select(
                    col(Airing.id),
                    col(Airing.post_id),
                    col(Airing.channel),
                    col(Airing.owner),
                    col(Airing.first_due),
                    col(Airing.maybe_sent),
                    col(Airing.recoveries),
                    col(Attempt.id).is_not(None),
                    col(Attempt.outcome),
                )
                .select_from(Airing)
                .outerjoin(Attempt, col(Attempt.id) == latest)
                .where(
                    col(Airing.status) == AiringStatus.publishing,
                    col(Airing.lease_until) < now,
                    col(Airing.owner).is_not(None),  # what a claim always sets
                )
                .order_by(col(Airing.id))
            ).all()
        return [ExpiredLease(*row) for row in rows]

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
            recovered = rowcount(result) == 1
            if recovered:
                session.execute(
                    update(Attempt)
                    .where(col(Attempt.airing_id) == airing_id, col(Attempt.finished).is_(None))
                    .values(finished=now, outcome=AttemptOutcome.interrupted, detail=detail)
                )
            return recovered

    def overdue(self, *, now: datetime) -> list[AiringRow]:
        """Planned airings whose time has passed, oldest first."""
        with self.session() as session:
            rows = session.execute(
                sa_select(*AIRING_ROW)
                .where(
                    col(Airing.status) == AiringStatus.planned,
                    col(Airing.at) < now,
                    BROADCAST_AIRING,  # a late reply is still sent, never replanned
                )
                .order_by(col(Airing.at), col(Airing.id))
            ).all()
        return [AiringRow(*row) for row in rows]

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
                .where(col(Airing.status).in_([str(s) for s in ON_AIR]), BROADCAST_AIRING)
                .group_by(col(Airing.channel))
            ).all()
            return {channel: at for channel, at in rows if at is not None}

    def next_due(self) -> datetime | None:
        with self.session() as session:
            return session.execute(
                select(func.min(Airing.at)).where(col(Airing.status) == AiringStatus.planned)
            ).scalar()


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
    revision = revision_of(session)
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
    airing = table_of(Airing)
    session.connection().execute(
        airing.update().where(airing.c.id == bindparam("b_id")).values(body=bindparam("b_body")),
        [{"b_id": c.id, "b_body": c.body} for c in result if c.id in fresh],
    )
    return result
