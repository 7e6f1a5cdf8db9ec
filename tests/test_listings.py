"""The editors' read paths (`scheduler/store/listings.py`) say exactly what the full reads
said: the same calendar, simulation and status from the trimmed window rows as from every
post and airing (`Store.planning_rows`, which the daemon still plans from), and the same
`queue list` from plain SQL as from the ORM. On SQLite and PostgreSQL, on hand-built
histories (window edges, pinned, floating, cancelled, waiting, exhausted and old history)
and on generated ones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from scheduler.config import Config, load_config
from scheduler.domain import (
    NEEDS_EDITOR,
    ON_AIR,
    AiringStatus,
    ChannelWindow,
    PostDraft,
    WindowRows,
)
from scheduler.planning.forecast import build_calendar, simulate
from scheduler.queries.status import status_report
from scheduler.render.present import post_json
from scheduler.store.models import Airing, Post
from scheduler.store.posts import _read_records
from scheduler.store.store import Store
from tests.conftest import NOW

CHANNELS = """
[scheduler]
database = "{database}"
timezone = "UTC"

[defaults]
cadence = "1h"
min_spacing = "0s"
max_gap = "3h"
freeze = "10m"
repost = {{ max_per_day = 2, min_interval = "2h", hour_shift = "3h", max_airings = 2 }}

[channels.main]
publisher = "file"
path = "published.jsonl"
timezone = "Europe/Berlin"

[channels.side]
publisher = "file"
path = "side.jsonl"
timezone = "America/New_York"
cadence = "2h"
max_gap = "5h"
repost = {{ max_airings = 1 }}
"""
SPACING = {"main": timedelta(0), "side": timedelta(0)}
STATUSES = [str(status) for status in AiringStatus]


class FullRows:
    """The store as the editors' views read it before: every post and airing, whatever the
    window (`began` is then what planning works out from all the posts itself)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.view(), name)

    def window_rows(
        self,
        channels: Sequence[ChannelWindow],
        *,
        start: datetime,
        end: datetime,
        history_from: datetime,
    ) -> WindowRows:
        posts, airings = self._store.planning_rows()
        return WindowRows(posts=posts, airings=airings, began={})

    def queued_counts(self, channels: Sequence[str], *, now: datetime) -> dict[str, int]:
        """`status`'s queued posts as it counted them from every row."""
        posts, airings = self._store.planning_rows()
        aired = {(a.post_id, a.channel) for a in airings if a.status in ON_AIR}
        waiting = {(a.post_id, a.channel) for a in airings if a.status in NEEDS_EDITOR}
        counts = dict.fromkeys(channels, 0)
        for post in posts:
            if post.cancelled or (post.expires is not None and post.expires <= now):
                continue
            for name in post.channels:
                key = (post.id, name)
                if name in counts and key not in aired and key not in waiting:
                    counts[name] += 1
        return counts


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(CHANNELS.format(database=db_url), encoding="utf-8")
    return load_config(path)


@dataclass(frozen=True)
class P:
    """A post of a scenario; times in hours from NOW."""

    created: float
    kind: str = "core"
    channels: tuple[str, ...] = ("main",)
    expires: float | None = None
    evergreen: bool = True
    pinned: float | None = None
    cancelled: bool = False
    score: float | None = None


@dataclass(frozen=True)
class A:
    """A stored airing of post number `post` (its place in the scenario)."""

    post: int
    at: float
    status: str = "published"
    channel: str = "main"
    kind: str = "core"
    keyed: bool = False


def hours(value: float) -> datetime:
    return NOW + timedelta(minutes=round(value * 60))


def fill(store: Store, posts: Sequence[P], airings: Sequence[A]) -> list[int]:
    ids = []
    for post in posts:
        (post_id,) = store.add_posts(
            [
                PostDraft(
                    body=f"post created at {post.created}h",
                    kind=post.kind,
                    channels=post.channels,
                    editor="test",
                    at=None if post.pinned is None else hours(post.pinned),
                    expires=None if post.expires is None else hours(post.expires),
                    evergreen=post.evergreen,
                    score=post.score,
                )
            ],
            now=hours(post.created),
            spacing=SPACING,
        )
        ids.append(post_id)
    with store.session(write=True) as session:
        for number, airing in enumerate(airings):
            # A pinned post's own airing (queued with it) is given its status, not repeated.
            row = session.exec(
                select(Airing).where(
                    col(Airing.post_id) == ids[airing.post],
                    col(Airing.channel) == airing.channel,
                    col(Airing.at) == hours(airing.at),
                )
            ).first() or Airing(
                post_id=ids[airing.post],
                channel=airing.channel,
                kind=airing.kind,
                at=hours(airing.at),
                updated=NOW,
            )
            row.status = airing.status
            row.idempotency_key = f"key-{number}" if airing.keyed else None
            row.remote_url = f"https://example.org/{number}" if airing.status in ON_AIR else None
            session.add(row)
        for post, post_id in zip(posts, ids, strict=True):
            if post.cancelled:
                stored = session.get(Post, post_id)
                assert stored is not None
                stored.cancelled = True
                session.add(stored)
    return ids


def assert_same_views(
    store: Store,
    config: Config,
    *,
    now: datetime = NOW,
    starts: Sequence[float] = (-72, -24, -3, 0, 5),
    lengths: Sequence[float] = (2, 30, 24 * 7),
) -> None:
    full = FullRows(store)
    for channel in (None, "main", "side"):
        for begin in starts:
            for length in lengths:
                start = now + timedelta(hours=begin)
                end = start + timedelta(hours=length)
                arguments: dict[str, Any] = dict(start=start, end=end, channel=channel, now=now)
                assert build_calendar(config, store, **arguments) == build_calendar(
                    config, full, **arguments
                ), (channel, begin, length)
        for days in (1, 3):
            arguments = dict(start=now, days=days, channel=channel, audit=False)
            assert simulate(config, store, **arguments) == simulate(config, full, **arguments)
    assert status_report(config, store.view(), now=now) == status_report(config, full, now=now)  # type: ignore[arg-type]


def test_a_library_longer_than_the_window_is_trimmed_to_what_it_can_reach(
    store: Store, config: Config
) -> None:
    # 120 floating posts a channel (some expiring inside the window or before it, some of
    # both kinds), a window of 2 to 30 slots: only the first ones in line can air.
    posts = [
        P(
            created=-200 + n,
            kind="entertaining" if n % 4 == 0 else "core",
            channels=("main", "side") if n % 3 == 0 else ("main",),
            expires={0: None, 1: 3.5, 2: -1, 3: None, 4: 40, 5: 0.0}[n % 6],
        )
        for n in range(120)
    ]
    fill(store, posts, [])
    rows = store.window_rows(
        [ChannelWindow("main", NOW + timedelta(minutes=10), 4, 2)],
        start=NOW,
        end=NOW + timedelta(hours=2),
        history_from=NOW,
    )
    assert 0 < len(rows.posts) < 60, "the window reads far fewer posts than the library"
    assert_same_views(store, config)


def test_history_old_and_new_gives_the_same_views(store: Store, config: Config) -> None:
    posts = [
        P(created=-1000),  # 0: aired long ago, reposted up to max_airings: exhausted
        P(created=-900, evergreen=False),  # 1: aired long ago, never again
        P(created=-800),  # 2: aired long ago, may still be reposted
        P(created=-700, expires=-10),  # 3: aired, expired since
        P(created=-600, cancelled=True),  # 4: aired, then cancelled
        P(created=-500),  # 5: failed long ago: waits for an editor
        P(created=-400, pinned=6),  # 6: pinned inside the window
        P(created=-300, pinned=-700),  # 7: pinned long ago, published
        P(created=-20, channels=("main", "side")),  # 8: planned floating, replaceable
        P(created=-10, kind="entertaining"),  # 9: planned inside the freeze window
        P(created=-5, kind="entertaining", channels=("side",)),  # 10: keyed planned
        P(created=-4),  # 11: unconfirmed yesterday
        P(created=-3, expires=2),  # 12: fresh, expiring inside the window
        P(created=-2, score=3.5),  # 13: fresh, scored by hand
        P(created=-1, channels=("side",)),  # 14: fresh on side only
    ]
    airings = [
        A(0, -990),
        A(0, -980, kind="repost"),
        A(0, -960, kind="repost"),
        A(1, -890),
        A(2, -790),
        A(3, -690),
        A(4, -590),
        A(4, -300, status="cancelled", kind="repost"),
        A(5, -490, status="failed"),
        A(7, -700),
        A(8, 5, status="planned"),
        A(8, 7, status="planned", channel="side"),
        A(9, 0.1, status="planned", kind="entertaining"),
        A(10, 9, status="planned", channel="side", kind="entertaining", keyed=True),
        A(11, -20, status="unconfirmed", keyed=True),
        A(2, -50, kind="repost"),  # within the margin before the window
        A(2, -1, status="publishing", kind="repost", keyed=True),
    ]
    fill(store, posts, airings)
    assert_same_views(store, config)


def test_a_channel_that_began_after_the_window_start_has_no_gap_before(
    store: Store, config: Config
) -> None:
    fill(store, [P(created=10), P(created=12, channels=("side",), pinned=20)], [])
    assert_same_views(store, config, starts=(-24, 0, 11), lengths=(30,))


def test_the_latest_airing_before_old_history_still_opens_the_first_gap(
    store: Store, config: Config
) -> None:
    # Nothing aired for two weeks: the silence since then is one gap, and only the last
    # airing before it (long out of the window) says where it began.
    fill(store, [P(created=-500), P(created=-400)], [A(0, -480), A(1, -340)])
    assert_same_views(store, config)


post_strategy = st.builds(
    P,
    created=st.integers(-1000, 30),
    kind=st.sampled_from(["core", "entertaining"]),
    channels=st.sampled_from([("main",), ("side",), ("main", "side")]),
    expires=st.one_of(st.none(), st.integers(-60, 100)),
    evergreen=st.booleans(),
    pinned=st.one_of(st.none(), st.integers(-900, 80)),
    cancelled=st.booleans(),
    score=st.one_of(st.none(), st.floats(0, 5)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[P], list[A]]:
    posts = draw(st.lists(post_strategy, min_size=1, max_size=30))
    airings = []
    used: set[tuple[int, str, float]] = set()
    for _ in range(draw(st.integers(0, 40))):
        number = draw(st.integers(0, len(posts) - 1))
        channel = draw(st.sampled_from(posts[number].channels))
        at = draw(st.integers(-1000, 80)) + draw(st.sampled_from([0, 0.5]))
        if posts[number].pinned is not None and draw(st.booleans()):
            at = posts[number].pinned  # the pinned airing itself, given another status
        if (number, channel, at) in used:
            continue  # one airing per post, channel and time
        used.add((number, channel, at))
        airings.append(
            A(
                number,
                at,
                status=draw(st.sampled_from(STATUSES)),
                channel=channel,
                kind=draw(st.sampled_from([posts[number].kind, "repost"])),
                keyed=draw(st.booleans()),
            )
        )
    return posts, airings


@pytest.fixture
def fresh_store(db_url: str) -> Iterator[Any]:
    """A new empty store for each generated example."""
    stores: list[Store] = []

    def make() -> Store:
        for old in stores:
            with old.session(write=True) as session:
                for table in ("attempt", "media", "post_tag", "airing", "post_channel", "post"):
                    session.execute(__import__("sqlalchemy").text(f"DELETE FROM {table}"))
            return old
        store = Store(db_url)
        store.migrate()
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_generated_histories_give_the_same_views(
    fresh_store: Any, config: Config, scenario: tuple[list[P], list[A]]
) -> None:
    store = fresh_store()
    fill(store, *scenario)
    assert_same_views(store, config, starts=(-30, 0, 4), lengths=(3, 50))


def test_queue_list_reads_what_the_orm_read(store: Store, config: Config) -> None:
    posts = [
        P(created=-50, channels=("main", "side")),
        P(created=-40, pinned=5, cancelled=True),
        P(created=-30, expires=-1),
        P(created=-20, kind="entertaining"),
    ]
    airings = [
        A(0, -45),
        A(0, -44, channel="side", status="failed"),
        A(0, 10, kind="repost", status="planned"),
        A(3, -10, status="unconfirmed", kind="entertaining", keyed=True),
    ]
    fill(store, posts, airings)
    for channel in (None, "main", "side"):
        with store.session() as session:
            before = _read_records(session, channel=channel)
        after = store.list_posts(channel=channel, now=NOW)
        assert [post_json(r, config, now=NOW) for r in after] == [
            post_json(r, config, now=NOW) for r in before
        ]
        assert [(r.channels, r.tags, r.media) for r in after] == [
            (r.channels, r.tags, r.media) for r in before
        ]
        for status in ("queued", "published", "failed", "unconfirmed", "cancelled", "expired"):
            assert [r.id for r in store.list_posts(channel=channel, status=status, now=NOW)] == [
                r.id for r in before if r.status(NOW) == status
            ]


def test_times_of_the_listing_are_aware_utc(store: Store) -> None:
    fill(store, [P(created=-1, pinned=2, expires=3)], [])
    (listed,) = store.list_posts(now=NOW)
    for moment in (listed.post.created, listed.post.at, listed.post.expires, listed.airings[0].at):
        assert moment is not None and moment.tzinfo is UTC
    assert listed.post.at == hours(2)


def test_simulated_airings_are_written_as_the_calendar_writes_them(
    tmp_path: Path, db_url: str, store: Store
) -> None:
    # `simulate` writes its airings' JSON without a CalendarAiring (forecast._Bodies
    # .airing_json): before the daemon ran, from now, it lists what the calendar lists, a
    # pinned airing with its stored id and reposts through the channel's template included.
    path = tmp_path / "template.toml"
    template = '\n[channels.main.repost]\ntemplate = "Again, from {{ first_aired }}: {{ body }}"\n'
    path.write_text(CHANNELS.format(database=db_url) + template, encoding="utf-8")
    config = load_config(path)
    fill(store, [P(-30), P(-20, "entertaining"), P(-10, pinned=5), P(-5, channels=("side",))], [])
    for channel in (None, "main", "side"):
        simulated = simulate(config, store, start=NOW, days=2, channel=channel)
        calendar = build_calendar(
            config, store, start=NOW, end=NOW + timedelta(days=2), channel=channel, now=NOW
        )
        assert simulated["airings"] == [airing.to_json() for airing in calendar.airings]
    everything = simulate(config, store, start=NOW, days=2, channel=None)["airings"]
    assert any(a["pinned"] and a["id"] is not None for a in everything)
    reposts = [a["body"] for a in everything if a["kind"] == "repost" and a["channel"] == "main"]
    assert reposts and all(body.startswith("Again, from 2026-11-2") for body in reposts)


def test_the_rows_views_read_can_not_be_changed(store: Store) -> None:
    # Post rows and queue list's records are named tuples (built far faster than frozen
    # dataclasses): as immutable as those were.
    fill(store, [P(-3, pinned=2)], [A(0, 2, status="published")])
    rows = store.window_rows(
        [ChannelWindow("main", NOW, 4, 2)],
        start=NOW,
        end=NOW + timedelta(hours=3),
        history_from=NOW,
    )
    (listing,) = store.view().list_posts(now=NOW)
    for row, field in [
        (rows.posts[0], "score"),
        (listing, "tags"),
        (listing.post, "body"),
        (listing.airings[0], "status"),
    ]:
        with pytest.raises(AttributeError):
            setattr(row, field, None)
