"""Faults against the asyncio sending path (issue 13): the same exactly-once rules as before.

Sending runs on the dispatcher's event loop, so a request that hangs must hold up only its
own channel, a cancel must still stop the next attempt while a request hangs, an answer lost
on the way must still end `unconfirmed` and post once when retried under its key, and a
daemon killed mid-burst must lose and duplicate nothing.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.domain import AiringStatus, PostDraft
from scheduler.errors import StoreError
from scheduler.media import Medium
from scheduler.publishers import (
    ChannelClients,
    Delivery,
    Publisher,
    Receipt,
    build_publishers,
    make_http_client,
)
from scheduler.publishers.bluesky import BlueskyPublisher
from scheduler.publishers.mastodon import MastodonPublisher
from scheduler.runtime.daemon import Daemon
from scheduler.runtime.dispatch import REVISION_READS_APART, Dispatcher
from scheduler.store.store import Store
from scheduler.timeutil import utc_now
from tests.conftest import write_config
from tests.fakeplatforms import FakeBluesky, FakeMastodon, FakeServer, FakeWebhook
from tests.test_daemon import SPACING, T0, Harness, harness, mastodon_world, wait_until
from tests.test_daemon_process import Service
from tests.test_daemon_process import wait_until as wait_for
from tests.test_platform_media import JPEG, PNG

__all__ = ["harness"]  # the fixture, shared with tests/test_daemon.py


def test_a_cancel_while_an_async_request_hangs_sends_nothing_further(harness: Harness) -> None:
    h = harness
    hold = h.hook.hold_next()  # taken by the receiver, answered only after the client gave up
    at = T0 + timedelta(minutes=25)
    hanging = h.add("its answer never comes", "hook", at=at)
    free = h.add("another channel, not held up", "other", at=at)
    daemon = h.daemon()
    h.clock.now = at
    daemon.tick(at)
    assert hold.wait_arrived()
    # The loop is not blocked by the hanging request: the other channel publishes meanwhile.
    wait_until(lambda: h.first(free, "other").status == AiringStatus.published)
    done = h.store.cancel_post(hanging, now=at)
    assert done.in_flight == (h.first(hanging).id,)
    # The client's 2 s timeout ends the request; a retry is due (the webhook deduplicates),
    # and the cancel stops it.
    wait_until(lambda: not daemon.dispatcher.busy())
    hold.release()
    airing = h.first(hanging)
    assert airing.status == AiringStatus.unconfirmed and airing.maybe_sent
    assert airing.error == (
        "cancelled after an attempt that may have reached webhook; not sent again: check the "
        "channel"
    )
    assert len(h.hook.requests) == 1
    assert len(h.other.requests) == 1


def test_a_lost_answer_is_unconfirmed_then_posts_once_when_retried(
    tmp_path: Path, db_url: str
) -> None:
    with FakeMastodon() as mastodon, mastodon_world(tmp_path, db_url, mastodon) as world:
        store, clock, daemon = world.store, world.clock, world.daemon
        at = T0 + timedelta(minutes=25)
        draft = PostDraft(
            body="made once", kind="core", channels=("masto",), editor="s", at=at, evergreen=False
        )
        (post,) = store.add_posts([draft], now=T0, spacing={"masto": SPACING})
        # The status is made, its answer lost; then Mastodon is down for every retry.
        mastodon.drop_next(apply=True, path="/api/v1/statuses")
        mastodon.fail_next(503, times=10, path="/api/v1/statuses")
        clock.now = at
        daemon.tick(at)
        wait_until(lambda: not daemon.dispatcher.busy())
        (airing,) = store.get_post(post).airings
        assert airing.status == AiringStatus.unconfirmed and airing.maybe_sent
        assert (airing.error or "").startswith("gave up after 4 attempts: mastodon answered")
        assert len(mastodon.statuses) == 1

        mastodon.clear_faults()
        later = at + timedelta(minutes=10)  # within Mastodon's hour of key memory
        assert store.retry_post(post, now=later) == [airing.id]
        clock.now = later
        daemon.tick(later)
        wait_until(lambda: not daemon.dispatcher.busy())
        (retried,) = store.get_post(post).airings
        assert retried.status == AiringStatus.published
        (status,) = mastodon.statuses
        assert retried.remote_id == str(status["id"])
        sent = mastodon.requests_to("/api/v1/statuses", "POST")
        assert len(sent) == 5  # 4 attempts, then the retry
        assert {r.headers["idempotency-key"] for r in sent} == {airing.idempotency_key}


def _exchange(server: FakeServer) -> list[tuple[str, str, object, object]]:
    """What a platform received, without what differs on every run (multipart boundaries)."""
    return [(r.method, r.path, r.query, r.body) for r in server.requests]


async def _publish_async(publisher: Publisher, item: Delivery) -> Receipt:
    try:
        return await publisher.publish_async(item)
    finally:
        await publisher.close_async()


@pytest.mark.parametrize("platform", ["mastodon", "bluesky"])
def test_the_async_path_sends_exactly_what_the_sync_path_sends(platform: str) -> None:
    """One set of steps, two drivers: a post with images (Mastodon's processing polls and
    pauses; Bluesky's session, record look-up, handle resolution, blobs and facets)."""
    media = (Medium("a.png", "image/png", PNG, alt="شروق"), Medium("b.jpg", "image/jpeg", JPEG))
    text = "صباح الخير @ali.example.com #news https://example.com/a"
    sent = {}
    for path in ("sync", "async"):
        fake: FakeServer = FakeMastodon() if platform == "mastodon" else FakeBluesky()
        with fake as server, make_http_client(timeout=5.0) as client:
            publisher: MastodonPublisher | BlueskyPublisher
            if isinstance(server, FakeMastodon):
                server.media_processing_polls = 2
                publisher = MastodonPublisher(server.base_url, server.token, client, now=lambda: T0)
                publisher.media_poll_interval = 0.0
            else:
                assert isinstance(server, FakeBluesky)
                server.known_handles["ali.example.com"] = "did:plc:ali"
                publisher = BlueskyPublisher(
                    server.base_url, server.handle, server.password, client, now=lambda: T0
                )
            item = Delivery(12, "main", 7, "core", text, media, "k-12", T0)
            if path == "sync":
                receipt = publisher.publish(item)
            else:
                receipt = asyncio.run(_publish_async(publisher, item))
            url = (receipt.remote_url or "").replace(server.base_url, "")  # ports differ
            sent[path] = (receipt.remote_id, url, _exchange(server))
    assert sent["async"] == sent["sync"]
    requests = sent["sync"][2]
    assert len(requests) >= (9 if platform == "mastodon" else 6)


def _queue_burst(
    store: Store, channels: list[str], count: int, due: datetime, text: str
) -> list[int]:
    """`count` posts pinned at `due`, dealt in turn to `channels`, with no spacing between
    a channel's airings; each body is "burst N" and then `text`."""
    drafts = [
        PostDraft(
            body=f"burst {n} {text}".rstrip(),
            kind="core",
            channels=(channels[n % len(channels)],),
            editor="test",
            at=due,
            evergreen=False,
        )
        for n in range(count)
    ]
    spacing = {name: timedelta(0) for name in channels}
    return store.add_posts(drafts, now=datetime.now(UTC), spacing=spacing)


CHANNELS = 20
PER_CHANNEL = 10
HELD = 3
LEASE = 3.0


@pytest.mark.slow
def test_kill_9_mid_burst_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """200 airings due in one second over 20 channels; the daemon is killed while some are
    sent, some are in flight and the rest wait, claimed, in their channels' queues."""
    with FakeWebhook() as hook:
        channels = "".join(
            textwrap.dedent(
                f"""
                [channels.ch{n:02d}]
                publisher = "webhook"
                url = "{hook.url}/ch{n:02d}"
                format = "json"
                timezone = "UTC"
                """
            )
            for n in range(CHANNELS)
        )
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            textwrap.dedent(
                f"""
                [scheduler]
                database = "sqlite:///scheduler.db"
                lease = "{LEASE:g}s"
                reconcile = "1s"
                misfire_grace = "5m"
                retry = {{ attempts = 6, initial = "0s", maximum = "0s" }}

                [defaults]
                min_spacing = "0s"
                """
            )
            + channels,
            encoding="utf-8",
        )
        store = Store(load_config(config_path).scheduler.database)
        store.migrate()
        due = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        posts = _queue_burst(
            store, [f"ch{n:02d}" for n in range(CHANNELS)], CHANNELS * PER_CHANNEL, due, "مرحبا"
        )
        holds = [hook.hold_next() for _ in range(HELD)]  # taken, answered only after the kill
        log = tmp_path / "daemon.log"
        services = [Service(config_path, log)]
        try:
            for hold in holds:
                assert hold.wait_arrived(timeout=60)
            wait_for(lambda: len(hook.requests) >= 2 * HELD, 60, "part of the burst")
            services[0].kill()
            for hold in holds:
                hold.release()
            at_kill = Counter(a.status for p in posts for a in store.get_post(p).airings)
            assert at_kill[AiringStatus.publishing] >= HELD  # the burst was cut in the middle

            services.append(Service(config_path, log))
            wait_for(
                lambda: all(
                    a.status == AiringStatus.published
                    for p in posts
                    for a in store.get_post(p).airings
                ),
                90,
                "every airing of the burst published after the restart",
            )
            airings = [a for p in posts for a in store.get_post(p).airings]
            expected = {a.idempotency_key for a in airings}
            assert len(expected) == len(posts)
            # A request the kill cut off mid-way arrives without its whole body: a receiver
            # takes nothing from it. Every airing must have reached it whole, under its key.
            whole = [r for r in hook.requests if r.body is not None]
            keys = Counter(r.headers["idempotency-key"] for r in whole)
            assert set(keys) == expected  # nothing lost, nothing under a foreign key
            for request in whole:
                assert request.body["idempotency_key"] == request.headers["idempotency-key"]
            # Only airings the dead daemon had claimed were sent again, under their key.
            assert sum(count - 1 for count in keys.values()) <= at_kill[AiringStatus.publishing]
            time.sleep(1.0)  # anything sent a third time would arrive now
            assert (
                Counter(r.headers["idempotency-key"] for r in hook.requests if r.body is not None)
                == keys
            )
        finally:
            for service in services:
                if service.process.poll() is None:
                    service.terminate()
            store.close()
        text = log.read_text(encoding="utf-8")
        assert "Traceback" not in text and "database is locked" not in text


def test_a_stop_mid_burst_writes_every_outcome_the_recorder_holds(
    tmp_path: Path, db_url: str
) -> None:
    """Outcomes wait while a burst goes on, so that writing them doesn't slow the sending: a
    stop in the middle of one must still write each. Nothing answered is left `publishing`,
    nothing unsent is marked published, and what was never sent is handed back, planned."""
    with FakeWebhook() as hook:
        channels = "".join(
            f'\n[channels.ch{n}]\npublisher = "webhook"\nurl = "{hook.url}/ch{n}"\n'
            'timezone = "UTC"\nmin_spacing = "0s"\n'
            for n in range(4)
        )
        config = load_config(write_config(tmp_path, channels, database=db_url))
        store = Store(config.scheduler.database)
        store.migrate()
        # Due a second ago: well within the misfire grace, so sent at once.
        due = datetime.now(UTC) - timedelta(seconds=1)
        posts = _queue_burst(store, [f"ch{n}" for n in range(4)], 400, due, "")
        clients = ChannelClients(timeout=5.0)
        daemon = Daemon(config, store, build_publishers(config.channels, clients, now=utc_now))
        try:
            daemon.tick(datetime.now(UTC))
            wait_for(lambda: len(hook.requests) >= 100, 60, "the burst under way")
            daemon.close(timeout=30)
            airings = [a for p in posts for a in store.get_post(p).airings]
            sent = Counter(hook.idempotency_keys())
            assert sent and max(sent.values()) == 1
            assert len(sent) < len(airings)  # stopped mid-burst
            for airing in airings:
                if airing.idempotency_key in sent:
                    assert airing.status == AiringStatus.published, airing
                else:
                    assert airing.status == AiringStatus.planned, airing
        finally:
            clients.close()
            store.close()


@pytest.mark.parametrize("more_due", [False, True], ids=["claim-took-all", "more-due"])
def test_a_full_claim_wakes_the_daemon_only_when_more_is_due(
    harness: Harness, more_due: bool
) -> None:
    """A channel that goes idle after a full claim asks the daemon to claim again at once,
    but only if something due was left: a burst the size of the batch leaves nothing."""
    h = harness
    at = T0 + timedelta(minutes=25)
    h.add("one", "hook", at=at)
    h.add("two", "other", at=at)
    if more_due:
        h.add("three", "hook", at=at + SPACING)
    now = at + SPACING if more_due else at
    h.clock.now = now
    wakes: list[bool] = []
    dispatcher = h.dispatcher(batch=2, on_idle=lambda: wakes.append(True))
    try:
        assert dispatcher.publish_due(now) == 2
        wait_until(lambda: not dispatcher.busy())
    finally:
        dispatcher.stop(timeout=5)
    assert bool(wakes) == more_due


def test_a_channel_claimed_ahead_opens_its_connection_before_the_due_time(
    harness: Harness,
) -> None:
    """The airing waits for its time with its channel's connection already open, and goes
    out on it: a burst's first requests don't each wait for a connection."""
    h = harness
    at = T0 + timedelta(minutes=25)
    post = h.add("on time, on an open connection", "hook", at=at)
    dispatcher = h.dispatcher(claim_ahead=timedelta(seconds=2))
    try:
        h.clock.now = at - timedelta(seconds=1)
        assert dispatcher.publish_due(h.clock.now) == 1
        wait_until(lambda: h.hook.connections_opened == 1)
        assert h.hook.requests == []  # opened, nothing sent before its time
        h.clock.now = at
        wait_until(lambda: h.first(post).status == AiringStatus.published)
    finally:
        dispatcher.stop(timeout=5)
    assert len(h.hook.requests) == 1
    assert h.hook.connections_opened == 1


class _NotedRevisionReads(Store):
    """A store that notes when each read of the change counter starts (monotonic time);
    the first `failing` reads raise a StoreError, as an unreachable database does."""

    def __init__(self, url: str, *, failing: int = 0) -> None:
        super().__init__(url)
        self.reads: list[float] = []
        self.failing = failing

    def revision(self) -> int:
        self.reads.append(time.monotonic())
        if len(self.reads) <= self.failing:
            raise StoreError("database unavailable (a test's)")
        return super().revision()


def _send_burst(tmp_path: Path, db_url: str, *, failing_reads: int) -> _NotedRevisionReads:
    """200 airings due now over 8 webhook channels, sent by a dispatcher until it is idle;
    every one must end published. Returns the (closed) store, with its reads noted."""
    with FakeWebhook() as hook:
        names = [f"ch{n}" for n in range(8)]
        channels = "".join(
            f'\n[channels.{name}]\npublisher = "webhook"\nurl = "{hook.url}/{name}"\n'
            'timezone = "UTC"\nmin_spacing = "0s"\n'
            for name in names
        )
        config = load_config(write_config(tmp_path, channels, database=db_url))
        store = _NotedRevisionReads(config.scheduler.database, failing=failing_reads)
        store.migrate()
        posts = _queue_burst(store, names, 200, datetime.now(UTC) - timedelta(seconds=1), "")
        clients = ChannelClients(timeout=5.0)
        dispatcher = Dispatcher(
            store,
            config,
            build_publishers(config.channels, clients, now=utc_now),
            owner="test",
            clock=utc_now,
        )
        try:
            assert dispatcher.publish_due(utc_now()) == 200
            wait_until(lambda: not dispatcher.busy())
        finally:
            dispatcher.stop(timeout=10)
            clients.close()
        statuses = Counter(a.status for p in posts for a in store.get_post(p).airings)
        store.close()
        assert statuses == {AiringStatus.published: 200}
        assert len(hook.requests) == 200
    return store


def test_a_burst_shares_a_few_reads_of_the_change_counter(tmp_path: Path, db_url: str) -> None:
    """Each airing is checked for a cancel with a read of the change counter begun after it
    asked; a burst's airings share reads that start at least `REVISION_READS_APART` apart,
    rather than one read after another for as long as the burst lasts."""
    reads = _send_burst(tmp_path, db_url, failing_reads=0).reads
    span = reads[-1] - reads[0]
    # n reads starting the gap apart span (n - 1) gaps, less how late the worker thread
    # took up the first one: a few gaps' worth of that lateness is allowed.
    assert 1 <= len(reads) <= 5 + span / REVISION_READS_APART, (len(reads), span)


def test_a_failed_read_of_the_change_counter_reaches_every_airing_waiting_for_it(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first reads fail: each airing that shared one hears of the failure (none waits
    for good), logs it, and is sent as it would have been before a cancel."""
    caplog.set_level(logging.WARNING, logger="scheduler.dispatch")
    reads = _send_burst(tmp_path, db_url, failing_reads=2).reads
    assert len(reads) > 2
    warned = [r for r in caplog.records if "could not check airing" in r.getMessage()]
    # The first read is shared by every channel's first airing: eight at least heard of it.
    assert len(warned) >= 8, len(warned)
