"""Store contract tests: every test runs on SQLite and on PostgreSQL (the `store` fixture).

Airings the daemon would create or move (floating ones, `published`, `failed`…) are written
with the store's own session, as the planner and dispatcher will.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from scheduler.domain import AiringRow, AiringStatus, PostDraft
from scheduler.errors import InputError, PostNotFound, StoreError
from scheduler.media import Medium
from scheduler.store.airings import ExpiredLease
from scheduler.store.migrations import LATEST_VERSION, MIGRATIONS
from scheduler.store.models import Airing, Attempt
from scheduler.store.reads import HeartbeatRow
from scheduler.store.store import Claimed, Outcome, Store
from scheduler.timeutil import iso_utc

SPACING = {"main": timedelta(minutes=30), "other": timedelta(minutes=30)}
# Letters with their vowel marks, a ZWJ family, a skin tone, a flag, an RTL mark and Latin text.
ARABIC = "مَرْحَبًا بِكُمْ 👨\u200d👩\u200d👧\u200d👦 👍🏽 🇸🇦 \u200fاقرأ المزيد: https://example.org/ar"


def draft(
    body: str = "hello",
    *,
    at: datetime | None = None,
    channels: tuple[str, ...] = ("main",),
    kind: str = "core",
    **extra: Any,
) -> PostDraft:
    return PostDraft(body=body, kind=kind, channels=channels, editor="sara", at=at, **extra)


def add(store: Store, now: datetime, *drafts: PostDraft) -> list[int]:
    return store.add_posts(list(drafts), now=now, spacing=SPACING)


def add_airing(
    store: Store,
    post_id: int,
    at: datetime,
    *,
    status: str = AiringStatus.planned,
    kind: str = "core",
    channel: str = "main",
    pinned: bool = False,
) -> int:
    """An airing as the planner or dispatcher would store it."""
    with store.session(write=True) as session:
        airing = Airing(
            post_id=post_id,
            channel=channel,
            kind=kind,
            pinned=pinned,
            at=at,
            status=status,
            updated=at,
        )
        session.add(airing)
        session.flush()
        assert airing.id is not None
        return airing.id


def set_airing(store: Store, airing_id: int, **values: Any) -> None:
    with store.session(write=True) as session:
        airing = session.get(Airing, airing_id)
        assert airing is not None
        for key, value in values.items():
            setattr(airing, key, value)
        session.add(airing)


def only_airing(store: Store, post_id: int) -> Airing:
    (airing,) = store.get_post(post_id).airings
    return airing


# --- adding and reading ------------------------------------------------------------------------


def test_add_and_get_a_floating_post(store: Store, now: datetime) -> None:
    expires = now + timedelta(days=3)
    (post_id,) = add(
        store,
        now,
        draft(
            "Hello",
            kind="entertaining",
            channels=("other", "main"),
            expires=expires,
            evergreen=False,
            media=(Medium("a.png", "image/png", b"\x89PNG\r\n\x1a\n"),),
            score=0.5,
        ),
    )
    record = store.get_post(post_id)
    post = record.post
    assert record.id == post_id
    assert (post.body, post.kind, post.editor) == ("Hello", "entertaining", "sara")
    assert record.channels == ("main", "other")
    assert post.at is None
    assert post.expires == expires
    assert post.evergreen is False
    assert post.created == now
    assert post.score == 0.5
    assert post.cancelled is False
    assert record.airings == ()  # the planner places floating posts


def test_pinned_post_gets_an_airing_on_every_channel(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=2)
    (post_id,) = add(store, now, draft(at=at, channels=("main", "other"), kind="entertaining"))
    airings = store.get_post(post_id).airings
    assert sorted(a.channel for a in airings) == ["main", "other"]
    for airing in airings:
        assert airing.post_id == post_id
        assert airing.pinned is True
        assert airing.kind == "entertaining"
        assert airing.at == at
        assert airing.status == AiringStatus.planned
        assert airing.updated == now


def test_ids_come_back_in_draft_order_and_list_is_oldest_first(store: Store, now: datetime) -> None:
    first = add(store, now, draft("one"), draft("two", channels=("other",)))
    (third,) = add(store, now, draft("three", at=now + timedelta(hours=1)))
    assert first[0] < first[1] < third
    records = store.list_posts(now=now)
    assert [r.post.body for r in records] == ["one", "two", "three"]
    assert [r.id for r in records] == [*first, third]
    assert [r.channels for r in records] == [("main",), ("other",), ("main",)]
    assert len(records[2].airings) == 1


def test_list_by_channel_keeps_only_that_channels_airings(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=1)
    (both,) = add(store, now, draft("both", at=at, channels=("main", "other")))
    add(store, now, draft("main only"))
    records = store.list_posts(channel="other", now=now)
    assert [r.id for r in records] == [both]
    assert records[0].channels == ("main", "other")
    assert [a.channel for a in records[0].airings] == ["other"]
    assert store.list_posts(channel="nowhere", now=now) == []


def test_unknown_post_is_named(store: Store, now: datetime) -> None:
    for call in (
        lambda: store.get_post(999),
        lambda: store.cancel_post(999, now=now),
        lambda: store.retry_post(999, now=now),
        lambda: store.edit_post(999, {"body": "x"}, now=now, spacing=SPACING),
    ):
        with pytest.raises(PostNotFound, match=r"^no post with id 999$"):
            call()


def test_times_round_trip_as_aware_utc(store: Store, now: datetime) -> None:
    riyadh = timezone(timedelta(hours=3))
    at = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=riyadh)
    expires = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    created = now.replace(microsecond=654321)
    (post_id,) = add(store, created, draft(at=at, expires=expires))
    record = store.get_post(post_id)
    for value, expected in (
        (record.post.at, at),
        (record.post.expires, expires),
        (record.post.created, created),
        (record.airings[0].at, at),
    ):
        assert value == expected
        assert value is not None and value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert iso_utc(record.post.at) == "2026-12-01T06:30:15Z"  # type: ignore[arg-type]


def test_naive_times_are_refused(store: Store, now: datetime) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        add(store, now, draft(at=datetime(2026, 12, 1, 9, 0)))
    assert store.list_posts(now=now) == []


def test_arabic_and_emoji_bodies_round_trip(store: Store, now: datetime) -> None:
    image = Medium("صورة 1.png", "image/png", b"\x89PNG\r\n\x1a\n")
    (post_id,) = add(store, now, draft(ARABIC, media=(image,), channels=("main",)))
    record = store.get_post(post_id)
    assert record.post.body == ARABIC
    assert json_media(record.post.media) == ["صورة 1.png"]
    assert record.media == (image.info,)
    (listed,) = store.list_posts(now=now)
    assert listed.post.body == ARABIC


def json_media(value: str) -> list[str]:
    import json

    return list(json.loads(value))


# --- pinned spacing ------------------------------------------------------------------------------


def test_pinned_spacing_conflict_names_the_other_post_and_stores_nothing(
    store: Store, now: datetime
) -> None:
    at = now + timedelta(hours=2)
    (first,) = add(store, now, draft("first", at=at))
    revision = store.revision()
    with pytest.raises(InputError) as caught:
        add(store, now, draft("second", at=at + timedelta(minutes=10)))
    assert str(caught.value) == (
        "pinned time Mon 23 Nov 14:10 +00:00 on channel 'main' is within min_spacing 30m of "
        f"post {first} (pinned at Mon 23 Nov 14:00 +00:00); choose a time at least 30m away"
    )
    assert [r.post.body for r in store.list_posts(now=now)] == ["first"]
    assert store.revision() == revision


def test_pinned_spacing_boundaries(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=2)
    add(store, now, draft("first", at=at))
    # Exactly min_spacing away is allowed, on either side; another channel doesn't count.
    add(store, now, draft("after", at=at + timedelta(minutes=30)))
    add(store, now, draft("before", at=at - timedelta(minutes=30)))
    add(store, now, draft("elsewhere", at=at, channels=("other",)))
    add(store, now, draft("other later", at=at + timedelta(hours=3), channels=("other",)))
    both = draft("both", at=at + timedelta(hours=3, minutes=5), channels=("main", "other"))
    with pytest.raises(InputError, match="on channel 'other' is within min_spacing"):
        add(store, now, both)
    # A floating post never conflicts: the planner keeps it away from pinned airings.
    add(store, now, draft("floating"))
    assert len(store.list_posts(now=now)) == 6


def test_cancelled_or_failed_pinned_airings_free_their_time(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=2)
    (cancelled,) = add(store, now, draft("cancelled", at=at))
    store.cancel_post(cancelled, now=now)
    (failed,) = add(store, now, draft("failed", at=at + timedelta(hours=1)))
    set_airing(store, only_airing(store, failed).id, status=AiringStatus.failed)  # type: ignore[arg-type]
    add(store, now, draft("takes the cancelled time", at=at))
    add(store, now, draft("takes the failed time", at=at + timedelta(hours=1)))


def test_batch_is_all_or_none(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=3)
    (existing,) = add(store, now, draft("existing"))
    revision = store.revision()
    with pytest.raises(InputError) as caught:
        add(
            store,
            now,
            draft("first", at=at),
            draft("second"),
            draft("third", at=at + timedelta(minutes=20), source="posts.csv: row 3"),
        )
    message = str(caught.value)
    assert message.startswith("posts.csv: row 3: pinned time Mon 23 Nov 15:20 +00:00 on channel")
    # The other post was never stored, so it is named by its place in the batch, not an id.
    assert "of draft 1 of this batch (pinned at Mon 23 Nov 15:00 +00:00)" in message
    assert [r.id for r in store.list_posts(now=now)] == [existing]
    assert store.revision() == revision
    with store.session() as session:
        assert session.execute(text("SELECT count(*) FROM airing")).scalar_one() == 0
        assert session.execute(text("SELECT count(*) FROM post_channel")).scalar_one() == 1


# --- editing -------------------------------------------------------------------------------------


def edit(store: Store, post_id: int, now: datetime, **changes: Any) -> Any:
    return store.edit_post(post_id, changes, now=now, spacing=SPACING)


def test_edit_body_keeps_the_pinned_time(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=2)
    (post_id,) = add(store, now, draft("old", at=at))
    record = edit(store, post_id, now, body="new")
    assert record.post.body == "new"
    assert [(a.at, a.pinned, a.status) for a in record.airings] == [
        (at, True, AiringStatus.planned)
    ]
    assert store.get_post(post_id).post.body == "new"


def test_edit_moves_the_pinned_time(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=2)
    (post_id,) = add(store, now, draft(at=at, channels=("main", "other")))
    later = at + timedelta(hours=5)
    record = edit(store, post_id, now, at=later)
    assert record.post.at == later
    assert sorted((a.channel, a.at) for a in record.airings) == [("main", later), ("other", later)]
    # The post's own old time never conflicts with its new one.
    record = edit(store, post_id, now, at=later + timedelta(minutes=10))
    assert {a.at for a in record.airings} == {later + timedelta(minutes=10)}


def test_edit_floats_a_pinned_post(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft(at=now + timedelta(hours=2)))
    record = edit(store, post_id, now, at=None)
    assert record.post.at is None
    assert record.airings == ()


def test_edit_pins_a_floating_post_and_drops_its_planned_slot(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft())
    add_airing(store, post_id, now + timedelta(hours=1))
    at = now + timedelta(hours=4)
    record = edit(store, post_id, now, at=at)
    assert [(a.at, a.pinned) for a in record.airings] == [(at, True)]


def test_edit_into_a_pinned_conflict_is_refused(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=2)
    (other,) = add(store, now, draft("other", at=at))
    (post_id,) = add(store, now, draft("mine", at=at + timedelta(hours=3)))
    with pytest.raises(InputError, match=f"within min_spacing 30m of post {other} "):
        edit(store, post_id, now, at=at + timedelta(minutes=15), body="changed")
    record = store.get_post(post_id)
    assert record.post.body == "mine"
    assert [a.at for a in record.airings] == [at + timedelta(hours=3)]


def test_edit_of_a_retried_airing_keeps_its_attempts_consistent(
    store: Store, now: datetime
) -> None:
    """A failed pinned airing put back by `retry` has attempts; editing must not trip on them."""
    (post_id,) = add(store, now, draft(at=now + timedelta(hours=1)))
    airing_id = only_airing(store, post_id).id
    with store.session(write=True) as session:
        session.add(Attempt(airing_id=airing_id, owner="d1", started=now, outcome="failed"))
    set_airing(store, airing_id, status=AiringStatus.failed, error="HTTP 422")  # type: ignore[arg-type]
    store.retry_post(post_id, now=now)
    record = edit(store, post_id, now, body="fixed")
    assert record.post.body == "fixed"
    assert [a.status for a in record.airings] == [AiringStatus.planned]


@pytest.mark.parametrize(
    ("status", "changes", "message"),
    [
        (
            AiringStatus.published,
            {"at": "later"},
            "post {id} has already aired, so its at can't change; queue a new post instead",
        ),
        (
            AiringStatus.published,
            {"kind": "entertaining"},
            "post {id} has already aired, so its kind can't change; queue a new post instead",
        ),
        (
            AiringStatus.published,
            {"channels": ("main", "other")},
            "post {id} has already aired, so its channels can't change; queue a new post instead",
        ),
        (
            AiringStatus.publishing,
            {"body": "new"},
            "post {id} is being published right now; try again shortly",
        ),
    ],
)
def test_edit_is_refused_once_aired_or_publishing(
    store: Store, now: datetime, status: str, changes: dict[str, Any], message: str
) -> None:
    at = now + timedelta(hours=1)
    (post_id,) = add(store, now, draft("old", at=at))
    set_airing(store, only_airing(store, post_id).id, status=status)  # type: ignore[arg-type]
    if changes.get("at") == "later":
        changes = {"at": at + timedelta(hours=2)}
    revision = store.revision()
    with pytest.raises(InputError) as caught:
        store.edit_post(post_id, changes, now=now, spacing=SPACING)
    assert str(caught.value) == message.format(id=post_id)
    record = store.get_post(post_id)
    assert (record.post.body, record.post.kind, record.post.at) == ("old", "core", at)
    assert store.revision() == revision


def test_body_of_an_aired_post_may_still_change(store: Store, now: datetime) -> None:
    """Later reposts send the corrected text; what was published stays as it was."""
    at = now + timedelta(hours=1)
    (post_id,) = add(store, now, draft("typo", at=at))
    set_airing(store, only_airing(store, post_id).id, status=AiringStatus.published)  # type: ignore[arg-type]
    record = edit(store, post_id, now, body="fixed", at=at)  # the same time is no change
    assert record.post.body == "fixed"
    assert [(a.at, a.status) for a in record.airings] == [(at, AiringStatus.published)]


def test_edit_of_a_cancelled_post_is_refused(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft())
    store.cancel_post(post_id, now=now)
    with pytest.raises(InputError, match=r"^post \d+ is cancelled; queue a new post instead$"):
        edit(store, post_id, now, body="again")


# --- cancel and retry ---------------------------------------------------------------------------


def test_cancel_cancels_planned_airings_only(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft(at=now + timedelta(hours=5)))
    published = add_airing(store, post_id, now - timedelta(hours=1), status="published")
    publishing = add_airing(store, post_id, now, status="publishing", kind="repost")
    done = store.cancel_post(post_id, now=now)
    record = done.record
    assert record.post.cancelled is True
    # History is not relabelled: the post aired, and says so.
    assert record.status(now) == "published"
    statuses = {a.id: a.status for a in record.airings}
    assert statuses[published] == AiringStatus.published
    assert statuses[publishing] == AiringStatus.publishing  # the daemon stops it before sending
    (pinned,) = [a for a in record.airings if a.pinned]
    assert pinned.status == AiringStatus.cancelled
    assert pinned.updated == now
    assert (done.cancelled, done.in_flight, done.aired) == (
        (pinned.id,),
        (publishing,),
        (published,),
    )
    assert store.get_post(post_id).post.cancelled is True
    assert store.is_cancelled(publishing) and store.is_cancelled(published)


def test_a_cancelled_post_that_never_aired_is_cancelled(store: Store, now: datetime) -> None:
    (post_id, other) = add(store, now, draft(at=now + timedelta(hours=5)), draft("other"))
    airing_id = only_airing(store, post_id).id
    assert airing_id is not None and not store.is_cancelled(airing_id)
    done = store.cancel_post(post_id, now=now)
    assert done.record.status(now) == "cancelled"
    assert (done.cancelled, done.in_flight, done.aired) == ((airing_id,), (), ())
    assert store.is_cancelled(airing_id)
    assert store.get_post(other).status(now) == "queued"


@pytest.mark.parametrize("stuck", [AiringStatus.failed, AiringStatus.missed, "unconfirmed"])
def test_retry_puts_a_stuck_pinned_airing_back(store: Store, now: datetime, stuck: str) -> None:
    at = now - timedelta(hours=1)
    (post_id,) = add(store, at - timedelta(hours=1), draft(at=at))
    airing_id = only_airing(store, post_id).id
    set_airing(store, airing_id, status=stuck, error="HTTP 502", owner="d1", lease_until=now)  # type: ignore[arg-type]
    assert store.get_post(post_id).status(now) == str(stuck)
    assert store.retry_post(post_id, now=now) == [airing_id]
    airing = only_airing(store, post_id)
    assert airing.status == AiringStatus.planned
    assert airing.at == now  # it is overdue: the editor asked for it now
    assert (airing.error, airing.owner, airing.lease_until) == (None, None, None)
    assert store.get_post(post_id).status(now) == "queued"


def test_retry_of_a_future_pinned_airing_keeps_its_time(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=1)
    (post_id,) = add(store, now, draft(at=at))
    set_airing(store, only_airing(store, post_id).id, status=AiringStatus.unconfirmed)  # type: ignore[arg-type]
    store.retry_post(post_id, now=now)
    assert only_airing(store, post_id).at == at


def test_retry_of_a_floating_airing_gives_its_slot_back_to_the_planner(
    store: Store, now: datetime
) -> None:
    (post_id,) = add(store, now, draft())
    airing_id = add_airing(store, post_id, now - timedelta(hours=1), status="failed")
    with store.session(write=True) as session:
        session.add(Attempt(airing_id=airing_id, owner="d1", started=now, outcome="failed"))
    assert store.retry_post(post_id, now=now) == [airing_id]
    assert store.get_post(post_id).airings == ()
    assert store.get_post(post_id).status(now) == "queued"


def test_retry_with_nothing_to_retry_is_refused(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft(at=now + timedelta(hours=1)))
    revision = store.revision()
    with pytest.raises(InputError) as caught:
        store.retry_post(post_id, now=now)
    assert str(caught.value) == (
        f"post {post_id} has no failed, missed or unconfirmed airing to retry"
    )
    store.cancel_post(post_id, now=now)
    with pytest.raises(InputError, match=rf"^post {post_id} is cancelled; it can't be retried$"):
        store.retry_post(post_id, now=now)
    assert store.revision() == revision + 1  # the cancel only


# --- status and revision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("airing_statuses", "expected"),
    [
        ((), "queued"),
        (("planned",), "queued"),
        (("published", "planned"), "published"),
        (("published", "failed"), "failed"),
        (("missed",), "missed"),
        (("published", "unconfirmed"), "unconfirmed"),
        (("failed", "missed"), "failed"),
        (("cancelled",), "queued"),
    ],
)
def test_status_is_derived_from_the_airings(
    store: Store, now: datetime, airing_statuses: tuple[str, ...], expected: str
) -> None:
    (post_id,) = add(store, now, draft())
    for index, status in enumerate(airing_statuses):
        add_airing(store, post_id, now + timedelta(hours=index), status=status)
    assert store.get_post(post_id).status(now) == expected
    assert [r.id for r in store.list_posts(status=expected, now=now)] == [post_id]


def test_expired_and_cancelled_statuses(store: Store, now: datetime) -> None:
    (expiring, cancelled, queued) = add(
        store,
        now,
        draft("expiring", expires=now + timedelta(hours=1)),
        draft("cancelled"),
        draft("queued"),
    )
    store.cancel_post(cancelled, now=now)
    later = now + timedelta(hours=1)
    assert [r.id for r in store.list_posts(status="expired", now=later)] == [expiring]
    assert [r.id for r in store.list_posts(status="queued", now=later)] == [queued]
    assert [r.id for r in store.list_posts(status="queued", now=now)] == [expiring, queued]
    assert [r.id for r in store.list_posts(status="cancelled", now=now)] == [cancelled]


def test_every_change_bumps_the_revision(store: Store, now: datetime) -> None:
    assert store.revision() == 0
    (post_id,) = add(store, now, draft(at=now + timedelta(hours=1)))
    assert store.revision() == 1
    add(store, now, draft("a"), draft("b"))
    assert store.revision() == 2  # one per transaction
    edit(store, post_id, now, body="changed")
    assert store.revision() == 3
    set_airing(store, only_airing(store, post_id).id, status="failed")  # type: ignore[arg-type]
    store.retry_post(post_id, now=now)
    assert store.revision() == 4
    store.cancel_post(post_id, now=now)
    assert store.revision() == 5
    store.get_post(post_id)
    store.list_posts(now=now)
    assert store.revision() == 5


def test_the_revision_is_read_fresh_on_a_pooled_connection(store: Store, now: datetime) -> None:
    """The dispatcher reads the counter before each send of a burst, outside any session: a
    commit made through another connection must show at the next read."""
    other = Store(store.url)
    try:
        assert store.revision() == 0
        add(other, now, draft("from another process"))
        assert store.revision() == 1
        other.cancel_post(1, now=now)
        assert store.revision() == 2
    finally:
        other.close()


def test_an_unreachable_database_fails_the_revision_read_without_its_password() -> None:
    store = Store("postgresql+psycopg://bob:hunter2-secret@127.0.0.1:1/x")
    try:
        with pytest.raises(StoreError) as failure:
            store.revision()
        assert str(failure.value).startswith(
            "database postgresql+psycopg://bob:***@127.0.0.1:1/x failed"
        )
        assert "hunter2" not in str(failure.value)
    finally:
        store.close()


# --- schema --------------------------------------------------------------------------------------


@pytest.fixture
def bare(db_url: str) -> Iterator[Store]:
    """A store on an empty database: no migration applied."""
    instance = Store(db_url)
    yield instance
    instance.close()


def test_migrate_is_idempotent_and_ensure_schema_creates_it(bare: Store) -> None:
    bare.ensure_schema()
    assert bare.schema_version() == LATEST_VERSION
    assert bare.migrate() == LATEST_VERSION
    bare.ensure_schema()
    assert bare.schema_version() == LATEST_VERSION


def test_upgrade_from_version_1_keeps_every_row(bare: Store) -> None:
    with bare.engine.connect() as conn, conn.begin():
        conn.execute(text("CREATE TABLE meta (key VARCHAR(100) PRIMARY KEY, value TEXT NOT NULL)"))
        for statement in MIGRATIONS[0].sql(bare.dialect):
            conn.execute(text(statement))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '1')"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('revision', '7')"))
        conn.execute(
            text(
                "INSERT INTO post (body, kind, at, editor, created, media) VALUES "
                "(:body, 'core', :at, 'sara', :created, '[]'), "
                "('plain', 'entertaining', NULL, 'omar', :created, '[]')"
            ),
            {"body": ARABIC, "at": datetime(2026, 12, 1, 8, 0), "created": datetime(2026, 11, 1)},
        )
        conn.execute(
            text("INSERT INTO post_channel (post_id, channel) VALUES (1, 'main'), (2, 'main')")
        )
        conn.execute(
            text(
                "INSERT INTO airing (post_id, channel, kind, pinned, at, status, updated) "
                "VALUES (1, 'main', 'core', :true, :at, 'published', :at)"
            ),
            {"true": True, "at": datetime(2026, 12, 1, 8, 0)},
        )
        conn.execute(
            text("INSERT INTO attempt (airing_id, owner, started) VALUES (1, 'd1', :at)"),
            {"at": datetime(2026, 12, 1, 8, 0)},
        )
    assert bare.schema_version() == 1

    assert bare.migrate() == LATEST_VERSION
    assert bare.schema_version() == LATEST_VERSION
    assert bare.revision() == 7
    first, second = bare.all_posts()
    assert (first.post.body, first.post.editor, first.post.score) == (ARABIC, "sara", None)
    assert first.post.at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert first.channels == ("main",)
    assert [(a.status, a.pinned) for a in first.airings] == [("published", True)]
    (old,) = first.airings  # aired before bodies were kept: shown with the post's body
    assert (old.body, old.first_due, old.maybe_sent, old.recoveries) == (None, None, False, 0)
    assert (second.post.body, second.post.kind, second.post.score) == (
        "plain",
        "entertaining",
        None,
    )
    with bare.session() as session:
        assert session.execute(text("SELECT count(*) FROM attempt")).scalar_one() == 1
        assert session.execute(text("SELECT count(*) FROM heartbeat")).scalar_one() == 0
    # The upgraded database takes new rows, with the new column.
    (new,) = bare.add_posts(
        [draft("new", score=2.5)], now=datetime(2026, 11, 23, tzinfo=UTC), spacing=SPACING
    )
    assert bare.get_post(new).post.score == 2.5


def test_a_newer_schema_is_refused(store: Store, now: datetime) -> None:
    with store.session(write=True) as session:
        session.execute(text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    message = (
        f"database schema version 99 is newer than this program knows ({LATEST_VERSION}); "
        "upgrade the program"
    )
    with pytest.raises(StoreError, match=rf"^{message.replace('(', '[(]').replace(')', '[)]')}$"):
        store.migrate()
    with pytest.raises(StoreError, match="is newer than this program knows"):
        store.ensure_schema()
    assert store.schema_version() == 99  # left as it was


# --- an airing's identity for life ---------------------------------------------------------------


def claim(store: Store, at: datetime, *, owner: str = "d1", render: Any = None) -> list[Claimed]:
    return store.claim_due(
        owner=owner,
        now=at,
        lease=timedelta(minutes=2),
        limit=10,
        key_prefix="db1-",
        channels=["main"],
        render=render,
    )


def outcome(claimed: Claimed, status: str, at: datetime, *, maybe_sent: bool = False) -> Outcome:
    return Outcome(claimed.id, status, status, at, detail=f"{status} here", maybe_sent=maybe_sent)


def test_a_claim_keeps_the_rendered_body_and_due_time_for_life(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft(ARABIC))
    due = now + timedelta(hours=1)
    airing_id = add_airing(store, post_id, due)
    (first,) = claim(store, due, render=lambda c: f"{c.body} #{c.kind}")
    assert (first.body, first.due, first.maybe_sent) == (f"{ARABIC} #core", due, False)
    airing = only_airing(store, post_id)
    assert (airing.body, airing.first_due) == (f"{ARABIC} #core", due)

    # Lost answer, budget spent: unconfirmed. Then the editor edits the text and retries.
    later = due + timedelta(minutes=10)
    assert store.record_outcomes(
        [outcome(first, "unconfirmed", later, maybe_sent=True)], owner="d1"
    )
    store.edit_post(post_id, {"body": "edited"}, now=later, spacing=SPACING)
    assert store.retry_post(post_id, now=later) == [airing_id]
    retried = only_airing(store, post_id)
    assert (retried.id, retried.status, retried.at) == (airing_id, AiringStatus.planned, later)
    assert retried.idempotency_key == first.idempotency_key == f"db1-{airing_id}"
    (again,) = claim(store, later, owner="d2", render=lambda c: "rendered again")
    # The same airing again: same key, same text, the due time it was first sent with.
    assert (again.id, again.idempotency_key) == (first.id, first.idempotency_key)
    assert (again.body, again.due, again.maybe_sent) == (f"{ARABIC} #core", due, True)
    assert store.get_post(post_id).post.body == "edited"


def test_retry_of_a_claimed_floating_airing_keeps_the_row(store: Store, now: datetime) -> None:
    """A floating airing with a key may be on the platform: it is never deleted or replaced."""
    (post_id,) = add(store, now, draft())
    due = now + timedelta(hours=1)
    add_airing(store, post_id, due)
    (claimed,) = claim(store, due)
    store.record_outcomes([outcome(claimed, "failed", due)], owner="d1")
    assert store.retry_post(post_id, now=due + timedelta(hours=2)) == [claimed.id]
    (airing,) = store.get_post(post_id).airings
    assert (airing.id, airing.idempotency_key) == (claimed.id, claimed.idempotency_key)
    assert (airing.at, airing.first_due) == (due + timedelta(hours=2), due)
    _, rows = store.planning_rows()
    assert [(row.id, row.keyed) for row in rows] == [(claimed.id, True)]


def test_editing_the_body_of_an_aired_post_leaves_what_aired(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=1)
    (post_id,) = add(store, now, draft("typo", at=at))
    (aired,) = claim(store, at)
    store.record_outcomes([outcome(aired, "published", at)], owner="d1")
    repost = add_airing(store, post_id, at + timedelta(days=3), kind="repost")
    later = at + timedelta(hours=1)
    record = store.edit_post(post_id, {"body": "fixed"}, now=later, spacing=SPACING)
    assert [(a.id, a.body) for a in record.airings] == [(aired.id, "typo")]  # repost replanned
    new_repost = add_airing(store, post_id, at + timedelta(days=3), kind="repost")
    (claimed,) = claim(store, at + timedelta(days=3))
    assert (claimed.id, claimed.body) == (new_repost, "fixed")
    assert repost != aired.id


def test_edit_keeps_a_retried_airing_that_may_be_out(store: Store, now: datetime) -> None:
    at = now + timedelta(hours=1)
    (post_id,) = add(store, now, draft("first text", at=at))
    (claimed,) = claim(store, at)
    store.record_outcomes([outcome(claimed, "unconfirmed", at, maybe_sent=True)], owner="d1")
    store.retry_post(post_id, now=at)
    record = store.edit_post(post_id, {"body": "second text"}, now=at, spacing=SPACING)
    assert [(a.id, a.status, a.body) for a in record.airings] == [
        (claimed.id, AiringStatus.planned, "first text")
    ]
    with pytest.raises(InputError, match="has already aired, so its at can't change"):
        store.edit_post(post_id, {"at": at + timedelta(hours=3)}, now=at, spacing=SPACING)


def test_recoveries_are_counted_and_an_outcome_resets_them(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft())
    add_airing(store, post_id, now)
    for count in (1, 2):
        (claimed,) = claim(store, now, owner=f"dead{count}")
        late = now + timedelta(minutes=3 * count)
        assert store.recover_lease(
            claimed.id,
            dead_owner=f"dead{count}",
            status=AiringStatus.planned,
            now=late,
            detail="taken back",
            maybe_sent=True,
        )
        airing = only_airing(store, post_id)
        assert (airing.status, airing.recoveries, airing.maybe_sent) == ("planned", count, True)
    (claimed,) = claim(store, now + timedelta(minutes=7), owner="alive")
    assert claimed.maybe_sent is True
    store.record_outcomes([outcome(claimed, "published", now, maybe_sent=True)], owner="alive")
    assert only_airing(store, post_id).recoveries == 0


def test_cancel_of_a_retried_airing_that_may_be_out_is_unconfirmed(
    store: Store, now: datetime
) -> None:
    at = now + timedelta(hours=1)
    (post_id,) = add(store, now, draft(at=at))
    (claimed,) = claim(store, at)
    store.record_outcomes([outcome(claimed, "unconfirmed", at, maybe_sent=True)], owner="d1")
    store.retry_post(post_id, now=at)
    done = store.cancel_post(post_id, now=at)
    assert (done.cancelled, done.in_flight, done.aired, done.maybe_out) == (
        (),
        (),
        (),
        (claimed.id,),
    )
    airing = only_airing(store, post_id)
    assert airing.status == AiringStatus.unconfirmed
    assert airing.error == (
        "cancelled after an attempt that may have reached the platform; "
        "not sent again: check the channel"
    )
    assert done.record.status(at) == "unconfirmed"


# --- one airing shape: frozen rows, never live ORM objects -------------------------------------


def test_overdue_airings_are_frozen_airing_rows(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft("late"))
    late = add_airing(store, post_id, now - timedelta(minutes=5))
    add_airing(store, post_id, now + timedelta(hours=2))  # not due yet
    (row,) = store.overdue(now=now)
    assert row == AiringRow(
        id=late,
        post_id=post_id,
        channel="main",
        kind="core",
        pinned=False,
        at=now - timedelta(minutes=5),
        status="planned",
        remote_url=None,
        error=None,
        keyed=False,
    )
    with pytest.raises(FrozenInstanceError):
        row.status = "published"  # type: ignore[misc]


def test_expired_leases_are_frozen_rows_with_the_latest_attempt(
    store: Store, now: datetime
) -> None:
    (post_id,) = add(store, now, draft("sent?"))
    airing_id = add_airing(store, post_id, now)
    claim(store, now)  # a 2-minute lease
    store.note_sending(airing_id, owner="d1")
    assert store.expired_leases(now=now + timedelta(minutes=1)) == []  # lease still runs
    later = now + timedelta(minutes=3)
    (expired,) = store.expired_leases(now=later)
    assert expired == ExpiredLease(
        id=airing_id,
        post_id=post_id,
        channel="main",
        owner="d1",
        first_due=now,
        maybe_sent=False,
        recoveries=0,
        attempted=True,
        last_outcome="sending",
    )
    with pytest.raises(FrozenInstanceError):
        expired.owner = "d2"  # type: ignore[misc]
    # Taken back and claimed again: the row shows the new attempt, not the interrupted one.
    assert store.recover_lease(
        airing_id, dead_owner="d1", status="planned", now=later, detail="gone", maybe_sent=True
    )
    claim(store, later, owner="d2")
    (again,) = store.expired_leases(now=later + timedelta(minutes=3))
    assert (again.owner, again.recoveries, again.maybe_sent) == ("d2", 1, True)
    assert (again.first_due, again.attempted, again.last_outcome) == (now, True, None)


def test_heartbeats_are_frozen_rows_latest_first(store: Store, now: datetime) -> None:
    store.beat(owner="a", pid=1, host="h1", now=now, state="running")
    store.beat(owner="b", pid=2, host="h2", now=now + timedelta(seconds=5), state="running")
    store.beat(owner="a", pid=1, host="h1", now=now + timedelta(seconds=9), state="stopped")
    first, second = store.heartbeats()
    assert first == HeartbeatRow("a", 1, "h1", now, now + timedelta(seconds=9), "stopped")
    assert (second.owner, second.beat, second.state) == ("b", now + timedelta(seconds=5), "running")
    with pytest.raises(FrozenInstanceError):
        first.state = "running"  # type: ignore[misc]


# --- an editor's write against a daemon's claim in progress (two sessions) ----------------------


def _while_a_claim_is_open(store: Store, airing_id: int, write: Callable[[], Any]) -> Any:
    """Run `write` in a thread while another connection holds an uncommitted claim of the
    airing, let the claim commit once `write` waits for it, and return what `write` did."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = write()
        except Exception as exc:  # the assertion reads it
            outcome["value"] = exc

    worker = threading.Thread(target=run)
    with store.engine.execution_options(write=True).connect() as claimer:
        claimer.execute(
            text("UPDATE airing SET status = 'publishing', owner = 'd1' WHERE id = :id"),
            {"id": airing_id},
        )
        worker.start()
        if store.dialect == "postgresql":
            claimer_pid = claimer.execute(text("SELECT pg_backend_pid()")).scalar_one()
            deadline = time.monotonic() + 60
            with store.engine.connect() as watcher:
                while not watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE CAST(:pid AS INTEGER) = ANY(pg_blocking_pids(pid))"
                    ),
                    {"pid": claimer_pid},
                ).scalar_one():
                    assert time.monotonic() < deadline, "the editor's write never waited"
                    watcher.rollback()
                    time.sleep(0.05)
        else:  # BEGIN IMMEDIATE waits for the claimer's write lock, however long it takes
            worker.join(0.2)
            assert worker.is_alive()
        claimer.commit()
    worker.join(60)
    assert not worker.is_alive()
    return outcome["value"]


def test_cancel_never_overwrites_a_claim_made_meanwhile(store: Store, now: datetime) -> None:
    """The claim committed while the cancel waited: the airing stays the daemon's (it is
    stopped before sending by `is_cancelled`), and the CLI says it is in flight."""
    (post_id,) = add(store, now, draft("racing"))
    airing_id = add_airing(store, post_id, now)
    done = _while_a_claim_is_open(store, airing_id, lambda: store.cancel_post(post_id, now=now))
    assert (done.cancelled, done.in_flight) == ((), (airing_id,))
    assert (only_airing(store, post_id).status, only_airing(store, post_id).owner) == (
        "publishing",
        "d1",
    )
    assert store.is_cancelled(airing_id)


def test_edit_never_removes_a_claim_made_meanwhile(store: Store, now: datetime) -> None:
    (post_id,) = add(store, now, draft("racing"))
    airing_id = add_airing(store, post_id, now)
    refused = _while_a_claim_is_open(
        store, airing_id, lambda: edit(store, post_id, now, body="changed")
    )
    assert isinstance(refused, InputError)
    assert str(refused) == f"post {post_id} is being published right now; try again shortly"
    airing = only_airing(store, post_id)
    assert (airing.id, airing.status) == (airing_id, "publishing")
    assert store.get_post(post_id).post.body == "racing"
