"""The daemon in process: `Daemon.tick(now)` driven with an injected clock (DESIGN §5).

No sleeping for schedule time and no patched `datetime`: each test moves its own clock and
calls `tick`. Publishing happens on the dispatcher's worker threads against real local fake
servers, so a test waits (briefly, in real time) for the workers to go idle before looking.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from scheduler.config import Config, load_config
from scheduler.domain import AiringStatus, PostDraft
from scheduler.publishers import ChannelClients, build_publishers
from scheduler.publishers.base import Delivery, Receipt
from scheduler.runtime.daemon import Daemon
from scheduler.runtime.dispatch import Dispatcher, RetrySettings
from scheduler.store.models import Airing, Attempt
from scheduler.store.store import Store
from scheduler.timeutil import iso_utc
from tests.conftest import RunCli, write_config
from tests.fakeplatforms import FakeMastodon, FakeTelegram, FakeWebhook, Reply

T0 = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)  # a Monday; the next 1h slot is 13:00
SPACING = timedelta(minutes=30)
HOUR = timedelta(hours=1)
NO_WAIT = RetrySettings(attempts=4, initial=0.0, maximum=0.0)
ARABIC = "إطلاق المنتج الجديد اليوم 🚀 👨\u200d👩\u200d👧"


class Clock:
    """The daemon's only clock: moved by the test, read by the daemon and the publishers."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Real-time wait for worker threads (HTTP round trips), never for schedule time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@dataclass
class Harness:
    tmp: Path
    config_path: Path
    config: Config
    store: Store
    clients: ChannelClients
    clock: Clock
    hook: FakeWebhook
    other: FakeWebhook
    telegram: FakeTelegram
    invoke: RunCli
    daemons: list[Daemon] = field(default_factory=list)

    def daemon(
        self,
        *,
        owner: str | None = None,
        retry: RetrySettings = NO_WAIT,
        config: Config | None = None,
    ) -> Daemon:
        """A daemon process as a fresh start would make it (a restart is a new Daemon)."""
        publishers = build_publishers(self.config.channels, self.clients, now=self.clock)
        daemon = Daemon(
            config or self.config,
            self.store,
            publishers,
            clock=self.clock,
            owner=owner,
            retry=retry,
        )
        self.daemons.append(daemon)
        return daemon

    def dispatcher(self, **options: Any) -> Dispatcher:
        """A dispatcher alone, on the harness's store, config, channels and clock."""
        publishers = build_publishers(self.config.channels, self.clients, now=self.clock)
        return Dispatcher(
            self.store, self.config, publishers, owner="test", clock=self.clock, **options
        )

    def tick(self, daemon: Daemon, at: datetime) -> datetime:
        """One pass at `at`, then wait until the workers have recorded every outcome."""
        self.clock.now = at
        wake = daemon.tick(at)
        wait_until(lambda: not daemon.dispatcher.busy())
        return wake

    def add(self, body: str, *channels: str, at: datetime | None = None, **extra: Any) -> int:
        (post_id,) = self.store.add_posts(
            [
                PostDraft(
                    body=body,
                    kind=extra.pop("kind", "core"),
                    channels=channels,
                    editor="sara",
                    at=at,
                    **extra,
                )
            ],
            now=self.clock.now,
            spacing={name: c.min_spacing for name, c in self.config.channels.items()},
        )
        return post_id

    def airings(self, post_id: int, channel: str | None = None) -> list[Airing]:
        return [
            a
            for a in self.store.get_post(post_id).airings
            if channel is None or a.channel == channel
        ]

    def first(self, post_id: int, channel: str = "hook") -> Airing:
        return min(self.airings(post_id, channel), key=lambda a: a.at)

    def cli_json(self, *args: str) -> Any:
        result = self.invoke(*args, "--format", "json", config=self.config_path)
        assert result.returncode == 0, result.stderr
        assert "database is locked" not in result.stderr
        return json.loads(result.stdout)

    def listed(self, post_id: int) -> dict[str, Any]:
        posts = self.cli_json("queue", "list")["posts"]
        (post,) = [p for p in posts if p["id"] == post_id]
        return dict(post)


@pytest.fixture
def harness(tmp_path: Path, db_url: str, invoke: RunCli) -> Iterator[Harness]:
    (tmp_path / "tg-token").write_text("123456:TEST-bot-token_abc\n", encoding="utf-8")
    with (
        FakeWebhook() as hook,
        FakeWebhook() as other,
        FakeTelegram() as telegram,
    ):
        config_path = write_config(
            tmp_path,
            f"""
            [scheduler.retry]
            attempts = 4
            initial = "0s"
            maximum = "0s"

            [channels.hook]
            publisher = "webhook"
            url = "{hook.url}"
            format = "json"
            timezone = "UTC"

            [channels.other]
            publisher = "webhook"
            url = "{other.url}"
            timezone = "UTC"

            [channels.tg]
            publisher = "telegram"
            base_url = "{telegram.base_url}"
            bot_token = {{ file = "tg-token" }}
            chat_id = "@brand"
            timezone = "UTC"
            """,
            database=db_url,
        )
        # The misfire grace and lease are set per test where they matter.
        text = config_path.read_text(encoding="utf-8").replace(
            'timezone = "UTC"\n', 'timezone = "UTC"\nmisfire_grace = "15m"\nlease = "2m"\n', 1
        )
        config_path.write_text(text, encoding="utf-8")
        config = load_config(config_path)
        store = Store(config.scheduler.database)
        store.migrate()
        clients = ChannelClients(timeout=2.0)
        h = Harness(
            tmp_path, config_path, config, store, clients, Clock(T0), hook, other, telegram, invoke
        )
        try:
            yield h
        finally:
            for daemon in h.daemons:
                daemon.close(timeout=5)
            clients.close()
            store.close()


# --- planning ------------------------------------------------------------------------------


def test_replan_writes_the_plan_and_keeps_ids_of_unchanged_airings(harness: Harness) -> None:
    h = harness
    first = h.add("first", "hook")
    second = h.add("second", "hook", kind="entertaining")
    daemon = h.daemon()
    wake = h.tick(daemon, T0)
    planned = {a.id: a.at for a in h.airings(first) + h.airings(second)}
    assert h.first(first).at == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert h.first(second).at == datetime(2026, 11, 23, 14, tzinfo=UTC)
    assert T0 < wake <= T0 + h.config.scheduler.reconcile

    daemon.replan(T0 + timedelta(seconds=5))  # nothing changed: the same rows stay
    assert {a.id: a.at for a in h.airings(first) + h.airings(second)} == planned
    assert not daemon.changed_since_plan()


def test_a_cli_change_is_picked_up_on_the_next_tick(harness: Harness) -> None:
    h = harness
    first = h.add("first", "hook")
    daemon = h.daemon()
    h.tick(daemon, T0)
    kept = h.first(first).id
    revision = h.store.revision()

    late = h.add("added by an editor", "hook")  # what `scheduler queue add` does
    assert h.store.revision() == revision + 1
    assert daemon.changed_since_plan()
    h.tick(daemon, T0 + timedelta(seconds=1))
    assert not daemon.changed_since_plan()
    assert h.first(first).id == kept
    assert h.first(late).status == AiringStatus.planned
    assert h.first(late).at > h.first(first).at


# --- publishing ----------------------------------------------------------------------------


def test_a_pinned_airing_is_published_at_its_time(harness: Harness) -> None:
    h = harness
    h.hook.reply = Reply(200, {"id": "m-1", "url": "https://hook.example/m-1"})
    at = T0 + timedelta(minutes=25)
    post = h.add(ARABIC, "hook", at=at)
    daemon = h.daemon()
    wake = h.tick(daemon, T0)
    assert wake <= at
    assert h.hook.requests == []

    h.tick(daemon, at - timedelta(seconds=1))
    assert h.hook.requests == []
    h.tick(daemon, at)
    (request,) = h.hook.requests
    airing = h.first(post)
    assert airing.status == AiringStatus.published
    assert airing.published_at == at
    assert request.body["body"] == ARABIC
    assert request.body["due"] == "2026-11-23T12:30:00Z"
    assert request.headers["idempotency-key"] == airing.idempotency_key

    shown = h.listed(post)
    assert shown["status"] == "published"
    (listed,) = [a for a in shown["airings"] if a["id"] == airing.id]
    assert listed["status"] == "published"
    assert listed["remote_url"] == "https://hook.example/m-1"
    status = h.cli_json("status")
    assert status["daemon"]["owner"] == daemon.owner
    assert status["channels"]["hook"]["needs_editor"] == []


def test_downtime_within_grace_publishes_late_keeping_min_spacing(harness: Harness) -> None:
    h = harness
    pinned_at = T0 + timedelta(minutes=25)  # 12:30
    pinned = h.add("pinned at 12:30", "hook", at=pinned_at)
    floating = h.add("floating", "hook")
    daemon = h.daemon()
    h.tick(daemon, T0)
    assert h.first(floating).at == datetime(2026, 11, 23, 13, tzinfo=UTC)
    daemon.close(timeout=5)  # the service stops before 12:30

    back = pinned_at + timedelta(minutes=10)  # 10 minutes late, within the 15m grace
    restarted = h.daemon()
    h.tick(restarted, back)
    late = h.first(pinned)
    assert late.status == AiringStatus.published
    assert late.published_at == back
    restarted.close(timeout=5)  # and down again before 13:00

    again = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)  # the floating one is 5 minutes late
    third = h.daemon()
    h.tick(third, again)
    # Published late, but never within min_spacing of the late 12:40 airing.
    waiting = h.first(floating)
    assert waiting.status == AiringStatus.planned
    assert waiting.at >= back + SPACING
    h.tick(third, waiting.at)
    aired = h.first(floating)
    assert aired.status == AiringStatus.published
    assert aired.published_at is not None and aired.published_at - back >= SPACING
    assert [r.body["post_id"] for r in h.hook.requests] == [pinned, floating]


def test_two_overdue_airings_are_not_sent_back_to_back(harness: Harness) -> None:
    h = harness
    pinned = h.add("pinned at 12:30", "hook", at=T0 + timedelta(minutes=25))
    floating = h.add("floating", "hook")
    h.tick(h.daemon(), T0)
    h.daemons[-1].close(timeout=5)

    generous = replace(h.config, scheduler=replace(h.config.scheduler, misfire_grace=HOUR))
    back = datetime(2026, 11, 23, 13, 10, tzinfo=UTC)  # both overdue, both within grace
    restarted = h.daemon(config=generous)
    h.tick(restarted, back)
    assert h.first(pinned).status == AiringStatus.published
    waiting = h.first(floating)
    assert waiting.status == AiringStatus.planned
    assert waiting.at >= back + SPACING
    h.tick(restarted, waiting.at)
    assert h.first(floating).status == AiringStatus.published
    assert len(h.hook.requests) == 2


def test_downtime_beyond_grace_misses_pinned_and_replans_floating(harness: Harness) -> None:
    h = harness
    pinned = h.add("launch at 12:30 sharp", "hook", at=T0 + timedelta(minutes=25))
    floating = h.add("whenever", "hook")
    daemon = h.daemon()
    h.tick(daemon, T0)
    old_floating = h.first(floating)
    assert old_floating.at == datetime(2026, 11, 23, 13, tzinfo=UTC)
    daemon.close(timeout=5)

    back = datetime(2026, 11, 23, 13, 40, tzinfo=UTC)  # 70 and 40 minutes late: over grace
    restarted = h.daemon()
    h.tick(restarted, back)
    missed = h.first(pinned)
    assert missed.status == AiringStatus.missed
    assert "misfire_grace" in (missed.error or "")
    moved = h.first(floating)
    assert moved.status == AiringStatus.planned
    assert moved.at == datetime(2026, 11, 23, 14, tzinfo=UTC)  # the next free slot
    assert h.hook.requests == []

    h.tick(restarted, moved.at)
    assert h.first(floating).status == AiringStatus.published
    assert [r.body["post_id"] for r in h.hook.requests] == [floating]
    assert h.listed(pinned)["status"] == "missed"
    status = h.cli_json("status")
    assert missed.id in status["channels"]["hook"]["needs_editor"]


def test_the_log_tells_times_in_the_channels_own_zone(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14: an operator reads `due 13:30+01:00` for a Berlin channel, not UTC."""
    h = harness
    berlin = ZoneInfo("Europe/Berlin")
    channels = {**h.config.channels, "hook": replace(h.config.channels["hook"], timezone=berlin)}
    config = replace(h.config, channels=channels)
    aired = h.add("on time", "hook", at=T0 + timedelta(minutes=25))
    missed = h.add("too late", "hook", at=T0 + timedelta(minutes=55))
    daemon = h.daemon(config=config)
    with caplog.at_level("INFO", logger="scheduler"):
        h.tick(daemon, T0 + timedelta(minutes=25))
        h.tick(daemon, T0 + timedelta(hours=2))  # 70 minutes late: over the 15m grace
    lines = [record.getMessage() for record in caplog.records]
    assert (
        f"published airing {h.first(aired).id} on hook (post {aired}, core, due "
        "2026-11-23T13:30:00+01:00): ok"
    ) in lines
    assert any(
        line.startswith(f"missed airing {h.first(missed).id} on hook (post {missed}, due "
        "2026-11-23T14:00:00+01:00)")
        for line in lines
    ), lines  # fmt: skip


# --- failures ------------------------------------------------------------------------------


def test_a_permanent_4xx_fails_with_the_platform_message(harness: Harness) -> None:
    h = harness
    h.hook.fail_next(422, message="payload refused: unknown field 'media'")
    at = T0 + timedelta(minutes=25)
    post = h.add("refused", "hook", at=at)
    daemon = h.daemon()
    h.tick(daemon, at)
    airing = h.first(post)
    assert airing.status == AiringStatus.failed
    assert "422" in (airing.error or "")
    assert "payload refused: unknown field 'media'" in (airing.error or "")
    assert len(h.hook.requests) == 1  # not retried
    shown = h.listed(post)
    assert shown["status"] == "failed"
    assert "payload refused" in shown["airings"][0]["error"]
    assert airing.id in h.cli_json("status")["channels"]["hook"]["needs_editor"]


def test_5xx_then_success_is_published_after_retries(harness: Harness) -> None:
    h = harness
    h.hook.fail_next(503, times=2)
    at = T0 + timedelta(minutes=25)
    post = h.add("flaky", "hook", at=at)
    daemon = h.daemon()
    h.tick(daemon, at)
    airing = h.first(post)
    assert airing.status == AiringStatus.published
    keys = h.hook.idempotency_keys()
    assert len(keys) == 3 and set(keys) == {airing.idempotency_key}


def test_retries_run_out_into_failed(harness: Harness) -> None:
    h = harness
    h.hook.fail_next(502, times=10)
    at = T0 + timedelta(minutes=25)
    post = h.add("down for long", "hook", at=at)
    h.tick(h.daemon(), at)
    airing = h.first(post)
    assert airing.status == AiringStatus.failed
    assert "gave up after 4 attempts" in (airing.error or "")
    assert len(h.hook.requests) == 4


def test_interrupted_telegram_request_becomes_unconfirmed(harness: Harness) -> None:
    h = harness
    h.telegram.drop_next()  # the message is posted, the answer never arrives
    at = T0 + timedelta(minutes=25)
    post = h.add("sent once, never twice", "tg", at=at)
    h.tick(h.daemon(), at)
    airing = h.first(post, "tg")
    assert airing.status == AiringStatus.unconfirmed
    assert (airing.error or "").endswith(
        "telegram can't recognise a repeat: check the channel, and if it isn't there, "
        f"`scheduler queue retry {post}` sends it"
    )
    assert len(h.telegram.requests) == 1
    assert len(h.telegram.messages) == 1
    assert h.listed(post)["status"] == "unconfirmed"
    assert "123456:TEST" not in (airing.error or "")  # the bot token never shows


def test_interrupted_json_webhook_is_resent_with_the_same_key(harness: Harness) -> None:
    h = harness
    h.hook.drop_next()
    at = T0 + timedelta(minutes=25)
    post = h.add("deduplicated by the receiver", "hook", at=at)
    h.tick(h.daemon(), at)
    airing = h.first(post)
    assert airing.status == AiringStatus.published
    keys = h.hook.idempotency_keys()
    assert keys == [airing.idempotency_key, airing.idempotency_key]


def test_a_429_on_one_channel_does_not_delay_another(harness: Harness) -> None:
    h = harness
    h.hook.rate_limit_next(seconds=120)
    at = T0 + timedelta(minutes=25)
    slowed = h.add("rate limited", "hook", at=at)
    free = h.add("not held up", "other", at=at)
    daemon = h.daemon(retry=RetrySettings(attempts=4, initial=0.0, maximum=0.0))
    h.clock.now = at
    daemon.tick(at)
    wait_until(lambda: h.first(free, "other").status == AiringStatus.published)
    assert len(h.other.requests) == 1
    # The limited one waits, with a lease covering the wait the platform asked for, so no
    # replica takes it meanwhile.
    wait_until(lambda: (h.first(slowed).lease_until or at) >= at + timedelta(seconds=120))
    waiting = h.first(slowed)
    assert waiting.status == AiringStatus.publishing
    assert len(h.hook.requests) == 1

    # Stopping cuts the wait short and hands the airing back with its key.
    assert daemon.close(timeout=5)
    released = h.first(slowed)
    assert released.status == AiringStatus.planned
    assert released.idempotency_key == waiting.idempotency_key
    restarted = h.daemon()
    h.tick(restarted, at + timedelta(seconds=121))
    assert h.first(slowed).status == AiringStatus.published
    assert h.hook.idempotency_keys() == [waiting.idempotency_key] * 2


# --- dead processes ------------------------------------------------------------------------


def _claimed_by_dead_process(h: Harness, post_id: int, channel: str, at: datetime) -> Airing:
    (claimed,) = h.store.claim_due(
        owner="gone-host:4242:dead00",
        now=at,
        lease=h.config.scheduler.lease,
        limit=10,
        key_prefix=h.store.key_prefix(),
        channels=[channel],
    )
    assert claimed.post_id == post_id
    return claimed


def test_an_expired_lease_of_a_dead_owner_is_recovered(harness: Harness) -> None:
    h = harness
    at = T0 + timedelta(minutes=25)
    post = h.add("claimed by a process that died", "hook", at=at)
    daemon = h.daemon()
    h.tick(daemon, T0)
    claimed = _claimed_by_dead_process(h, post, "hook", at)
    # Within the lease the airing is left alone.
    h.tick(daemon, at + timedelta(minutes=1))
    assert h.first(post).status == AiringStatus.publishing
    assert h.hook.requests == []

    h.tick(daemon, at + timedelta(minutes=3))
    airing = h.first(post)
    assert airing.status == AiringStatus.published
    assert airing.owner == daemon.owner
    assert h.hook.idempotency_keys() == [claimed.idempotency_key]
    with h.store.session() as session:
        attempts = session.exec(
            select(Attempt).where(col(Attempt.airing_id) == airing.id).order_by(col(Attempt.id))
        ).all()
        outcomes = [a.outcome for a in attempts]
    assert outcomes == ["interrupted", "published"]


def test_after_a_database_outage_leases_are_taken_back_only_one_lease_later(
    harness: Harness,
) -> None:
    """Nobody can extend a lease while the database is down, so a live replica's lease may
    have run out by the time it is back: recovery waits one lease after the failure, time
    for a live owner to extend again, before it takes anything back (issue 10's HA test
    re-sent airings of a live replica after a PostgreSQL restart on a loaded machine)."""
    h = harness
    at = T0 + timedelta(minutes=25)
    post = h.add("claimed by a replica the outage hid", "hook", at=at)
    daemon = h.daemon()
    h.tick(daemon, T0)
    claimed = _claimed_by_dead_process(h, post, "hook", at)
    lease = h.config.scheduler.lease
    outage_end = at + lease + timedelta(seconds=30)  # the lease ran out during the outage
    daemon.dispatcher.note_store_failure(outage_end)
    h.tick(daemon, outage_end + lease - timedelta(seconds=1))
    assert h.first(post).status == AiringStatus.publishing  # its owner may extend it yet
    assert h.hook.requests == []

    h.tick(daemon, outage_end + 2 * lease)  # the next lease check after that lease
    airing = h.first(post)
    assert airing.status == AiringStatus.published  # nobody extended it: the owner is gone
    assert h.hook.idempotency_keys() == [claimed.idempotency_key]


def test_a_dead_owner_mid_request_on_telegram_leaves_it_unconfirmed(harness: Harness) -> None:
    h = harness
    at = T0 + timedelta(minutes=25)
    sent = h.add("request left, answer lost", "tg", at=at)
    unsent = h.add("claimed, never sent", "tg", at=at + SPACING)
    daemon = h.daemon()
    h.tick(daemon, T0)
    first = _claimed_by_dead_process(h, sent, "tg", at)
    h.store.note_sending(first.id or 0, owner="gone-host:4242:dead00")
    h.tick(daemon, at + timedelta(minutes=3))
    assert h.first(sent, "tg").status == AiringStatus.unconfirmed
    assert h.telegram.requests == []

    _claimed_by_dead_process(h, unsent, "tg", at + SPACING)  # died before sending anything
    h.tick(daemon, at + SPACING + timedelta(minutes=3))
    assert h.first(unsent, "tg").status == AiringStatus.published
    assert len(h.telegram.messages) == 1
    assert h.first(unsent, "tg").remote_url == "https://t.me/brand/1"


def test_a_request_outlasting_the_lease_is_not_taken_back_by_its_own_daemon(
    harness: Harness,
) -> None:
    h = harness
    hold = h.hook.hold_next()
    at = T0 + timedelta(minutes=25)
    post = h.add("slow platform", "hook", at=at)
    daemon = h.daemon()
    h.clock.now = at
    daemon.tick(at)
    assert hold.wait_arrived()
    later = at + h.config.scheduler.lease + timedelta(minutes=1)
    h.clock.now = later
    daemon.tick(later)  # the reconcile sees an expired lease, but it is its own, in flight
    assert h.first(post).status == AiringStatus.publishing
    hold.release()
    wait_until(lambda: not daemon.dispatcher.busy())
    assert h.first(post).status == AiringStatus.published
    assert len(h.hook.requests) == 1


def test_a_dead_owner_again_and_again_ends_for_an_editor_not_in_a_loop(harness: Harness) -> None:
    """Each recovery re-sends; an airing whose sends keep killing the daemon stops after 3."""
    h = harness
    at = T0 + timedelta(minutes=25)
    hooked = h.add("kills the daemon each time", "hook", at=at)
    never = h.add("kills it before any request", "tg", at=at)
    dispatcher = h.daemon().dispatcher
    when = at
    for recovery in (1, 2, 3):
        for post, channel in ((hooked, "hook"), (never, "tg")):
            _claimed_by_dead_process(h, post, channel, when)
        when += timedelta(minutes=3)
        assert dispatcher.recover_leases(when) == 2
        expected = AiringStatus.planned if recovery < 3 else None
        if expected is not None:
            assert h.first(hooked).status == h.first(never, "tg").status == expected
    given_up = h.first(hooked)
    assert given_up.status == AiringStatus.unconfirmed  # a request may have left each time
    assert given_up.error == (
        "3 processes stopped while sending it, so it is not sent again automatically; "
        f"webhook recognises its idempotency key, so `scheduler queue retry {hooked}` can't "
        "post it twice"
    )
    nothing_left = h.first(never, "tg")
    assert nothing_left.status == AiringStatus.failed  # no "sending" mark: nothing left
    assert f"nothing reached telegram: `scheduler queue retry {never}` sends it" in (
        nothing_left.error or ""
    )
    assert h.hook.requests == [] and h.telegram.requests == []
    assert dispatcher.recover_leases(when + timedelta(minutes=3)) == 0


class ExplodingPublisher:
    """A publisher with a bug: what a token with a non-ASCII character did inside httpx."""

    deduplicates = True

    def __init__(self) -> None:
        self.calls = 0

    def publish(self, delivery: Delivery) -> Receipt:
        self.calls += 1
        "Bearer tök-secret".encode("ascii")  # raises UnicodeEncodeError
        raise AssertionError("unreachable")

    async def publish_async(self, delivery: Delivery) -> Receipt:
        return self.publish(delivery)

    async def connect_async(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def close_async(self) -> None:
        pass


def test_an_unexpected_exception_in_a_send_ends_in_an_outcome(harness: Harness) -> None:
    h = harness
    at = T0 + timedelta(minutes=25)
    first = h.add("first", "hook", at=at)
    second = h.add("second", "hook", at=at + SPACING)
    exploding = ExplodingPublisher()
    publishers = {
        **build_publishers(h.config.channels, h.clients, now=h.clock),
        "hook": exploding,
    }
    daemon = Daemon(h.config, h.store, publishers, clock=h.clock, retry=NO_WAIT)
    h.daemons.append(daemon)
    h.tick(daemon, at)
    h.tick(daemon, at + SPACING)  # the channel's worker is still there
    assert exploding.calls == 2  # a bug is not retried
    for post in (first, second):
        airing = h.first(post)
        assert airing.status == AiringStatus.unconfirmed
        assert airing.lease_until is None
        error = airing.error or ""
        assert error.startswith("unexpected UnicodeEncodeError at test_daemon.py:")
        assert "\n" not in error and "tök" not in error and "ö" not in error
        assert f"`scheduler queue retry {post}` can't post it twice" in error


def test_a_cancel_in_the_early_claim_window_sends_nothing(harness: Harness) -> None:
    h = harness
    at = T0 + timedelta(minutes=25)
    post = h.add("cancelled at the last moment", "hook", at=at, evergreen=False)
    publishers = build_publishers(h.config.channels, h.clients, now=h.clock)
    daemon = Daemon(
        h.config,
        h.store,
        publishers,
        clock=h.clock,
        retry=NO_WAIT,
        claim_ahead=timedelta(seconds=2),
    )
    h.daemons.append(daemon)
    h.clock.now = at - timedelta(seconds=1)
    daemon.tick(h.clock.now)
    wait_until(lambda: h.first(post).status == AiringStatus.publishing)  # claimed early
    done = h.store.cancel_post(post, now=h.clock.now)
    assert done.in_flight == (h.first(post).id,) and done.cancelled == ()
    h.clock.now = at  # its time comes: the worker checks before sending
    wait_until(lambda: not daemon.dispatcher.busy())
    airing = h.first(post)
    assert (airing.status, airing.error) == (AiringStatus.cancelled, "cancelled before it was sent")
    assert h.hook.requests == []
    assert h.listed(post)["status"] == "cancelled"


def test_an_interrupted_attempt_then_connect_errors_is_unconfirmed(harness: Harness) -> None:
    """Only the last error used to count: the first attempt may have made the post."""
    h = harness
    h.hook.drop_next()  # the receiver takes it, the answer is lost
    h.hook.fail_next(503, times=10)
    at = T0 + timedelta(minutes=25)
    post = h.add("made, then unreachable", "hook", at=at)
    h.tick(h.daemon(), at)
    airing = h.first(post)
    assert airing.status == AiringStatus.unconfirmed
    assert airing.maybe_sent
    assert (airing.error or "").startswith("gave up after 4 attempts: webhook (json) answered 503")
    assert (airing.error or "").endswith(
        f"an attempt may have reached webhook: webhook recognises its idempotency key, so "
        f"`scheduler queue retry {post}` can't post it twice"
    )
    assert len(h.hook.posts) == 1 and len(h.hook.requests) == 4
    assert h.listed(post)["status"] == "unconfirmed"


def test_history_shows_the_text_that_aired_after_an_edit_and_a_cancel(harness: Harness) -> None:
    h = harness
    at = T0 + timedelta(minutes=25)
    post = h.add("typo in the launch post", "hook", at=at)
    daemon = h.daemon()
    h.tick(daemon, at)
    aired = h.first(post)
    assert aired.status == AiringStatus.published
    assert h.hook.requests[0].body["body"] == "typo in the launch post"

    edited = h.invoke("queue", "edit", str(post), "fixed launch post", config=h.config_path)
    assert edited.returncode == 0, edited.stderr
    assert f"airing {aired.id} keeps the text it was sent with" in edited.stderr
    shown = h.cli_json("queue", "show", str(post))
    assert shown["body"] == "fixed launch post"
    (history,) = [a for a in shown["airings"] if a["id"] == aired.id]
    assert (history["status"], history["body"]) == ("published", "typo in the launch post")
    calendar = h.cli_json("calendar", "--from", "2026-11-23T12:00Z", "--days", "1")
    (in_calendar,) = [a for a in calendar["airings"] if a["id"] == aired.id]
    assert in_calendar["body"] == "typo in the launch post"
    as_text = h.invoke("queue", "show", str(post), config=h.config_path)
    assert as_text.returncode == 0, as_text.stderr
    aired_line, sent_line = [
        line for line in as_text.stdout.splitlines() if f"#{aired.id} " in line or "sent:" in line
    ]
    assert "published" in aired_line
    assert sent_line.strip() == "sent: typo in the launch post"

    cancelled = h.invoke("queue", "cancel", str(post), config=h.config_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"cancelled post {post}: ")
    assert cancelled.stdout.endswith(f"airing {aired.id} already aired and stays published\n")
    listed = h.listed(post)
    assert listed["status"] == "published"
    (history,) = [a for a in listed["airings"] if a["id"] == aired.id]
    assert (history["status"], history["body"]) == ("published", "typo in the launch post")
    assert {a["status"] for a in listed["airings"]} <= {"published", "cancelled"}


def test_a_retried_floating_airing_is_sent_again_as_itself(harness: Harness) -> None:
    """The planner must not replace or move a floating airing that was claimed once."""
    h = harness
    h.hook.fail_next(422, message="try again later")
    post = h.add("floating, refused once", "hook", evergreen=False)
    daemon = h.daemon()
    h.tick(daemon, T0)
    planned = h.first(post)
    h.tick(daemon, planned.at)
    failed = h.first(post)
    assert failed.status == AiringStatus.failed and not failed.maybe_sent  # a 4xx: nothing left

    later = planned.at + timedelta(hours=5)
    assert h.store.retry_post(post, now=later) == [failed.id]  # `queue retry`, at `later`
    h.tick(daemon, later)
    (sent,) = h.airings(post)
    assert (sent.id, sent.status, sent.first_due) == (failed.id, AiringStatus.published, planned.at)
    first, second = h.hook.requests
    assert first.body["idempotency_key"] == second.body["idempotency_key"]
    assert first.body["due"] == second.body["due"] == iso_utc(planned.at)


@dataclass
class MastodonWorld:
    """One Mastodon channel on a fake server, its store and a daemon with an injected clock."""

    config: Config
    store: Store
    clock: Clock
    daemon: Daemon


@contextmanager
def mastodon_world(tmp_path: Path, db_url: str, mastodon: FakeMastodon) -> Iterator[MastodonWorld]:
    (tmp_path / "masto-token").write_text("mastodon-test-token\n", encoding="utf-8")
    config_path = write_config(
        tmp_path,
        f"""
        [channels.masto]
        publisher = "mastodon"
        base_url = "{mastodon.base_url}"
        token = {{ file = "masto-token" }}
        timezone = "UTC"
        """,
        database=db_url,
    )
    config = load_config(config_path)
    store = Store(config.scheduler.database)
    store.migrate()
    clients = ChannelClients(timeout=2.0)
    clock = Clock(T0)
    publishers = build_publishers(config.channels, clients, now=clock)
    daemon = Daemon(config, store, publishers, clock=clock, retry=NO_WAIT)
    try:
        yield MastodonWorld(config, store, clock, daemon)
    finally:
        daemon.close(timeout=5)
        clients.close()
        store.close()


def test_a_mastodon_airing_past_its_key_memory_is_not_called_safe_to_retry(
    tmp_path: Path, db_url: str
) -> None:
    """Mastodon forgets idempotency keys after an hour: the advice must say so."""
    with FakeMastodon() as mastodon, mastodon_world(tmp_path, db_url, mastodon) as world:
        config, store, daemon = world.config, world.store, world.daemon
        at = T0 + timedelta(minutes=25)
        posts = store.add_posts(
            [
                PostDraft(body=f"toot {n}", kind="core", channels=("masto",), editor="s", at=t)
                for n, t in enumerate((at, at + HOUR))
            ],
            now=T0,
            spacing={"masto": SPACING},
        )
        for due in (at, at + HOUR):
            store.claim_due(
                owner="gone:1:dead",
                now=due,
                lease=config.scheduler.lease,
                limit=1,
                key_prefix="k-",
                channels=["masto"],
            )
        assert daemon.dispatcher.recover_leases(at + HOUR + timedelta(minutes=30)) == 2
        old, recent = (store.get_post(p).airings[0] for p in posts)
        assert old.status == AiringStatus.unconfirmed
        assert old.error == (
            "interrupted by a process that stopped while sending it; mastodon has forgotten "
            "its idempotency key by now: check the channel, and if it isn't there, "
            f"`scheduler queue retry {posts[0]}` sends it"
        )
        assert recent.status == AiringStatus.planned  # within the hour: re-sent by its key
        assert mastodon.requests == []
