"""The inbox's side of the store (DESIGN §10): items read from platforms, the cursor each
channel was read to, and reply airings.

Items are unique by (channel, platform id) and inserted with ON CONFLICT DO NOTHING, in the
same transaction as the page's cursor: a page read twice (a crash before the cursor moved,
two replicas listening at once) stores nothing twice, and a cursor never runs ahead of the
items it covers. A reply is an airing of kind `reply`, claimed, keyed and retried like any
other; planning, spacing and the audit leave it out (see `models.BROADCAST_AIRING`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import col

from ..errors import InboxItemNotFound, InputError
from ..timeutil import iso_utc

if TYPE_CHECKING:  # the store takes notices; it needs no publisher code to do so
    from ..domain import Notice
from ..domain import AiringKind, AiringStatus, InboxStatus
from .db import Database, insert_or_skip
from .meta import note_change
from .models import Airing, InboxItem, ListenCursor, Post, table_of
from .reads import Waiting

# A reply in these states still stands: another one would answer the item twice.
_STANDING = (*(str(s) for s in (AiringStatus.planned, AiringStatus.publishing)), "published")
_STANDING += (str(AiringStatus.unconfirmed),)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An item with what it answers and its reply, as `inbox` shows it."""

    item: InboxItem
    answers_kind: str | None  # the kind of our airing it answers
    answers_body: str | None  # that airing's text
    reply_status: str | None  # the status of the airing answering it

    def as_json(self) -> dict[str, Any]:
        item = self.item
        return {
            "id": item.id,
            "channel": item.channel,
            "kind": item.kind,
            "author": item.author,
            "text": item.text,
            "at": iso_utc(item.at),
            "url": item.url,
            "airing_id": item.airing_id,
            "post_id": item.post_id,
            "status": item.status,
            "reply": item.reply_airing_id,
        }


class InboxStore:
    def __init__(self, store: Database) -> None:
        self.store = store

    def cursor(self, channel: str) -> str | None:
        with self.store.session() as session:
            row = session.get(ListenCursor, channel)
            return row.cursor if row else None

    def ingest(
        self, channel: str, notices: Sequence[Notice], cursor: str | None, *, now: datetime
    ) -> int:
        """Store a page of notices, linked to our airings they answer, and the cursor after
        it (None: leave it); returns how many were new."""
        table = table_of(InboxItem)
        with self.store.session(write=True) as session:
            answered = sorted({n.answers for n in notices if n.answers})
            ours: dict[str, tuple[int, int]] = {}
            if answered:
                for remote_id, airing_id, post_id in session.execute(
                    sa_select(col(Airing.remote_id), col(Airing.id), col(Airing.post_id)).where(
                        col(Airing.channel) == channel, col(Airing.remote_id).in_(answered)
                    )
                ).all():
                    ours[remote_id] = (airing_id, post_id)
            rows = [
                {
                    "channel": channel,
                    "platform_id": n.platform_id,
                    "kind": n.kind,
                    "author": n.author,
                    "text": n.text,
                    "at": n.at,
                    "url": n.url,
                    "airing_id": ours.get(n.answers or "", (None, None))[0],
                    "post_id": ours.get(n.answers or "", (None, None))[1],
                    "status": InboxStatus.open,
                    "target": json.dumps(dict(n.target)),
                    "warned": False,
                    "received": now,
                }
                for n in notices
            ]
            new = 0
            if rows:
                result = session.execute(
                    insert_or_skip(self.store.dialect, table).returning(table.c.id), rows
                )
                new = len(result.all())
            if cursor is not None:
                row = session.get(ListenCursor, channel)
                if row is None:
                    session.add(ListenCursor(channel=channel, cursor=cursor, updated=now))
                else:
                    row.cursor, row.updated = cursor, now
                    session.add(row)
            return new

    def entries(
        self, *, channel: str | None = None, include_closed: bool = False
    ) -> list[InboxEntry]:
        """Items oldest first (open ones only unless `include_closed`)."""
        answered = table_of(Airing).alias("answered")
        reply = table_of(Airing).alias("reply")
        query = (
            sa_select(
                InboxItem,
                answered.c.kind,
                func.coalesce(answered.c.body, Post.body),
                reply.c.status,
            )
            .outerjoin(answered, answered.c.id == InboxItem.airing_id)
            .outerjoin(Post, col(Post.id) == col(InboxItem.post_id))
            .outerjoin(reply, reply.c.id == InboxItem.reply_airing_id)
            .order_by(col(InboxItem.at), col(InboxItem.id))
        )
        if channel is not None:
            query = query.where(col(InboxItem.channel) == channel)
        if not include_closed:
            query = query.where(col(InboxItem.status) == InboxStatus.open)
        with self.store.session() as session:
            return [InboxEntry(*row) for row in session.execute(query).all()]

    def get(self, item_id: int) -> InboxItem:
        with self.store.session() as session:
            item = session.get(InboxItem, item_id)
            if item is None:
                raise InboxItemNotFound(item_id)
            return item

    def done(self, item_id: int) -> InboxItem:
        """Close an item that needs no answer; an answered one stays answered."""
        with self.store.session(write=True) as session:
            item = session.get(InboxItem, item_id)
            if item is None:
                raise InboxItemNotFound(item_id)
            if item.status == InboxStatus.open:
                item.status = InboxStatus.done
                session.add(item)
            session.flush()
            session.refresh(item)
            return item

    def queue_reply(self, item_id: int, body: str, *, editor: str, now: datetime) -> int:
        """Queue `body` as a reply airing due now; its id. Refused while another reply to the
        item stands (planned, publishing, published or unconfirmed): an item is answered once.
        """
        with self.store.session(write=True) as session:
            item = session.get(InboxItem, item_id, with_for_update=True)
            if item is None:
                raise InboxItemNotFound(item_id)
            if item.reply_airing_id is not None:
                earlier = session.get(Airing, item.reply_airing_id)
                if earlier is not None and earlier.status in _STANDING:
                    raise InputError(
                        f"inbox item {item_id} already has reply airing {earlier.id} "
                        f"({earlier.status}); an item is answered once"
                    )
            post = Post(
                body=body,
                kind=AiringKind.reply,
                evergreen=False,
                editor=editor,
                created=now,
            )
            session.add(post)
            session.flush()
            assert post.id is not None
            airing = Airing(
                post_id=post.id,
                channel=item.channel,
                kind=AiringKind.reply,
                pinned=False,
                at=now,
                status=AiringStatus.planned,
                updated=now,
            )
            session.add(airing)
            session.flush()
            assert airing.id is not None
            item.reply_airing_id = airing.id
            session.add(item)
            note_change(session)
            return airing.id

    def waiting(self) -> dict[str, Waiting]:
        """Open items per channel and the oldest one's time."""
        return self.store.view().inbox_waiting()

    def newly_late(
        self, response_times: Mapping[str, timedelta], *, now: datetime
    ) -> list[InboxItem]:
        """Open items waiting longer than their channel's response time and not reported
        before; they are marked reported in the same transaction, so each is named once."""
        late: list[InboxItem] = []
        with self.store.session(write=True) as session:
            for channel, allowed in response_times.items():
                late += session.execute(
                    sa_select(InboxItem).where(
                        col(InboxItem.channel) == channel,
                        col(InboxItem.status) == InboxStatus.open,
                        col(InboxItem.warned).is_(False),
                        col(InboxItem.at) < now - allowed,
                    )
                ).scalars()
            ids = [item.id for item in late]
            if ids:
                session.execute(
                    update(InboxItem).where(col(InboxItem.id).in_(ids)).values(warned=True)
                )
            for item in late:
                session.expunge(item)
        return late
