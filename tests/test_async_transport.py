"""The event loop's sender (aiohttp) against the sync one (httpx): the same request on the
wire, and the same publish error for each way a request can fail (publishers/http.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest

from scheduler.errors import (
    InterruptedPublishError,
    PermanentPublishError,
    PublishError,
    TransientPublishError,
)
from scheduler.media import Medium
from scheduler.publishers import Delivery, Receipt, make_http_client
from scheduler.publishers.bluesky import BlueskyPublisher
from scheduler.publishers.http import make_async_http_client
from scheduler.publishers.mastodon import MastodonPublisher
from scheduler.publishers.telegram import TelegramPublisher
from scheduler.publishers.webhook import WebhookPublisher
from tests.fakeplatforms import (
    FakeBluesky,
    FakeMastodon,
    FakeServer,
    FakeTelegram,
    FakeWebhook,
    Reply,
)
from tests.test_platform_media import PNG

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T = TypeVar("T")


def now() -> datetime:
    return NOW


def delivery(airing_id: int, **changes: Any) -> Delivery:
    values: dict[str, Any] = {
        "airing_id": airing_id,
        "channel": "main",
        "post_id": 7,
        "kind": "core",
        "body": "إطلاق المنتج الجديد اليوم 🚀",
        "media": (),
        "idempotency_key": f"key-{airing_id}",
        "due": NOW,
    }
    values.update(changes)
    return Delivery(**values)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as shared:
        yield shared


class Closing:
    """A publisher's async sends on a loop of their own, its session closed on that loop."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher

    def publish(self, item: Delivery) -> Receipt:
        return self._run(lambda: self.publisher.publish_async(item))

    def _run(self, send: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await send()
            finally:
                await self.publisher.close_async()

        return asyncio.run(once())


def failure(send: Callable[[], object]) -> PublishError:
    with pytest.raises(PublishError) as caught:
        send()
    return caught.value


def test_a_webhook_request_is_the_same_on_both_paths(client: httpx.Client) -> None:
    with FakeWebhook() as server:
        publisher = WebhookPublisher(server.url, client, now=now, secret="s3cret")
        publisher.publish(delivery(1))
        Closing(publisher).publish(delivery(1))
        sync, loop = server.requests
    assert loop.raw == sync.raw and loop.method == sync.method == "POST"
    assert loop.path == sync.path
    for name in ("content-type", "content-length", "idempotency-key", "x-signature-256"):
        assert loop.headers[name] == sync.headers[name], name
    assert loop.headers["user-agent"] == sync.headers["user-agent"] == "content-scheduler/0.1"


def test_forms_and_files_are_encoded_by_httpx_on_both_paths(client: httpx.Client) -> None:
    with FakeTelegram() as server:
        publisher = TelegramPublisher(server.base_url, server.token, "@c", client, now=now)
        photo = (Medium("a.png", "image/png", PNG, "alt"),)
        publisher.publish(delivery(1, media=photo))
        Closing(publisher).publish(delivery(1, media=photo))
        sync, loop = server.requests
    assert loop.path == sync.path
    assert loop.body["caption"] == sync.body["caption"]
    assert loop.body["photo"].data == sync.body["photo"].data == PNG
    assert loop.headers["content-type"].startswith("multipart/form-data; boundary=")


def test_a_refused_connection_can_be_retried_freely(client: httpx.Client) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens here once it is closed
    publisher = WebhookPublisher(f"http://127.0.0.1:{port}/hook", client, now=now)
    for error in (
        failure(lambda: publisher.publish(delivery(1))),
        failure(lambda: Closing(publisher).publish(delivery(1))),
    ):
        assert type(error) is TransientPublishError
        assert str(error).startswith("webhook (json): can't connect: ")


def test_a_dropped_answer_may_have_posted_on_both_paths(client: httpx.Client) -> None:
    with FakeWebhook() as server:
        publisher = WebhookPublisher(server.url, client, now=now)
        server.drop_next(times=2)
        errors = [
            failure(lambda: publisher.publish(delivery(1))),
            failure(lambda: Closing(publisher).publish(delivery(2))),
        ]
        assert server.idempotency_keys() == ["key-1", "key-2"]
    for error in errors:
        assert type(error) is InterruptedPublishError
        assert str(error).startswith("webhook (json): connection lost: ")
        assert str(error).endswith(" (the post may have been made)")


def test_no_answer_within_the_timeout_may_have_posted(client: httpx.Client) -> None:
    with FakeWebhook() as server:
        # The loop's session with the sync client's 2 s timeout (its own default is 10 s):
        # the request is held past either, so a shorter one only waits less.
        publisher = WebhookPublisher(
            server.url, client, now=now, new_async_client=lambda: make_async_http_client(2.0)
        )
        hold = server.hold_next()
        try:
            error = failure(lambda: Closing(publisher).publish(delivery(1)))
        finally:
            hold.release()
    assert type(error) is InterruptedPublishError
    assert str(error).startswith("webhook (json): no answer: ")


@pytest.mark.parametrize("token", ["first-line\nsecond-line", "tökén-secret-value"])
def test_a_token_http_cannot_carry_is_refused_before_sending(
    client: httpx.Client, token: str
) -> None:
    with FakeMastodon(token=token) as server:
        publisher = MastodonPublisher(server.base_url, token, client, now=now)
        error = failure(lambda: Closing(publisher).publish(delivery(1)))
        assert server.requests == []
    assert type(error) is PermanentPublishError
    assert str(error) == (
        "mastodon: request not possible: a header or the URL holds a character HTTP can't "
        "carry (check the channel's token)"
    )


def test_a_redirect_is_not_followed_on_the_loop(client: httpx.Client) -> None:
    with FakeWebhook() as server:
        server.reply = Reply(302, "moved", {"Location": server.base_url + "/elsewhere"})
        publisher = WebhookPublisher(server.url, client, now=now)
        error = failure(lambda: Closing(publisher).publish(delivery(1)))
        assert [r.path for r in server.requests] == ["/hook"]
    assert type(error) is PermanentPublishError
    assert str(error) == "webhook (json) answered 302: moved"


def _publisher_of(server: FakeServer, client: httpx.Client) -> Any:
    if isinstance(server, FakeWebhook):
        return WebhookPublisher(server.url, client, now=now)
    if isinstance(server, FakeMastodon):
        return MastodonPublisher(server.base_url, server.token, client, now=now)
    if isinstance(server, FakeTelegram):
        return TelegramPublisher(server.base_url, server.token, "@c", client, now=now)
    assert isinstance(server, FakeBluesky)
    return BlueskyPublisher(server.base_url, server.handle, server.password, client, now=now)


@pytest.mark.parametrize("fake", [FakeWebhook, FakeMastodon, FakeTelegram, FakeBluesky])
def test_a_connection_opened_ahead_carries_the_first_requests(
    client: httpx.Client, fake: type[FakeServer]
) -> None:
    """`connect_async` opens the pooled connection and sends nothing; the publish that
    follows (Bluesky's makes a session first) goes out on it, not on one of its own."""
    with fake() as server:
        publisher = _publisher_of(server, client)

        async def ahead_then_publish() -> tuple[int, int, Receipt]:
            try:
                await publisher.connect_async()
                # The server's thread accepts the connection a moment after it is open.
                for _ in range(400):
                    if server.connections_opened:
                        break
                    await asyncio.sleep(0.025)
                opened, sent = server.connections_opened, len(server.requests)
                return opened, sent, await publisher.publish_async(delivery(1))
            finally:
                await publisher.close_async()

        opened, sent, receipt = asyncio.run(ahead_then_publish())
        assert (opened, sent) == (1, 0)
        assert receipt.remote_id is not None or fake is FakeWebhook
        assert server.requests  # every one of them on the connection opened ahead
        assert server.connections_opened == 1


def test_a_server_out_of_reach_ahead_of_time_is_left_to_the_publish(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens here once it is closed
    secret_url = f"http://127.0.0.1:{port}/services/T000/B000/s3cret-path"
    publisher = WebhookPublisher(secret_url, client, now=now, format="slack")

    async def ahead_then_publish() -> None:
        try:
            await publisher.connect_async()  # returns: the publish reports it
            await publisher.publish_async(delivery(1))
        finally:
            await publisher.close_async()

    with caplog.at_level("INFO", logger="scheduler.publishers"):
        error = failure(lambda: asyncio.run(ahead_then_publish()))
    assert type(error) is TransientPublishError
    assert str(error).startswith("webhook (slack): can't connect: ")
    (ahead,) = [r.getMessage() for r in caplog.records if "ahead" in r.getMessage()]
    assert ahead.startswith("webhook (slack): could not connect ahead of sending: ")
    assert "s3cret" not in caplog.text
