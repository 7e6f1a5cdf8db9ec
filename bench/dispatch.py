"""Dispatch under load, and the daemon at rest with a big library. Prints, never fails.

1. 1,000 airings due in the same second across 100 webhook channels (json), published by
   the daemon as a real process (`python -m scheduler run`) to a fake webhook served by a
   separate process (`python -m tests.benchwebhook --record FILE`), so the two do
   not share a GIL. Checks every airing arrived exactly once (one request per idempotency
   key) and prints p50/p99 lateness (received minus due) and the throughput, next to the
   asyncio floor (`bench/http_floor.py`: bare aiohttp sessions sending the daemon's very
   requests to the same webhook process) measured just before. Five rounds of floor and
   then daemon, each daemon burst read against its own round's floor, and the medians:
   this machine's speed drifts by 2x within an hour, more than the gap being measured.
   Targets (issue 13): p99 lateness within 1.5x the floor's and under 0.5 s; at least 2,000
   airings/s.
2. 100,000 posts queued (Store.add_posts in batches), the daemon replans, then rests: its
   CPU share over 60 s (utime+stime from /proc/<pid>/stat) and resident memory (VmRSS).
   Targets: under 1 % CPU, under 150 MB.

    .venv/bin/python bench/dispatch.py [--idle-seconds 60] [--posts 100000]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _webhook import (  # noqa: E402
    DaemonProcess,
    read_record,
    start_webhook,
    write_webhook_config,
)
from http_floor import Burst, airing_text, async_burst  # noqa: E402

from scheduler.config import load_config  # noqa: E402
from scheduler.domain import PostDraft  # noqa: E402
from scheduler.store.store import Store  # noqa: E402

CHANNELS = 100
AIRINGS = 1_000
ROUNDS = 5


def write_config(directory: Path, base_url: str) -> Path:
    scheduler = 'database = "sqlite:///scheduler.db"\ntimezone = "UTC"'
    return write_webhook_config(directory / "config.toml", scheduler, base_url, CHANNELS)


@dataclass(frozen=True)
class Round:
    """One round: the floor's burst, then the daemon's, a few seconds apart."""

    floor: Burst
    daemon: Burst
    distinct_keys: int

    @property
    def ratio(self) -> float:
        return self.daemon.p99 / self.floor.p99


def bench_dispatch(store: Store, record: Path, config: Path, base_url: str) -> DaemonProcess:
    """ROUNDS rounds of the floor's burst and then the daemon's, each judged against the
    floor of its own round: on a shared machine the floor itself moved by 2x in an hour."""
    daemon = DaemonProcess(config)
    daemon.wait_ready()
    rounds = []
    for number in range(1, ROUNDS + 1):
        floor = async_burst(base_url, record)
        record.unlink()
        burst, keys = daemon_burst(store, record, daemon, first=(number - 1) * AIRINGS)
        record.unlink()
        rounds.append(Round(floor, burst, keys))
        print(f"round {number} floor:   {floor.line()}")
        print(f"round {number} daemon:  {burst.line()}, {keys} distinct keys")
        print(f"round {number} p99 ratio: {rounds[-1].ratio:.2f}x the floor's")
    statuses = Counter(a.status for rec in store.all_posts() for a in rec.airings)
    once = all(r.distinct_keys == AIRINGS == len(r.daemon.lateness) for r in rounds)
    print(
        "delivered exactly once:   "
        + ("yes" if once else "NO")
        + f" (airing statuses: {dict(statuses)})"
    )
    p99 = median(r.daemon.p99 for r in rounds)
    print(
        f"median of {ROUNDS} rounds:      daemon p99 {p99 * 1000:.0f} ms, "
        f"{median(r.ratio for r in rounds):.2f}x the floor's (target ≤ 1.5x and ≤ 500 ms); "
        f"{median(r.daemon.rate for r in rounds):.0f} airings/s (target ≥ 2000); "
        f"{median(r.daemon.cpu_per_request for r in rounds) * 1000:.2f} ms of daemon CPU an "
        f"airing (the floor's {median(r.floor.cpu_per_request for r in rounds) * 1000:.2f})"
    )
    return daemon


def daemon_burst(
    store: Store, record: Path, daemon: DaemonProcess, *, first: int
) -> tuple[Burst, int]:
    """Queue AIRINGS airings due in the same second, 10 s ahead, and wait for the webhook to
    receive them all; what it received, and how many distinct idempotency keys."""
    due = (datetime.now(UTC) + timedelta(seconds=10)).replace(microsecond=0)
    drafts = [
        PostDraft(
            body=airing_text(n),
            kind="core",
            channels=(f"ch{n % CHANNELS:03d}",),
            editor="bench",
            at=due,
            evergreen=False,
        )
        for n in range(first, first + AIRINGS)
    ]
    spacing = {f"ch{n:03d}": timedelta(0) for n in range(CHANNELS)}
    store.add_posts(drafts, now=datetime.now(UTC), spacing=spacing)
    while datetime.now(UTC) < due - timedelta(seconds=1):
        time.sleep(0.1)
    cpu = daemon.cpu_seconds()  # the claim, made ahead, is left out
    deadline = time.monotonic() + 120
    # Lines counted, not parsed, while the burst is under way: parsing the record every
    # 0.2 s took a tenth of a core from the two the daemon and the webhook share.
    while _lines(record) < AIRINGS and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu = daemon.cpu_seconds() - cpu
    time.sleep(1.0)  # anything arriving twice would arrive now
    requests = read_record(record)
    keys = {str(r["headers"]["idempotency-key"]) for r in requests}
    received = [datetime.fromisoformat(str(r["at"])) for r in requests]
    lateness = [(at - due).total_seconds() for at in received]
    return Burst(lateness, (max(received, default=due) - due).total_seconds(), cpu), len(keys)


def _lines(record: Path) -> int:
    return record.read_bytes().count(b"\n") if record.exists() else 0


def bench_idle(store: Store, daemon: DaemonProcess, *, posts: int, idle_seconds: float) -> None:
    now = datetime.now(UTC)
    started = time.monotonic()
    batch = 10_000
    for first in range(0, posts, batch):
        drafts = [
            PostDraft(
                body=f"queued post {n}: a line of text the size of a real post #{n}",
                kind="core" if n % 3 else "entertaining",
                channels=(f"ch{n % CHANNELS:03d}",),
                editor="bench",
            )
            for n in range(first, min(first + batch, posts))
        ]
        store.add_posts(drafts, now=now, spacing={})
    print(f"queued {posts} posts in {time.monotonic() - started:.1f}s")
    # Let the daemon notice and replan; it is at rest once its CPU time stops growing.
    previous = daemon.cpu_seconds()
    replan_started = time.monotonic()
    while True:
        time.sleep(2.0)
        current = daemon.cpu_seconds()
        if current - previous < 0.05:
            break
        previous = current
    print(f"daemon replanned and settled in {time.monotonic() - replan_started:.1f}s")
    cpu_before, wall_before = daemon.cpu_seconds(), time.monotonic()
    time.sleep(idle_seconds)
    cpu = daemon.cpu_seconds() - cpu_before
    wall = time.monotonic() - wall_before
    print(f"idle CPU over {wall:.0f}s:       {cpu / wall * 100:.2f} % (target < 1 %)")
    print(f"resident memory:          {daemon.rss_mb():.0f} MB with {posts} posts (target < 150)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as name:
        directory = Path(name)
        record = directory / "requests.jsonl"
        server, base_url = start_webhook(record)
        daemon = None
        try:
            config = write_config(directory, base_url)
            store = Store(load_config(config).scheduler.database)
            store.migrate()
            daemon = bench_dispatch(store, record, config, base_url)
            bench_idle(store, daemon, posts=args.posts, idle_seconds=args.idle_seconds)
            print(f"daemon exit status on SIGTERM: {daemon.stop()}")
            daemon = None
            store.close()
            log = (directory / "daemon.log").read_text(encoding="utf-8")
            if "database is locked" in log or "Traceback" in log:
                print("daemon log shows errors:\n" + log[-3000:])
        finally:
            if daemon is not None:
                daemon.process.kill()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
