"""Facts about the database and the daemons on it: the change counter, the key prefix,
heartbeats, and which replica plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from .db import Database, dbapi_cursor, insert_or_skip
from .models import Heartbeat, Meta, table_of
from .post_sql import SqlDialect, bump_revision
from .reads import HeartbeatRow

_PLANNER_LOCK = 7_345_003


class MetaJobs(Database):
    def revision(self) -> int:
        """The change counter: how the daemon notices CLI writes. The dispatcher asks before
        the sends of a burst, so it is read without an ORM session."""
        with self.raw_cursor() as cursor:
            cursor.execute("SELECT value FROM meta WHERE key = 'revision'")
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def key_prefix(self) -> str:
        """A random id of this database, so idempotency keys never repeat across databases."""
        import uuid

        with self.session(write=True) as session:
            # Replicas starting together race to create it: the first insert wins (the others
            # wait for it to commit, then insert nothing) and all read the same row.
            session.execute(
                insert_or_skip(self.dialect, table_of(Meta)),
                {"key": "instance", "value": uuid.uuid4().hex[:12]},
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

    def heartbeats(self) -> list[HeartbeatRow]:
        """Every daemon's latest heartbeat, the most recent first."""
        return self.view().heartbeats()


def revision_of(session: Session) -> int:
    row = session.get(Meta, "revision")
    return int(row.value) if row else 0


def note_change(session: Session) -> None:
    """Move the change counter in `session`'s transaction: the daemon notices and replans."""
    session.flush()
    bump_revision(dbapi_cursor(session), SqlDialect(session.get_bind().dialect.name))


class PlannerLock:
    """Which replica plans: the holder of a PostgreSQL session advisory lock.

    The lock lives as long as its connection, so when the planning replica dies (or its
    backend is killed) the lock is freed and the next replica to ask takes over. In pg_locks
    it is the advisory lock with classid 7345003 and objid the hash of the schema. On SQLite
    there is one machine and `BEGIN IMMEDIATE` already serialises writers: always held.
    """

    def __init__(self, store: Database) -> None:
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
