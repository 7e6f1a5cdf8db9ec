"""Count snapshots and follower counts (§11): what measuring writes and reads back.

Each airing's engagement snapshot (the latest within the engagement window) is kept in
`airing_engagement`, updated in the transaction that writes snapshots, so reads never rank
snapshots. What `report`, goals and repost scores read of them (published airings with
their engagement, follower history, tags) is in `reads.py`, plain SQL that editors' views
run without SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from ..errors import InputError
from ..measuring import Counts
from .post_sql import SqlDialect
from .store import Store

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
        touched = sorted({row["airing_id"] for row in rows if row["in_window"]})
        for start in range(0, len(touched), 500):
            _refresh_engagement(session, touched[start : start + 500])
    return len(rows)


def _refresh_engagement(session: Session, airing_ids: Sequence[int]) -> None:
    """Make `airing_engagement` hold each airing's latest snapshot in the window (by `at`,
    then id), whatever order snapshots arrived in. An existing row is replaced only by a
    later snapshot, so two transactions writing at once (PostgreSQL) can't undo each other:
    whichever commits last, the later snapshot stays."""
    keys = {f"a{index}": value for index, value in enumerate(airing_ids)}
    session.execute(
        text(
            "INSERT INTO airing_engagement (airing_id, snapshot_id, at, likes, shares, replies, "
            "quotes) SELECT s.airing_id, s.id, s.at, s.likes, s.shares, s.replies, s.quotes "
            f"FROM metric_snapshot s WHERE s.airing_id IN ({', '.join(':' + key for key in keys)}) "
            "AND s.in_window = :yes AND NOT EXISTS (SELECT 1 FROM metric_snapshot t "
            "WHERE t.airing_id = s.airing_id AND t.in_window = :yes "
            "AND (t.at > s.at OR (t.at = s.at AND t.id > s.id))) "
            "ON CONFLICT (airing_id) DO UPDATE SET snapshot_id = excluded.snapshot_id, "
            "at = excluded.at, likes = excluded.likes, shares = excluded.shares, "
            "replies = excluded.replies, quotes = excluded.quotes "
            "WHERE excluded.at > airing_engagement.at OR (excluded.at = airing_engagement.at "
            "AND excluded.snapshot_id > airing_engagement.snapshot_id)"
        ),
        {**keys, "yes": True},
    )


def _aired_times(
    session: Session, airing_ids: Sequence[int], sql: SqlDialect
) -> dict[int, datetime]:
    found: dict[int, datetime] = {}
    for start in range(0, len(airing_ids), 500):
        batch = sorted(set(airing_ids[start : start + 500]))
        keys = {f"i{index}": value for index, value in enumerate(batch)}
        # The status is checked here, not in SQL: given `status = ...`, SQLite scanned
        # every published airing through the status index instead of looking ids up.
        query = text(
            "SELECT id, status, COALESCE(published_at, at) FROM airing "
            f"WHERE id IN ({', '.join(':' + key for key in keys)})"
        )
        for airing_id, status, aired in session.execute(query, keys):
            if status == "published":
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


def engagement_counts(store: Store) -> dict[int, Counts]:
    """The counts each measured airing's engagement is read from, by airing id."""
    with store.session() as session:
        rows = session.execute(
            text("SELECT airing_id, likes, shares, replies, quotes FROM airing_engagement")
        ).all()
    return {row[0]: Counts(row[1], row[2], row[3], row[4]) for row in rows}
