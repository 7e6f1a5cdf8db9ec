"""Faults against a real daemon process: lost answers, retries and cancels never post twice.

Each test runs `python -m scheduler --config … run` against one fake platform served by
this test process (tests/fakeplatforms.py), and drives it with the real CLI. What is checked
is what the platform ends up holding: its statuses, records or deduplicated deliveries.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.domain import AiringStatus, PostDraft
from scheduler.store.models import Airing
from scheduler.store.store import Store
from tests.conftest import REPO
from tests.fakeplatforms import FakeBluesky, FakeMastodon, FakeServer, FakeWebhook
from tests.test_daemon_process import Service, wait_until

pytestmark = pytest.mark.slow

ATTEMPTS = 3  # the retry budget of every daemon here
WAIT = 60.0  # generous: the machine may be busy
MASTODON_TOKEN = "mastodon-test-token"
BLUESKY_PASSWORD = "app-pass-word-test"


def channel_options(platform: str, server: FakeServer) -> str:
    if platform == "mastodon":
        return f'publisher = "mastodon"\nbase_url = "{server.base_url}"\n'
    if platform == "bluesky":
        return (
            f'publisher = "bluesky"\nservice = "{server.base_url}"\nhandle = "brand.test"\n'
            'app_password = { env = "TEST_BLUESKY_PASSWORD" }\n'
        )
    assert isinstance(server, FakeWebhook)
    return f'publisher = "webhook"\nurl = "{server.url}"\nformat = "json"\n'


@dataclass
class Deployment:
    """A config on one fake platform, its database, and the daemons started on it."""

    tmp: Path
    platform: str
    server: FakeServer
    store: Store
    config_path: Path
    services: list[Service]

    def start(self) -> Service:
        env = {"TEST_BLUESKY_PASSWORD": BLUESKY_PASSWORD, "TEST_MASTODON_TOKEN": MASTODON_TOKEN}
        service = Service(self.config_path, self.tmp / "daemon.log", env)
        self.services.append(service)
        return service

    def pinned(self, body: str, at: datetime) -> int:
        (post_id,) = self.store.add_posts(
            [
                PostDraft(
                    body=body, kind="core", channels=("main",), editor="t", at=at, evergreen=False
                )
            ],
            now=datetime.now(UTC),
            spacing={"main": timedelta(seconds=1)},
        )
        return post_id

    def airing(self, post_id: int) -> Airing:
        (airing,) = self.store.get_post(post_id).airings
        return airing

    def status_is(self, post_id: int, status: str) -> bool:
        return self.airing(post_id).status == status

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scheduler", "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            cwd=self.tmp,
            env={**os.environ, "PYTHONPATH": str(REPO), "SCHEDULER_EDITOR": "t"},
            timeout=120,
        )

    def posts_made(self) -> int:
        """How many posts the platform holds, the way its users would count them."""
        if isinstance(self.server, FakeMastodon):
            return len(self.server.statuses)
        if isinstance(self.server, FakeBluesky):
            return len(self.server.records)
        assert isinstance(self.server, FakeWebhook)
        return len(self.server.posts)

    def log_text(self) -> str:
        path = self.tmp / "daemon.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""


def make_server(platform: str) -> FakeServer:
    if platform == "mastodon":
        return FakeMastodon(token=MASTODON_TOKEN)
    if platform == "bluesky":
        return FakeBluesky(password=BLUESKY_PASSWORD)
    return FakeWebhook()


@pytest.fixture
def deploy(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    platform = getattr(request, "param", "webhook")
    with make_server(platform) as server:
        options = channel_options(platform, server)
        if platform == "mastodon":
            options += 'token = { env = "TEST_MASTODON_TOKEN" }\n'
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            textwrap.dedent(
                f"""\
                [scheduler]
                database = "sqlite:///scheduler.db"
                lease = "3s"
                reconcile = "1s"
                misfire_grace = "1m"
                retry = {{ attempts = {ATTEMPTS}, initial = "0s", maximum = "0s" }}

                [defaults]
                min_spacing = "1s"

                [channels.main]
                timezone = "UTC"
                """
            )
            + options,
            encoding="utf-8",
        )
        store = Store(load_config(config_path).scheduler.database)
        store.migrate()
        deployment = Deployment(tmp_path, platform, server, store, config_path, [])
        try:
            yield deployment
        finally:
            for service in deployment.services:
                if service.process.poll() is None:
                    service.kill()
            store.close()
    assert "Traceback" not in deployment.log_text()


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# --- a lost answer, then `queue retry` ----------------------------------------------------------

POSTING_PATH = {
    "mastodon": "/api/v1/statuses",
    "bluesky": "/xrpc/com.atproto.repo.createRecord",
    "webhook": "/hook",
}


@pytest.mark.parametrize("deploy", ["mastodon", "bluesky", "webhook"], indirect=True)
def test_retry_after_a_lost_answer_and_a_failing_platform_posts_once(deploy: Deployment) -> None:
    # The platform makes the post and the answer is lost; then it fails for the whole retry
    # budget (Bluesky's look-up of the record included, after the first one).
    posting = POSTING_PATH[deploy.platform]
    deploy.server.drop_next(path=posting)
    if deploy.platform == "bluesky":
        deploy.server.fail_next(503, times=1000, path="/xrpc/com.atproto.repo.getRecord", after=1)
    else:
        deploy.server.fail_next(503, times=1000, path=posting)
    post = deploy.pinned("made once, answer lost", soon(1.0))
    deploy.start()
    wait_until(lambda: deploy.status_is(post, AiringStatus.unconfirmed), WAIT, "unconfirmed")
    assert deploy.posts_made() == 1
    lost = deploy.airing(post)
    assert lost.maybe_sent
    # The advice is true for a platform that deduplicates: a retry is safe, and recommended.
    assert f"recognises its idempotency key, so `scheduler queue retry {post}`" in (
        lost.error or ""
    )
    assert "can't deduplicate" not in (lost.error or "")

    deploy.server.clear_faults()  # the platform is back
    result = deploy.cli("queue", "retry", str(post))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"post {post}: airing {lost.id} put back in the plan, "
        "to be sent again under the same idempotency key\n"
    )
    wait_until(lambda: deploy.status_is(post, AiringStatus.published), WAIT, "the re-send")
    assert deploy.posts_made() == 1
    sent = deploy.airing(post)
    assert (sent.id, sent.idempotency_key, sent.first_due) == (
        lost.id,
        lost.idempotency_key,
        lost.first_due,
    )
    keys = {r.headers.get("idempotency-key") for r in deploy.server.requests if r.path == posting}
    if deploy.platform == "bluesky":
        rkeys = {r.body["rkey"] for r in deploy.server.requests if r.path == posting}
        assert len(rkeys) == 1  # only ever the one record key
        assert sent.remote_id is not None and sent.remote_id.endswith(rkeys.pop())
    else:
        assert keys == {lost.idempotency_key}


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_of_a_claimed_airing_waiting_its_turn_sends_nothing(deploy: Deployment) -> None:
    # `first` hangs on the platform; `second` was claimed with it and waits in the channel's
    # queue, like any airing claimed ahead of its time. It is cancelled meanwhile. Should
    # the CLI be slow, `first`'s retries after a client timeout hang too: `second` waits.
    hold, *more_holds = [deploy.server.hold_next() for _ in range(6)]
    first = deploy.pinned("first, slow platform", soon(0.5))
    second = deploy.pinned("second, cancelled while claimed", soon(1.5))
    deploy.start()
    assert hold.wait_arrived(timeout=WAIT)
    assert deploy.status_is(second, AiringStatus.publishing)
    result = deploy.cli("queue", "cancel", str(second))
    assert result.returncode == 0, result.stderr
    waiting = deploy.airing(second)
    assert result.stdout == (
        f"cancelled post {second}: 0 planned airings cancelled; "
        f"airing {waiting.id} was already being sent and may still appear\n"
    )
    for held in (hold, *more_holds):
        held.release()
    wait_until(lambda: deploy.status_is(second, AiringStatus.cancelled), WAIT, "the cancel")
    assert deploy.status_is(first, AiringStatus.published)
    assert {r.body["post_id"] for r in deploy.server.requests} == {first}
    assert deploy.airing(second).error == "cancelled before it was sent"
    shown = deploy.cli("queue", "show", str(second), "--format", "json")
    assert '"status": "cancelled"' in shown.stdout


def test_cancel_while_a_request_hangs_sends_no_further_attempt(deploy: Deployment) -> None:
    hold = deploy.server.hold_next(apply=False)
    post = deploy.pinned("hanging request", soon(0.5))
    deploy.start()
    assert hold.wait_arrived(timeout=WAIT)
    # Cancelled from here, at once: well within the daemon's request timeout.
    done = deploy.store.cancel_post(post, now=datetime.now(UTC))
    assert done.in_flight == (deploy.airing(post).id,)
    hold.release(drop=True)  # the connection is lost: the request may have been taken
    wait_until(lambda: not deploy.status_is(post, AiringStatus.publishing), WAIT, "an outcome")
    airing = deploy.airing(post)
    # A retry was due (the webhook deduplicates) but the cancel stopped it; the request that
    # hung may have arrived, so this is not called `cancelled`.
    assert airing.status == AiringStatus.unconfirmed
    assert "cancelled after an attempt that may have reached webhook" in (airing.error or "")
    assert len(deploy.server.requests) == 1
    assert deploy.store.get_post(post).status(datetime.now(UTC)) == "unconfirmed"


# --- a send that kills the daemon every time ------------------------------------------------------


def test_an_airing_that_kills_the_daemon_each_time_stops_after_three(deploy: Deployment) -> None:
    holds = [deploy.server.hold_next() for _ in range(3)]
    post = deploy.pinned("the daemon dies sending this", soon(0.5))
    for hold in holds:
        service = deploy.start()
        assert hold.wait_arrived(timeout=WAIT)
        service.kill()  # mid-request, every time
    deploy.start()
    wait_until(lambda: deploy.status_is(post, AiringStatus.unconfirmed), WAIT, "giving up")
    airing = deploy.airing(post)
    assert (airing.recoveries, airing.maybe_sent) == (3, True)
    assert (airing.error or "").startswith(
        "3 processes stopped while sending it, so it is not sent again automatically; "
    )
    assert len(deploy.server.requests) == 3  # and no fourth
    for hold in holds:
        hold.release()
