"""What each platform receives as text, and the length limits exactly as each one counts.

Counts are worked out by hand in the comments; the CLI cases run the real `scheduler`
process and check the refusal names the limit, the unit and the actual size. Publisher
cases run against the local fakes, which refuse what the real servers refuse.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.config import load_config, parse_config
from scheduler.domain import PostDraft
from scheduler.errors import ConfigError, TransientPublishError
from scheduler.publishers import (
    ChannelClients,
    Delivery,
    build_publisher,
    build_publishers,
    make_http_client,
)
from scheduler.runtime.daemon import Daemon
from scheduler.runtime.dispatch import RetrySettings
from scheduler.store.store import Store
from scheduler.text import graphemes, mastodon_length, utf8_bytes, utf16_units
from tests.conftest import RunCli, write_config
from tests.fakeplatforms import FakeBluesky, FakeMastodon, FakeTelegram

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 4 emoji + 3 ZWJ: 1 grapheme, 25 bytes, 11 UTF-16 units
FLAG = "🇸🇦"  # 2 regional indicators: 1 grapheme, 8 bytes, 4 UTF-16 units
SKIN_TONE = "👋🏽"  # 1 grapheme, 8 bytes, 4 UTF-16 units
WIKI = "https://en.wikipedia.org/wiki/Bluesky_(social_network)"
# The case: 300 graphemes, 7,188 bytes. "مرحبا بكم " is 10 graphemes and 18 bytes;
# 286 families 7,150 bytes; two flags 16; "شك" 2 graphemes and 4 bytes.
ARABIC_7188 = "مرحبا بكم " + FAMILY * 286 + FLAG * 2 + "شك"
NOW = datetime(2026, 11, 24, 8, 0, 5, tzinfo=UTC)


def test_the_constructed_bodies_are_what_the_comments_say() -> None:
    assert (graphemes(ARABIC_7188), utf8_bytes(ARABIC_7188)) == (300, 7188)
    assert (graphemes(FAMILY), utf8_bytes(FAMILY), utf16_units(FAMILY)) == (1, 25, 11)
    assert (utf16_units(FLAG), utf16_units(SKIN_TONE), utf16_units("سَ")) == (4, 4, 2)


# --- Mastodon's count -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("x" * 10, 10),
        # "hello " 6 + the link 23 + ". ok" 4: the trailing "." is not part of the link.
        (f"hello {WIKI}. ok", 33),
        # A 250-character link still counts 23.
        ("see https://example.org/" + "a" * 226, 4 + 23),
        # "hi " 3 + "@ali" 4 + " and " 5 + "@bob" 4: the domain of a remote mention is free.
        ("hi @ali@example.social and @bob", 16),
        # Not a mention: "@" after a word character (an e-mail address) counts in full.
        ("mail ali@example.social", 23),
        # Graphemes, not code points: a family of 7 code points, a flag of 2, Arabic with marks.
        (FAMILY * 3 + FLAG + SKIN_TONE + " سَلَامٌ", 3 + 1 + 1 + 1 + 4),
        # Mastodon's path rules take Arabic into the link and stop at the space: "شاهد " 5,
        # the link (with its "،", which Mastodon does not exclude) 23, " جميل" 5.
        ("شاهد https://ar.wikipedia.org/wiki/العربية، جميل", 33),
        # A query ends on a letter or digit: the "!" after it counts.
        ("https://x.example/a?b=c!", 24),
    ],
)
def test_mastodon_length_counts_as_mastodon_does(text: str, length: int) -> None:
    assert mastodon_length(text) == length


WORDS = ["مرحبا", "سَلَامٌ", FAMILY, FLAG, SKIN_TONE, "e\u0301", "word", "١٢٣", "#tag", ".", "!"]
LINKS = [WIKI, "https://example.org/" + "a" * 200, "https://ar.wikipedia.org/wiki/العربية"]


@given(st.lists(st.sampled_from(WORDS) | st.sampled_from(LINKS), max_size=40))
@settings(max_examples=200, deadline=None)
def test_mastodon_length_is_graphemes_plus_23_per_link(pieces: list[str]) -> None:
    text = " ".join(pieces)
    words = [p for p in pieces if p not in LINKS]
    spaces = max(len(pieces) - 1, 0)
    expected = sum(graphemes(w) for w in words) + spaces + 23 * (len(pieces) - len(words))
    assert mastodon_length(text) == expected


# --- refusals at queue time, through the real CLI ---------------------------------------

CHANNELS = """
[channels.masto]
publisher = "mastodon"
base_url = "https://social.example"
token = { env = "MASTO_TOKEN" }

[channels.sky]
publisher = "bluesky"
handle = "brand.test"
app_password = { env = "SKY_PASSWORD" }
language = "ar"

[channels.tg]
publisher = "telegram"
bot_token = { env = "TG_TOKEN" }
chat_id = "@brand"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, CHANNELS)


def add(invoke: RunCli, config: Path, body: str, channel: str) -> subprocess.CompletedProcess[str]:
    return invoke("queue", "add", body, "--channel", channel, "--kind", "core", config=config)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    return line


REFUSALS = [
    pytest.param(
        "sky",
        ARABIC_7188,
        "error: the body is 7188 bytes long in UTF-8; channel 'sky' (bluesky) accepts at most 3000",
        id="bluesky-300-graphemes-but-7188-bytes",
    ),
    pytest.param(
        "sky",
        FAMILY * 120 + "a",  # 121 graphemes, 3,001 bytes
        "error: the body is 3001 bytes long in UTF-8; channel 'sky' (bluesky) accepts at most 3000",
        id="bluesky-3001-bytes",
    ),
    pytest.param(
        "sky",
        "سَ" * 301,
        "error: the body is 301 graphemes long; channel 'sky' (bluesky) accepts at most 300",
        id="bluesky-301-graphemes",
    ),
    pytest.param(
        "tg",
        "👍" * 2049,  # 2,049 code points, 4,098 UTF-16 units
        "error: the body is 4098 UTF-16 code units long (as Telegram counts); "
        "channel 'tg' (telegram) accepts at most 4096",
        id="telegram-4098-utf16-units",
    ),
    pytest.param(
        "tg",
        FAMILY * 372 + "abcde",  # 372 × 11 + 5 = 4,097 units in 377 graphemes
        "error: the body is 4097 UTF-16 code units long (as Telegram counts); "
        "channel 'tg' (telegram) accepts at most 4096",
        id="telegram-families",
    ),
    pytest.param(
        "masto",
        "@ali@example.social " + "م" * 496,  # "@ali" 4 + " " 1 + 496 = 501
        "error: the body is 501 characters long (as Mastodon counts: a link counts 23, "
        "@user@server counts as @user); channel 'masto' (mastodon) accepts at most 500",
        id="mastodon-501",
    ),
]


@pytest.mark.parametrize(("channel", "body", "message"), REFUSALS)
def test_a_body_too_long_for_the_platform_is_refused_naming_limit_unit_and_size(
    invoke: RunCli, config: Path, channel: str, body: str, message: str
) -> None:
    assert refused(add(invoke, config, body, channel)) == message
    listed = invoke("queue", "list", "--format", "json", config=config)
    assert listed.returncode == 0 and '"posts": []' in listed.stdout


ACCEPTED = [
    pytest.param("sky", FAMILY * 120, id="bluesky-exactly-3000-bytes"),
    pytest.param("sky", "سَ" * 300, id="bluesky-300-graphemes-1200-bytes"),
    pytest.param("tg", "👍" * 2048, id="telegram-exactly-4096-units"),
    pytest.param("masto", "@ali@example.social " + "م" * 495, id="mastodon-500-remote-mention"),
    pytest.param("masto", "م" * 476 + " https://example.org/" + "a" * 300, id="mastodon-long-link"),
]


@pytest.mark.parametrize(("channel", "body"), ACCEPTED)
def test_a_body_at_the_platform_limit_is_queued(
    invoke: RunCli, config: Path, channel: str, body: str
) -> None:
    result = add(invoke, config, body, channel)
    assert result.returncode == 0, result.stderr


# --- config: language and visibility ----------------------------------------------------


def channel_config(tmp_path: Path, publisher: str, **options: Any) -> Any:
    base: dict[str, Any] = {
        "mastodon": {"base_url": "https://social.example", "token": {"env": "T"}},
        "bluesky": {"handle": "brand.test", "app_password": {"env": "T"}},
    }[publisher]
    raw = {"channels": {"main": {"publisher": publisher, **base, **options}}}
    return parse_config(raw, tmp_path / "config.toml").channel("main")


@pytest.mark.parametrize("tag", ["en", "ar", "pt-BR", "zh-Hant-TW", "sr-Latn", "es-419"])
def test_bluesky_language_accepts_bcp47_tags(tmp_path: Path, tag: str) -> None:
    assert channel_config(tmp_path, "bluesky", language=tag).option("language") == tag


@pytest.mark.parametrize("tag", ["english", "EN", "pt_BR", "a", "ar-", 5])
def test_bluesky_language_refuses_what_is_not_bcp47_naming_the_key(
    tmp_path: Path, tag: object
) -> None:
    with pytest.raises(ConfigError) as caught:
        channel_config(tmp_path, "bluesky", language=tag)
    assert (
        f"channels.main.language: {tag!r} is not a BCP 47 language tag; use e.g. en, ar, pt-BR"
        in str(caught.value)
    )


def test_mastodon_visibility_defaults_to_public_and_refuses_others(tmp_path: Path) -> None:
    assert channel_config(tmp_path, "mastodon").option("visibility") == "public"
    assert channel_config(tmp_path, "mastodon", visibility="unlisted").option("visibility") == (
        "unlisted"
    )
    with pytest.raises(ConfigError) as caught:
        channel_config(tmp_path, "mastodon", visibility="followers")
    assert (
        "channels.main.visibility: 'followers'; accepted: public, unlisted, private, direct"
        in str(caught.value)
    )


def test_mastodon_language_is_an_iso_639_code(tmp_path: Path) -> None:
    assert channel_config(tmp_path, "mastodon", language="ar").option("language") == "ar"
    with pytest.raises(ConfigError) as caught:
        channel_config(tmp_path, "mastodon", language="Arabic")
    assert "channels.main.language: 'Arabic' is not an ISO 639 language code" in str(caught.value)


def test_check_names_a_bad_language_key(invoke: RunCli, tmp_path: Path) -> None:
    config = write_config(tmp_path, CHANNELS.replace('language = "ar"', 'language = "arabic"'))
    result = invoke(
        "check", config=config, env={"MASTO_TOKEN": "token-1234", "SKY_PASSWORD": "pass-1234"}
    )
    assert result.returncode == 1
    assert "channels.sky.language: 'arabic' is not a BCP 47 language tag" in result.stderr
    assert "Traceback" not in result.stderr


# --- what the publishers send, against the fakes ----------------------------------------


def now() -> datetime:
    return NOW


def delivery(airing_id: int, body: str) -> Delivery:
    return Delivery(
        airing_id=airing_id,
        channel="main",
        post_id=airing_id,
        kind="core",
        body=body,
        media=(),
        idempotency_key=f"airing-{airing_id}-k",
        due=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=2.0) as shared:
        yield shared


@pytest.fixture
def pds() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        server.known_handles["ali.example.com"] = "did:plc:ali00000000000000000000"
        yield server


def bluesky_publisher(
    pds: FakeBluesky, client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.setenv("SKY_PASSWORD", pds.password)
    channel = channel_config(
        tmp_path,
        "bluesky",
        service=pds.base_url,
        handle=pds.handle,
        app_password={"env": "SKY_PASSWORD"},
        language="ar",
    )
    return build_publisher(channel, client, now=now)


def covered(text: str, facet: dict[str, Any]) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


def test_bluesky_post_carries_facets_and_langs_the_pds_accepts(
    pds: FakeBluesky, client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = bluesky_publisher(pds, client, tmp_path, monkeypatch)
    text = (
        f"{FAMILY}{SKIN_TONE} {FLAG} مرحبا @ali.example.com و @ghost.example.com! "
        f"اقرأ ({WIKI}). #أخبار #1"
    )
    publisher.publish(delivery(12, text))

    (stored,) = pds.records.values()
    record = stored["value"]
    assert record["text"] == text
    assert record["langs"] == ["ar"]
    assert [(covered(text, f), f["features"]) for f in record["facets"]] == [
        (
            "@ali.example.com",
            [
                {
                    "$type": "app.bsky.richtext.facet#mention",
                    "did": "did:plc:ali00000000000000000000",
                }
            ],
        ),
        (WIKI, [{"$type": "app.bsky.richtext.facet#link", "uri": WIKI}]),
        ("#أخبار", [{"$type": "app.bsky.richtext.facet#tag", "tag": "أخبار"}]),
    ]


def test_bluesky_resolves_each_handle_once_per_publisher(
    pds: FakeBluesky, client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = bluesky_publisher(pds, client, tmp_path, monkeypatch)
    publisher.publish(delivery(12, "@ali.example.com @nobody.example.com"))
    publisher.publish(delivery(13, "again @ALI.example.com and @nobody.example.com"))

    asked = [r.query["handle"] for r in pds.requests_to("/xrpc/com.atproto.identity.resolveHandle")]
    assert asked == [["ali.example.com"], ["nobody.example.com"]]
    second = pds.records[max(pds.records)]["value"]
    assert [f["features"][0]["did"] for f in second["facets"]] == [
        "did:plc:ali00000000000000000000"
    ]


def test_bluesky_handle_lookup_that_fails_is_retried_not_posted_without_the_mention(
    pds: FakeBluesky, client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = bluesky_publisher(pds, client, tmp_path, monkeypatch)
    pds.fail_next(503, path="/xrpc/com.atproto.identity.resolveHandle")
    with pytest.raises(TransientPublishError, match="bluesky answered 503"):
        publisher.publish(delivery(12, "hi @ali.example.com"))
    assert pds.records == {}

    publisher.publish(delivery(12, "hi @ali.example.com"))
    ((stored),) = pds.records.values()
    assert stored["value"]["facets"][0]["features"][0]["did"].startswith("did:plc:ali")


def post_record(
    pds: FakeBluesky, client: httpx.Client, record: dict[str, Any], **extra: str
) -> httpx.Response:
    session = client.post(
        f"{pds.base_url}/xrpc/com.atproto.server.createSession",
        json={"identifier": pds.handle, "password": pds.password},
    ).json()
    return client.post(
        f"{pds.base_url}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        json={"repo": pds.did, "collection": "app.bsky.feed.post", "record": record, **extra},
    )


def link_facet(start: int, end: int) -> dict[str, Any]:
    feature = {"$type": "app.bsky.richtext.facet#link", "uri": "https://x.example"}
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # "مرحبا" is 10 bytes: byte 3 is the second byte of "ر".
        ({"facets": [link_facet(3, 10)]}, "Record/facets/0/index: byte 3 is inside a UTF-8"),
        ({"facets": [link_facet(0, 11)]}, "Record/facets/0/index must be a non-empty byte range"),
        ({"facets": [link_facet(4, 4)]}, "Record/facets/0/index must be a non-empty byte range"),
        ({"langs": ["not a language"]}, "Record/langs/0 must be a valid language code"),
        ({"langs": ["ar", "en", "fr", "de"]}, "Record/langs must be an array of at most 3"),
        ({"text": ARABIC_7188}, "Record/text must not be longer than 3000"),
        ({"text": "سَ" * 301}, "Record/text must not be longer than 300 graphemes"),
    ],
)
def test_the_fake_pds_refuses_what_a_pds_would(
    pds: FakeBluesky, client: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    record = {"$type": "app.bsky.feed.post", "text": "مرحبا", "createdAt": "2026-11-24T08:00:00Z"}
    response = post_record(pds, client, {**record, **changes})
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert pds.records == {}

    fine = post_record(pds, client, {**record, "facets": [link_facet(2, 10)], "langs": ["ar"]})
    assert fine.status_code == 200


def test_the_fake_pds_still_refuses_a_taken_record_key_for_a_valid_post(
    pds: FakeBluesky, client: httpx.Client
) -> None:
    record = {"$type": "app.bsky.feed.post", "text": "مرحبا", "createdAt": "2026-11-24T08:00:00Z"}
    assert post_record(pds, client, record, rkey="3l25zusnsfck2").status_code == 200
    again = post_record(pds, client, record, rkey="3l25zusnsfck2")
    assert again.status_code == 400 and "Record already exists" in again.json()["message"]
    assert len(pds.records) == 1


def test_the_fake_pds_resolves_known_handles_only(pds: FakeBluesky, client: httpx.Client) -> None:
    url = f"{pds.base_url}/xrpc/com.atproto.identity.resolveHandle"
    assert client.get(url, params={"handle": pds.handle}).json() == {"did": pds.did}
    unknown = client.get(url, params={"handle": "nobody.example.com"})
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Unable to resolve handle"


def test_mastodon_status_carries_visibility_and_language(
    client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodon() as server:
        monkeypatch.setenv("MASTO_TOKEN", server.token)
        channel = channel_config(
            tmp_path,
            "mastodon",
            base_url=server.base_url,
            token={"env": "MASTO_TOKEN"},
            visibility="unlisted",
            language="ar",
        )
        build_publisher(channel, client, now=now).publish(delivery(12, "مرحبا " + WIKI))
        (status,) = server.statuses
        assert (status["visibility"], status["language"]) == ("unlisted", "ar")

        default = channel_config(
            tmp_path, "mastodon", base_url=server.base_url, token={"env": "MASTO_TOKEN"}
        )
        build_publisher(default, client, now=now).publish(delivery(13, "hello"))
        (request,) = [
            r for r in server.requests_to("/api/v1/statuses") if "hello" in r.body["status"]
        ]
        assert request.body == {"status": ["hello"], "visibility": ["public"]}


def test_the_fake_mastodon_checks_visibility_and_counts_as_mastodon(client: httpx.Client) -> None:
    with FakeMastodon() as server:
        url, auth = (
            f"{server.base_url}/api/v1/statuses",
            {"Authorization": f"Bearer {server.token}"},
        )
        bad = client.post(url, headers=auth, data={"status": "hi", "visibility": "friends"})
        assert bad.status_code == 422 and "not a valid visibility" in bad.json()["error"]
        # 476 + 1 + a 321-character link counting 23 = 500: Mastodon accepts it.
        long_link = "م" * 476 + " https://example.org/" + "a" * 300
        assert client.post(url, headers=auth, data={"status": long_link}).status_code == 200
        too_long = client.post(url, headers=auth, data={"status": "م" * 501})
        assert too_long.status_code == 422
        unknown = client.post(url, headers=auth, data={"status": "x", "language": "klingon"})
        assert unknown.json()["language"] is None  # Mastodon falls back, it doesn't refuse


def test_the_fake_telegram_counts_utf16_units(client: httpx.Client) -> None:
    with FakeTelegram() as server:
        url = f"{server.base_url}/bot{server.token}/sendMessage"
        fits = client.post(url, json={"chat_id": "@brand", "text": "👍" * 2048})
        assert fits.json()["ok"] is True
        over = client.post(url, json={"chat_id": "@brand", "text": "👍" * 2049})
        assert over.status_code == 400 and over.json()["description"].endswith("too long")


# --- through the daemon: config -> dispatcher -> publisher -> platform ------------------


def test_the_daemon_sends_each_platform_its_own_text(
    tmp_path: Path, pds: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodon() as masto:
        monkeypatch.setenv("SKY_PASSWORD", pds.password)
        monkeypatch.setenv("MASTO_TOKEN", masto.token)
        config = load_config(
            write_config(
                tmp_path,
                f"""
                [channels.sky]
                publisher = "bluesky"
                service = "{pds.base_url}"
                handle = "{pds.handle}"
                app_password = {{ env = "SKY_PASSWORD" }}
                language = "ar"

                [channels.masto]
                publisher = "mastodon"
                base_url = "{masto.base_url}"
                token = {{ env = "MASTO_TOKEN" }}
                visibility = "unlisted"
                language = "ar"
                """,
            )
        )
        store = Store(config.scheduler.database)
        store.migrate()
        clients = ChannelClients(timeout=2.0)
        clock_now = [datetime(2026, 11, 23, 12, 5, tzinfo=UTC)]
        at = clock_now[0] + timedelta(minutes=25)
        body = f"{FAMILY} إطلاق @ali.example.com اليوم ({WIKI}) #إطلاق"
        draft = PostDraft(body=body, kind="core", channels=("sky", "masto"), editor="sara", at=at)
        spacing = {name: c.min_spacing for name, c in config.channels.items()}
        store.add_posts([draft], now=clock_now[0], spacing=spacing)
        publishers = build_publishers(config.channels, clients, now=lambda: clock_now[0])
        no_wait = RetrySettings(attempts=2, initial=0.0, maximum=0.0)
        daemon = Daemon(config, store, publishers, clock=lambda: clock_now[0], retry=no_wait)
        try:
            daemon.tick(clock_now[0])
            clock_now[0] = at
            daemon.tick(at)
            deadline = time.monotonic() + 30  # real time for the workers' round trips
            while daemon.dispatcher.busy() or not (pds.records and masto.statuses):
                assert time.monotonic() < deadline, "the daemon sent nothing"
                time.sleep(0.01)
        finally:
            daemon.close(timeout=5)
            clients.close()
            store.close()

        (stored,) = pds.records.values()
        assert stored["value"]["langs"] == ["ar"]
        assert [covered(body, f) for f in stored["value"]["facets"]] == [
            "@ali.example.com",
            WIKI,
            "#إطلاق",
        ]
        (status,) = masto.statuses
        assert (status["text"], status["visibility"], status["language"]) == (
            body,
            "unlisted",
            "ar",
        )
