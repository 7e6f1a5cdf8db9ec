"""Fault tests with the daemon as a real process (`python -m scheduler --config … run`).

The daemon talks to a fake webhook (json format, so it honours `Idempotency-Key`) served by
this test process, which can hold, drop or rate-limit requests and records when each one
arrived. Leases, reconcile and grace are seconds long so each test takes a few seconds.
Exactly once is checked the way a receiver sees it: one distinct idempotency key per
airing, any repeat only ever under the same key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.config import load_config
from scheduler.domain import AiringStatus, PostDraft
from scheduler.store.models import Airing
from scheduler.store.store import Store
from scheduler.timeutil import local_label
from tests.conftest import REPO, RunCli, queued_id
from tests.fakeplatforms import FakeWebhook

pytestmark = pytest.mark.slow

LEASE = 3.0
SPACING = {"hook": timedelta(seconds=1), "second": timedelta(seconds=1)}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Notifications:
    """The `NOTIFY_SOCKET` end systemd would hold: collects sd_notify datagrams."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="sdn")  # short: AF_UNIX paths are limited
        self.path = os.path.join(self.directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.received: list[str] = []

    def wait_for(self, message: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while message not in self.received:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {message} from the daemon; got {self.received}")
            with contextlib.suppress(TimeoutError):
                self.received += self.sock.recv(4096).decode().split("\n")

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.directory)


class Service:
    """One daemon process, started and stopped as systemd would."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.notify = Notifications()
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
                cwd=config.parent,
                env={
                    **os.environ,
                    "PYTHONPATH": str(REPO),
                    "NOTIFY_SOCKET": self.notify.path,
                    **(env or {}),
                },
                stdout=out,
                stderr=out,
            )
        try:
            self.notify.wait_for("READY=1")
        except AssertionError:
            self.kill()
            raise

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.notify.close()

    def terminate(self, timeout: float = 25.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.notify.close()
        return code


class World:
    """A config, a database, a fake webhook and the daemons started on them."""

    def __init__(
        self, tmp: Path, hook: FakeWebhook, scheduler: str = "", grace: str = "60s"
    ) -> None:
        # A generous grace by default: a loaded machine may take seconds to start a daemon,
        # and that start-up counts as downtime for an airing pinned a second ahead.
        self.tmp = tmp
        self.hook = hook
        self.config_path = tmp / "config.toml"
        self.config_path.write_text(
            textwrap.dedent(
                f"""
                [scheduler]
                database = "sqlite:///scheduler.db"
                lease = "{LEASE:g}s"
                reconcile = "1s"
                misfire_grace = "{grace}"
                retry = {{ attempts = 6, initial = "0s", maximum = "0s" }}
                {scheduler}

                [defaults]
                min_spacing = "1s"

                [channels.hook]
                publisher = "webhook"
                url = "{hook.url}"
                format = "json"
                timezone = "UTC"
                """
            ),
            encoding="utf-8",
        )
        self.config = load_config(self.config_path)
        self.store = Store(self.config.scheduler.database)
        self.store.migrate()
        self.services: list[Service] = []

    def start(self, **env: str) -> Service:
        service = Service(self.config_path, self.tmp / "daemon.log", env)
        self.services.append(service)
        return service

    def pinned(self, count: int, first: datetime, step: float = 1.0) -> list[int]:
        drafts = [
            PostDraft(
                body=f"post {n} مرحبا",
                kind="core",
                channels=("hook",),
                editor="test",
                at=first + timedelta(seconds=n * step),
                evergreen=False,
            )
            for n in range(count)
        ]
        return self.store.add_posts(drafts, now=datetime.now(UTC), spacing=SPACING)

    def airings(self) -> list[Airing]:
        return [a for record in self.store.all_posts() for a in record.airings]

    def by_post(self, post_id: int) -> Airing:
        (airing,) = self.store.get_post(post_id).airings
        return airing

    def all_published(self, post_ids: list[int]) -> bool:
        return all(self.by_post(p).status == AiringStatus.published for p in post_ids)

    def assert_exactly_once(self, post_ids: list[int]) -> None:
        """Every airing reached the receiver under one key, and only its own key."""
        airings = {self.by_post(p).id: self.by_post(p) for p in post_ids}
        keys = Counter(self.hook.idempotency_keys())
        expected = {a.idempotency_key for a in airings.values()}
        assert set(keys) == expected
        for request in self.hook.requests:
            body = request.body
            assert body["idempotency_key"] == request.headers["idempotency-key"]
            assert airings[body["airing_id"]].idempotency_key == body["idempotency_key"]
        assert all(a.status == AiringStatus.published for a in airings.values())
        assert not [a for a in self.airings() if a.status == AiringStatus.publishing]

    def log_text(self) -> str:
        path = self.tmp / "daemon.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def close(self) -> None:
        for service in self.services:
            if service.process.poll() is None:
                service.kill()
        self.store.close()


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, hook: FakeWebhook) -> Iterator[World]:
    instance = World(tmp_path, hook)
    yield instance
    instance.close()
    assert "database is locked" not in instance.log_text()
    assert "Traceback" not in instance.log_text()


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# --- what `queue add` says -----------------------------------------------------------------


def test_queue_add_names_the_slot_a_running_daemon_gave_a_floating_post(
    world: World, run_cli: RunCli
) -> None:
    """Issue 14: "queued post 5 on main; first airing …" for a floating post too, read from
    the plan the running daemon wrote, so it is the time that will air."""
    service = world.start()
    wait_until(lambda: bool(world.store.heartbeats()), 60, "the daemon's first heartbeat")
    patient = {"SCHEDULER_PLAN_WAIT": "120"}  # a loaded machine may take a while to plan
    added = run_cli(
        "queue", "add", "floating", "-c", "hook", "--kind", "core",
        config=world.config_path, env=patient,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    post = int(queued_id(added.stdout))
    first = min(a.at for a in world.store.get_post(post).airings)
    slot = local_label(first, ZoneInfo("UTC"))
    assert added.stdout == f"queued post {post} on hook; first airing {slot}\n"
    assert service.terminate() == 0

    stopped = run_cli(
        "queue", "add", "later", "-c", "hook", "--kind", "core",
        config=world.config_path, env=patient,
    )  # fmt: skip
    # A stopped daemon plans nothing: no wait, and the sentence says where the slot shows.
    assert stopped.stdout.endswith(
        "floating: the planner gives it the next free slot (see `scheduler calendar`)\n"
    ), stopped.stdout


# --- kill -9 -------------------------------------------------------------------------------


def test_kill_before_the_request_then_restart_publishes_once(world: World) -> None:
    posts = world.pinned(3, soon(2.5))
    service = world.start()
    service.kill()  # ready, nothing due yet
    assert world.hook.requests == []
    world.start()
    wait_until(lambda: world.all_published(posts), 60, "publishing after the restart")
    world.assert_exactly_once(posts)
    assert len(world.hook.requests) == 3


@pytest.mark.parametrize("applied", [False, True], ids=["during", "after-accepted"])
def test_kill_mid_request_then_restart_resends_under_the_same_key(
    world: World, applied: bool
) -> None:
    # `applied`: the server has taken the post before the daemon could record it.
    hold = world.hook.hold_next(apply=applied)
    (post,) = world.pinned(1, soon(1.0))
    service = world.start()
    assert hold.wait_arrived(timeout=60)
    killed_at = time.monotonic()
    service.kill()
    assert world.by_post(post).status == AiringStatus.publishing
    hold.release()

    world.start()
    wait_until(lambda: world.all_published([post]), 60, "recovery of the dead lease")
    # Taken back only once the lease ran out, then re-sent with the same key.
    assert time.monotonic() - killed_at >= LEASE - 1.0
    world.assert_exactly_once([post])
    keys = world.hook.idempotency_keys()
    assert len(keys) == 2 and len(set(keys)) == 1
    assert "recovered airing" in world.log_text()


def test_nothing_stays_publishing_past_its_lease_after_a_crash(world: World) -> None:
    holds = [world.hook.hold_next() for _ in range(1)]
    posts = world.pinned(3, soon(1.0), step=1.0)
    service = world.start()
    assert holds[0].wait_arrived(timeout=60)
    service.kill()
    for hold in holds:
        hold.release()
    world.start()
    # From the new daemon's READY, not from the crash: a loaded machine may take longer than
    # a lease to start a process, and start-up is not what this measures.
    ready = datetime.now(UTC)
    wait_until(lambda: world.all_published(posts), 60, "every airing published")
    for airing in world.airings():
        assert airing.status != AiringStatus.publishing
    world.assert_exactly_once(posts)
    assert datetime.now(UTC) - ready < timedelta(seconds=LEASE + 10)


# --- downtime ------------------------------------------------------------------------------


def _floating_airing_at(world: World, at: datetime) -> int:
    """A floating post already planned for `at` (inside the freeze window, so it stays)."""
    (post,) = world.store.add_posts(
        [PostDraft(body="floating", kind="core", channels=("hook",), editor="t", evergreen=False)],
        now=datetime.now(UTC),
        spacing=SPACING,
    )
    with world.store.session(write=True) as session:
        session.add(
            Airing(post_id=post, channel="hook", kind="core", at=at, updated=datetime.now(UTC))
        )
    return post


def test_downtime_shorter_than_grace_publishes_late(tmp_path: Path, hook: FakeWebhook) -> None:
    world = World(tmp_path, hook)
    try:
        service = world.start()
        assert service.terminate() == 0
        due = soon(0.5)
        (post,) = world.pinned(1, due)
        time.sleep(1.5)  # down past the due time, well within the grace
        world.start()
        wait_until(lambda: world.all_published([post]), 60, "the late airing")
        airing = world.by_post(post)
        assert airing.published_at is not None
        assert airing.published_at > due + timedelta(seconds=1)
        world.assert_exactly_once([post])
    finally:
        world.close()
    assert "Traceback" not in world.log_text()


def test_downtime_longer_than_grace_misses_pinned_and_keeps_floating(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    world = World(tmp_path, hook, grace="3s")  # a slower start only makes them later
    try:
        service = world.start()
        assert service.terminate() == 0
        due = soon(0.3)
        (pinned,) = world.pinned(1, due)
        floating = _floating_airing_at(world, due + timedelta(seconds=1))
        time.sleep(4.6)  # both are more than the 3s grace late on restart
        restarted = world.start()
        wait_until(
            lambda: world.by_post(pinned).status == AiringStatus.missed, 60, "the missed airing"
        )
        time.sleep(0.5)
        assert world.hook.requests == []
        (replanned,) = world.store.get_post(floating).airings
        assert replanned.status == AiringStatus.planned  # nothing lost: a new slot
        assert replanned.at > datetime.now(UTC)
        assert "missed airing" in world.log_text()
        assert restarted.terminate() == 0
    finally:
        world.close()
    assert "database is locked" not in world.log_text()
    assert "Traceback" not in world.log_text()


# --- rate limits ---------------------------------------------------------------------------


def test_a_429_storm_is_honoured_in_seconds_and_as_an_http_date(world: World) -> None:
    due = soon(1.0)
    date = (due + timedelta(seconds=3.5)).replace(microsecond=0) + timedelta(seconds=1)
    world.hook.rate_limit_next(seconds=1, times=2)
    world.hook.rate_limit_next(http_date=date)
    (post,) = world.pinned(1, due)
    world.start()
    wait_until(lambda: world.all_published([post]), 60, "publishing after the storm")
    times = [r.at for r in world.hook.requests]
    assert len(times) == 4
    assert times[1] - times[0] >= timedelta(seconds=1)
    assert times[2] - times[1] >= timedelta(seconds=1)
    assert times[3] >= date  # never before the date the platform named
    world.assert_exactly_once([post])
    assert "retrying airing" in world.log_text()


# --- the CLI at the same time --------------------------------------------------------------


def test_cli_writes_while_the_daemon_publishes_never_lock(world: World) -> None:
    posts = world.pinned(5, soon(1.0))
    world.start()

    def add(n: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "scheduler",
                "--config",
                str(world.config_path),
                "queue",
                "add",
                f"queued while publishing {n}",
                "--channel",
                "hook",
                "--kind",
                "entertaining",
            ],
            capture_output=True,
            text=True,
            cwd=world.tmp,
            env={**os.environ, "PYTHONPATH": str(REPO), "SCHEDULER_EDITOR": "t"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(add, range(8)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    wait_until(lambda: world.all_published(posts), 60, "publishing")
    world.assert_exactly_once(posts)
    assert len(world.store.all_posts()) == 13


# --- lifecycle -----------------------------------------------------------------------------


def test_sigterm_finishes_the_request_in_flight_and_exits_0(world: World) -> None:
    hold = world.hook.hold_next()
    (post,) = world.pinned(1, soon(0.5))
    service = world.start()
    assert hold.wait_arrived(timeout=60)
    service.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert service.process.poll() is None  # still waiting for the answer
    hold.release()
    assert service.process.wait(timeout=25) == 0
    service.notify.wait_for("STOPPING=1")
    service.notify.close()
    assert world.by_post(post).status == AiringStatus.published
    assert not [a for a in world.airings() if a.status == AiringStatus.publishing]


def test_sigterm_during_a_retry_wait_hands_the_airing_back(world: World) -> None:
    world.hook.rate_limit_next(seconds=600)
    (post,) = world.pinned(1, soon(0.5))
    service = world.start()
    wait_until(lambda: len(world.hook.requests) == 1, 60, "the first request")
    time.sleep(0.3)
    started = time.monotonic()
    assert service.terminate() == 0
    # It stops without waiting out the 600 s the platform asked for (a loaded machine may
    # take a few seconds to wind a process down).
    assert time.monotonic() - started < 60
    airing = world.by_post(post)
    assert airing.status == AiringStatus.planned
    assert airing.idempotency_key == world.hook.idempotency_keys()[0]


def test_readiness_and_watchdog_reach_the_notify_socket(world: World) -> None:
    service = world.start(WATCHDOG_USEC="400000")  # a ping every 0.2 s
    service.notify.wait_for("WATCHDOG=1", timeout=60)  # the first ping; a busy machine is slow
    assert service.notify.received.index("READY=1") < service.notify.received.index("WATCHDOG=1")
    assert service.terminate() == 0
