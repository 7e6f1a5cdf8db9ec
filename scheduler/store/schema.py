"""Bringing a database to the latest schema by applying the steps of `migrations.py`."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from ..errors import StoreError
from .db import Database
from .migrations import LATEST_VERSION, MIGRATIONS
from .models import Meta
from .post_sql import SCHEMA_VERSION_SQL

_MIGRATION_LOCK = 7_345_001


class SchemaJobs(Database):
    def schema_version(self) -> int:
        with self.session() as session:
            return _schema_version(session)

    def migrate(self) -> int:
        """Bring the schema up to date, keeping all data; return the version it is at."""
        with self.session(write=True) as session:
            if self.dialect == "postgresql":
                # Two processes upgrading at once would both try to create the tables.
                session.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            session.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS meta "
                    "(key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)"
                )
            )
            current = _schema_version(session)
            if current > LATEST_VERSION:
                raise StoreError(
                    f"database schema version {current} is newer than this program knows "
                    f"({LATEST_VERSION}); upgrade the program"
                )
            for migration in MIGRATIONS:
                if migration.version > current:
                    for statement in migration.sql(self.dialect):
                        session.execute(text(statement))
                    _set_meta(session, "schema_version", str(migration.version))
            return LATEST_VERSION

    def ensure_schema(self) -> None:
        """Migrate only when needed: a read is cheaper than a write lock on every command."""
        try:
            current = self.schema_version()
        except StoreError:
            current = 0  # no meta table yet
        if current != LATEST_VERSION:
            self.migrate()


def _schema_version(session: Session) -> int:
    try:
        row = session.execute(text(SCHEMA_VERSION_SQL)).first()
    except OperationalError:
        raise
    except DBAPIError:  # PostgreSQL: no meta table yet
        return 0
    return int(row[0]) if row else 0


def _set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)
    session.flush()
