"""Count snapshots, follower counts and tags (§11): what measuring writes and reports read.

Reads return plain tuples of narrow columns, never ORM objects: a year of twenty hourly
channels is 175,000 airings, and a report reads them all in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from ..errors import InputError
from ..measuring import Counts, Weights
from .post_sql import SqlDialect
from .store import Store, tags_of

# Engagement is the latest snapshot "up to 24 h" after airing (§11); the 24 h read itself is
# batched and rate-limited, so it may land a little after: an hour's grace keeps it.
ENGAGEMENT_WINDOW = timedelta(hours=25)


@dataclass(frozen=True)
class Snapshot:
    airing_id: int
    at: datetime
    counts: Counts
    step: int | None  # index in `[metrics].read_after`; None for an import
    source: str  # platform | import


@dataclass(frozen=True)
class DueRead:
    """A published airing whose counts are due to be read, and which read step it answers."""

    airing_id: int
    channel: str
    remote_id: str
    step: int


@dataclass(frozen=True, slots=True)
class MeasuredAiring:
    """One published airing with its engagement counts (None when never measured).

    `aired_ts` is its time as POSIX seconds: a year's report compares and buckets 175,000
    of them, and numbers are cheap where datetimes are not."""

    id: int
    post_id: int
    channel: str
    kind: str
    aired_ts: float
    counts: Counts | None

    @property
    def aired(self) -> datetime:
        return datetime.fromtimestamp(self.aired_ts, UTC)


def due_reads(
    store: Store, channels: Sequence[str], read_after: Sequence[timedelta], *, now: datetime
) -> list[DueRead]:
    """Each published airing of `channels` with a read step reached and not yet read.

    Only the latest step reached is read: after a week of downtime one read serves, not three.
    Airings aired before `now - 2 × the last step` are left alone (long done, or never read).
    """
    if not channels:
        return []
    sql = store._sql
    oldest = now - 2 * read_after[-1]
    youngest = now - read_after[0]
    params = {"oldest": sql.time(oldest), "youngest": sql.time(youngest)}
    names = {f"c{index}": name for index, name in enumerate(channels)}
    params.update(names)
    query = text(
        "SELECT a.id, a.channel, a.remote_id, COALESCE(a.published_at, a.at) AS aired, "
        "(SELECT MAX(s.step) FROM metric_snapshot s WHERE s.airing_id = a.id) AS done "
        "FROM airing a WHERE a.status = 'published' AND a.remote_id IS NOT NULL "
        f"AND a.channel IN ({', '.join(':' + key for key in names)}) "
        "AND COALESCE(a.published_at, a.at) BETWEEN :oldest AND :youngest ORDER BY a.id"
    )
    due = []
    with store.session() as session:
        rows = session.execute(query, params).all()
    for airing_id, channel, remote_id, aired, done in rows:
        age = now - sql.read_time(aired)
        step = max(index for index, after in enumerate(read_after) if after <= age)
        if done is None or done < step:
            due.append(DueRead(airing_id, channel, remote_id, step))
    return due


def record_snapshots(store: Store, snapshots: Iterable[Snapshot]) -> int:
    """Write snapshots in one transaction; raise InputError naming an airing not published."""
    items = list(snapshots)
    if not items:
        return 0
    sql = store._sql
    with store.session(write=True) as session:
        aired = _aired_times(session, [item.airing_id for item in items], sql)
        rows = []
        for item in items:
            if item.airing_id not in aired:
                raise InputError(f"airing {item.airing_id} is not a published airing")
            counts = item.counts
            rows.append(
                {
                    "airing_id": item.airing_id,
                    "at": sql.time(item.at),
                    "likes": counts.likes,
                    "shares": counts.shares,
                    "replies": counts.replies,
                    "quotes": counts.quotes,
                    "step": item.step,
                    "in_window": item.at <= aired[item.airing_id] + ENGAGEMENT_WINDOW,
                    "source": item.source,
                }
            )
        session.execute(
            text(
                "INSERT INTO metric_snapshot (airing_id, at, likes, shares, replies, quotes, "
                "step, in_window, source) VALUES (:airing_id, :at, :likes, :shares, :replies, "
                ":quotes, :step, :in_window, :source)"
            ),
            rows,
        )
    return len(rows)


def _aired_times(
    session: Session, airing_ids: Sequence[int], sql: SqlDialect
) -> dict[int, datetime]:
    found: dict[int, datetime] = {}
    for start in range(0, len(airing_ids), 500):
        batch = sorted(set(airing_ids[start : start + 500]))
        keys = {f"i{index}": value for index, value in enumerate(batch)}
        query = text(
            "SELECT id, COALESCE(published_at, at) FROM airing WHERE status = 'published' "
            f"AND id IN ({', '.join(':' + key for key in keys)})"
        )
        for airing_id, aired in session.execute(query, keys):
            found[airing_id] = sql.read_time(aired)
    return found


def airings_by_url(store: Store, urls: Iterable[str]) -> dict[str, int]:
    """Published airings by their remote URL (for `metrics import` rows that give one)."""
    wanted = sorted(set(urls))
    found: dict[str, int] = {}
    with store.session() as session:
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            keys = {f"u{index}": value for index, value in enumerate(batch)}
            query = text(
                "SELECT remote_url, id FROM airing WHERE status = 'published' "
                f"AND remote_url IN ({', '.join(':' + key for key in keys)})"
            )
            found.update({url: airing_id for url, airing_id in session.execute(query, keys)})
    return found


def record_followers(store: Store, channel: str, count: int, *, at: datetime) -> None:
    with store.session(write=True) as session:
        session.execute(
            text("INSERT INTO follower_snapshot (channel, at, followers) VALUES (:c, :at, :n)"),
            {"c": channel, "at": store._sql.time(at), "n": count},
        )


def followers_read_at(store: Store) -> dict[str, datetime]:
    """When each channel's followers were last read."""
    with store.session() as session:
        rows = session.execute(
            text("SELECT channel, MAX(at) FROM follower_snapshot GROUP BY channel")
        ).all()
    return {channel: store._sql.read_time(at) for channel, at in rows}


def follower_history(store: Store, channel: str) -> list[tuple[datetime, int]]:
    with store.session() as session:
        rows = session.execute(
            text("SELECT at, followers FROM follower_snapshot WHERE channel = :c ORDER BY at"),
            {"c": channel},
        ).all()
    return [(store._sql.read_time(at), followers) for at, followers in rows]


def measured_airings(store: Store, *, channel: str | None = None) -> list[MeasuredAiring]:
    """Every published airing (of `channel`, or all), oldest first, with the counts of its
    latest snapshot inside the engagement window."""
    where = "a.status = 'published'" + (" AND a.channel = :channel" if channel else "")
    aired = "COALESCE(a.published_at, a.at)"
    epoch = (
        f"(julianday({aired}) - 2440587.5) * 86400.0"
        if store.dialect == "sqlite"
        else f"EXTRACT(EPOCH FROM {aired})"
    )
    query = text(
        f"SELECT a.id, a.post_id, a.channel, a.kind, {epoch}, "
        "s.likes, s.shares, s.replies, s.quotes FROM airing a LEFT JOIN ("
        "SELECT airing_id, likes, shares, replies, quotes, ROW_NUMBER() OVER ("
        "PARTITION BY airing_id ORDER BY at DESC, id DESC) AS newest "
        "FROM metric_snapshot WHERE in_window = :yes) s "
        f"ON s.airing_id = a.id AND s.newest = 1 WHERE {where} ORDER BY {aired}, a.id"
    )
    with store.session() as session:
        rows = session.execute(query, {"channel": channel, "yes": True}).all()
    return [
        MeasuredAiring(
            row[0],
            row[1],
            row[2],
            row[3],
            round(float(row[4]), 3),
            None if row[5] is None else Counts(row[5], row[6], row[7], row[8]),
        )
        for row in rows
    ]


def tags_by_post(store: Store) -> dict[int, list[str]]:
    with store.session() as session:
        return tags_of(session, None)


def engagements(store: Store, weights: Weights) -> list[tuple[int, str, float]]:
    """(post, channel, engagement) of every measured published airing: what scores read."""
    return [
        (item.post_id, item.channel, weights.engagement(c.likes, c.shares, c.replies))
        for item in measured_airings(store)
        if (c := item.counts) is not None
    ]


def airing_texts(store: Store, airing_ids: Iterable[int]) -> dict[int, str]:
    """The text of each airing as sent (its post's body where none was kept): the report
    names its top and bottom posts by what they said."""
    wanted = sorted(set(airing_ids))
    found: dict[int, str] = {}
    with store.session() as session:
        for start in range(0, len(wanted), 500):
            keys = {f"i{index}": value for index, value in enumerate(wanted[start : start + 500])}
            query = text(
                "SELECT a.id, COALESCE(a.body, p.body) FROM airing a JOIN post p "
                f"ON p.id = a.post_id WHERE a.id IN ({', '.join(':' + key for key in keys)})"
            )
            found.update({airing_id: body for airing_id, body in session.execute(query, keys)})
    return found
