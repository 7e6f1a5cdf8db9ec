"""The floor under `bench/dispatch.py`: the same burst sent with no scheduler, three ways.

1,000 JSON POSTs due at one instant across 100 channels, to the same fake webhook process
(`tests/benchwebhook.py`), with nothing but the requests: no claims, no retries, no
outcomes, no logging. Each is the request the daemon sends for the dispatch bench's airing
(the same body and headers, made by the webhook publisher's encoding before the clock
starts): a smaller body made a cheaper burst, about 45 µs of the loop's CPU a request
less. At most 16 requests in flight, as the daemon's default.
- `threads`: one httpx client and one thread per channel (how the daemon sent before
  issue 13);
- `httpx`: one event loop, one task and one pooled `httpx.AsyncClient` per channel;
- `asyncio`: the same with one aiohttp session per channel (`ChannelClients.new_async`,
  what the daemon sends with: the cheapest of these in CPU per request).
The daemon can't beat the asyncio figures on the same machine; the gap between the two
benches is the daemon's own work. `bench/dispatch.py` runs `async_burst` in the same run as
its own burst, so its figures are read against this machine's floor of the moment. Prints,
never fails.

    .venv/bin/python bench/http_floor.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from _webhook import percentile, read_record, start_webhook  # noqa: E402

from scheduler.publishers.base import Delivery  # noqa: E402
from scheduler.publishers.http import CONNECTIONS_PER_CHANNEL, ChannelClients  # noqa: E402
from scheduler.publishers.webhook import json_request  # noqa: E402

CHANNELS = 100
REQUESTS = 1_000
IN_FLIGHT = 16  # the daemon's default


@dataclass(frozen=True)
class Burst:
    """What the webhook received of one burst: each request's lateness and the span; and
    the CPU time the sender spent on it (less at the mercy of a busy machine than time)."""

    lateness: list[float]
    span: float
    cpu: float

    def line(self) -> str:
        if not self.lateness:
            return "nothing received"
        return (
            f"{len(self.lateness)} requests, lateness p50 "
            f"{percentile(self.lateness, 0.50) * 1000:.0f} ms, p99 "
            f"{self.p99 * 1000:.0f} ms, {self.rate:.0f}/s, "
            f"{self.cpu_per_request * 1000:.2f} ms CPU per request"
        )

    @property
    def p99(self) -> float:
        return percentile(self.lateness, 0.99) if self.lateness else float("inf")

    @property
    def rate(self) -> float:
        """Requests received a second, from the due instant to the last one."""
        return len(self.lateness) / self.span if self.span > 0 else 0.0

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / max(len(self.lateness), 1)


def airing_text(airing: int) -> str:
    """The text of the bench's airing number `airing` (bench/dispatch.py queues the same)."""
    return f"airing {airing}: إطلاق المنتج الجديد اليوم 🚀"


Request = tuple[str, bytes, dict[str, str]]


def _requests(base_url: str, n: int) -> list[Request]:
    """Channel `n`'s share of the burst, as the daemon's webhook publisher sends it: the
    same JSON body (`Delivery.as_json`) and headers, encoded by the publisher's own code.
    Made before the clock starts: the floor is the requests alone."""
    due = datetime(2026, 1, 1, tzinfo=UTC)
    requests = []
    for i in range(REQUESTS // CHANNELS):
        airing = i * CHANNELS + n
        delivery = Delivery(
            airing_id=airing,
            channel=f"ch{n:03d}",
            post_id=airing,
            kind="core",
            body=airing_text(airing),
            media=(),
            idempotency_key=f"0123456789ab-{airing}",
            due=due,
        )
        body, headers = json_request(delivery.as_json(), delivery.idempotency_key)
        requests.append((f"{base_url}/hook/ch{n:03d}", body, headers))
    return requests


def _received(record: Path, due: datetime, cpu: float) -> Burst:
    time.sleep(0.3)  # the server writes its record after answering
    received = [datetime.fromisoformat(str(r["at"])) for r in read_record(record)]
    lateness = [(at - due).total_seconds() for at in received]
    return Burst(lateness, (max(received) - due).total_seconds(), cpu)


def thread_burst(base_url: str, record: Path) -> Burst:
    """Send the burst from one thread per channel, each with its own synchronous client."""
    clients = ChannelClients()
    channel_clients = [clients.new() for _ in range(CHANNELS)]
    sending = threading.BoundedSemaphore(IN_FLIGHT)
    for n, client in enumerate(channel_clients):  # connections open before the clock starts
        client.post(f"{base_url}/warm/{n}", content=b"{}")
    record.unlink()
    requests = [_requests(base_url, n) for n in range(CHANNELS)]
    due = datetime.now(UTC) + timedelta(seconds=2)
    cpu = time.process_time()

    def channel(n: int) -> None:
        client = channel_clients[n]
        while (left := (due - datetime.now(UTC)).total_seconds()) > 0:
            time.sleep(min(left, 0.5))
        for url, body, headers in requests[n]:
            with sending:
                client.post(url, content=body, headers=headers)

    threads = [threading.Thread(target=channel, args=(n,)) for n in range(CHANNELS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = time.process_time() - cpu
    clients.close()
    return _received(record, due, cpu)


def async_burst(base_url: str, record: Path) -> Burst:
    """Send the burst from one event loop: a task and an aiohttp session per channel."""
    return asyncio.run(_async_burst(base_url, record))


async def _async_burst(base_url: str, record: Path) -> Burst:
    clients = ChannelClients()
    sessions = [clients.new_async() for _ in range(CHANNELS)]

    async def post(n: int, url: str, body: bytes, headers: dict[str, str]) -> None:
        async with sessions[n].post(url, data=body, headers=headers) as answer:
            await answer.read()

    try:
        return await _burst_on_loop(base_url, record, post)
    finally:
        for session in sessions:
            await session.close()


def httpx_burst(base_url: str, record: Path) -> Burst:
    """The same from one event loop with an `httpx.AsyncClient` per channel."""
    return asyncio.run(_httpx_burst(base_url, record))


async def _httpx_burst(base_url: str, record: Path) -> Burst:
    channel_clients = [
        httpx.AsyncClient(limits=httpx.Limits(max_connections=CONNECTIONS_PER_CHANNEL))
        for _ in range(CHANNELS)
    ]

    async def post(n: int, url: str, body: bytes, headers: dict[str, str]) -> None:
        await channel_clients[n].post(url, content=body, headers=headers)

    try:
        return await _burst_on_loop(base_url, record, post)
    finally:
        for client in channel_clients:
            await client.aclose()


Post = Callable[[int, str, bytes, dict[str, str]], Awaitable[None]]


async def _burst_on_loop(base_url: str, record: Path, post: Post) -> Burst:
    """One task per channel, each sending its share through `post(channel, …)` once due."""
    sending = asyncio.Semaphore(IN_FLIGHT)
    for n in range(CHANNELS):  # connections open before the clock starts
        await post(n, f"{base_url}/warm/{n}", b"{}", {})
    record.unlink()
    requests = [_requests(base_url, n) for n in range(CHANNELS)]
    due = datetime.now(UTC) + timedelta(seconds=2)
    cpu = time.process_time()

    async def channel(n: int) -> None:
        await asyncio.sleep(max((due - datetime.now(UTC)).total_seconds(), 0.0))
        for url, body, headers in requests[n]:
            async with sending:
                await post(n, url, body, headers)

    await asyncio.gather(*(channel(n) for n in range(CHANNELS)))
    cpu = time.process_time() - cpu
    return _received(record, due, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as name:
        record = Path(name) / "requests.jsonl"
        server, base_url = start_webhook(record)
        try:
            for run in range(1, args.runs + 1):
                print(f"run {run} threads: {thread_burst(base_url, record).line()}")
                print(f"run {run} httpx:   {httpx_burst(base_url, record).line()}")
                print(f"run {run} asyncio: {async_burst(base_url, record).line()}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
