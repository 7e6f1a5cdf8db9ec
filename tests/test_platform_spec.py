"""A platform is its spec and its publisher plus one registry line (docs/architecture.md,
"Adding a platform").

A toy platform is declared here, in the test, and registered beside the real ones: config
validation, the queue-time limits and the dispatcher (the publisher the spec names, its
deduplication and key memory) all use it without any other module knowing its name. The
real specs are checked against their publishers: what a spec says can be read is what the
publisher reads.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler.config import ChannelSettings, Config, load_config, one_of, read_path
from scheduler.domain import AiringStatus, PostDraft
from scheduler.errors import ConfigError, InputError
from scheduler.media import media_rule
from scheduler.platforms.registry import PLATFORMS
from scheduler.platforms.spec import (
    Deduplication,
    LengthRule,
    Option,
    PlatformSpec,
    Read,
    platform_registry,
)
from scheduler.publishers import ChannelClients, build_publishers, make_http_client
from scheduler.publishers.base import Delivery, Readable, Receipt
from scheduler.publishers.notices import Readable as Listenable
from scheduler.publishers.registry import build_publisher
from scheduler.runtime.daemon import Daemon
from scheduler.runtime.dispatch import RetrySettings
from scheduler.store.store import Store
from scheduler.text import graphemes, length_problem
from tests.conftest import write_config

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NO_WAIT = RetrySettings(attempts=2, initial=0.0, maximum=0.0)
SENT: list[Delivery] = []  # what every toy publisher sent, in order


class ToyPublisher:
    """Sends nowhere: it remembers each delivery, as a platform would keep the post."""

    def __init__(self, inbox: str, shout: bool) -> None:
        self.inbox = inbox
        self.shout = shout

    @classmethod
    def from_channel(
        cls,
        channel: ChannelSettings,
        client: httpx.Client,
        *,
        now: Callable[[], datetime],
        new_async_client: object = None,
    ) -> ToyPublisher:
        return cls(channel.option("inbox"), channel.option("shout") == "yes")

    def publish(self, delivery: Delivery) -> Receipt:
        SENT.append(delivery)
        return Receipt(remote_id=str(len(SENT)), remote_url=None)

    async def publish_async(self, delivery: Delivery) -> Receipt:
        return self.publish(delivery)

    async def connect_async(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def close_async(self) -> None:
        pass


def _toy_limits(options: Mapping[str, Any], media: bool) -> tuple[LengthRule, ...]:
    return (LengthRule(10, "graphemes", graphemes, " (as Toy counts)"),)


TOY = PlatformSpec(
    name="toy",
    options=(
        Option("inbox", read_path, required=True),
        Option("shout", one_of(("yes", "no")), default="no"),
    ),
    client=f"{__name__}:ToyPublisher",  # as this module was imported
    length_rules=_toy_limits,
    no_media="toys take no media",
    deduplication=Deduplication(memory=timedelta(minutes=5)),
)
# The one registry line a new platform needs, here made in the test.
WITH_TOY = platform_registry(*PLATFORMS.values(), TOY)

TOY_CHANNEL = """
[channels.play]
publisher = "toy"
inbox = "toy-inbox"
timezone = "UTC"
"""


def _toy_config(tmp_path: Path, body: str = TOY_CHANNEL, **kw: Any) -> Config:
    return load_config(write_config(tmp_path, body, **kw), platforms=WITH_TOY)


def test_config_validates_a_registered_platform_through_its_spec(tmp_path: Path) -> None:
    config = _toy_config(tmp_path)
    play = config.channel("play")
    assert play.platform is TOY and play.publisher == "toy"
    assert play.options == {"inbox": str(tmp_path.resolve() / "toy-inbox"), "shout": "no"}

    broken = '[channels.play]\npublisher = "toy"\nshout = "loud"\ncolour = "red"\n'
    with pytest.raises(ConfigError) as caught:
        _toy_config(tmp_path, broken)
    accepted = "cadence, freeze, goals, inbox, max_gap, min_spacing, mix, publisher, "
    accepted += "quiet_hours, repost, response_time, shout, slot_offset, timezone"
    assert [problem.split(": ", 1)[1] for problem in caught.value.problems] == [
        f"channels.play.colour: unknown key; accepted keys: {accepted}",
        "channels.play.inbox: required for the toy publisher",
        "channels.play.shout: 'loud'; accepted: yes, no",
    ]


def test_an_unregistered_platform_is_refused_and_a_registered_one_is_listed(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as plain:
        load_config(write_config(tmp_path, TOY_CHANNEL))  # the registry the scheduler has
    assert plain.value.problems == [
        f"{tmp_path / 'config.toml'}: channels.play.publisher: 'toy'; "
        "accepted: file, webhook, mastodon, bluesky, telegram"
    ]
    with pytest.raises(ConfigError) as other:
        _toy_config(tmp_path, '[channels.play]\npublisher = "myspace"\n')
    assert other.value.problems[0].endswith(
        "'myspace'; accepted: file, webhook, mastodon, bluesky, telegram, toy"
    )
    with pytest.raises(ValueError, match="two platforms are named 'toy'"):
        platform_registry(*WITH_TOY.values(), TOY)


def test_queue_time_limits_come_from_the_spec(tmp_path: Path) -> None:
    play = _toy_config(tmp_path).channel("play")
    assert length_problem("سَلَامٌ👍🏽🇸🇦abc", play) is None  # 7 graphemes
    assert length_problem("x" * 11, play) == (
        "the body is 11 graphemes long (as Toy counts); channel 'play' (toy) accepts at most 10"
    )
    with pytest.raises(InputError, match=r"channel 'play' \(toy\) can't take media: toys take no"):
        media_rule(play)


def _until_idle(daemon: Daemon) -> None:
    deadline = time.monotonic() + 60
    while daemon.dispatcher.busy():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_dispatch_builds_sends_and_recovers_by_the_spec(tmp_path: Path) -> None:
    """The daemon builds the toy publisher through the spec's factory and sends through it;
    an airing a dead process was sending is re-sent by its key within the spec's key memory
    (5 minutes) and called unconfirmed, with the advice true for the toy, after it."""
    SENT.clear()
    config = _toy_config(tmp_path)
    store = Store(config.scheduler.database)
    store.migrate()
    clients = ChannelClients(timeout=2.0)
    clock = {"now": T0}
    publishers = build_publishers(config.channels, clients, now=lambda: clock["now"])
    assert isinstance(publishers["play"], ToyPublisher)
    daemon = Daemon(config, store, publishers, clock=lambda: clock["now"], retry=NO_WAIT)
    spacing = {name: channel.min_spacing for name, channel in config.channels.items()}
    try:
        at = T0 + timedelta(minutes=25)
        drafts = [
            PostDraft(body=f"toy {n}", kind="core", channels=("play",), editor="s", at=t)
            for n, t in enumerate((at, at + timedelta(hours=1), at + timedelta(hours=2)))
        ]
        sent_now, stale, fresh = store.add_posts(drafts, now=T0, spacing=spacing)
        clock["now"] = at
        daemon.tick(at)
        _until_idle(daemon)
        assert [d.body for d in SENT] == ["toy 0"]
        assert store.get_post(sent_now).airings[0].status == AiringStatus.published

        for due in (at + timedelta(hours=1), at + timedelta(hours=2)):  # stale, then fresh
            store.claim_due(
                owner="gone:1:dead",
                now=due,
                lease=config.scheduler.lease,
                limit=1,
                key_prefix="k-",
                channels=["play"],
            )
        later = at + timedelta(hours=2, minutes=4)
        assert daemon.dispatcher.recover_leases(later) == 2
        fresh_airing = store.get_post(fresh).airings[0]
        stale_airing = store.get_post(stale).airings[0]
        assert fresh_airing.status == AiringStatus.planned  # 4 minutes: the toy knows its key
        assert stale_airing.status == AiringStatus.unconfirmed  # 64 minutes: forgotten
        assert stale_airing.error == (
            "interrupted by a process that stopped while sending it; toy has forgotten its "
            "idempotency key by now: check the channel, and if it isn't there, "
            f"`scheduler queue retry {stale}` sends it"
        )
        assert [d.body for d in SENT] == ["toy 0"]  # recovery itself sends nothing
    finally:
        daemon.close(timeout=5)
        clients.close()
        store.close()


def test_what_a_spec_says_is_read_is_what_its_publisher_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "token-1234")
    secret = '{ env = "TOKEN" }'
    body = f"""
        [channels.w]
        publisher = "webhook"
        url = "http://127.0.0.1:9/h"
        [channels.m]
        publisher = "mastodon"
        base_url = "https://m.example"
        token = {secret}
        [channels.b]
        publisher = "bluesky"
        handle = "a.example"
        app_password = {secret}
        [channels.t]
        publisher = "telegram"
        bot_token = {secret}
        chat_id = -100
        """
    config = load_config(write_config(tmp_path, body))
    assert {c.publisher for c in config.channels.values()} == set(PLATFORMS)
    with make_http_client(timeout=2.0) as client:
        for channel in config.channels.values():
            publisher = build_publisher(channel, client, now=lambda: T0)
            reads = channel.platform.reads
            assert isinstance(publisher, Listenable) == (Read.notices in reads), channel.name
            assert isinstance(publisher, Readable) == (
                Read.counts in reads and Read.followers in reads
            ), channel.name
            publisher.close()


def test_no_module_outside_platforms_and_publishers_names_a_platform() -> None:
    """Platform knowledge has one home: a string that is a platform's name (`"mastodon"`)
    appears only in `platforms/` and `publishers/`, so no table elsewhere can grow a row per
    platform."""
    package = Path(__file__).resolve().parent.parent / "scheduler"
    names = set(PLATFORMS) - {"file"}  # "file" is also a secret's source, `{ file = … }`
    found = [
        f"{path.relative_to(package)}:{node.lineno}: {node.value!r}"
        for path in sorted(package.rglob("*.py"))
        if path.parent.name not in ("platforms", "publishers")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert found == []
