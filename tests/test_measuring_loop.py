"""The measuring loop against the fake Mastodon and Bluesky (real local HTTP servers), on
SQLite and PostgreSQL: counts read about 1 h, 24 h and 7 d after airing as they change on the
platform, followers once a day, Bluesky's 25 URIs per call, and a 429 that pauses only the
channel that got it."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from scheduler.config import Config, parse_config
from scheduler.measuring import Counts
from scheduler.publishers.base import Delivery
from scheduler.publishers.bluesky import BlueskyPublisher
from scheduler.publishers.mastodon import MastodonPublisher
from scheduler.runtime.measuring import PASS_EVERY, Measurer
from scheduler.store.metrics import engagement_counts
from scheduler.store.models import Airing
from scheduler.store.store import PostDraft, Store
from tests.fakeplatforms import FakeBluesky, FakeMastodon

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
AIRED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CONFIG = """
[channels.toot]
publisher = "mastodon"
base_url = "http://127.0.0.1:1"
token = { env = "UNUSED_TOKEN" }
[channels.sky]
publisher = "bluesky"
handle = "brand.test"
app_password = { env = "UNUSED_PASSWORD" }
"""


@pytest.fixture
def config() -> Config:
    return parse_config(tomllib.loads(CONFIG), Path("/tmp/config.toml"))


Platforms = tuple[FakeMastodon, FakeBluesky, MastodonPublisher, BlueskyPublisher]


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    """The fake servers and a real publisher for each, their clocks stopped at AIRED."""
    with FakeMastodon() as mastodon, FakeBluesky() as bluesky, httpx.Client(timeout=10) as client:
        toot = MastodonPublisher(mastodon.base_url, mastodon.token, client, now=lambda: AIRED)
        sky = BlueskyPublisher(
            bluesky.base_url, bluesky.handle, bluesky.password, client, now=lambda: AIRED
        )
        yield mastodon, bluesky, toot, sky


def publish_and_store(
    store: Store, publisher: MastodonPublisher | BlueskyPublisher, channel: str, count: int
) -> list[tuple[int, str]]:
    """Publish `count` posts through the real publisher and store them as published airings
    at AIRED; (airing id, remote id) of each."""
    aired = []
    for number in range(count):
        draft = PostDraft(body=f"post {number}", kind="core", channels=(channel,), editor="sara")
        (post_id,) = store.add_posts([draft], now=AIRED - DAY, spacing={})
        delivery = Delivery(
            airing_id=1000 + number,
            channel=channel,
            post_id=post_id,
            kind="core",
            body=f"post {number}",
            media=(),
            idempotency_key=f"{channel}-{number}",
            due=AIRED,
        )
        receipt = publisher.publish(delivery)
        assert receipt.remote_id is not None
        with store.session(write=True) as session:
            airing = Airing(
                post_id=post_id,
                channel=channel,
                kind="core",
                at=AIRED,
                status="published",
                published_at=AIRED,
                remote_id=receipt.remote_id,
                remote_url=receipt.remote_url,
                updated=AIRED,
            )
            session.add(airing)
            session.flush()
            assert airing.id is not None
            aired.append((airing.id, receipt.remote_id))
    return aired


def snapshots(store: Store) -> list[tuple[int, str, Counts, int | None]]:
    from sqlalchemy import text

    with store.session() as session:
        rows = session.execute(
            text(
                "SELECT airing_id, at, likes, shares, replies, quotes, step FROM metric_snapshot "
                "ORDER BY at, airing_id"
            )
        ).all()
    return [
        (row[0], store._sql.read_time(row[1]).isoformat(), Counts(*row[2:6]), row[6])
        for row in rows
    ]


def test_counts_are_read_1h_24h_and_7d_after_airing_as_they_change(
    store: Store, config: Config, platforms: Platforms
) -> None:
    mastodon, bluesky, toot, sky = platforms
    ((toot_airing, status_id),) = publish_and_store(store, toot, "toot", 1)
    ((sky_airing, uri),) = publish_and_store(store, sky, "sky", 1)
    measurer = Measurer(config, store, {"toot": toot, "sky": sky})

    mastodon.counts[status_id] = {"favourites_count": 2, "reblogs_count": 1, "replies_count": 0}
    bluesky.counts[uri] = {"likeCount": 4, "repostCount": 1, "replyCount": 1, "quoteCount": 1}
    assert measurer.tick(AIRED + 30 * timedelta(minutes=1)) == AIRED + 31 * timedelta(minutes=1)
    assert snapshots(store) == []  # nothing is due before 1 h
    measurer.tick(AIRED + HOUR)
    mastodon.counts[status_id] = {"favourites_count": 7, "reblogs_count": 2, "replies_count": 3}
    measurer.tick(AIRED + 2 * HOUR)  # read already: nothing new
    measurer.tick(AIRED + DAY)
    mastodon.counts[status_id] = {"favourites_count": 9, "reblogs_count": 2, "replies_count": 3}
    measurer.tick(AIRED + 7 * DAY)
    measurer.tick(AIRED + 8 * DAY)  # all three steps read
    one_hour, one_day, one_week = (
        (AIRED + HOUR).isoformat(),
        (AIRED + DAY).isoformat(),
        (AIRED + 7 * DAY).isoformat(),
    )
    assert snapshots(store) == [
        (toot_airing, one_hour, Counts(2, 1, 0), 0),
        (sky_airing, one_hour, Counts(4, 2, 1, 1), 0),
        (toot_airing, one_day, Counts(7, 2, 3), 1),
        (sky_airing, one_day, Counts(4, 2, 1, 1), 1),
        (toot_airing, one_week, Counts(9, 2, 3), 2),
        (sky_airing, one_week, Counts(4, 2, 1, 1), 2),
    ]
    # Engagement is the 24 h snapshot: 7 + 2×2 + 3×3 on Mastodon.
    engaged = engagement_counts(store)
    assert engaged[toot_airing] == Counts(7, 2, 3)
    assert len(mastodon.requests_to(f"/api/v1/statuses/{status_id}", "GET")) == 3


def test_followers_are_read_once_a_day(store: Store, config: Config, platforms: Platforms) -> None:
    mastodon, bluesky, toot, sky = platforms
    measurer = Measurer(config, store, {"toot": toot, "sky": sky})
    mastodon.followers_count, bluesky.followers_count = 100, 40
    measurer.tick(AIRED)
    mastodon.followers_count, bluesky.followers_count = 110, 45
    measurer.tick(AIRED + 12 * HOUR)  # not a day yet
    measurer.tick(AIRED + DAY)
    assert store.view().follower_history("toot") == [(AIRED, 100), (AIRED + DAY, 110)]
    assert store.view().follower_history("sky") == [(AIRED, 40), (AIRED + DAY, 45)]


def test_bluesky_reads_25_uris_per_call(store: Store, config: Config, platforms: Platforms) -> None:
    _, bluesky, _, sky = platforms
    aired = publish_and_store(store, sky, "sky", 30)
    for number, (_, uri) in enumerate(aired):
        bluesky.counts[uri] = {"likeCount": number}
    Measurer(config, store, {"sky": sky}).tick(AIRED + HOUR)
    calls = bluesky.requests_to("/xrpc/app.bsky.feed.getPosts", "GET")
    assert [len(call.query["uris"]) for call in calls] == [25, 5]
    assert sorted(c.likes for c in engagement_counts(store).values()) == list(range(30))


def test_a_429_pauses_only_that_channels_reads(
    store: Store, config: Config, platforms: Platforms
) -> None:
    mastodon, bluesky, toot, sky = platforms
    ((toot_airing, _),) = publish_and_store(store, toot, "toot", 1)
    ((sky_airing, _),) = publish_and_store(store, sky, "sky", 1)
    measurer = Measurer(config, store, {"toot": toot, "sky": sky})
    mastodon.rate_limit_next(seconds=600)
    first = AIRED + HOUR
    assert measurer.tick(first) == first + PASS_EVERY
    assert [row[0] for row in snapshots(store)] == [sky_airing]
    measurer.tick(first + 5 * timedelta(minutes=1))  # still paused: no request
    assert [row[0] for row in snapshots(store)] == [sky_airing]
    measurer.tick(first + 10 * timedelta(minutes=1))
    assert sorted(row[0] for row in snapshots(store)) == sorted([sky_airing, toot_airing])
