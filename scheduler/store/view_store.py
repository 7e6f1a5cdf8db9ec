"""`ViewStore`: everything the editors' read-only commands read, without the database layer.

`status`, `calendar`, `queue list`, `simulate` and `report` only read, and every read they
make is plain SQL over a DB-API cursor (`listings`, `reads`). A `ViewStore` runs those
functions over cursors from one of two places:

- `Database.view()`: the store's own connection, one session per read, as the store's
  methods do (they are thin wrappers over the same `ViewStore`);
- `open_sqlite(path)`: on SQLite, the standard `sqlite3` driver, read-only, when the file
  exists and its schema is the latest. Importing SQLAlchemy, SQLModel and the models takes
  about half a second, as long as the whole command should (issue 13); `queue add` skips it
  the same way (`post_sql`). Anything else (PostgreSQL, a missing file, a schema to
  migrate) goes through the `Store`, which creates or migrates first.

So each read has one implementation whichever way the connection was opened, and
`tests/test_view_store.py` checks that both give the same answers.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..domain import ChannelWindow, WindowRows
from ..errors import StoreError
from ..measuring import Weights
from . import listings, reads
from .migrations import LATEST_VERSION
from .post_sql import SCHEMA_VERSION_SQL, SQLITE_BUSY_TIMEOUT_MS, SqlDialect

Reading = Callable[[], AbstractContextManager[Any]]


class ViewStore:
    """The editors' reads over `reading()`, which yields a DB-API cursor inside one read
    transaction. Satisfies `planning.forecast.StoredPlan`; `queries/` take it whole."""

    def __init__(
        self, reading: Reading, dialect: SqlDialect, *, close: Callable[[], None] | None = None
    ) -> None:
        self._reading = reading
        self.dialect = dialect
        self._close = close

    def close(self) -> None:
        """Close a connection this view opened itself (the store's are the store's)."""
        if self._close is not None:
            self._close()
            self._close = None

    # --- planning's reads (`StoredPlan`) and status ---------------------------------------

    def window_rows(
        self,
        channels: Sequence[ChannelWindow],
        *,
        start: datetime,
        end: datetime,
        history_from: datetime,
    ) -> WindowRows:
        """The rows planning [start, end) at `start` needs, history from `history_from` on:
        what calendar, simulate and status read (see `listings`)."""
        with self._reading() as cursor:
            return listings.window_rows(
                cursor, self.dialect, channels, start=start, end=end, history_from=history_from
            )

    def queued_counts(self, channels: Sequence[str], *, now: datetime) -> dict[str, int]:
        """Per channel, the posts still to air there (`status`'s queued posts)."""
        with self._reading() as cursor:
            return listings.queued_counts(cursor, self.dialect, channels, now=now)

    def bodies(self, post_ids: Iterable[int]) -> dict[int, str]:
        with self._reading() as cursor:
            return reads.post_bodies(cursor, self.dialect, post_ids)

    def sent_bodies(self, airing_ids: Iterable[int]) -> dict[int, str]:
        """The text each of these airings was sent with, for those claimed at least once."""
        with self._reading() as cursor:
            return reads.sent_bodies(cursor, self.dialect, airing_ids)

    def engagements(self, weights: Weights) -> list[tuple[int, str, float]]:
        """(post, channel, engagement) of every measured published airing (§11)."""
        with self._reading() as cursor:
            return reads.engagements(cursor, weights)

    def open_inbox_items(self) -> list[reads.OpenItem]:
        with self._reading() as cursor:
            return reads.open_inbox_items(cursor, self.dialect)

    def heartbeats(self) -> list[reads.HeartbeatRow]:
        """Every daemon's latest heartbeat, the most recent first."""
        with self._reading() as cursor:
            return reads.heartbeats(cursor, self.dialect)

    def inbox_waiting(self) -> dict[str, reads.Waiting]:
        """Open inbox items per channel and the oldest one's time."""
        with self._reading() as cursor:
            return reads.inbox_waiting(cursor, self.dialect)

    # --- queue list -----------------------------------------------------------------------

    def list_posts(
        self, *, channel: str | None = None, status: str | None = None, now: datetime
    ) -> list[listings.PostListing]:
        """Posts oldest first, with their airings, as light records (`listings`); of
        `status` at `now` when given."""
        with self._reading() as cursor:
            records = listings.list_posts(cursor, self.dialect, channel=channel)
        if status is not None:
            records = [record for record in records if record.status(now) == status]
        return records

    # --- report and goals (§11) -----------------------------------------------------------

    def inbox_received(
        self, *, start: datetime, end: datetime, channel: str | None = None
    ) -> list[reads.Received]:
        with self._reading() as cursor:
            return reads.inbox_received(cursor, self.dialect, start=start, end=end, channel=channel)

    def published_airings(
        self,
        channel: str,
        weights: Weights,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[reads.Aired]:
        with self._reading() as cursor:
            return reads.published_airings(
                cursor, self.dialect, channel, weights, start=start, end=end
            )

    def follower_history(self, channel: str) -> list[tuple[datetime, int]]:
        with self._reading() as cursor:
            return reads.follower_history(cursor, self.dialect, channel)

    def tags_by_post(self) -> dict[int, list[str]]:
        with self._reading() as cursor:
            return reads.tags_by_post(cursor)

    def airing_texts(self, airing_ids: Iterable[int]) -> dict[int, str]:
        with self._reading() as cursor:
            return reads.airing_texts(cursor, self.dialect, airing_ids)


def open_sqlite(path: str) -> ViewStore | None:
    """A `ViewStore` over the SQLite file at `path` with the standard driver, read-only.

    None, having opened nothing, when the file is missing or its schema is not the latest:
    the caller then goes through the `Store`, which creates or migrates it first.
    """
    if not os.path.isfile(path):
        return None
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        # `calendar --serve` renders pages on the server's threads: the connection is shared
        # between them, one read transaction at a time (`lock`).
        connection = sqlite3.connect(
            uri,
            uri=True,
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"database sqlite:///{path} failed: {exc}") from exc
    try:
        version = connection.execute(SCHEMA_VERSION_SQL).fetchone()
    except sqlite3.OperationalError:  # no schema yet
        version = None
    except sqlite3.Error as exc:
        connection.close()
        raise StoreError(f"database sqlite:///{path} failed: {exc}") from exc
    if version is None or int(version[0]) != LATEST_VERSION:
        connection.close()
        return None
    lock = threading.Lock()

    @contextmanager
    def reading() -> Iterator[Any]:
        with lock:
            cursor = connection.cursor()
            try:
                cursor.execute("BEGIN")  # one snapshot for the statements of one read
                yield cursor
            except sqlite3.Error as exc:
                raise StoreError(f"database sqlite:///{path} failed: {exc}") from exc
            finally:
                if connection.in_transaction:
                    connection.execute("COMMIT")
                cursor.close()

    return ViewStore(reading, SqlDialect("sqlite"), close=connection.close)
