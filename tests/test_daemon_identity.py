"""The daemon's identity and its database's (DESIGN §5): one daemon per SQLite file, one
live airing per post and slot, a database file replaced under a running daemon, and the file
publisher recognising its own lines by idempotency key (which carries the database's id).

Process tests run `python -m scheduler run` for real on an SQLite file with the `file`
publisher; the rest drive the store, the publisher or `Daemon.tick` with an injected clock.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, text

from scheduler.config import load_config
from scheduler.domain import AiringStatus, PostDraft
from scheduler.errors import PermanentPublishError
from scheduler.publishers import ChannelClients, build_publishers
from scheduler.publishers.base import Delivery
from scheduler.publishers.file import FilePublisher
from scheduler.runtime.daemon import Daemon
from scheduler.runtime.dispatch import RetrySettings
from scheduler.store.dbfile import DatabaseFileChanged
from scheduler.store.migrations import MIGRATIONS
from scheduler.store.models import UTCDateTime
from scheduler.store.store import Store
from tests.conftest import RunCli
from tests.test_daemon_process import Service, wait_until

T0 = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
NO_WAIT = RetrySettings(attempts=2, initial=0.0, maximum=0.0)
SPACING = {"main": timedelta(0)}


def write_file_config(directory: Path, *, slot_offset: str = "0s") -> Path:
    """A `file` channel `main` on a one-minute grid; short lease and reconcile."""
    path = directory / "config.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [scheduler]
            database = "sqlite:///scheduler.db"
            timezone = "UTC"
            lease = "3s"
            reconcile = "1s"

            [defaults]
            cadence = "1m"
            slot_offset = "{slot_offset}"
            min_spacing = "0s"
            max_gap = "24h"

            [channels.main]
            publisher = "file"
            path = "published.jsonl"
            timezone = "UTC"
            """
        ),
        encoding="utf-8",
    )
    return path


def published_lines(directory: Path) -> list[dict[str, object]]:
    path = directory / "published.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def backup(database: Path, target: Path) -> None:
    """What an operator's backup is: SQLite's online backup, consistent under WAL."""
    with sqlite3.connect(database) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    copy.close()


def floating(body: str) -> PostDraft:
    return PostDraft(body=body, kind="core", channels=("main",), editor="t", evergreen=False)


def pinned(body: str, at: datetime) -> PostDraft:
    return PostDraft(body=body, kind="core", channels=("main",), editor="t", at=at, evergreen=False)


# --- one daemon per SQLite file (processes) ------------------------------------------------


@pytest.mark.slow
def test_a_second_daemon_on_one_sqlite_file_refuses_and_names_the_first(
    tmp_path: Path, run_cli: RunCli, invoke: RunCli
) -> None:
    # A floating post whose slot comes up seconds from now: the case two daemons both planned
    # and both sent, each under its own key.
    next_slot = datetime.now(UTC) + timedelta(seconds=10)
    config = write_file_config(tmp_path, slot_offset=f"{next_slot.second}s")
    added = invoke(
        "queue", "add", "once only", "--channel", "main", "--kind", "core", "--no-evergreen",
        config=config,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    before = datetime.now(UTC).replace(microsecond=0)
    first = Service(config, tmp_path / "first.log")
    try:
        second = run_cli("run", config=config)
        assert second.returncode == 1
        (line,) = second.stderr.splitlines()
        database = tmp_path / "scheduler.db"
        prefix = (
            f"error: another daemon already runs on {database}: "
            f"pid {first.process.pid} on {socket.gethostname()} since "
        )
        assert line.startswith(prefix), line
        since = datetime.fromisoformat(line.removeprefix(prefix).split(";")[0])
        assert before <= since <= datetime.now(UTC)
        assert "only one daemon may use an SQLite database" in line

        store = Store(load_config(config).scheduler.database)
        try:

            def aired() -> bool:
                airings = [a for r in store.all_posts() for a in r.airings]
                return [a.status for a in airings] == [AiringStatus.published]

            wait_until(aired, 120, "the floating post to be published")
            (airing,) = [a for r in store.all_posts() for a in r.airings]
        finally:
            store.close()
        (only,) = published_lines(tmp_path)
        assert only["idempotency_key"] == airing.idempotency_key
        assert only["body"] == "once only"
    finally:
        code = first.terminate()
    assert code == 0
    assert "Traceback" not in (tmp_path / "first.log").read_text(encoding="utf-8")


@pytest.mark.slow
def test_kill_9_of_the_daemon_frees_the_file_for_the_next_one(tmp_path: Path) -> None:
    config = write_file_config(tmp_path)
    Service(config, tmp_path / "first.log").kill()
    restarted = Service(config, tmp_path / "second.log")  # ready: it took the lock
    assert restarted.terminate() == 0


# --- a database file replaced under a running daemon (processes) ----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_a_daemon_stops_when_its_database_file_is_removed_or_replaced(
    tmp_path: Path, invoke: RunCli, change: str
) -> None:
    config = write_file_config(tmp_path)
    database = tmp_path / "scheduler.db"
    store = Store(f"sqlite:///{database}")
    store.migrate()
    store.close()
    backup(database, tmp_path / "backup.db")  # taken before any daemon ran
    daemon = Service(config, tmp_path / "daemon.log")
    status = invoke("status", config=config)
    assert status.stdout.startswith("daemon: running"), status.stdout + status.stderr
    assert f":{daemon.process.pid}:" in status.stdout.splitlines()[0]

    if change == "removed":
        database.unlink()
    else:
        os.replace(tmp_path / "backup.db", database)  # a restored backup
    code = daemon.process.wait(timeout=60)
    daemon.notify.close()
    assert code == 1
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    (line,) = [entry for entry in log.splitlines() if "database file" in entry]
    assert f"ERROR scheduler.daemon: database file {database} was {change}" in line
    assert "Traceback" not in log

    # The next daemon works on the file now at the path, and `status` sees it running there.
    restarted = Service(config, tmp_path / "restarted.log")
    status = invoke("status", config=config)
    assert status.stdout.startswith("daemon: running"), status.stdout + status.stderr
    assert f":{restarted.process.pid}:" in status.stdout.splitlines()[0]
    assert restarted.terminate() == 0


@pytest.fixture
def clients() -> Iterator[ChannelClients]:
    instance = ChannelClients(timeout=2.0)
    yield instance
    instance.close()


def file_daemon(config_path: Path, clients: ChannelClients, clock: list[datetime]) -> Daemon:
    config = load_config(config_path)
    store = Store(config.scheduler.database)
    store.ensure_schema()
    publishers = build_publishers(config.channels, clients, now=lambda: clock[0])
    return Daemon(config, store, publishers, clock=lambda: clock[0], retry=NO_WAIT)


def test_a_tick_after_the_database_file_was_replaced_publishes_nothing(
    tmp_path: Path, clients: ChannelClients
) -> None:
    config = write_file_config(tmp_path)
    clock = [T0]
    daemon = file_daemon(config, clients, clock)
    try:
        daemon.store.add_posts([pinned("due", T0 + timedelta(minutes=1))], now=T0, spacing=SPACING)
        daemon.tick(T0)
        backup(tmp_path / "scheduler.db", tmp_path / "restored.db")
        os.replace(tmp_path / "restored.db", tmp_path / "scheduler.db")
        clock[0] = T0 + timedelta(minutes=1)
        with pytest.raises(DatabaseFileChanged, match="was replaced by another file"):
            daemon.tick(clock[0])
        assert published_lines(tmp_path) == []
    finally:
        daemon.close(timeout=5)
        daemon.store.close()
    restored = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    ((airing,),) = [r.airings for r in restored.all_posts()]
    assert airing.status == AiringStatus.planned
    restored.close()


# --- the file publisher: its own lines by key; never through a symlink ---------------------


def delivery(airing_id: int, key: str) -> Delivery:
    return Delivery(
        airing_id=airing_id,
        channel="main",
        post_id=airing_id,
        kind="core",
        body=f"body of {key}",
        media=(),
        idempotency_key=key,
        due=T0,
    )


def test_the_file_publisher_deduplicates_on_the_idempotency_key(tmp_path: Path) -> None:
    publisher = FilePublisher(tmp_path / "out.jsonl")
    first = publisher.publish(delivery(1, "aaaa-1"))
    # Airing 1 of a re-created database (another random id): a new post, not a repeat.
    other = publisher.publish(delivery(1, "bbbb-1"))
    again = publisher.publish(delivery(1, "aaaa-1"))
    lines = publisher.path.read_text(encoding="utf-8").splitlines()
    keys = [json.loads(line)["idempotency_key"] for line in lines]
    assert keys == ["aaaa-1", "bbbb-1"]
    assert (first.remote_id, other.remote_id) == ("1", "2")
    assert again == first


def publish_pinned(config: Path, clients: ChannelClients, body: str) -> int:
    """Queue a pinned post on a fresh daemon, publish it, return the airing's id."""
    due = T0 + timedelta(minutes=1)
    clock = [T0]
    daemon = file_daemon(config, clients, clock)
    try:
        (post,) = daemon.store.add_posts([pinned(body, due)], now=T0, spacing=SPACING)
        clock[0] = due
        daemon.tick(due)
        wait_until(lambda: not daemon.dispatcher.busy(), 60, "the airing to be recorded")
        (airing,) = daemon.store.get_post(post).airings
        assert airing.status == AiringStatus.published
        assert airing.id is not None
        return airing.id
    finally:
        daemon.close(timeout=5)
        daemon.store.close()


def test_a_recreated_database_writing_to_an_existing_file_publishes_its_posts(
    tmp_path: Path, clients: ChannelClients
) -> None:
    config = write_file_config(tmp_path)
    assert publish_pinned(config, clients, "old") == 1
    (tmp_path / "scheduler.db").unlink()  # the operator starts over
    assert publish_pinned(config, clients, "new") == 1
    old, new = published_lines(tmp_path)
    assert (old["airing_id"], new["airing_id"]) == (1, 1)
    assert (old["body"], new["body"]) == ("old", "new")
    assert old["idempotency_key"] != new["idempotency_key"]


def test_the_file_publisher_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious\n", encoding="utf-8")
    link = tmp_path / "out.jsonl"
    link.symlink_to(target)
    with pytest.raises(PermanentPublishError) as refused:
        FilePublisher(link).publish(delivery(1, "aaaa-1"))
    assert str(refused.value) == (
        f"file {str(link)!r} is a symbolic link; the file publisher writes only to a regular "
        "file (set `path` to the file itself)"
    )
    assert target.read_text(encoding="utf-8") == "precious\n"


def test_the_file_publisher_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(PermanentPublishError, match="is not a regular file"):
        FilePublisher(fifo).publish(delivery(1, "aaaa-1"))


# --- one live airing per post and slot, whatever the concurrency (both backends) -----------


def test_two_planners_writing_at_once_leave_one_airing_per_post_and_slot(db_url: str) -> None:
    stores = [Store(db_url), Store(db_url)]
    try:
        stores[0].migrate()
        posts = stores[0].add_posts(
            [floating(f"post {n}") for n in range(40)], now=T0, spacing=SPACING
        )
        revision = stores[0].revision()
        # Both planners read the same state, so both plan every post for the same slot.
        plan = [("main", post, "core", T0 + timedelta(hours=n + 1)) for n, post in enumerate(posts)]
        start = threading.Barrier(len(stores))

        def write(store: Store) -> bool:
            start.wait()
            return store.write_plan(remove=[], add=plan, now=T0, expected_revision=revision)

        with ThreadPoolExecutor(max_workers=len(stores)) as pool:
            assert list(pool.map(write, stores)) == [True, True]
        _posts, airings = stores[0].planning_rows()
        slots = Counter((a.post_id, a.channel, a.at) for a in airings)
        assert len(slots) == len(posts)
        assert set(slots.values()) == {1}
    finally:
        for store in stores:
            store.close()


def test_replanning_daemons_racing_never_plan_a_post_twice_for_a_slot(
    tmp_path: Path, db_url: str, clients: ChannelClients
) -> None:
    config_path = write_file_config(tmp_path)
    config_path.write_text(
        config_path.read_text(encoding="utf-8").replace(
            'database = "sqlite:///scheduler.db"', f'database = "{db_url}"'
        ),
        encoding="utf-8",
    )
    clock = [T0]
    daemons = [file_daemon(config_path, clients, clock) for _ in range(2)]
    try:
        daemons[0].store.add_posts(
            [floating(f"post {n}") for n in range(30)], now=T0, spacing=SPACING
        )
        for round_ in range(3):
            start = threading.Barrier(len(daemons))
            now = T0 + timedelta(minutes=round_)

            def replan(
                daemon: Daemon, now: datetime = now, start: threading.Barrier = start
            ) -> None:
                start.wait()
                daemon.replan(now)

            with ThreadPoolExecutor(max_workers=len(daemons)) as pool:
                list(pool.map(replan, daemons))
        _posts, airings = daemons[0].store.planning_rows()
        live = [a for a in airings if a.status == AiringStatus.planned]
        slots = Counter((a.post_id, a.channel, a.at) for a in live)
        assert len(live) == 30  # every post planned, once (none is evergreen)
        assert set(slots.values()) == {1}
        assert len({(a.channel, a.at) for a in live}) == len(live)  # one airing per slot
    finally:
        for daemon in daemons:
            daemon.close(timeout=5)
            daemon.store.close()


def test_upgrading_keeps_one_live_airing_per_slot_and_the_history(db_url: str) -> None:
    """A version-2 database where two daemons planned a post twice for one slot (and, for
    another, both sent it): the upgrade drops the extra planned copy, keeps both sent copies
    (each at the time it went out), and the index refuses new copies from then on."""
    store = Store(db_url)
    slot = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    sent_again = datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC)
    # Times bound as the store binds them (naive UTC in the dialect's own text form).
    times = [bindparam("slot", type_=UTCDateTime), bindparam("again", type_=UTCDateTime)]
    try:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(
                text("CREATE TABLE meta (key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)")
            )
            for migration in MIGRATIONS:
                if migration.version <= 2:
                    for statement in migration.sql(store.dialect):
                        conn.execute(text(statement))
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '2')"))
            conn.execute(
                text(
                    "INSERT INTO post (body, kind, editor, created, media) VALUES "
                    "('planned twice', 'core', 'sara', :slot, '[]'), "
                    "('sent twice', 'core', 'sara', :slot, '[]')"
                ).bindparams(times[0]),
                {"slot": slot},
            )
            conn.execute(
                text(
                    "INSERT INTO airing (post_id, channel, kind, at, status, idempotency_key, "
                    "published_at, updated) VALUES "
                    "(1, 'main', 'core', :slot, 'planned', NULL, NULL, :slot), "
                    "(1, 'main', 'core', :slot, 'planned', NULL, NULL, :slot), "
                    "(2, 'main', 'core', :slot, 'published', 'db-3', :slot, :slot), "
                    "(2, 'main', 'core', :slot, 'published', 'db-4', :again, :again)"
                ).bindparams(*times),
                {"slot": slot, "again": sent_again},
            )
        store.migrate()
        by_post = {r.id: r.airings for r in store.all_posts()}
        assert [(a.id, a.status) for a in by_post[1]] == [(1, AiringStatus.planned)]
        assert [(a.id, a.at) for a in by_post[2]] == [(3, slot), (4, sent_again)]
        revision = store.revision()
        again = [("main", 1, "core", slot)]
        assert store.write_plan(remove=[], add=again, now=T0, expected_revision=revision)
        assert len(store.get_post(1).airings) == 1
    finally:
        store.close()


def test_a_lock_file_that_is_a_symlink_is_refused_in_one_line(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = write_file_config(tmp_path)
    (tmp_path / "scheduler.db.lock").symlink_to(tmp_path / "elsewhere")
    refused = run_cli("run", config=config)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: can't open the daemon lock file {tmp_path / 'scheduler.db.lock'} (Too many "
        "levels of symbolic links); the daemon needs to create and write it beside the database"
    ]
    assert not (tmp_path / "elsewhere").exists()
