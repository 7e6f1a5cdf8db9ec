"""The schema is written once as history (`migrations.py`) and mapped by the models
(`models.py`); these tests make the two impossible to drift apart, on SQLite and PostgreSQL.

A database brought up by every migration in turn is reflected, then emptied and rebuilt by
`SQLModel.metadata.create_all` from the models alone, and reflected again: both go through
the same reflection of the same server, so any column, type, length, nullability, default,
key, index (partial ones included) or unique constraint written in one place and not the
other fails here, naming the table and what differs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from scheduler.store.migrations import LATEST_VERSION
from scheduler.store.store import Store


def reflected(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every table as the database describes it, in comparable plain values."""
    inspector = inspect(engine)
    tables: dict[str, dict[str, Any]] = {}
    for name in sorted(inspector.get_table_names()):
        primary_key = inspector.get_pk_constraint(name)
        key_columns = set(primary_key["constrained_columns"])
        columns = {}
        for column in inspector.get_columns(name):
            described = {key: value for key, value in column.items() if key != "comment"}
            described["type"] = str(column["type"].compile(engine.dialect))
            if engine.dialect.name == "sqlite" and column["name"] in key_columns:
                # SQLite lets a primary key column hold NULL unless it says NOT NULL, which
                # migration 1 never wrote; SQLAlchemy writes it. Nothing inserts a NULL key.
                described.pop("nullable")
            columns[column["name"]] = described
        tables[name] = {
            "columns": columns,
            "primary key": (primary_key["name"], primary_key["constrained_columns"]),
            "foreign keys": sorted(
                (fk["name"] or "", fk["constrained_columns"], fk["referred_table"])
                for fk in inspector.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (
                    index["name"] or "",
                    index["column_names"],
                    bool(index["unique"]),
                    {key: str(value) for key, value in index.get("dialect_options", {}).items()},
                )
                for index in inspector.get_indexes(name)
            ),
            "unique constraints": _unique_constraints(engine, inspector, name),
        }
    return tables


def _unique_constraints(engine: Engine, inspector: Any, table: str) -> list[list[str]]:
    if engine.dialect.name != "sqlite":
        return sorted(u["column_names"] for u in inspector.get_unique_constraints(table))
    # SQLAlchemy reads SQLite's table-level UNIQUE (...) only; a column's own UNIQUE (as
    # migration 1 gives idempotency_key) is an index of origin "u" all the same.
    with engine.connect() as connection:
        names = [
            row[1]
            for row in connection.exec_driver_sql(f"PRAGMA index_list('{table}')")
            if row[3] == "u"
        ]
        return sorted(
            [row[2] for row in connection.exec_driver_sql(f"PRAGMA index_info('{index}')")]
            for index in names
        )


def differences(migrated: dict[str, Any], modelled: dict[str, Any]) -> list[str]:
    found = [f"table {t}: only in the migrations" for t in sorted(set(migrated) - set(modelled))]
    found += [f"table {t}: only in the models" for t in sorted(set(modelled) - set(migrated))]
    for table in sorted(set(migrated) & set(modelled)):
        ours, theirs = migrated[table], modelled[table]
        for column in sorted(set(ours["columns"]) | set(theirs["columns"])):
            a, b = ours["columns"].get(column), theirs["columns"].get(column)
            if a != b:
                found.append(f"{table}.{column}: migrations {a}, models {b}")
        for part in ("primary key", "foreign keys", "indexes", "unique constraints"):
            if ours[part] != theirs[part]:
                found.append(f"{table} {part}: migrations {ours[part]}, models {theirs[part]}")
    return found


def test_the_models_describe_exactly_the_schema_the_migrations_build(store: Store) -> None:
    assert store.schema_version() == LATEST_VERSION
    migrated = reflected(store.engine)
    SQLModel.metadata.drop_all(store.engine)
    with store.engine.connect() as connection:
        assert inspect(connection).get_table_names() == []  # every migrated table is modelled
    SQLModel.metadata.create_all(store.engine)
    modelled = reflected(store.engine)
    assert differences(migrated, modelled) == []
    assert set(migrated) == set(SQLModel.metadata.tables)


def test_the_comparison_sees_a_column_the_models_lack(store: Store) -> None:
    """The check itself can fail: a migration step the models don't follow is named."""
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE post ADD COLUMN mood VARCHAR(16) NULL"))
        connection.execute(text("CREATE INDEX ix_post_kind ON post (kind)"))
    migrated = reflected(store.engine)
    SQLModel.metadata.drop_all(store.engine)
    SQLModel.metadata.create_all(store.engine)
    found = differences(migrated, reflected(store.engine))
    assert any(line.startswith("post.mood: migrations {") for line in found), found
    assert any(line.startswith("post indexes: ") and "ix_post_kind" in line for line in found)


def test_migrated_schema_matches_the_models(store: Store) -> None:
    """Every SQLModel table and column exists in the migrated database, and nothing else
    (read against the metadata itself, not through a second database)."""
    inspector = inspect(store.engine)
    tables = SQLModel.metadata.tables
    assert set(inspector.get_table_names()) == set(tables)
    for name, table in tables.items():
        columns = {column["name"]: column for column in inspector.get_columns(name)}
        assert set(columns) == set(table.columns.keys()), name
        primary_key = set(inspector.get_pk_constraint(name)["constrained_columns"])
        assert primary_key == {c.name for c in table.primary_key.columns}, name
        for column in table.columns:
            if column.primary_key:
                continue  # SQLite reports a text primary key as nullable
            assert columns[column.name]["nullable"] == column.nullable, f"{name}.{column.name}"
            model_type = column.type.python_type
            db_type = columns[column.name]["type"].python_type
            assert issubclass(db_type, model_type) or (model_type, db_type) == (
                datetime,
                datetime,
            ), f"{name}.{column.name}: {db_type} in the database, {model_type} in the model"
        foreign_keys = {
            (tuple(fk["constrained_columns"]), fk["referred_table"])
            for fk in inspector.get_foreign_keys(name)
        }
        assert foreign_keys == {
            ((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys
        }, name
        indexed = {tuple(index["column_names"]) for index in inspector.get_indexes(name)}
        for index in table.indexes:
            assert tuple(c.name for c in index.columns) in indexed, f"{name}: {index.name}"
