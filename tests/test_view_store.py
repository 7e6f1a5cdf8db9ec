"""The editors' reads (`store/view_store.py`, `store/reads.py`) on a populated database: what
they return is what the models say, on SQLite and PostgreSQL; and the light SQLite path (the
standard driver, read-only, no SQLAlchemy) answers every read, and every view made of them,
exactly as the store's own connection does. A missing file or an older schema is left to the
store, which creates or migrates it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from scheduler.domain import PostDraft
from scheduler.measuring import Weights
from scheduler.planning.forecast import build_calendar, simulate
from scheduler.queries.report import build_report
from scheduler.queries.status import status_report
from scheduler.store.migrations import LATEST_VERSION, MIGRATIONS
from scheduler.store.models import Airing, FollowerSnapshot, Heartbeat, InboxItem, Post, PostTag
from scheduler.store.reads import HeartbeatRow, OpenItem, Received, Waiting
from scheduler.store.store import Store
from scheduler.store.view_store import ViewStore, open_sqlite
from tests.test_engagement_snapshot import fill_history
from tests.test_inbox_report import NOW, constructed_inbox
from tests.test_measuring import SPACING, config_of

HOUR = timedelta(hours=1)
WEIGHTS = Weights(likes=1, shares=3, replies=2)
CONFIG = config_of(
    """
    timezone = "Europe/Berlin"
    [channels.main.goals]
    followers = { target = 1200, by = "2027-01-31" }
    engagement_per_airing = { target = 9, by = "2027-01-31" }
    replies_answered = { share = "90%", within = "2h" }
    """
)


def populate(store: Store) -> None:
    """Inbox items open, answered and done; two weeks of measured airings with reruns, tags
    and followers; two daemons; floating and pinned posts still to air."""
    constructed_inbox(store)
    fill_history(store)
    store.beat(owner="old", pid=7, host="h1", now=NOW - 3 * HOUR, state="stopped")
    store.beat(owner="live", pid=9, host="h2", now=NOW - timedelta(seconds=20), state="running")
    drafts = [
        PostDraft(body=f"queued {n}", kind="core", channels=("main",), editor="sara")
        for n in range(5)
    ]
    drafts.append(
        PostDraft(body="pinned", kind="core", channels=("main",), editor="sara", at=NOW + 5 * HOUR)
    )
    store.add_posts(drafts, now=NOW - HOUR, spacing=SPACING)


def test_the_reads_say_what_the_models_say(store: Store) -> None:
    populate(store)
    view = store.view()
    with store.session() as session:
        beats = session.exec(select(Heartbeat).order_by(col(Heartbeat.beat).desc())).all()
        items = session.exec(select(InboxItem).order_by(col(InboxItem.at), col(InboxItem.id))).all()
        airings = {a.id: a for a in session.exec(select(Airing)).all()}
        posts = {p.id: p for p in session.exec(select(Post)).all()}
        followers = session.exec(select(FollowerSnapshot).order_by(col(FollowerSnapshot.at))).all()
        tags = session.exec(select(PostTag).order_by(col(PostTag.post_id), col(PostTag.tag))).all()

    assert view.heartbeats() == [
        HeartbeatRow(b.owner, b.pid, b.host, b.started, b.beat, b.state) for b in beats
    ]
    assert [b.owner for b in view.heartbeats()] == ["live", "old"]
    open_items = [i for i in items if i.status == "open"]
    assert len(open_items) == 2  # D and E of the constructed inbox
    assert view.open_inbox_items() == [
        OpenItem(i.id or 0, i.channel, i.kind, i.author, i.text, i.at, i.url) for i in open_items
    ]
    assert view.inbox_waiting() == {"main": Waiting(2, min(i.at for i in open_items))}
    start, end = NOW - timedelta(days=7), NOW
    received = view.inbox_received(start=start, end=end)
    assert received == [
        Received(
            i.id or 0,
            i.channel,
            i.author,
            i.at,
            i.status,
            reply.published_at if reply is not None and reply.status == "published" else None,
        )
        for i in items
        if start <= i.at < end
        for reply in [airings.get(i.reply_airing_id or 0)]
    ]
    assert sum(1 for r in received if r.answered_at is not None) == 4  # A, B, C, F
    assert view.inbox_received(start=start, end=end, channel="other") == []

    sent = {a.id: a.body for a in airings.values() if a.body is not None}
    assert sent, "the replies were claimed, so they keep the text they were sent with"
    assert view.sent_bodies(airings) == sent
    assert view.bodies([*posts, 10_000]) == {p: post.body for p, post in posts.items()}
    texts = view.airing_texts(airings)
    assert texts == {a: airing.body or posts[airing.post_id].body for a, airing in airings.items()}

    assert view.tags_by_post() == {
        post_id: [t.tag for t in tags if t.post_id == post_id]
        for post_id in {t.post_id for t in tags}
    }
    assert view.follower_history("main") == [(f.at, f.followers) for f in followers]
    assert len(view.follower_history("main")) == 14
    assert view.follower_history("other") == []

    measured = view.engagements(WEIGHTS)
    assert len(measured) == 42  # every airing of the two weeks was measured
    engaged = {a: counts for a, counts in _kept_counts(store).items()}
    assert measured == [
        (airings[a].post_id, airings[a].channel, WEIGHTS.engagement(*engaged[a]))
        for a in sorted(engaged)
        if airings[a].status == "published"
    ]


def _kept_counts(store: Store) -> dict[int, tuple[int, int, int]]:
    from scheduler.store.metrics import engagement_counts

    return {a: (c.likes, c.shares, c.replies) for a, c in engagement_counts(store).items()}


def test_the_light_sqlite_path_answers_as_the_store_does(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.migrate()
    populate(store)
    light = open_sqlite(sqlite_url.removeprefix("sqlite:///"))
    assert light is not None
    heavy = store.view()
    try:
        _assert_same_answers(light, heavy)
    finally:
        light.close()
        store.close()


def _assert_same_answers(light: ViewStore, heavy: ViewStore) -> None:
    everything = range(1, 200)
    for read in (
        lambda v: v.heartbeats(),
        lambda v: v.open_inbox_items(),
        lambda v: v.inbox_waiting(),
        lambda v: v.inbox_received(start=NOW - timedelta(days=30), end=NOW),
        lambda v: v.bodies(everything),
        lambda v: v.sent_bodies(everything),
        lambda v: v.airing_texts(everything),
        lambda v: v.tags_by_post(),
        lambda v: v.follower_history("main"),
        lambda v: v.engagements(WEIGHTS),
        lambda v: v.published_airings("main", WEIGHTS, start=NOW - timedelta(days=12)),
        lambda v: v.queued_counts(["main"], now=NOW),
        lambda v: v.list_posts(now=NOW),
        lambda v: v.list_posts(channel="main", status="published", now=NOW),
    ):
        answer = read(light)
        assert answer, "each read has something to say on the populated database"
        assert answer == read(heavy)
    for now in (NOW, NOW - timedelta(days=8)):
        assert status_report(CONFIG, light, now=now) == status_report(CONFIG, heavy, now=now)
        for start in (now - timedelta(days=2), now):
            window = dict(start=start, end=start + timedelta(days=3), channel=None, now=now)
            assert build_calendar(CONFIG, light, **window) == build_calendar(
                CONFIG, heavy, **window
            )
        days = dict(start=now, days=3, channel=None)
        assert simulate(CONFIG, light, **days) == simulate(CONFIG, heavy, **days)  # type: ignore[arg-type]
    status = status_report(CONFIG, light, now=NOW)
    assert status["daemon"]["state"] == "running"
    main = status["channels"]["main"]
    assert (main["inbox_open"], main["queued_posts"]) == (2, 6)
    assert main["goals_behind"]  # the goals are read, not left empty
    span = dict(start=NOW - timedelta(days=20), end=NOW, now=NOW, compare_tags=("long", "short"))
    assert build_report(CONFIG, light, **span) == build_report(CONFIG, heavy, **span)  # type: ignore[arg-type]


def test_a_missing_file_is_left_to_the_store(tmp_path: Path) -> None:
    assert open_sqlite(str(tmp_path / "none.db")) is None
    assert not (tmp_path / "none.db").exists()


def test_an_older_schema_is_left_to_the_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _older_database(path)
    assert open_sqlite(str(path)) is None
    connection = sqlite3.connect(path)
    (version,) = connection.execute(
        "SELECT value FROM meta WHERE key = 'schema_version'"
    ).fetchone()
    connection.close()
    assert int(version) == LATEST_VERSION - 1  # untouched: the store migrates it


def test_a_file_that_is_no_database_is_refused_in_one_line(tmp_path: Path) -> None:
    from scheduler.errors import StoreError

    path = tmp_path / "notes.db"
    path.write_text("not a database, a list of ideas\n" * 100)
    with pytest.raises(StoreError, match=r"^database sqlite:///.*notes\.db failed: "):
        open_sqlite(str(path))


def _schema_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        (value,) = connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
    finally:
        connection.close()
    return int(value)


def _older_database(path: Path) -> None:
    """A database one migration behind, as a release before the latest left it."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE meta (key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)")
    for migration in MIGRATIONS[:-1]:
        for statement in migration.sql("sqlite"):
            connection.execute(statement)
    connection.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(LATEST_VERSION - 1),)
    )
    connection.close()
