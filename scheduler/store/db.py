"""The connection to the database: engine, dialect and transactions.

One code path serves SQLite and PostgreSQL. On SQLite every write transaction starts with
`BEGIN IMMEDIATE` (WAL, busy timeout), so the daemon and several CLI processes queue behind
each other instead of failing with "database is locked" when a reader upgrades to a writer.
`Database` is the base of every job class of the store (see `store.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Insert, Table, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ..errors import StoreError
from .post_sql import SQLITE_BUSY_TIMEOUT_MS, SqlDialect, prepare_sqlite
from .view_store import ViewStore


def redact_url(url: str) -> str:
    """The database URL without its password, fit for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown by scheme only
        return url.split(":", 1)[0] + "://…"


class Database:
    """An engine and its transactions; what every part of the store builds on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = _make_engine(url)
        self._sql = SqlDialect(self.dialect)
        self._write_engine = self.engine.execution_options(write=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        engine = self._write_engine if write else self.engine
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            # Connection lost, server restarting, lock timeout…: one error type for callers.
            raise self._failed(exc.orig) from exc

    @contextmanager
    def raw_cursor(self) -> Iterator[Any]:
        """A DB-API cursor on a pooled connection, outside any ORM session: for a one-row read
        asked so often that a session's own cost (about ten times the query's) matters."""
        try:
            # Unlike a session, the pool raises the driver's own errors (a server restarting).
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
            finally:
                connection.close()  # back to the pool, its transaction rolled back
        except DBAPIError as exc:
            raise self._failed(exc.orig) from exc
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise self._failed(exc) from exc

    def _failed(self, error: object) -> StoreError:
        """The one error type for a failure of this database, its URL without a password."""
        return StoreError(f"database {redact_url(self.url)} failed: {_first_line(error)}")

    def view(self) -> ViewStore:
        """The editors' reads (`view_store`) over this store's connections: each read in a
        session of its own, through the same DB-API functions as the light SQLite path."""
        return ViewStore(self._reading, self._sql)

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        with self.session() as session:
            try:
                yield dbapi_cursor(session)
            except self.engine.dialect.loaded_dbapi.Error as exc:
                # Under SQLAlchemy, the driver's own errors: the same one error type.
                raise self._failed(exc) from exc


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own transaction handling is turned off so `_on_begin` decides.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            prepare_sqlite(cursor)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            write = connection.get_execution_options().get("write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (DBAPIError, ImportError, ValueError) as exc:
        raise StoreError(f"database {redact_url(url)} can't be used: {exc}") from None


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def chunked(items: Iterable[int], size: int = 500) -> Iterator[list[int]]:
    """Ids in batches, so an IN list stays within every driver's parameter limit."""
    batch: list[int] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_or_skip(dialect: str, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the dialect's own form: a row that another writer
    (a second planner, a replica listening too) put there first is left as it is."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def dbapi_cursor(session: Session) -> Any:
    """A DB-API cursor inside the session's transaction, for the plain SQL written against
    the driver: `post_sql` (the fast path of `queue add`, so that SQL has one
    implementation) and `listings` (editors' wide reads). Nothing else reaches under
    SQLAlchemy."""
    return session.connection().connection.cursor()
