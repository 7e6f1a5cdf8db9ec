"""What editors' views read besides the listings, in plain SQL over a DB-API cursor: the
daemons' heartbeats, the inbox, post and airing texts, and the measured engagement that
repost scores, goals and `report` are made of.

Each function takes `(cursor, dialect)`, as `listings` does, so it has one implementation
whichever way the connection was opened: the store's own (`Database.view`, inside its
session) or the standard `sqlite3` driver of the editors' light path (`view_store`), which
never loads SQLAlchemy. Nothing here imports it. Times come back aware, in UTC, as the ORM
gives them (`SqlDialect.read_time`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain import AiringStatus, InboxStatus
from ..measuring import Weights
from .post_sql import SqlDialect

_OPEN = f"'{InboxStatus.open}'"
_PUBLISHED = f"'{AiringStatus.published}'"


def _batches(ids: Iterable[int], size: int = 500) -> Iterator[list[int]]:
    """Sorted distinct ids in batches, so an IN list stays within every driver's limit."""
    wanted = sorted(set(ids))
    for first in range(0, len(wanted), size):
        yield wanted[first : first + size]


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


# --- daemons -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeartbeatRow:
    """A daemon as its latest heartbeat describes it (`status` shows these)."""

    owner: str
    pid: int
    host: str
    started: datetime
    beat: datetime
    state: str  # running | stopped


def heartbeats(cursor: Any, dialect: SqlDialect) -> list[HeartbeatRow]:
    """Every daemon's latest heartbeat, the most recent first."""
    cursor.execute(
        "SELECT owner, pid, host, started, beat, state FROM heartbeat ORDER BY beat DESC"
    )
    read = dialect.read_time
    return [
        HeartbeatRow(owner, pid, host, read(started), read(beat), state)
        for owner, pid, host, started, beat, state in cursor.fetchall()
    ]


# --- the inbox -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An open inbox item as the calendar's "needs attention" list shows it (§10)."""

    id: int
    channel: str
    kind: str
    author: str
    text: str
    at: datetime
    url: str | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """Per channel: open items and when the oldest arrived."""

    open: int
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class Received:
    """An item as the report counts it: when it arrived, where it stands, and when its
    answer was published (None unless answered)."""

    id: int
    channel: str
    author: str
    at: datetime
    status: str
    answered_at: datetime | None


def open_inbox_items(cursor: Any, dialect: SqlDialect) -> list[OpenItem]:
    """Open inbox items oldest first (ties by id)."""
    cursor.execute(
        "SELECT id, channel, kind, author, text, at, url FROM inbox_item "
        f"WHERE status = {_OPEN} ORDER BY at, id"
    )
    read = dialect.read_time
    return [
        OpenItem(item_id, channel, kind, author, text, read(at), url)
        for item_id, channel, kind, author, text, at, url in cursor.fetchall()
    ]


def inbox_waiting(cursor: Any, dialect: SqlDialect) -> dict[str, Waiting]:
    """Open items per channel and the oldest one's time."""
    cursor.execute(
        f"SELECT channel, COUNT(*), MIN(at) FROM inbox_item WHERE status = {_OPEN} GROUP BY channel"
    )
    return {
        channel: Waiting(int(count), None if oldest is None else dialect.read_time(oldest))
        for channel, count, oldest in cursor.fetchall()
    }


def inbox_received(
    cursor: Any, dialect: SqlDialect, *, start: datetime, end: datetime, channel: str | None
) -> list[Received]:
    """Items that arrived in `[start, end)`, oldest first (ties by id), with their answer's
    published time: what `report` counts answers and response times from."""
    params: list[Any] = [dialect.time(start), dialect.time(end)]
    only = ""
    if channel is not None:
        only = " AND i.channel = ?"
        params.append(channel)
    cursor.execute(
        dialect.sql(
            "SELECT i.id, i.channel, i.author, i.at, i.status, r.published_at FROM inbox_item i "
            f"LEFT OUTER JOIN airing r ON r.id = i.reply_airing_id AND r.status = {_PUBLISHED} "
            f"WHERE i.at >= ? AND i.at < ?{only} ORDER BY i.at, i.id"
        ),
        params,
    )
    read = dialect.read_time
    return [
        Received(
            item_id, name, author, read(at), status, None if answered is None else read(answered)
        )
        for item_id, name, author, at, status, answered in cursor.fetchall()
    ]


# --- texts ---------------------------------------------------------------------------------


def post_bodies(cursor: Any, dialect: SqlDialect, post_ids: Iterable[int]) -> dict[int, str]:
    """Each of these posts' body."""
    found: dict[int, str] = {}
    for batch in _batches(post_ids):
        cursor.execute(
            dialect.sql(f"SELECT id, body FROM post WHERE id IN ({_marks(batch)})"), batch
        )
        found.update(cursor.fetchall())
    return found


def sent_bodies(cursor: Any, dialect: SqlDialect, airing_ids: Iterable[int]) -> dict[int, str]:
    """The text each of these airings was sent with, for those claimed at least once."""
    found: dict[int, str] = {}
    for batch in _batches(airing_ids):
        cursor.execute(
            dialect.sql(
                f"SELECT id, body FROM airing WHERE id IN ({_marks(batch)}) AND body IS NOT NULL"
            ),
            batch,
        )
        found.update(cursor.fetchall())
    return found


def airing_texts(cursor: Any, dialect: SqlDialect, airing_ids: Iterable[int]) -> dict[int, str]:
    """The text of each airing as sent (its post's body where none was kept): the report
    names its top and bottom posts by what they said."""
    found: dict[int, str] = {}
    for batch in _batches(airing_ids):
        cursor.execute(
            dialect.sql(
                "SELECT a.id, COALESCE(a.body, p.body) FROM airing a JOIN post p "
                f"ON p.id = a.post_id WHERE a.id IN ({_marks(batch)})"
            ),
            batch,
        )
        found.update(cursor.fetchall())
    return found


def tags_by_post(cursor: Any) -> dict[int, list[str]]:
    """Every post's tags, sorted (a year's report reads 100,000 of them)."""
    cursor.execute("SELECT post_id, tag FROM post_tag ORDER BY post_id, tag")
    tags: dict[int, list[str]] = defaultdict(list)
    for post_id, tag in cursor.fetchall():
        tags[post_id].append(tag)
    return tags


# --- measured engagement (§11) -------------------------------------------------------------

# One published airing of a channel, as the driver returns it: (airing id, post id, kind,
# aired as POSIX seconds, engagement or None when never measured). A year's report reads
# 175,000 of them; a plain tuple costs nothing more to make, where an object per row did.
Aired = tuple[int, int, str, float, float | None]

# An airing's time as POSIX seconds, exact to the microsecond on both databases (SQLite
# keeps times as fixed-width text, microseconds from character 21), so both give the same
# float as `datetime.timestamp()`.
_AIRED = "COALESCE(a.published_at, a.at)"
_AIRED_TS = {
    "sqlite": f"(CAST(strftime('%s', {_AIRED}) AS INTEGER) * 1000000 "
    f"+ CAST(substr({_AIRED}, 21, 6) AS INTEGER)) / 1000000.0",
    "postgresql": f"CAST(CAST(EXTRACT(EPOCH FROM {_AIRED}) * 1000000 AS BIGINT) "
    "AS DOUBLE PRECISION) / 1000000",
}
# `Weights.engagement` in SQL, the same products summed in the same order: the same numbers
# (whole when the weights are, as in Python), without a Python step per row.
_ENGAGEMENT = "e.likes * ? + e.shares * ? + e.replies * ?"


def engagements(cursor: Any, weights: Weights) -> list[tuple[int, str, float]]:
    """(post, channel, engagement) of every measured published airing: what the planner's
    repost scores are made of (`planning.forecast.StoredPlan`)."""
    cursor.execute(
        "SELECT a.post_id, a.channel, e.likes, e.shares, e.replies FROM airing_engagement e "
        f"JOIN airing a ON a.id = e.airing_id WHERE a.status = {_PUBLISHED} ORDER BY a.id"
    )
    engagement = weights.engagement
    return [(post, channel, engagement(*counts)) for post, channel, *counts in cursor.fetchall()]


def published_airings(
    cursor: Any,
    dialect: SqlDialect,
    channel: str,
    weights: Weights,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Aired]:
    """The published airings of `channel` aired in [start, end) (an open side: unbounded),
    oldest first (ties by id), with their engagement. A channel is read through the index
    over its published airings."""
    where = f"a.status = {_PUBLISHED} AND a.channel = ?"
    params: list[Any] = [weights.likes, weights.shares, weights.replies, channel]
    if start is not None:
        where += f" AND {_AIRED} >= ?"
        params.append(dialect.time(start))
    if end is not None:
        where += f" AND {_AIRED} < ?"
        params.append(dialect.time(end))
    cursor.execute(
        dialect.sql(
            f"SELECT a.id, a.post_id, a.kind, {_AIRED_TS[dialect.name]}, {_ENGAGEMENT} "
            "FROM airing a LEFT JOIN airing_engagement e ON e.airing_id = a.id "
            f"WHERE {where} ORDER BY {_AIRED}, a.id"
        ),
        params,
    )
    rows: list[Aired] = list(cursor.fetchall())
    return rows


def follower_history(cursor: Any, dialect: SqlDialect, channel: str) -> list[tuple[datetime, int]]:
    """The channel's follower counts as read, oldest first."""
    cursor.execute(
        dialect.sql("SELECT at, followers FROM follower_snapshot WHERE channel = ? ORDER BY at"),
        (channel,),
    )
    return [(dialect.read_time(at), followers) for at, followers in cursor.fetchall()]
