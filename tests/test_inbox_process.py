"""Listening and answering with the daemon as a real process (DESIGN §10).

`scheduler run` reads the Mastodon and Bluesky fakes served by this test process every
second; the inbox is looked at through the real CLI, run in this process (`invoke_cli`:
the editor's commands need no process of their own, and one per poll cost most of these
tests' CPU). Faults as in test_daemon_process: kill -9 with nothing flushed, downtime, a
request held in flight, a 429.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke_cli
from tests.fakeplatforms import FakeBluesky, FakeMastodon
from tests.test_daemon_process import Service, wait_until

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script> \x1b]0;pwned\x07\x1b[2J hi \u202etxet"
ARABIC = "شكراً على المنشور 🚀 👨\u200d👩\u200d👧"


class World:
    def __init__(self, tmp: Path, mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
        self.tmp, self.mastodon, self.bluesky = tmp, mastodon, bluesky
        (tmp / "masto-token").write_text(mastodon.token, encoding="utf-8")
        (tmp / "sky-password").write_text(bluesky.password, encoding="utf-8")
        self.config = tmp / "config.toml"
        self.config.write_text(
            textwrap.dedent(
                f"""
                [scheduler]
                database = "sqlite:///scheduler.db"
                lease = "3s"
                reconcile = "1s"
                listen = "1s"
                retry = {{ attempts = 6, initial = "0s", maximum = "0s" }}

                [defaults]
                min_spacing = "1s"
                response_time = "1h"

                [channels.masto]
                publisher = "mastodon"
                base_url = "{mastodon.base_url}"
                token = {{ file = "masto-token" }}
                timezone = "UTC"

                [channels.sky]
                publisher = "bluesky"
                service = "{bluesky.base_url}"
                handle = "{bluesky.handle}"
                app_password = {{ file = "sky-password" }}
                timezone = "UTC"
                """
            ),
            encoding="utf-8",
        )
        self.services: list[Service] = []

    def start(self) -> Service:
        service = Service(self.config, self.tmp / "daemon.log")
        self.services.append(service)
        return service

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = invoke_cli(*args, config=self.config, env={"SCHEDULER_EDITOR": "sara"})
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def items(self, *extra: str) -> list[dict[str, Any]]:
        done = self.cli("inbox", "--all", "--format", "json", *extra)
        assert done.returncode == 0, done.stderr
        items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
        return items

    def texts(self, channel: str) -> list[str]:
        return [i["text"] for i in self.items("--channel", channel)]

    def log_text(self) -> str:
        path = self.tmp / "daemon.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def close(self) -> None:
        for service in self.services:
            if service.process.poll() is None:
                service.kill()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeMastodon() as mastodon, FakeBluesky() as bluesky:
        instance = World(tmp_path, mastodon, bluesky)
        yield instance
        instance.close()
        assert "Traceback" not in instance.log_text()
        assert "\x1b" not in instance.log_text()


def test_mentions_arrive_once_through_restarts_and_downtime(world: World) -> None:
    world.mastodon.page_size = 2
    for text in ("first", ARABIC, HOSTILE):
        world.mastodon.mention(text)
    service = world.start()
    wait_until(lambda: len(world.items()) == 3, 60, "the first mentions")
    service.kill()  # kill -9: nothing flushed
    for text in ("while down 1", "while down 2", "while down 3"):
        world.mastodon.mention(text, author="bob@other.test")
    world.start()
    wait_until(lambda: len(world.items()) == 6, 60, "the mentions made during downtime")
    expected = [f"@brand {t}" for t in ("first", ARABIC, HOSTILE)]
    expected += [f"@brand while down {n}" for n in (1, 2, 3)]
    assert world.texts("masto") == expected
    assert len({i["url"] for i in world.items()}) == 6

    shown = world.cli("inbox")
    assert shown.returncode == 0
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\u202e" not in shown.stdout
    assert "<script>alert(1)</script>" in shown.stdout  # shown as text, control-free
    # Piped output carries no bidi isolates (they are for a terminal: test_cli_messages.py).
    assert "@brand شكراً" in shown.stdout and "\u2068" not in shown.stdout
    assert "@ali@example.social" in shown.stdout and "@bob@other.test" in shown.stdout

    status = json.loads(world.cli("status", "--format", "json").stdout)
    assert status["channels"]["masto"]["inbox_open"] == 6
    assert status["channels"]["sky"]["inbox_open"] == 0
    first = world.items()[0]["id"]
    assert world.cli("inbox", "done", str(first)).stdout == f"inbox item {first}: done\n"
    status = json.loads(world.cli("status", "--format", "json").stdout)
    assert status["channels"]["masto"]["inbox_open"] == 5
    assert len(world.cli("inbox", "--format", "json").stdout.split('"id"')) == 6


def test_a_reply_killed_mid_request_is_posted_exactly_once_in_its_thread(world: World) -> None:
    theirs = world.mastodon.mention("when is the launch?")
    service = world.start()
    wait_until(lambda: len(world.items()) == 1, 60, "the question")
    (item,) = world.items()
    hold = world.mastodon.hold_next(path="/api/v1/statuses")
    queued = world.cli("reply", str(item["id"]), "tomorrow at 9!")
    assert queued.returncode == 0, queued.stderr
    assert hold.wait_arrived(timeout=60)
    service.kill()  # the status is made, the answer never reaches the daemon
    hold.release()
    assert world.items()[0]["status"] == "open"
    world.start()
    wait_until(lambda: world.items()[0]["status"] == "answered", 60, "the reply recorded")
    replies = [s for s in world.mastodon.statuses if s["in_reply_to_id"] == theirs["id"]]
    assert [s["text"] for s in replies] == ["@ali@example.social tomorrow at 9!"]
    keys = {r.headers["idempotency-key"] for r in world.mastodon.requests_to("/api/v1/statuses")}
    assert len(keys) == 1  # the retry after the crash went out under the same key
    again = world.cli("reply", str(item["id"]), "twice?")
    assert again.returncode == 1 and "an item is answered once" in again.stderr


def test_a_bluesky_reply_threads_under_the_thread_root(world: World) -> None:
    root = world.bluesky.notify("mention", "hey @brand.test")
    world.bluesky.notify("reply", "are you there?", parent=root, author="bob.example.com")
    world.start()
    wait_until(lambda: len(world.items()) == 2, 60, "the thread")
    question = world.items()[1]
    assert world.cli("reply", str(question["id"]), "yes, we are").returncode == 0
    wait_until(lambda: world.items()[1]["status"] == "answered", 60, "the reply")
    (record,) = [r["value"] for r in world.bluesky.records.values()]
    asked = world.bluesky.notifications[1]
    assert record["reply"] == {
        "root": root,
        "parent": {"uri": asked["uri"], "cid": asked["cid"]},
    }


def test_a_429_on_notifications_delays_listening_not_publishing(world: World) -> None:
    world.mastodon.rate_limit_next(seconds=3600, path="/api/v1/notifications", times=1000)
    world.mastodon.mention("waits for the rate limit")
    world.start()
    wait_until(
        lambda: "listening on masto paused for 1h" in world.log_text(), 60, "the pause logged"
    )
    queued = world.cli(
        "queue", "add", "launch day", "--channel", "masto", "--kind", "core", "--at", "now"
    )
    assert queued.returncode == 0, queued.stderr
    wait_until(lambda: len(world.mastodon.statuses) == 1, 60, "the post published")
    assert len(world.mastodon.requests_to("/api/v1/notifications")) == 1  # not asked again
    assert world.texts("masto") == []
