"""Publishers against real local servers that speak each platform's API (no mocks of httpx)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import logging
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from scheduler.config import parse_config
from scheduler.errors import (
    InterruptedPublishError,
    PermanentPublishError,
    PublishError,
    TransientPublishError,
)
from scheduler.media import Medium
from scheduler.platforms.registry import PLATFORMS
from scheduler.publishers import ChannelClients, Delivery, build_publisher, make_http_client
from scheduler.publishers.answers import Answer
from scheduler.publishers.bluesky import BlueskyPublisher, encode_tid, record_key
from scheduler.publishers.file import FilePublisher
from scheduler.publishers.http import ANSWER_LIMIT, Api, Call
from scheduler.publishers.mastodon import MastodonPublisher
from scheduler.publishers.telegram import TelegramPublisher
from scheduler.publishers.webhook import WebhookPublisher
from tests.fakeplatforms import FakeBluesky, FakeMastodon, FakeTelegram, FakeWebhook, Reply

NOW = datetime(2026, 11, 24, 8, 0, 5, tzinfo=UTC)
ARABIC = "مرحبا بالعالم 👋🏽 اقرأ المزيد https://example.org/a?b=1."
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # every byte value, to see none is changed
IMAGE = Medium("صورة.png", "image/png", PNG)
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def now() -> datetime:
    return NOW


def delivery(airing_id: int = 12, **changes: Any) -> Delivery:
    values: dict[str, Any] = {
        "airing_id": airing_id,
        "channel": "main",
        "post_id": 7,
        "kind": "core",
        "body": ARABIC,
        "media": (),
        "idempotency_key": f"airing-{airing_id}-k",
        "due": datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    }
    values.update(changes)
    return Delivery(**values)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as shared:
        yield shared


@pytest.fixture
def mastodon(client: httpx.Client) -> Iterator[tuple[FakeMastodon, MastodonPublisher]]:
    with FakeMastodon() as server:
        yield server, MastodonPublisher(server.base_url, server.token, client, now=now)


@pytest.fixture
def bluesky(client: httpx.Client) -> Iterator[tuple[FakeBluesky, BlueskyPublisher]]:
    with FakeBluesky() as server:
        yield (
            server,
            BlueskyPublisher(server.base_url, server.handle, server.password, client, now=now),
        )


@pytest.fixture
def telegram(client: httpx.Client) -> Iterator[tuple[FakeTelegram, TelegramPublisher]]:
    with FakeTelegram() as server:
        yield (
            server,
            TelegramPublisher(server.base_url, server.token, "@brandnews", client, now=now),
        )


# --- one test per publisher: what the platform receives -----------------------------------


def test_each_channel_gets_its_own_client_and_closing_closes_them_all() -> None:
    clients = ChannelClients(timeout=2.0)
    first, second = clients.new(), clients.new()
    assert first is not second
    with FakeWebhook() as hook:
        for client in (first, second):
            assert client.post(hook.url, content=b"{}").status_code == 200
        assert len(hook.requests) == 2
    clients.close()
    assert first.is_closed and second.is_closed


def test_file_appends_one_json_line_per_airing_and_never_twice(tmp_path: Path) -> None:
    path = tmp_path / "out" / "published.jsonl"
    publisher = FilePublisher(path)
    first = publisher.publish(delivery(12))
    second = publisher.publish(delivery(13, kind="repost", media=(IMAGE,)))
    again = publisher.publish(delivery(12))

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["airing_id"] for line in lines] == [12, 13]
    assert lines[0] == {
        "airing_id": 12,
        "channel": "main",
        "post_id": 7,
        "kind": "core",
        "due": "2026-11-24T08:00:00Z",
        "body": ARABIC,
        "media": [],
        "idempotency_key": "airing-12-k",
    }
    assert lines[1]["media"] == [
        {
            "name": "صورة.png",
            "mime": "image/png",
            "size": 264,
            "sha256": hashlib.sha256(PNG).hexdigest(),
        }
    ]
    assert (first.remote_id, second.remote_id) == ("1", "2")
    assert again == first
    assert first.remote_url == path.resolve().as_uri() + "#L1"
    assert PLATFORMS["file"].deduplicates({}) is not None


def test_file_ends_a_half_written_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "published.jsonl"
    path.write_text('{"airing_id": 1, "channel": "main"}\n{"airing_id": 2, "cha', encoding="utf-8")
    receipt = FilePublisher(path).publish(delivery(2))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert receipt.remote_id == "3"
    assert json.loads(lines[2])["airing_id"] == 2


def test_webhook_json_payload_idempotency_key_and_signature(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret-value")
    with FakeWebhook() as server:
        publisher = build_publisher(
            _channel(tmp_path, "webhook", url=server.url, secret={"env": "HOOK_SECRET"}),
            client,
            now=now,
        )
        receipt = publisher.publish(delivery(12))

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == "airing-12-k"
    assert request.body == delivery(12).as_json()
    expected = hmac.new(b"s3cret-value", request.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-signature-256"], f"sha256={expected}")
    assert receipt.remote_id is None
    assert PLATFORMS["webhook"].deduplicates({"format": "json"}) is not None


@pytest.mark.parametrize(("format", "key"), [("slack", "text"), ("discord", "content")])
def test_webhook_chat_payloads(client: httpx.Client, format: str, key: str) -> None:
    with FakeWebhook() as server:
        if format == "discord":
            server.reply = Reply(204)
        publisher = WebhookPublisher(server.url, client, now=now, format=format)
        publisher.publish(delivery(12))
    (request,) = server.requests
    assert request.body == {key: ARABIC}
    assert "x-signature-256" not in request.headers
    assert request.headers["idempotency-key"] == "airing-12-k"
    # Slack and Discord ignore the key: an interrupted request must not be re-sent blindly.
    assert PLATFORMS["webhook"].deduplicates({"format": format}) is None
    with pytest.raises(PermanentPublishError, match="media isn't supported"):
        publisher.publish(delivery(13, media=(IMAGE,)))


def test_mastodon_posts_a_status_with_bearer_token_and_idempotency_key(
    mastodon: tuple[FakeMastodon, MastodonPublisher],
) -> None:
    server, publisher = mastodon
    receipt = publisher.publish(delivery(12))
    repeated = publisher.publish(delivery(12))

    first, second = server.requests_to("/api/v1/statuses", "POST")
    assert first.headers["authorization"] == f"Bearer {server.token}"
    assert first.headers["idempotency-key"] == "airing-12-k"
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert first.body == {"status": [ARABIC], "visibility": ["public"]}
    assert second.headers["idempotency-key"] == "airing-12-k"
    (status,) = server.statuses
    assert receipt.remote_id == status["id"]
    assert receipt.remote_url == status["url"]
    assert repeated == receipt
    assert PLATFORMS["mastodon"].deduplicates({}) is not None


def test_mastodon_uploads_media_waits_for_processing_and_attaches_it(
    mastodon: tuple[FakeMastodon, MastodonPublisher],
) -> None:
    server, publisher = mastodon
    server.media_processing_polls = 1
    publisher.media_poll_interval = 0.0

    publisher.publish(delivery(12, media=(IMAGE,)))

    upload, *polls, post = server.requests  # 202 on upload, one 206 poll, then 200
    assert (upload.method, upload.path) == ("POST", "/api/v2/media")
    assert upload.headers["authorization"] == f"Bearer {server.token}"
    part = upload.body["file"]
    assert (part.filename, part.content_type, part.data) == ("صورة.png", "image/png", PNG)
    media_id = next(iter(server.media))
    assert [(p.method, p.path) for p in polls] == [("GET", f"/api/v1/media/{media_id}")] * 2
    assert post.body["media_ids[]"] == [media_id]
    assert server.statuses[0]["media_attachments"][0]["id"] == media_id


def test_bluesky_creates_a_post_record_reusing_one_session(
    bluesky: tuple[FakeBluesky, BlueskyPublisher],
) -> None:
    server, publisher = bluesky
    first = publisher.publish(delivery(12))
    publisher.publish(delivery(13, body="plain text"))

    paths = [r.path.removeprefix("/xrpc/") for r in server.requests]
    assert paths == [
        "com.atproto.server.createSession",
        "com.atproto.repo.getRecord",
        "com.atproto.repo.createRecord",
        "com.atproto.repo.getRecord",
        "com.atproto.repo.createRecord",
    ]
    session = server.requests[0]
    assert session.body == {"identifier": server.handle, "password": server.password}
    create = server.requests[2]
    assert create.headers["authorization"] == "Bearer access-1"
    rkey = record_key(delivery(12))
    assert create.body["repo"] == server.did
    assert create.body["collection"] == "app.bsky.feed.post"
    assert create.body["rkey"] == rkey
    record = create.body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == ARABIC
    assert record["createdAt"] == "2026-11-24T08:00:05.000Z"
    (facet,) = record["facets"]
    link = "https://example.org/a?b=1"
    encoded = ARABIC.encode("utf-8")
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert encoded[start:end].decode("utf-8") == link
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": link}]
    assert "facets" not in server.requests[4].body["record"]
    assert first.remote_id == f"at://{server.did}/app.bsky.feed.post/{rkey}"
    assert first.remote_url == f"https://bsky.app/profile/{server.handle}/post/{rkey}"
    assert server.sessions_created == 1


def test_bluesky_retry_after_a_restart_finds_the_record_instead_of_posting_again(
    bluesky: tuple[FakeBluesky, BlueskyPublisher], client: httpx.Client
) -> None:
    server, publisher = bluesky
    receipt = publisher.publish(delivery(12))
    restarted = BlueskyPublisher(server.base_url, server.handle, server.password, client, now=now)

    assert restarted.publish(delivery(12)) == receipt
    assert len(server.records) == 1
    assert len(server.requests_to("/xrpc/com.atproto.repo.createRecord")) == 1
    assert server.requests[-1].path == "/xrpc/com.atproto.repo.getRecord"
    assert server.requests[-1].query["rkey"] == [record_key(delivery(12))]


def test_bluesky_refreshes_an_expired_access_token(
    bluesky: tuple[FakeBluesky, BlueskyPublisher],
) -> None:
    server, publisher = bluesky
    publisher.publish(delivery(12))
    server.expire_access_tokens()
    publisher.publish(delivery(13))

    (refresh,) = server.requests_to("/xrpc/com.atproto.server.refreshSession")
    assert refresh.headers["authorization"] == "Bearer refresh-1"
    assert server.requests[-1].headers["authorization"] == "Bearer access-2"
    assert server.sessions_created == 1 and len(server.records) == 2


def test_bluesky_record_made_before_the_connection_dropped_is_returned(
    bluesky: tuple[FakeBluesky, BlueskyPublisher],
) -> None:
    server, publisher = bluesky
    server.drop_next(path="/xrpc/com.atproto.repo.createRecord")  # the record is made first
    receipt = publisher.publish(delivery(12))
    assert receipt.remote_id is not None and receipt.remote_id.endswith(record_key(delivery(12)))
    assert len(server.records) == 1


def test_telegram_send_message(
    telegram: tuple[FakeTelegram, TelegramPublisher], client: httpx.Client
) -> None:
    server, publisher = telegram
    receipt = publisher.publish(delivery(12))
    numeric = TelegramPublisher(server.base_url, server.token, "-1001234", client, now=now)
    by_id = numeric.publish(delivery(13))

    first, second = server.requests
    assert (first.method, first.path) == ("POST", f"/bot{server.token}/sendMessage")
    assert first.body == {"chat_id": "@brandnews", "text": ARABIC}
    assert second.body["chat_id"] == -1001234
    assert receipt.remote_id == "1"
    assert receipt.remote_url == "https://t.me/brandnews/1"
    assert by_id.remote_id == "2" and by_id.remote_url is None
    assert PLATFORMS["telegram"].deduplicates({}) is None


# --- failure classification --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"seconds": 30}, 30.0),
        ({"http_date": NOW + timedelta(seconds=90)}, 90.0),
        ({"http_date": NOW - timedelta(seconds=5)}, 0.0),
        ({"reset": NOW + timedelta(minutes=4, seconds=30)}, 270.0),  # Mastodon: ISO time
    ],
    ids=["seconds", "http-date", "http-date-past", "x-ratelimit-reset"],
)
def test_mastodon_429_says_how_long_to_wait(
    mastodon: tuple[FakeMastodon, MastodonPublisher], fault: dict[str, Any], expected: float
) -> None:
    server, publisher = mastodon
    server.rate_limit_next(**fault)
    with pytest.raises(TransientPublishError) as caught:
        publisher.publish(delivery(12))
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(expected, abs=0.01)


def test_bluesky_429_reset_in_epoch_seconds(
    bluesky: tuple[FakeBluesky, BlueskyPublisher],
) -> None:
    server, publisher = bluesky
    server.rate_limit_next(reset=NOW.timestamp() + 42, path="/xrpc/com.atproto.repo.createRecord")
    with pytest.raises(TransientPublishError) as caught:
        publisher.publish(delivery(12))
    assert caught.value.retry_after == pytest.approx(42.0)
    assert "RateLimitExceeded" in str(caught.value)


def test_telegram_429_retry_after_in_the_body(
    telegram: tuple[FakeTelegram, TelegramPublisher],
) -> None:
    server, publisher = telegram
    server.rate_limit_next(seconds=7)
    with pytest.raises(TransientPublishError) as caught:
        publisher.publish(delivery(12))
    assert "retry-after" not in server.requests[0].headers
    assert caught.value.retry_after == 7.0
    assert "Too Many Requests: retry after 7" in str(caught.value)


def test_5xx_is_transient_and_a_later_attempt_succeeds(
    mastodon: tuple[FakeMastodon, MastodonPublisher],
) -> None:
    server, publisher = mastodon
    server.fail_next(status=503, times=2, headers={"Retry-After": "3"})
    for _ in range(2):
        with pytest.raises(TransientPublishError) as caught:
            publisher.publish(delivery(12))
        assert caught.value.status == 503 and caught.value.retry_after == 3.0
    assert publisher.publish(delivery(12)).remote_id == server.statuses[0]["id"]


def test_5xx_ignores_the_rate_limit_reset_sent_on_every_answer(
    mastodon: tuple[FakeMastodon, MastodonPublisher],
) -> None:
    server, publisher = mastodon
    server.fail_next(status=500)
    with pytest.raises(TransientPublishError) as caught:
        publisher.publish(delivery(12))
    assert caught.value.retry_after is None


def test_permanent_errors_carry_the_platform_message(
    mastodon: tuple[FakeMastodon, MastodonPublisher],
    bluesky: tuple[FakeBluesky, BlueskyPublisher],
    telegram: tuple[FakeTelegram, TelegramPublisher],
    client: httpx.Client,
) -> None:
    cases: list[tuple[Any, Delivery, str]] = [
        (mastodon[1], delivery(1, body=""), "mastodon answered 422: Validation failed: Text can't"),
        (telegram[1], delivery(2, body=""), "telegram answered 400: Bad Request: message text is"),
    ]
    bluesky[0].fail_next(status=400, message="Record/text must not be longer than 300 graphemes")
    cases.append((bluesky[1], delivery(3), "bluesky answered 400: InvalidRequest: Record/text"))
    with FakeWebhook() as hook:
        hook.reply = Reply(400, "invalid_payload")
        cases.append(
            (
                WebhookPublisher(hook.url, client, now=now, format="slack"),
                delivery(4),
                "answered 400: invalid_payload",
            )
        )
        for publisher, item, message in cases:
            with pytest.raises(PermanentPublishError) as caught:
                publisher.publish(item)
            assert message in str(caught.value)
            assert caught.value.status in (400, 422)


def test_dropped_connection_after_sending_is_interrupted_and_the_key_makes_a_retry_safe(
    mastodon: tuple[FakeMastodon, MastodonPublisher],
) -> None:
    server, publisher = mastodon
    server.drop_next()  # the status is made, the answer never comes
    with pytest.raises(InterruptedPublishError, match="may have been made"):
        publisher.publish(delivery(12))
    receipt = publisher.publish(delivery(12))
    (status,) = server.statuses
    assert receipt.remote_id == status["id"]


def test_telegram_dropped_connection_is_interrupted(
    telegram: tuple[FakeTelegram, TelegramPublisher],
) -> None:
    server, publisher = telegram
    server.drop_next(apply=False)
    with pytest.raises(InterruptedPublishError):
        publisher.publish(delivery(12))


def test_held_request_that_times_out_is_interrupted(telegram: tuple[FakeTelegram, Any]) -> None:
    server, _ = telegram
    with make_http_client(timeout=0.3) as impatient:
        publisher = TelegramPublisher(
            server.base_url, server.token, "@brandnews", impatient, now=now
        )
        hold = server.hold_next()
        with pytest.raises(InterruptedPublishError, match="no answer"):
            publisher.publish(delivery(12))
        assert hold.wait_arrived(1)
        hold.release()
    assert len(server.messages) == 1  # it was sent: an editor must check, never a blind resend


def test_connection_refused_is_transient(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publisher = MastodonPublisher(f"http://127.0.0.1:{port}", "tok", client, now=now)
    with pytest.raises(TransientPublishError, match="can't connect"):
        publisher.publish(delivery(12))


def test_no_secret_appears_in_errors_reprs_or_http_logs(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The daemon's logging quiets httpx; this test hears it at whatever level it was left.
    caplog.set_level(logging.DEBUG, logger="httpx")
    token = "987654:SECRET-telegram-token"
    errors: list[PublishError] = []
    with FakeTelegram(token=token) as server:
        wrong = TelegramPublisher(server.base_url, token + "x", "@c", client, now=now)
        right = TelegramPublisher(server.base_url, token, "@c", client, now=now)
        with pytest.raises(PermanentPublishError) as unauthorized:
            wrong.publish(delivery(1))
        errors.append(unauthorized.value)
        server.drop_next()
        with pytest.raises(InterruptedPublishError) as dropped:
            right.publish(delivery(2))
        errors.append(dropped.value)
        right.publish(delivery(3))
    with pytest.raises(TransientPublishError) as refused:
        right.publish(delivery(4))  # the server is gone
    errors.append(refused.value)
    with FakeBluesky() as pds:
        bad = BlueskyPublisher(pds.base_url, pds.handle, "SECRET-app-password", client, now=now)
        with pytest.raises(PermanentPublishError) as login:
            bad.publish(delivery(5))
        errors.append(login.value)
    assert "Invalid identifier or password" in str(login.value)

    shown = [str(e) for e in errors] + [repr(e) for e in errors]
    shown += [repr(wrong), repr(bad), repr(wrong.api), repr(bad.api)]
    for text in [*shown, caplog.text]:
        assert "SECRET" not in text
    assert "/bot<redacted>/sendMessage" in caplog.text


# --- record keys, registry, the fake servers themselves ----------------------------------


def test_record_keys_are_valid_deterministic_tids() -> None:
    assert encode_tid(0, 0) == "2222222222222"
    assert encode_tid(1724171495793000, 512) == "3l25zusnsfck2"  # the @atcute/tid example
    keys = {record_key(delivery(i)) for i in range(2000)}
    keys |= {record_key(delivery(5, due=NOW + timedelta(hours=h))) for h in range(50)}
    assert len(keys) == 2050 and all(TID.match(key) for key in keys)
    assert record_key(delivery(12)) == record_key(delivery(12, body="edited"))


def _channel(tmp_path: Path, publisher: str, **options: Any) -> Any:
    raw = {"channels": {"main": {"publisher": publisher, **options}}}
    return parse_config(raw, tmp_path / "config.toml").channel("main")


def test_registry_builds_each_publisher_from_config(
    client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "token-1234")
    secret = {"env": "TOKEN"}
    built = {
        "file": _channel(tmp_path, "file", path="out.jsonl"),
        "webhook": _channel(tmp_path, "webhook", url="http://127.0.0.1:9/h"),
        "mastodon": _channel(tmp_path, "mastodon", base_url="https://m.example", token=secret),
        "bluesky": _channel(tmp_path, "bluesky", handle="a.example", app_password=secret),
        "telegram": _channel(tmp_path, "telegram", bot_token=secret, chat_id=-100),
    }
    kinds = {name: type(build_publisher(c, client, now=now)) for name, c in built.items()}
    assert kinds == {
        "file": FilePublisher,
        "webhook": WebhookPublisher,
        "mastodon": MastodonPublisher,
        "bluesky": BlueskyPublisher,
        "telegram": TelegramPublisher,
    }
    bluesky = build_publisher(built["bluesky"], client, now=now)
    assert isinstance(bluesky, BlueskyPublisher) and bluesky.service == "https://bsky.social"


def test_fake_server_runs_in_its_own_process(tmp_path: Path) -> None:
    record = tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeplatforms", "webhook", "--record", str(record)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client() as other:
            answer = other.post(
                url + "/hook", json={"text": "hi"}, headers={"Idempotency-Key": "k"}
            )
        assert answer.text == "ok"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close() if process.stdout else None
    (line,) = record.read_text(encoding="utf-8").splitlines()
    logged = json.loads(line)
    assert logged["path"] == "/hook" and logged["body"] == {"text": "hi"}
    assert logged["headers"]["idempotency-key"] == "k"


# --- hostile answers: secrets echoed back, values that must not be stored -----------------

# Quotes and a backslash, so the JSON- and repr-escaped forms differ from the raw token.
ECHOED_TOKEN = 'Zq8x"Y3vB\\w7Kp-secret-token-42'


def exposed(text: str, secret: str) -> list[str]:
    """Every run of 8 characters of `secret`, raw or escaped or percent-encoded, in `text`."""
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], quote(secret, safe="")}
    return sorted(
        {form[i : i + 8] for form in forms for i in range(len(form) - 7)} & _windows(text)
    )


def _windows(text: str) -> set[str]:
    return {text[i : i + 8] for i in range(len(text) - 7)}


@pytest.mark.parametrize(
    "echo",
    [
        f"invalid token {ECHOED_TOKEN}",
        f"invalid token {json.dumps(ECHOED_TOKEN)}",
        f"invalid token {quote(ECHOED_TOKEN, safe='')}",
        "x" * 255 + f" token {ECHOED_TOKEN} is not valid here",  # our cut falls on the token
        "y" * 100 + f" token {ECHOED_TOKEN[:14]}… (cut by the platform)",
    ],
    ids=["raw", "json-escaped", "url-encoded", "past-300-characters", "cut-short"],
)
def test_a_platform_echoing_the_token_never_shows_it(client: httpx.Client, echo: str) -> None:
    with FakeMastodon(token=ECHOED_TOKEN) as server:
        publisher = MastodonPublisher(server.base_url, ECHOED_TOKEN, client, now=now)
        server.fail_next(401, message=echo)
        with pytest.raises(PermanentPublishError) as caught:
            publisher.publish(delivery(1))
    message = str(caught.value)
    assert message.startswith("mastodon answered 401:") and "<redacted>" in message
    assert len(message) <= 300
    assert exposed(message, ECHOED_TOKEN) == []


def test_a_multi_line_token_is_refused_by_http_and_never_shown(client: httpx.Client) -> None:
    token = "first-line-of-a-token\nsecond-line-of-it"
    with FakeMastodon(token=token) as server:
        publisher = MastodonPublisher(server.base_url, token, client, now=now)
        with pytest.raises(PermanentPublishError) as caught:
            publisher.publish(delivery(1))
        assert server.requests == []
    message = str(caught.value)
    assert "request not possible" in message
    for line in token.split("\n"):
        assert exposed(message, line) == []


@pytest.mark.parametrize(
    ("platform", "token"),
    [("mastodon", "tökén-secret-value"), ("telegram", "123:bad\x00token")],
)
def test_a_token_http_cannot_carry_is_a_permanent_error(
    client: httpx.Client, platform: str, token: str
) -> None:
    publisher: MastodonPublisher | TelegramPublisher
    if platform == "mastodon":
        publisher = MastodonPublisher("http://127.0.0.1:9", token, client, now=now)
    else:
        publisher = TelegramPublisher("http://127.0.0.1:9", token, "@c", client, now=now)
    with pytest.raises(PermanentPublishError) as caught:
        publisher.publish(delivery(1))
    assert str(caught.value) == (
        f"{platform}: request not possible: a header or the URL holds a character HTTP can't "
        "carry (check the channel's token)"
    )


def test_bluesky_session_tokens_are_secrets_too(
    bluesky: tuple[FakeBluesky, BlueskyPublisher],
) -> None:
    server, publisher = bluesky
    publisher.publish(delivery(1))  # session access-1 / refresh-1
    server.fail_next(400, message="access-1 may not write here", path=CREATE_RECORD)
    with pytest.raises(PermanentPublishError) as caught:
        publisher.publish(delivery(2))
    assert (
        str(caught.value) == "bluesky answered 400: InvalidRequest: <redacted> may not write here"
    )


CREATE_RECORD = "/xrpc/com.atproto.repo.createRecord"


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        (
            {"id": "post-7", "url": "https://hooks.example/p/7"},
            ("post-7", "https://hooks.example/p/7"),
        ),
        ({"id": "7\r\nforged", "url": "https://x.example/p\r\nBEGIN:VEVENT"}, (None, None)),
        ({"id": "\x1b[31m7", "url": "https://x.example/\x1b]0;title\x07"}, (None, None)),
        ({"id": "ok", "url": "javascript:alert(1)"}, ("ok", None)),
        ({"id": "x" * 513, "url": "https://x.example/" + "a" * 2048}, (None, None)),
        ({"id": "ok", "url": "https://x.example/\u202eevil"}, ("ok", None)),
    ],
    ids=["clean", "crlf", "escape-codes", "not-http", "too-long", "bidi-override"],
)
def test_what_a_platform_answers_is_checked_before_it_is_kept(
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    answer: dict[str, str],
    kept: tuple[str | None, str | None],
) -> None:
    with FakeWebhook() as server:
        server.reply = Reply(200, answer)
        receipt = WebhookPublisher(server.url, client, now=now).publish(delivery(1))
    assert (receipt.remote_id, receipt.remote_url) == kept
    dropped = [r.getMessage() for r in caplog.records if "dropped the post" in r.getMessage()]
    assert len(dropped) == (kept[0] is None) + (kept[1] is None)


def test_a_slack_webhook_url_is_a_secret_in_messages(client: httpx.Client) -> None:
    with FakeWebhook() as server:
        url = server.base_url + "/services/T0001/B0002/Xk9sSecretPart42"
        server.reply = Reply(404, f"no_service: {urlsplit(url).path} ({quote(url, safe='')})")
        publisher = WebhookPublisher(url, client, now=now, format="slack")
        with pytest.raises(PermanentPublishError) as caught:
            publisher.publish(delivery(1))
    assert str(caught.value) == "webhook (slack) answered 404: no_service: <redacted> (<redacted>)"


class _EndlessAnswer(ThreadingHTTPServer):
    """Answers every POST with a 500 that claims 200 MB and keeps writing until the client
    goes away; counts what it managed to write."""

    daemon_threads = True

    def __init__(self) -> None:
        self.written = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(200_000_000))
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    while server.written < 200_000_000:
                        self.wfile.write(chunk)
                        server.written += len(chunk)
                except OSError:
                    pass  # the client closed the connection: what we are testing

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_an_endless_answer_is_read_only_up_to_the_limit(client: httpx.Client) -> None:
    server = _EndlessAnswer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        with pytest.raises(TransientPublishError) as caught:
            WebhookPublisher(url, client, now=now).publish(delivery(1))
    finally:
        server.shutdown()
        server.server_close()
    assert str(caught.value).startswith("webhook (json) answered 500: xxx")
    assert len(str(caught.value)) <= 300
    # The publisher hung up once it had read its limit; the socket buffers hold a few MB.
    assert server.written < 50_000_000


class _GzipBomb(ThreadingHTTPServer):
    """Answers every request with a 200 whose few kilobytes of gzip, with a Content-Length
    well under the answer limit, inflate to 20 MB."""

    daemon_threads = True

    def __init__(self) -> None:
        body = gzip.compress(b"x" * 20_000_000)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_small_compressed_answer_is_still_cut_at_the_limit(client: httpx.Client) -> None:
    """Only an uncompressed answer is trusted by its length: this one says a few KB."""
    server = _GzipBomb()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = Api(client, "webhook", now)
        url = f"http://127.0.0.1:{server.server_port}/answer"
        answer = api.send("GET", url, posting=False)
        answered_async = asyncio.run(_send_and_close(api, Call("GET", url, False, {})))
    finally:
        server.shutdown()
        server.server_close()
    assert answer.content == answered_async.content == b"x" * ANSWER_LIMIT


async def _send_and_close(api: Api, call: Call) -> Answer:
    try:
        return await api.send_async(call)
    finally:
        await api.close_async()
