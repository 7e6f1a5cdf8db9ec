"""Each airing's engagement snapshot, kept in `airing_engagement` as snapshots are written
(§11: the latest up to 24 h, with the hour's grace), against the query over every snapshot
that reports ran before it was kept: the same answer on SQLite and PostgreSQL, whatever
order snapshots arrive in, through the measuring loop's writes, `metrics import` and the
migration that fills it for older databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from scheduler.cli.metrics_commands import import_metrics
from scheduler.measuring import Counts, Weights
from scheduler.queries.report import build_report
from scheduler.store.metrics import (
    engagement_counts,
    record_followers,
    record_snapshots,
)
from scheduler.store.migrations import MIGRATIONS
from scheduler.store.store import Store
from tests.test_measuring import DAY, HOUR, config_of, published, snap

MINUTE = timedelta(minutes=1)
AIRED = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# What `report` ran before the snapshot was kept: rank every snapshot in the window, per airing.
RANKED = (
    "SELECT airing_id, likes, shares, replies, quotes FROM ("
    "SELECT airing_id, likes, shares, replies, quotes, ROW_NUMBER() OVER ("
    "PARTITION BY airing_id ORDER BY at DESC, id DESC) AS newest "
    "FROM metric_snapshot WHERE in_window = :yes) s WHERE newest = 1"
)


def ranked(store: Store) -> dict[int, Counts]:
    with store.session() as session:
        rows = session.execute(text(RANKED), {"yes": True}).all()
    return {row[0]: Counts(row[1], row[2], row[3], row[4]) for row in rows}


def test_the_kept_snapshot_is_the_latest_in_the_window_whatever_the_order(store: Store) -> None:
    _, late_first = published(store, NOW, AIRED)
    _, past_window = published(store, NOW, AIRED + HOUR)
    _, never_in_window = published(store, NOW, AIRED + 2 * HOUR)
    _, one_batch = published(store, NOW, AIRED + 3 * HOUR)
    _, on_the_edge = published(store, NOW, AIRED + 4 * HOUR)
    _, tied = published(store, NOW, AIRED + 5 * HOUR)
    # The 24 h read lands before a late-arriving 1 h read: the 24 h one stays.
    record_snapshots(store, [snap(late_first, AIRED + DAY, likes=5)])
    record_snapshots(store, [snap(late_first, AIRED + HOUR, likes=1)])
    # Later reads past the window (25 h) are kept as snapshots, never as engagement.
    record_snapshots(store, [snap(past_window, AIRED + 2 * HOUR, likes=2)])
    record_snapshots(store, [snap(past_window, AIRED + HOUR + 25 * HOUR + MINUTE, likes=50)])
    record_snapshots(store, [snap(past_window, AIRED + HOUR + 7 * DAY, likes=99)])
    record_snapshots(store, [snap(never_in_window, AIRED + 2 * HOUR + 7 * DAY, likes=9)])
    # Several snapshots of one airing in one write, out of order.
    record_snapshots(
        store,
        [
            snap(one_batch, AIRED + 3 * HOUR + DAY, likes=4, shares=1),
            snap(one_batch, AIRED + 3 * HOUR + HOUR, likes=1),
            snap(one_batch, AIRED + 3 * HOUR + 8 * DAY, likes=70),
        ],
    )
    record_snapshots(store, [snap(on_the_edge, AIRED + 4 * HOUR + 25 * HOUR, replies=2)])
    # Two snapshots at the same moment: the one written last counts.
    record_snapshots(store, [snap(tied, AIRED + 6 * HOUR, likes=3)])
    record_snapshots(store, [snap(tied, AIRED + 6 * HOUR, likes=8)])
    expected = {
        late_first: Counts(5, 0, 0),
        past_window: Counts(2, 0, 0),
        one_batch: Counts(4, 1, 0),
        on_the_edge: Counts(0, 0, 2),
        tied: Counts(8, 0, 0),
    }
    assert engagement_counts(store) == expected
    assert ranked(store) == expected
    window = store.view().published_airings("main", Weights(), start=AIRED, end=AIRED + DAY)
    assert [(airing_id, value) for airing_id, *_, value in window] == [
        (late_first, 5),
        (past_window, 2),
        (never_in_window, None),
        (one_batch, 4 + 2),
        (on_the_edge, 6),
        (tied, 8),
    ]


def test_an_import_overwrites_a_read_at_the_same_moment_and_an_older_one_does_not(
    store: Store, tmp_path: Path
) -> None:
    _, airing_id = published(store, NOW, AIRED)
    record_snapshots(store, [snap(airing_id, AIRED + DAY, likes=7, shares=1)])
    counts = tmp_path / "counts.csv"
    counts.write_text(
        "airing,url,at,likes,shares,replies\n"
        f"{airing_id},,{(AIRED + DAY).isoformat()},3,0,0\n"  # the same moment: replaces
        f"{airing_id},,{(AIRED + 2 * HOUR).isoformat()},40,0,0\n"  # older: doesn't
    )
    assert import_metrics(counts, store, now=NOW) == 2
    assert engagement_counts(store) == ranked(store) == {airing_id: Counts(3, 0, 0)}
    later = tmp_path / "later.jsonl"
    later.write_text(
        f'{{"airing": {airing_id}, "at": "{(AIRED + DAY + HOUR).isoformat()}", '
        '"likes": 11, "shares": 2, "replies": 1}\n'
    )
    assert import_metrics(later, store, now=NOW) == 1
    assert engagement_counts(store) == ranked(store) == {airing_id: Counts(11, 2, 1)}


def test_engagement_uses_the_weights_exactly_as_python_does(store: Store) -> None:
    _, airing_id = published(store, NOW, AIRED + 123_456 * timedelta(microseconds=1))
    record_snapshots(store, [snap(airing_id, AIRED + HOUR, likes=7, shares=3, replies=2)])
    for weights in (Weights(), Weights(1.5, 0.1, 3), Weights(0.3, 1, 0.7)):
        ((_, _, kind, aired_ts, value),) = store.view().published_airings("main", weights)
        assert value == weights.engagement(7, 3, 2)
        assert type(value) is type(weights.engagement(7, 3, 2))  # 19, not 19.0, in JSON
        assert aired_ts == (AIRED + 123_456 * timedelta(microseconds=1)).timestamp()
        assert kind == "core"


def test_published_airings_of_a_window_oldest_first(store: Store) -> None:
    times = [AIRED + 2 * HOUR, AIRED, AIRED + DAY, AIRED - MINUTE, AIRED + HOUR]
    ids = {at: published(store, NOW, at)[1] for at in times}
    with store.session(write=True) as session:  # aired before published_at was recorded
        session.execute(
            text("UPDATE airing SET published_at = NULL WHERE id = :id"), {"id": ids[AIRED + HOUR]}
        )
        session.execute(  # never aired: not in a report
            text("UPDATE airing SET status = 'failed' WHERE id = :id"), {"id": ids[AIRED + DAY]}
        )
    window = store.view().published_airings("main", Weights(), start=AIRED, end=AIRED + DAY)
    assert [airing_id for airing_id, *_ in window] == [
        ids[AIRED],
        ids[AIRED + HOUR],
        ids[AIRED + 2 * HOUR],
    ]
    assert store.view().published_airings("other", Weights(), start=AIRED) == []
    before = store.view().published_airings("main", Weights(), end=AIRED)
    assert [airing_id for airing_id, *_ in before] == [ids[AIRED - MINUTE]]


@pytest.fixture
def bare(db_url: str) -> Iterator[Store]:
    instance = Store(db_url)
    yield instance
    instance.close()


def test_migration_9_fills_the_kept_snapshot_of_an_older_database(bare: Store) -> None:
    with bare.engine.connect() as conn, conn.begin():
        conn.execute(text("CREATE TABLE meta (key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)"))
        for migration in MIGRATIONS[:8]:
            for statement in migration.sql(bare.dialect):
                conn.execute(text(statement))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '8')"))
        conn.execute(
            text(
                "INSERT INTO post (body, kind, editor, created, media) "
                "VALUES ('hello', 'core', 'sara', :at, '[]')"
            ),
            {"at": datetime(2026, 11, 1)},
        )
        conn.execute(
            text(
                "INSERT INTO airing (post_id, channel, kind, at, status, published_at, updated) "
                "VALUES (1, 'main', 'core', :a, 'published', :a, :a), "
                "(1, 'main', 'repost', :b, 'published', :b, :b), "
                "(1, 'main', 'repost', :c, 'published', :c, :c)"
            ),
            {
                "a": datetime(2026, 11, 10, 8),
                "b": datetime(2026, 11, 11, 8),
                "c": datetime(2026, 11, 12, 8),
            },
        )
        conn.execute(
            text(
                "INSERT INTO metric_snapshot (airing_id, at, likes, shares, replies, quotes, "
                "step, in_window, source) VALUES "
                "(1, :a24, 5, 1, 0, 0, 1, :yes, 'platform'), "  # written before the 1 h read
                "(1, :a1, 1, 0, 0, 0, 0, :yes, 'platform'), "
                "(1, :a7d, 60, 9, 9, 0, 2, :no, 'platform'), "
                "(2, :b1, 2, 0, 1, 1, 0, :yes, 'platform'), "
                "(2, :b1, 3, 0, 1, 1, NULL, :yes, 'import'), "  # same moment, written later
                "(3, :c7d, 8, 0, 0, 0, 2, :no, 'platform')"
            ),
            {
                "a1": datetime(2026, 11, 10, 9),
                "a24": datetime(2026, 11, 11, 8),
                "a7d": datetime(2026, 11, 17, 8),
                "b1": datetime(2026, 11, 11, 9),
                "c7d": datetime(2026, 11, 19, 8),
                "yes": True,
                "no": False,
            },
        )
    expected = {1: Counts(5, 1, 0), 2: Counts(3, 0, 1, 1)}
    assert ranked(bare) == expected
    bare.ensure_schema()
    assert engagement_counts(bare) == expected
    # From here on the kept snapshot follows new writes.
    record_snapshots(bare, [snap(3, datetime(2026, 11, 12, 9, tzinfo=UTC), likes=4)])
    assert engagement_counts(bare) == ranked(bare) == {**expected, 3: Counts(4, 0, 0)}


def fill_history(store: Store) -> None:
    """Two weeks of airings with reruns, tags, followers and snapshots arriving late."""
    first_ids: list[int] = []
    for day in range(14):
        for hour in (7, 12, 19):
            at = AIRED + day * DAY + (hour - 8) * HOUR + 17 * MINUTE
            if day < 7:
                post_id, airing_id = published(
                    store, NOW, at, tags=("long" if hour == 7 else "short",)
                )
                first_ids.append(post_id)
            else:
                post_id = first_ids[(day * 3 + hour) % len(first_ids)]
                _, airing_id = published(store, NOW, at, kind="repost", post_id=post_id)
            value = (day * 7 + hour * 3) % 11
            record_snapshots(store, [snap(airing_id, at + DAY, likes=value, shares=day % 3)])
            if hour != 12:
                record_snapshots(store, [snap(airing_id, at + HOUR, likes=1)])  # late 1 h read
    for day in range(14):
        record_followers(store, "main", 1000 + 4 * day, at=AIRED + day * DAY + HOUR)


def test_the_report_is_the_same_on_sqlite_and_postgresql(sqlite_url: str, pg_url: str) -> None:
    config = config_of(
        """
        timezone = "Europe/Berlin"
        [channels.main.goals]
        followers = { target = 1200, by = "2027-01-31" }
        engagement_per_airing = { target = 9, by = "2027-01-31" }
        """
    )
    reports = []
    for url in (sqlite_url, pg_url):
        store = Store(url)
        store.migrate()
        fill_history(store)
        reports.append(
            build_report(
                config,
                store.view(),
                start=AIRED - DAY,
                end=AIRED + 13 * DAY,
                now=NOW,
                compare_tags=("long", "short"),
            )
        )
        store.close()
    on_sqlite, on_postgresql = reports
    assert on_sqlite == on_postgresql
    main = on_sqlite["channels"]["main"]
    # 13 days of three airings, and the first of the 14th; reruns from the 8th day on.
    assert main["airings"] == main["measured_airings"] == 40
    assert main["by_kind"]["repost"]["airings"] == 19
    assert sum(row["reruns"] for row in main["reruns"].values()) == 19
    assert sum(on_sqlite["compare"]["n"]) == 40  # every post has one of the two tags
    followers = main["goals"][0]  # 1052 now, 4 a day: 1328 by the end of January
    assert (followers["value"], followers["verdict"]) == (1052, "on track")
