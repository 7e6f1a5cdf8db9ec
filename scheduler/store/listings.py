"""What editors' commands read, in plain SQL over a DB-API cursor: narrow columns, no ORM
object per row, and for the plan views only the rows their window needs.

`queue list` reads every post (that is what it lists), as light records. `calendar`,
`simulate` and `status` read the rows planning a window needs (`window_rows`), which grows
with the window and the posts that can still air, not with all history:

- posts that can still be fresh on a channel, trimmed per channel and kind to the first
  `slots` in first-in-first-out order (a window of S slots can take at most S fresh posts
  of a kind; posts expiring inside the window may be skipped, so all of those are kept);
- posts that have aired there and may be reposted again (evergreen, not expired, fewer
  reposts than `max_airings`), with every airing they have there (each one counts for the
  repost rules), and likewise any post with an airing near or after the window or one
  waiting for an editor;
- other old history is left out, except per channel the latest airing on air or planned
  before it (where the silence before the window began) and each channel's `began` (its
  earliest queued post: §3.3 counts silence only from then).

`tests/test_listings.py` checks that calendar, simulate and status say exactly what they
said from every row, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..domain import (
    LIVE_STATUSES,
    NEEDS_EDITOR,
    ON_AIR,
    AiringKind,
    AiringRow,
    AiringStatus,
    ChannelWindow,
    PostRow,
    WindowRows,
    post_status,
)
from ..media import MediumInfo
from .post_sql import SqlDialect, sql_list

# Old history before the window that still shapes it: the mix counts the whole local day of
# the first slot (up to a day and a DST hour before it), spacing looks at most a cadence
# (at most a day) back. Two days covers both.
HISTORY_MARGIN = timedelta(days=2)

_REPLY = f"'{AiringKind.reply}'"
_CANCELLED = f"'{AiringStatus.cancelled}'"
_PLANNED = f"'{AiringStatus.planned}'"


# --- queue list -----------------------------------------------------------------------------


class ListedPost(NamedTuple):
    """A post's columns, as `queue list` shows them. Like the two records below, a named
    tuple, as `domain.PostRow` is: a frozen dataclass per post cost a tenth of
    `queue list --format json` at 100,000 posts."""

    id: int
    body: str
    kind: str
    at: datetime | None
    expires: datetime | None
    evergreen: bool
    editor: str
    created: datetime
    media: str  # JSON list of the media's names
    score: float | None
    cancelled: bool


class ListedAiring(NamedTuple):
    """An airing's columns, as `queue list` shows them."""

    id: int
    post_id: int
    channel: str
    kind: str
    pinned: bool
    at: datetime
    status: str
    body: str | None  # the text it was sent with, once claimed
    remote_url: str | None
    error: str | None


class PostListing(NamedTuple):
    """A listed post with its channels (sorted), airings (by time) and tags (sorted)."""

    post: ListedPost
    channels: tuple[str, ...]
    airings: tuple[ListedAiring, ...]
    tags: tuple[str, ...]
    media: tuple[MediumInfo, ...]  # in order, without their bytes

    @property
    def id(self) -> int:
        return self.post.id

    def status(self, now: datetime) -> str:
        return post_status(
            cancelled=self.post.cancelled,
            expires=self.post.expires,
            statuses={airing.status for airing in self.airings},
            now=now,
        )


def _time_reader(dialect: SqlDialect) -> Callable[[Any], datetime]:
    """`dialect.read_time`, remembering each stored text it has read: posts imported
    together share their `created`, and a window's airings share their hours."""
    seen: dict[Any, datetime] = {}

    def read(value: Any) -> datetime:
        moment = seen.get(value)
        if moment is None:
            moment = seen[value] = dialect.read_time(value)
        return moment

    return read


def list_posts(cursor: Any, dialect: SqlDialect, *, channel: str | None) -> list[PostListing]:
    """Broadcast posts oldest first (of `channel`, when given), each with every channel it
    targets, its airings (all of them, or only `channel`'s), tags and media; five queries
    whatever the count."""
    time = _time_reader(dialect)
    wanted = "SELECT post_id FROM post_channel WHERE channel = ?"
    where_post = f" AND id IN ({wanted})" if channel else ""
    params: tuple[Any, ...] = (channel,) if channel else ()
    channels_of: dict[int, list[str]] = defaultdict(list)
    cursor.execute(
        dialect.sql(
            "SELECT post_id, channel FROM post_channel"
            + (f" WHERE post_id IN ({wanted})" if channel else "")
            + " ORDER BY post_id, channel"
        ),
        params,
    )
    for post_id, name in cursor.fetchall():
        channels_of[post_id].append(name)
    airings_of: dict[int, list[ListedAiring]] = defaultdict(list)
    cursor.execute(
        dialect.sql(
            "SELECT id, post_id, channel, kind, pinned, at, status, body, remote_url, error "
            f"FROM airing WHERE kind <> {_REPLY}"
            + (" AND channel = ?" if channel else "")
            + " ORDER BY at, id"
        ),
        params,
    )
    for row in cursor.fetchall():
        airings_of[row[1]].append(
            ListedAiring(row[0], row[1], row[2], row[3], bool(row[4]), time(row[5]), *row[6:10])
        )
    tags_of: dict[int, list[str]] = defaultdict(list)
    cursor.execute("SELECT post_id, tag FROM post_tag ORDER BY post_id, tag")
    for post_id, tag in cursor.fetchall():
        tags_of[post_id].append(tag)
    media_of: dict[int, list[MediumInfo]] = defaultdict(list)
    cursor.execute(
        dialect.sql(
            "SELECT post_id, name, mime, size, sha256, alt FROM media"
            + (f" WHERE post_id IN ({wanted})" if channel else "")
            + " ORDER BY post_id, position"
        ),
        params,
    )
    for post_id, name, mime, size, sha256, alt in cursor.fetchall():
        media_of[post_id].append(
            MediumInfo(name=name, mime=mime, size=size, sha256=sha256, alt=alt)
        )
    cursor.execute(
        dialect.sql(
            "SELECT id, body, kind, at, expires, evergreen, editor, created, media, score, "
            f"cancelled FROM post WHERE kind <> {_REPLY}{where_post} ORDER BY id"
        ),
        params,
    )
    listings = []
    for row in cursor.fetchall():
        post = ListedPost(
            row[0],
            row[1],
            row[2],
            None if row[3] is None else time(row[3]),
            None if row[4] is None else time(row[4]),
            bool(row[5]),
            row[6],
            time(row[7]),
            row[8],
            row[9],
            bool(row[10]),
        )
        listings.append(
            PostListing(
                post=post,
                channels=tuple(channels_of.get(post.id, ())),
                airings=tuple(airings_of.get(post.id, ())),
                tags=tuple(tags_of.get(post.id, ())),
                media=tuple(media_of.get(post.id, ())),
            )
        )
    return listings


# --- the rows a window's plan needs ---------------------------------------------------------


_AIRING_COLUMNS = (
    "a.id, a.post_id, a.channel, a.kind, a.pinned, a.at, a.status, a.remote_url, a.error, "
    "a.idempotency_key IS NOT NULL"
)
_POST_COLUMNS = (
    "p.id AS id, p.kind AS kind, p.created AS created, p.expires AS expires, "
    "p.evergreen AS evergreen, p.at IS NOT NULL AS pinned, p.score AS score, "
    "p.cancelled AS cancelled"
)
_POST_FIELDS = "id, kind, created, expires, evergreen, pinned, score, cancelled"


def window_rows(
    cursor: Any,
    dialect: SqlDialect,
    channels: Sequence[ChannelWindow],
    *,
    start: datetime,
    end: datetime,
    history_from: datetime,
) -> WindowRows:
    """The posts and airings planning `channels` over [start, end) needs, at `start` (= now),
    for a view whose history begins at `history_from`. Cancelled airings and replies are
    never read, as `Store.planning_rows` leaves them out."""
    if not channels:
        return WindowRows([], [], {})
    time = _time_reader(dialect)
    low = min(start, history_from) - HISTORY_MARGIN
    names = [c.name for c in channels]
    in_channels = ", ".join("?" for _ in names)

    def case(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A per-channel value as SQL: CASE column WHEN name THEN value … END."""
        params: list[Any] = []
        for name, value in zip(names, values, strict=True):
            params += [name, value]
        return f"CASE {column} " + "WHEN ? THEN ? " * len(names) + "END", params

    # 1. The (post, channel) pairs whose whole history there is needed, with that history.
    max_airings, max_params = case("a.channel", [c.max_airings for c in channels])
    needed = (
        "SELECT a.post_id, a.channel FROM airing a JOIN post p ON p.id = a.post_id "
        f"WHERE a.status <> {_CANCELLED} AND a.kind <> {_REPLY} "
        f"AND a.channel IN ({in_channels}) "
        "GROUP BY a.post_id, a.channel, p.evergreen, p.expires, p.cancelled "
        "HAVING MAX(a.at) >= ? "
        f"OR SUM(CASE WHEN a.status IN ({sql_list(NEEDS_EDITOR)}) THEN 1 ELSE 0 END) > 0 "
        "OR (p.evergreen AND NOT p.cancelled AND (p.expires IS NULL OR p.expires > ?) "
        f"AND SUM(CASE WHEN a.kind = '{AiringKind.repost}' "
        f"AND a.status IN ({sql_list(LIVE_STATUSES)}) THEN 1 ELSE 0 END) < {max_airings})"
    )
    airings: dict[int, AiringRow] = {}

    def keep(rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            if row[0] not in airings:
                airings[row[0]] = AiringRow(
                    row[0], row[1], row[2], row[3], bool(row[4]), time(row[5]), row[6],
                    row[7], row[8], bool(row[9]),
                )  # fmt: skip

    cursor.execute(
        dialect.sql(
            f"SELECT {_AIRING_COLUMNS} FROM airing a JOIN ({needed}) needed "
            "ON needed.post_id = a.post_id AND needed.channel = a.channel "
            f"WHERE a.status <> {_CANCELLED} AND a.kind <> {_REPLY}"
        ),
        [*names, dialect.time(low), dialect.time(start), *max_params],
    )
    keep(cursor.fetchall())
    pairs = {(airing.post_id, airing.channel) for airing in airings.values()}

    # 2. Per channel, the latest airing live and on air before `low`: the silence before.
    for statuses in (LIVE_STATUSES, ON_AIR):
        cursor.execute(
            dialect.sql(
                "SELECT channel, MAX(at) FROM airing "
                f"WHERE status IN ({sql_list(statuses)}) AND kind <> {_REPLY} "
                f"AND at < ? AND channel IN ({in_channels}) GROUP BY channel"
            ),
            [dialect.time(low), *names],
        )
        latest = cursor.fetchall()
        if latest:
            # Found by time through the (status, at) index, then matched to their channel.
            cursor.execute(
                dialect.sql(
                    f"SELECT {_AIRING_COLUMNS} FROM airing a "
                    f"WHERE a.status IN ({sql_list(statuses)}) AND a.kind <> {_REPLY} "
                    f"AND a.at IN ({', '.join('?' for _ in latest)})"
                ),
                [at for _, at in latest],
            )
            wanted = {(name, dialect.read_time(at)) for name, at in latest}
            keep(row for row in cursor.fetchall() if (row[2], time(row[5])) in wanted)

    # 3. Posts: those of the pairs, and the fresh ones the window can reach. A row's place
    # is checked against its channel's slots here, not by a CASE of every channel in SQL
    # (a hundred comparisons a row: a third of the query at 100,000 posts).
    fixed_until, fixed_params = case("pc.channel", [dialect.time(c.fixed_until) for c in channels])
    slots = {c.name: c.slots for c in channels}
    expiring = "(p.expires IS NOT NULL AND p.expires < ?)"
    cursor.execute(
        dialect.sql(
            f"SELECT post_id, channel, expiring, place, {_POST_FIELDS} FROM ("
            f"SELECT p.id AS post_id, pc.channel AS channel, {_POST_COLUMNS}, "
            f"CASE WHEN {expiring} THEN 1 ELSE 0 END AS expiring, "
            f"ROW_NUMBER() OVER (PARTITION BY pc.channel, p.kind, "
            f"CASE WHEN {expiring} THEN 1 ELSE 0 END ORDER BY p.created, p.id) AS place "
            "FROM post p JOIN post_channel pc ON pc.post_id = p.id "
            f"WHERE NOT p.cancelled AND p.kind <> {_REPLY} AND p.at IS NULL "
            f"AND pc.channel IN ({in_channels}) AND (p.expires IS NULL OR p.expires > ?) "
            # Not fresh: an airing that keeps its place (as `forecast.is_fixed` decides) or
            # waits for an editor. Only a planned floating airing the planner may move is not.
            "AND NOT EXISTS (SELECT 1 FROM airing a WHERE a.post_id = p.id "
            f"AND a.channel = pc.channel AND a.status <> {_CANCELLED} "
            f"AND NOT (a.status = {_PLANNED} AND NOT a.pinned "
            f"AND a.idempotency_key IS NULL AND a.at >= {fixed_until}))"
            ") ranked WHERE expiring = 1 OR place <= ?"
        ),
        [
            dialect.time(end),
            dialect.time(end),
            *names,
            dialect.time(start),
            *fixed_params,
            max(slots.values()),
        ],
    )
    columns: dict[int, Sequence[Any]] = {}
    for row in cursor.fetchall():
        if row[2] or row[3] <= slots[row[1]]:
            pairs.add((row[0], row[1]))
            columns[row[0]] = row[4:]
    channels_of: dict[int, list[str]] = defaultdict(list)
    for post_id, name in pairs:
        channels_of[post_id].append(name)
    missing = sorted(set(channels_of) - set(columns))
    for first in range(0, len(missing), 500):
        batch = missing[first : first + 500]
        cursor.execute(
            dialect.sql(
                f"SELECT {_POST_COLUMNS} FROM post p "
                f"WHERE p.id IN ({', '.join('?' for _ in batch)})"
            ),
            batch,
        )
        columns.update((row[0], row) for row in cursor.fetchall())
    posts = [
        PostRow(
            post_id,
            row[1],
            time(row[2]),
            None if row[3] is None else time(row[3]),
            bool(row[4]),
            bool(row[5]),
            row[6],
            bool(row[7]),
            tuple(sorted(channels_of[post_id])),
        )  # id, kind, created, expires, evergreen, pinned, score, cancelled, channels
        for post_id, row in sorted(columns.items())
    ]

    # 4. When each channel began: its earliest candidate post (not cancelled, not waiting).
    cursor.execute(
        dialect.sql(
            "SELECT pc.channel, MIN(p.created) FROM post p "
            "JOIN post_channel pc ON pc.post_id = p.id "
            f"WHERE NOT p.cancelled AND p.kind <> {_REPLY} AND pc.channel IN ({in_channels}) "
            "AND NOT EXISTS (SELECT 1 FROM airing a WHERE a.post_id = p.id "
            f"AND a.channel = pc.channel AND a.kind <> {_REPLY} "
            f"AND a.status IN ({sql_list(NEEDS_EDITOR)})) "
            "GROUP BY pc.channel"
        ),
        names,
    )
    began = {name: time(first) for name, first in cursor.fetchall() if first is not None}
    ordered = sorted(airings.values(), key=lambda a: (a.at, a.id))
    return WindowRows(posts=posts, airings=ordered, began=began)


def queued_counts(
    cursor: Any, dialect: SqlDialect, channels: Sequence[str], *, now: datetime
) -> dict[str, int]:
    """Per channel, the posts still to air there: not cancelled, not expired, not on air
    there yet and not waiting for an editor there (what `status` calls queued)."""
    counts = dict.fromkeys(channels, 0)
    if not channels:
        return counts
    cursor.execute(
        dialect.sql(
            "SELECT pc.channel, COUNT(*) FROM post p JOIN post_channel pc ON pc.post_id = p.id "
            f"WHERE NOT p.cancelled AND p.kind <> {_REPLY} "
            f"AND pc.channel IN ({', '.join('?' for _ in channels)}) "
            "AND (p.expires IS NULL OR p.expires > ?) "
            "AND NOT EXISTS (SELECT 1 FROM airing a WHERE a.post_id = p.id "
            f"AND a.channel = pc.channel AND a.kind <> {_REPLY} "
            f"AND a.status IN ({sql_list([*ON_AIR, *NEEDS_EDITOR])})) "
            "GROUP BY pc.channel"
        ),
        [*channels, dialect.time(now)],
    )
    for name, count in cursor.fetchall():
        counts[name] = int(count)
    return counts
