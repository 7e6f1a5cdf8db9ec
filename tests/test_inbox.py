"""Listening and answering (DESIGN §10) in process: the inbox store on SQLite and
PostgreSQL, the listener against the Mastodon and Bluesky fakes, and reply airings sent by
the daemon's own dispatcher, threaded as each platform wants.

The clock is injected; the fakes are real local HTTP servers. Each test runs on both
backends (`store`/`db_url` fixtures).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from scheduler.cli.replies import reply_text
from scheduler.config import Config, load_config
from scheduler.domain import AiringKind, AiringStatus, InboxStatus, Notice
from scheduler.errors import ConfigError, InboxItemNotFound, InputError, ReplyNotAPost
from scheduler.publishers import ChannelClients, build_publishers
from scheduler.publishers.notices import html_to_text
from scheduler.runtime.daemon import Daemon
from scheduler.runtime.dispatch import RetrySettings
from scheduler.runtime.listener import Listener, readers_of
from scheduler.store.inbox import InboxStore
from scheduler.store.models import Airing
from scheduler.store.store import Outcome, PostDraft, Store
from tests.conftest import RunCli, write_config
from tests.fakeplatforms import FakeBluesky, FakeMastodon

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NO_WAIT = RetrySettings(attempts=3, initial=0.0, maximum=0.0)
HOSTILE = "<script>alert(1)</script> \x1b]0;pwned\x07\x1b[2J hi \u202etxet"
ARABIC = "شكراً على المنشور 🚀 👨\u200d👩\u200d👧"


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def notice(platform_id: str, *, answers: str | None = None, at: datetime = T0) -> Notice:
    return Notice(
        platform_id=platform_id,
        kind="reply" if answers else "mention",
        author="@ali@example.social",
        text=f"text of {platform_id}",
        at=at,
        url=f"https://example.social/@ali/{platform_id}",
        answers=answers,
        target={"status_id": platform_id, "author": "@ali@example.social"},
    )


def published_airing(store: Store, remote_id: str) -> tuple[int, int]:
    """A post of ours aired on `main` with the platform id `remote_id`: (airing, post)."""
    draft = PostDraft(body="our launch post", kind="core", channels=("main",), editor="sara")
    (post_id,) = store.add_posts([draft], now=T0, spacing={})
    with store.session(write=True) as session:
        airing = Airing(
            post_id=post_id,
            channel="main",
            kind="core",
            at=T0,
            status=AiringStatus.published,
            remote_id=remote_id,
            body="our launch post",
            updated=T0,
        )
        session.add(airing)
        session.flush()
        assert airing.id is not None
        return airing.id, post_id


# --- the store, on both backends -------------------------------------------------------------


def test_a_page_read_twice_stores_each_item_once_with_its_cursor(store: Store) -> None:
    inbox = InboxStore(store)
    assert inbox.cursor("main") is None
    assert inbox.ingest("main", [notice("1"), notice("2")], "2", now=T0) == 2
    assert inbox.ingest("main", [notice("2"), notice("3")], "3", now=T0) == 1
    assert inbox.ingest("main", [], None, now=T0) == 0  # no cursor: the stored one stays
    assert inbox.cursor("main") == "3"
    assert [e.item.platform_id for e in inbox.entries()] == ["1", "2", "3"]
    # The same id on another channel is another item.
    assert inbox.ingest("other", [notice("1")], "1", now=T0) == 1


def test_an_item_answering_our_post_names_the_airing_and_post(store: Store) -> None:
    airing_id, post_id = published_airing(store, "109-ours")
    inbox = InboxStore(store)
    inbox.ingest("main", [notice("5", answers="109-ours"), notice("6", answers="x")], "6", now=T0)
    first, second = inbox.entries()
    assert (first.item.airing_id, first.item.post_id) == (airing_id, post_id)
    assert (first.answers_kind, first.answers_body) == ("core", "our launch post")
    assert (second.item.airing_id, second.item.post_id) == (None, None)
    assert first.as_json() == {
        "id": first.item.id,
        "channel": "main",
        "kind": "reply",
        "author": "@ali@example.social",
        "text": "text of 5",
        "at": "2026-11-23T12:00:00Z",
        "url": "https://example.social/@ali/5",
        "airing_id": airing_id,
        "post_id": post_id,
        "status": "open",
        "reply": None,
    }


def test_a_reply_is_queued_once_answers_when_published_and_is_never_planned(store: Store) -> None:
    inbox = InboxStore(store)
    inbox.ingest("main", [notice("7")], "7", now=T0)
    (entry,) = inbox.entries()
    item_id = entry.item.id
    assert item_id is not None
    revision = store.revision()
    airing_id = inbox.queue_reply(item_id, "@ali@example.social thanks", editor="sara", now=T0)
    assert store.revision() > revision  # the daemon notices within its poll
    with pytest.raises(InputError, match=f"already has reply airing {airing_id}"):
        inbox.queue_reply(item_id, "again", editor="sara", now=T0)
    posts, airings = store.planning_rows()
    assert posts == [] and airings == []  # conversation, not broadcast
    assert store.list_posts(now=T0) == []
    assert store.overdue(now=T0 + timedelta(days=1)) == []  # sent late, never replanned
    assert store.next_due() == T0

    (claimed,) = store.claim_due(
        owner="me", now=T0, lease=timedelta(seconds=30), limit=10, key_prefix="k", channels=["main"]
    )
    assert claimed.kind == AiringKind.reply
    assert claimed.reply_to == {"status_id": "7", "author": "@ali@example.social"}
    assert inbox.entries()[0].item.status == InboxStatus.open
    store.record_outcomes(
        [Outcome(airing_id, AiringStatus.published, "published", T0, remote_id="r")], owner="me"
    )
    assert inbox.entries() == []  # answered: no longer open
    (answered,) = inbox.entries(include_closed=True)
    assert answered.item.status == InboxStatus.answered
    assert answered.as_json()["reply"] == airing_id
    assert answered.reply_status == AiringStatus.published


def test_a_failed_reply_can_be_replaced_and_done_closes_an_item(store: Store) -> None:
    inbox = InboxStore(store)
    inbox.ingest("main", [notice("8"), notice("9")], "9", now=T0)
    first, second = (e.item.id for e in inbox.entries())
    assert first is not None and second is not None
    airing_id = inbox.queue_reply(first, "one", editor="sara", now=T0)
    store.claim_due(
        owner="me", now=T0, lease=timedelta(seconds=30), limit=10, key_prefix="k", channels=["main"]
    )
    store.record_outcomes(
        [Outcome(airing_id, AiringStatus.failed, "failed", T0, detail="422")], owner="me"
    )
    assert inbox.queue_reply(first, "two", editor="sara", now=T0) != airing_id
    assert inbox.done(second).status == InboxStatus.done
    assert [e.item.id for e in inbox.entries()] == [first]
    with pytest.raises(InboxItemNotFound, match="no inbox item with id 999"):
        inbox.done(999)


def test_a_replys_text_is_not_an_editable_post(store: Store) -> None:
    """queue show/edit/cancel/retry of the post id a reply is stored under point to the inbox
    instead of showing or changing conversation as if it were broadcast."""
    inbox = InboxStore(store)
    inbox.ingest("main", [notice("11")], "11", now=T0)
    (entry,) = inbox.entries()
    assert entry.item.id is not None
    airing_id = inbox.queue_reply(entry.item.id, "thanks", editor="sara", now=T0)
    with store.session() as session:
        post_id = session.execute(
            sqlalchemy.text("SELECT post_id FROM airing WHERE id = :id"), {"id": airing_id}
        ).scalar_one()
    expected = (
        f"post {post_id} is the text of a reply to inbox item {entry.item.id}, not a post in the "
        f"queue: `scheduler inbox --all` shows it; `scheduler reply {entry.item.id}` answers again"
    )
    attempts: list[Callable[[], object]] = [
        lambda: store.get_post(post_id),
        lambda: store.edit_post(post_id, {"body": "edited"}, now=T0, spacing={}),
        lambda: store.cancel_post(post_id, now=T0),
        lambda: store.retry_post(post_id, now=T0),
    ]
    for attempt in attempts:
        with pytest.raises(ReplyNotAPost) as refused:
            attempt()
        assert str(refused.value) == expected
    (claimed,) = store.claim_due(
        owner="me", now=T0, lease=timedelta(seconds=30), limit=10, key_prefix="k", channels=["main"]
    )
    assert claimed.body == "thanks"  # untouched: still sent as queued


def test_items_waiting_past_response_time_are_named_once(store: Store) -> None:
    inbox = InboxStore(store)
    inbox.ingest("main", [notice("1", at=T0), notice("2", at=T0 + timedelta(hours=3))], "2", now=T0)
    limits = {"main": timedelta(hours=4)}
    assert [i.platform_id for i in inbox.newly_late(limits, now=T0 + timedelta(hours=5))] == ["1"]
    assert inbox.newly_late(limits, now=T0 + timedelta(hours=5)) == []
    assert [i.platform_id for i in inbox.newly_late(limits, now=T0 + timedelta(hours=8))] == ["2"]
    waiting = inbox.waiting()["main"]
    assert (waiting.open, waiting.oldest) == (2, T0)


def test_mastodon_html_becomes_plain_text_with_links_as_urls() -> None:
    content = (
        '<p><span class="h-card"><a href="https://x.test/@brand" class="u-url mention">'
        '@<span>brand</span></a></span> see <a href="https://example.com/a/very/long/path" '
        'rel="nofollow"><span class="invisible">https://</span><span class="ellipsis">'
        'example.com/a/ve</span></a> &lt;b&gt; &amp; <a href="https://x.test/tags/x" '
        'class="mention hashtag">#<span>x</span></a></p><p>line<br>two</p>'
    )
    assert html_to_text(content) == (
        "@brand see https://example.com/a/very/long/path <b> & #x\n\nline\ntwo"
    )


def test_reply_text_adds_the_mastodon_handle_and_checks_the_limit(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            """
            [channels.masto]
            publisher = "mastodon"
            base_url = "https://masto.test"
            token = { env = "T_TOKEN" }
            """,
        )
    )
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    InboxStore(store).ingest("masto", [notice("1")], "1", now=T0)
    item = InboxStore(store).entries()[0].item
    assert reply_text(config, item, "thanks!") == "@ali@example.social thanks!"
    assert reply_text(config, item, "@ali@example.social yes") == "@ali@example.social yes"
    with pytest.raises(InputError, match="reply to inbox item 1: the reply is 5"):
        reply_text(config, item, "x" * 500)
    with pytest.raises(InputError, match="empty"):
        reply_text(config, item, "  ")
    store.close()


# --- listening and answering against the fakes -----------------------------------------------


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with FakeMastodon() as mastodon, FakeBluesky() as bluesky:
        monkeypatch.setenv("T_MASTO", mastodon.token)
        monkeypatch.setenv("T_BSKY", bluesky.password)
        config = load_config(
            write_config(
                tmp_path,
                f"""
                [channels.masto]
                publisher = "mastodon"
                base_url = "{mastodon.base_url}"
                token = {{ env = "T_MASTO" }}

                [channels.sky]
                publisher = "bluesky"
                service = "{bluesky.base_url}"
                handle = "{bluesky.handle}"
                app_password = {{ env = "T_BSKY" }}
                """,
                database=db_url,
            )
        )
        made = World(config, Store(db_url), mastodon, bluesky)
        made.store.migrate()
        yield made
        made.close()


class World:
    def __init__(
        self, config: Config, store: Store, mastodon: FakeMastodon, bluesky: FakeBluesky
    ) -> None:
        self.config, self.store, self.mastodon, self.bluesky = config, store, mastodon, bluesky
        self.clock = Clock(T0)
        self.clients = ChannelClients(timeout=5.0)
        self.publishers = build_publishers(config.channels, self.clients, now=self.clock)
        self.inbox = InboxStore(store)
        self.daemons: list[Daemon] = []

    def listener(self) -> Listener:
        """A fresh listener, as a restarted daemon makes one (nothing kept in memory)."""
        return Listener(self.config, self.inbox, readers_of(self.publishers), clock=self.clock)

    def add(self, body: str, channel: str) -> None:
        """A post pinned to now on `channel`."""
        draft = PostDraft(body=body, kind="core", channels=(channel,), editor="sara", at=T0)
        spacing = {name: c.min_spacing for name, c in self.config.channels.items()}
        self.store.add_posts([draft], now=T0, spacing=spacing)

    def texts(self, channel: str) -> list[str]:
        return [e.item.text for e in self.inbox.entries(channel=channel, include_closed=True)]

    def send_due(self) -> None:
        daemon = Daemon(self.config, self.store, self.publishers, clock=self.clock, retry=NO_WAIT)
        self.daemons.append(daemon)
        daemon.tick(self.clock())
        wait_until(lambda: not daemon.dispatcher.busy())

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.close(timeout=5)
        self.clients.close()
        self.store.close()


def test_mastodon_mentions_arrive_once_across_pages_and_restarts(world: World) -> None:
    world.mastodon.page_size = 2
    for text in ("first", ARABIC, HOSTILE, "fourth", "fifth"):
        world.mastodon.mention(text)
    world.listener().poll(world.clock())
    expected = ["@brand first", f"@brand {ARABIC}", f"@brand {HOSTILE}", "@brand fourth"]
    expected.append("@brand fifth")
    assert world.texts("masto") == expected  # stored as received, oldest first
    pages = world.mastodon.requests_to("/api/v1/notifications")
    assert [r.query["min_id"] for r in pages] == [["0"], ["2"], ["4"], ["5"]]
    assert all(r.query["types[]"] == ["mention"] for r in pages)
    # A restart (a new listener) reads only what came meanwhile.
    world.mastodon.mention("sixth", author="bob@other.test")
    world.clock.now += world.config.scheduler.listen
    world.listener().poll(world.clock())
    assert world.texts("masto")[5:] == ["@brand sixth"]
    assert world.mastodon.requests_to("/api/v1/notifications")[4].query["min_id"] == ["5"]
    assert len(world.inbox.entries(channel="masto")) == 6


def test_a_429_from_notifications_delays_listening_only(world: World) -> None:
    world.mastodon.mention("one")
    world.mastodon.rate_limit_next(seconds=600, path="/api/v1/notifications")
    listener = world.listener()
    wake = listener.poll(world.clock())
    assert world.texts("masto") == []
    assert wake == world.clock() + world.config.scheduler.listen  # sky is read every 2m
    world.clock.now += timedelta(minutes=5)
    listener.poll(world.clock())
    assert world.texts("masto") == []  # still within the platform's 10 minutes
    # Publishing to the same platform meanwhile is not held up.
    world.add("launch", "masto")
    world.send_due()
    assert [s["text"] for s in world.mastodon.statuses] == ["launch"]
    world.clock.now += timedelta(minutes=6)
    listener.poll(world.clock())
    assert world.texts("masto") == ["@brand one"]


def test_a_used_up_rate_limit_stops_reading_after_the_page_until_its_reset(world: World) -> None:
    world.mastodon.page_size = 1
    world.mastodon.mention("one")
    world.mastodon.mention("two")
    world.mastodon.rate_remaining = 0
    world.clock.now = datetime.now(UTC)  # the fake's reset is 5 minutes from the real time
    listener = world.listener()
    wake = listener.poll(world.clock())
    assert world.texts("masto") == ["@brand one"]  # the page read is kept
    assert len(world.mastodon.requests_to("/api/v1/notifications")) == 1
    assert wake == world.clock() + world.config.scheduler.listen  # the other channel's turn
    world.mastodon.rate_remaining = 299
    world.clock.now += timedelta(minutes=2, seconds=30)  # a listen interval, not the reset
    listener.poll(world.clock())
    assert len(world.mastodon.requests_to("/api/v1/notifications")) == 1
    world.clock.now += timedelta(minutes=4)
    listener.poll(world.clock())
    assert world.texts("masto") == ["@brand one", "@brand two"]


def test_a_mastodon_reply_is_sent_once_threaded_and_answers_the_item(world: World) -> None:
    world.add("launch", "masto")
    world.send_due()
    (ours,) = world.mastodon.statuses
    theirs = world.mastodon.mention("nice!", in_reply_to_id=ours["id"])
    world.listener().poll(world.clock())
    (entry,) = world.inbox.entries(channel="masto")
    assert entry.item.kind == "reply" and entry.item.author == "@ali@example.social"
    assert entry.answers_body == "launch"
    assert entry.item.id is not None
    body = reply_text(world.config, entry.item, "thank you")
    world.inbox.queue_reply(entry.item.id, body, editor="sara", now=world.clock())
    world.send_due()
    world.send_due()  # a second daemon pass sends nothing more
    replies = world.mastodon.statuses[1:]
    assert [(r["text"], r["in_reply_to_id"]) for r in replies] == [
        ("@ali@example.social thank you", theirs["id"])
    ]
    assert world.inbox.entries() == []
    assert world.inbox.entries(include_closed=True)[0].item.status == InboxStatus.answered


def test_bluesky_replies_mentions_and_quotes_arrive_once_and_replies_thread(world: World) -> None:
    world.bluesky.page_size = 2
    world.add("launch", "sky")
    world.send_due()
    (rkey,) = world.bluesky.records
    ours = world.bluesky.record_ref(rkey)
    first = world.bluesky.notify("reply", ARABIC, parent=ours)
    world.bluesky.notify("mention", HOSTILE)
    world.bluesky.notify("quote", "look at this", quoted=ours)
    world.listener().poll(world.clock())
    # A reply deeper in the thread: its root is our post, its parent the first reply.
    deeper = world.bluesky.notify("reply", "and more", parent=first, root=ours)
    world.bluesky.notify("like", "not for the inbox")
    world.clock.now += world.config.scheduler.listen
    world.listener().poll(world.clock())
    entries = world.inbox.entries(channel="sky")
    assert [(e.item.kind, e.item.text) for e in entries] == [
        ("reply", ARABIC),
        ("mention", HOSTILE),
        ("quote", "look at this"),
        ("reply", "and more"),
    ]
    assert [e.item.post_id is not None for e in entries] == [True, False, True, False]
    last = entries[-1].item
    assert last.id is not None
    world.inbox.queue_reply(last.id, "thanks", editor="sara", now=world.clock())
    world.send_due()
    replies = [r["value"] for k, r in world.bluesky.records.items() if k != rkey]
    assert [(r["text"], r["reply"]) for r in replies] == [
        ("thanks", {"root": ours, "parent": deeper})
    ]
    assert json.loads(last.target)["root_uri"] == ours["uri"]


# --- editors' views: CLI, status, calendar, log ----------------------------------------------


def test_inbox_cli_status_and_calendar_name_what_waits(tmp_path: Path, invoke: RunCli) -> None:
    config_path = write_config(tmp_path)
    config_path.write_text(
        config_path.read_text().replace('max_gap = "24h"', 'max_gap = "24h"\nresponse_time = "1h"'),
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    store.migrate()
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    hostile = Notice(
        platform_id="1",
        kind="mention",
        author="@mal\x1b[31m@evil.test",
        text=HOSTILE,
        at=long_ago,
        url="javascript:alert(1)",
        answers=None,
        target={"uri": "at://x", "cid": "c", "root_uri": "at://x", "root_cid": "c"},
    )
    InboxStore(store).ingest("main", [hostile, notice("2", at=datetime.now(UTC))], "2", now=T0)
    store.close()

    listed = invoke("inbox", config=config_path)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\u202e" not in listed.stdout
    assert listed.stdout.startswith("#1  main  mention  open  3h ago  @mal[31m@evil.test")
    shown = json.loads(invoke("inbox", "--format", "json", config=config_path).stdout)
    assert [item["text"] for item in shown["items"]] == [HOSTILE, "text of 2"]  # as received

    status = invoke("status", config=config_path)
    assert "inbox:            2 open, oldest waiting 3h, over response_time" in status.stdout

    out = tmp_path / "calendar.html"
    done = invoke("calendar", "--format", "html", "--output", str(out), config=config_path)
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "Unanswered" in page and "javascript:" not in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page and "\x1b" not in page

    inbox_page = tmp_path / "inbox.html"
    done = invoke(
        "calendar", "--format", "html", "--view", "inbox", "--lang", "ar",
        "--output", str(inbox_page), config=config_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = inbox_page.read_text(encoding="utf-8")
    assert '<p class="text" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert "<bdi>@mal[31m@evil.test</bdi>" in page and "javascript:" not in page
    assert 'href="https://example.social/@ali/2"' in page and "\x1b" not in page
    assert page.count('<li class="mention') == 2 and page.count(' late"') == 1

    unknown = invoke("inbox", "done", "99", config=config_path)
    assert unknown.returncode == 1
    assert "no inbox item with id 99" in unknown.stderr
    bad = invoke("reply", "x", "hi", config=config_path)
    assert bad.returncode == 2 and "'x' is not an inbox item id" in bad.stderr
    empty = invoke("reply", "2", "", config=config_path)
    assert empty.returncode == 1 and "it is empty" in empty.stderr


def test_the_listener_warns_once_per_item_past_response_time(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.mastodon.mention("anyone?")  # made at the fake's real time
    world.clock.now = datetime.now(UTC)
    listener = world.listener()
    listener.poll(world.clock())
    world.clock.now += timedelta(hours=5)  # the default response_time is 4h
    with caplog.at_level("WARNING", logger="scheduler.listen"):
        listener.poll(world.clock())
        listener.poll(world.clock() + timedelta(hours=1))
    late = [r.getMessage() for r in caplog.records if "over response_time" in r.getMessage()]
    assert len(late) == 1 and "from @ali@example.social" in late[0]


def test_listen_and_response_time_are_read_with_defaults_and_checked(tmp_path: Path) -> None:
    plain = load_config(write_config(tmp_path))
    assert plain.scheduler.listen == timedelta(minutes=2)
    assert plain.channels["main"].response_time == timedelta(hours=4)
    path = write_config(tmp_path, '\n[channels.other]\npublisher = "file"\npath = "o.jsonl"\n')
    text = path.read_text().replace('timezone = "UTC"\n', 'timezone = "UTC"\nlisten = "30s"\n', 1)
    text = text.replace('max_gap = "24h"\n', 'max_gap = "24h"\nresponse_time = "2h"\n', 1)
    text = text.replace('path = "o.jsonl"\n', 'path = "o.jsonl"\nresponse_time = "15m"\n')
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.scheduler.listen == timedelta(seconds=30)
    assert config.channels["main"].response_time == timedelta(hours=2)
    assert config.channels["other"].response_time == timedelta(minutes=15)
    path.write_text(text.replace('listen = "30s"', 'listen = "0s"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [p.split(":")[1].strip() for p in caught.value.problems] == ["scheduler.listen"]
