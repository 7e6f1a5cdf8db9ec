"""What planning reads from the store and how a plan is written back.

Reads are narrow column tuples turned into light rows (`domain.PostRow`, `AiringRow`), so
100,000 posts fit in a few tens of megabytes; `planning.forecast.StoredPlan` is the protocol
these methods fulfil.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from ..domain import AiringRow, AiringStatus, ChannelWindow, PostRow, WindowRows
from .db import Database, chunked, insert_or_skip
from .meta import revision_of
from .models import (
    AIRING_ROW,
    BROADCAST_AIRING,
    BROADCAST_POST,
    Airing,
    Post,
    PostChannel,
    table_of,
)
from .reads import OpenItem


class PlanJobs(Database):
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
                    .where(BROADCAST_POST)
                    .order_by(col(Post.id))
                ).all()
            ]
            airings = [
                AiringRow(*row)
                for row in session.execute(
                    sa_select(*AIRING_ROW)
                    .where(col(Airing.status) != AiringStatus.cancelled, BROADCAST_AIRING)
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
        return self.view().window_rows(channels, start=start, end=end, history_from=history_from)

    def open_inbox_items(self) -> list[OpenItem]:
        """Open inbox items oldest first (what planning's `StoredPlan` reads)."""
        return self.view().open_inbox_items()

    def sent_bodies(self, airing_ids: Iterable[int]) -> dict[int, str]:
        """The text each of these airings was sent with, for those claimed at least once."""
        return self.view().sent_bodies(airing_ids)

    def bodies(self, post_ids: Iterable[int]) -> dict[int, str]:
        return self.view().bodies(post_ids)

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
            if revision_of(session) != expected_revision:
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
                session.execute(insert_or_skip(self.dialect, table_of(Airing)), rows)
            return True
