"""Media as each platform takes it (DESIGN §7): Bluesky images with `uploadBlob` and
`app.bsky.embed.images`, Mastodon media with alt text as `description`, one Telegram photo
with `sendPhoto` and a caption; alt text from `--alt` and the import column `alt`.

Refusals run through the real CLI and name the limit and the actual size; what is sent runs
against the local fakes, which check what the platforms check (blob references, processing
states, caption lengths, photo bytes).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler.errors import PermanentPublishError
from scheduler.media import Medium
from scheduler.publishers import Delivery, make_http_client
from scheduler.publishers.bluesky import BlueskyPublisher
from scheduler.publishers.mastodon import MastodonPublisher
from scheduler.publishers.telegram import TelegramPublisher
from tests.conftest import RunCli, queued_id, send_pinned_in_process, write_config
from tests.fakeplatforms import FakeBluesky, FakeMastodon, FakeTelegram

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2  # every byte value: nothing may change one
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(255, -1, -1))
GIF = b"GIF89a" + b"\x01\x00\x01\x00" + bytes(64)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32)
TOKEN = "media-test-token"
ENV = {"TEST_MEDIA_TOKEN": TOKEN}
FAMILY = "👨‍👩‍👧‍👦"  # one grapheme, 7 code points, 11 UTF-16 units
ALT_AR = "صورة لشروق الشمس فوق البحر 🌅👋🏽 🇸🇦"  # Arabic, a skin tone, a flag
ALT_EMOJI = f"Our team {FAMILY} at the stand (hall B)"
NOW = datetime(2026, 11, 24, 8, 0, 5, tzinfo=UTC)

CHANNELS = """
[channels.masto]
publisher = "mastodon"
base_url = "https://social.example"
token = { env = "TEST_MEDIA_TOKEN" }

[channels.sky]
publisher = "bluesky"
handle = "brand.bsky.social"
app_password = { env = "TEST_MEDIA_TOKEN" }

[channels.tg]
publisher = "telegram"
bot_token = { env = "TEST_MEDIA_TOKEN" }
chat_id = "@brand"
"""


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of exactly `size` bytes starting with `head`, without writing them all."""
    with path.open("wb") as file:
        file.write(head)
        file.truncate(size)
    return path


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, CHANNELS)


def refused(invoke: RunCli, config: Path, *args: str) -> str:
    """The one stderr line of a refused command, after checking it changed no post."""
    before = _posts(config.parent)
    result = invoke(*args, config=config, env=ENV)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert _posts(config.parent) == before
    return line


def _posts(directory: Path) -> list[tuple[Any, ...]]:
    if not (directory / "scheduler.db").exists():
        return []
    with sqlite3.connect(directory / "scheduler.db") as db:
        return db.execute(
            "SELECT p.id, p.body, m.position, m.sha256, m.alt FROM post p "
            "LEFT JOIN media m ON m.post_id = p.id ORDER BY 1, 3"
        ).fetchall()


def add(*args: str) -> tuple[str, ...]:
    return ("queue", "add", "look at this", "--kind", "core", *args)


# --- refused at queue time, naming the limit and the actual size -----------------------------


def test_bluesky_refuses_a_fifth_image_and_a_blob_over_a_million_bytes(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    for n in range(5):
        write(tmp_path / f"{n}.png", PNG)
    media = [arg for n in range(5) for arg in ("--media", f"{n}.png")]
    assert refused(invoke, cli_config, *add("-c", "sky", *media)) == (
        "error: 5 media files given; channel 'sky' (bluesky) takes at most 4"
    )
    sparse(tmp_path / "big.png", PNG, 1_000_001)
    assert refused(invoke, cli_config, *add("-c", "sky", "--media", "big.png")) == (
        "error: media file 'big.png' is 1,000,001 bytes; channel 'sky' (bluesky) takes files "
        "up to 1,000,000 bytes"
    )
    # The lexicon's maxSize is decimal and inclusive; Mastodon alone would take far more.
    sparse(tmp_path / "limit.png", PNG, 1_000_000)
    ok = invoke(
        *add("-c", "sky", "-c", "masto", "--media", "limit.png"), config=cli_config, env=ENV
    )
    assert ok.returncode == 0, ok.stderr


def test_telegram_takes_one_jpeg_png_or_webp_photo_of_at_most_10_mb(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "b.jpg", JPEG)
    write(tmp_path / "c.gif", GIF)
    sparse(tmp_path / "big.jpg", JPEG, 10_000_001)
    assert refused(
        invoke, cli_config, *add("-c", "tg", "--media", "a.png", "--media", "b.jpg")
    ) == ("error: 2 media files given; channel 'tg' (telegram) takes at most 1")
    assert refused(invoke, cli_config, *add("-c", "tg", "--media", "c.gif")) == (
        "error: media file 'c.gif' is a GIF image; channel 'tg' (telegram) takes JPEG, PNG, "
        "WebP images"
    )
    assert refused(invoke, cli_config, *add("-c", "tg", "--media", "big.jpg")) == (
        "error: media file 'big.jpg' is 10,000,001 bytes (9.5 MiB); channel 'tg' (telegram) "
        "takes files up to 10,000,000 bytes (9.5 MiB)"
    )
    write(tmp_path / "d.webp", WEBP)
    for name in ("a.png", "b.jpg", "d.webp"):
        ok = invoke(*add("-c", "tg", "--media", name), config=cli_config, env=ENV)
        assert ok.returncode == 0, ok.stderr


def test_a_telegram_caption_is_1024_utf16_units_while_a_text_alone_may_have_4096(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    write(tmp_path / "a.png", PNG)
    # "👋🏽" is 4 UTF-16 units, an Arabic letter 1: 255 * 4 + 4 = 1024 exactly.
    fits = "👋🏽" * 255 + "مرحب"
    over = fits + "ا"
    ok = invoke("queue", "add", fits, "-c", "tg", "--kind", "core", "--media", "a.png",
                 config=cli_config, env=ENV)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    line = refused(invoke, cli_config, "queue", "add", over, "-c", "tg", "--kind", "core",
                   "--media", "a.png")  # fmt: skip
    assert line == (
        "error: the body is 1025 UTF-16 code units long (a photo's caption, as Telegram "
        "counts); channel 'tg' (telegram) accepts at most 1024"
    )
    alone = invoke("queue", "add", over, "-c", "tg", "--kind", "core", config=cli_config, env=ENV)
    assert alone.returncode == 0, alone.stderr


def test_alt_text_is_one_per_medium_one_line_and_within_each_platforms_limit(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    write(tmp_path / "a.png", PNG)
    assert refused(
        invoke, cli_config, *add("-c", "masto", "--media", "a.png", "--alt", "one", "--alt", "two")
    ) == (
        "error: 2 alt texts given for 1 media file(s); give at most one --alt per --media, "
        "in the same order"
    )
    assert refused(invoke, cli_config, *add("-c", "masto", "--alt", ALT_AR)) == (
        "error: 1 alt texts given for 0 media file(s); give at most one --alt per --media, "
        "in the same order"
    )
    assert refused(
        invoke, cli_config, *add("-c", "masto", "--media", "a.png", "--alt", "line\nbreak")
    ) == (
        "error: alt text 1 holds a line break or another control character; write it as one "
        "line of plain text"
    )
    assert refused(
        invoke, cli_config, *add("-c", "masto", "--media", "a.png", "--alt", "a\u202eb")
    ).startswith("error: alt text 1 holds a line break or another control character")
    # Mastodon counts code points (1500), Bluesky graphemes (2000): a family emoji is 7 and 1.
    assert (
        refused(invoke, cli_config, *add("-c", "masto", "--media", "a.png", "--alt", FAMILY * 215))
        == "error: alt text 1 is 1505 characters long; channel 'masto' (mastodon) accepts at "
        "most 1500"
    )
    assert (
        refused(invoke, cli_config, *add("-c", "sky", "--media", "a.png", "--alt", "ب" * 2001))
        == "error: alt text 1 is 2001 graphemes long; channel 'sky' (bluesky) accepts at most 2000"
    )
    ok = invoke(*add("-c", "sky", "--media", "a.png", "--alt", FAMILY * 2000),
                 config=cli_config, env=ENV)  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def kept_alts(directory: Path) -> list[tuple[int, int, str | None]]:
    with sqlite3.connect(directory / "scheduler.db") as db:
        return db.execute("SELECT post_id, position, alt FROM media ORDER BY 1, 2").fetchall()


def test_alt_text_is_kept_with_each_medium_and_edited_in_order(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "b.jpg", JPEG)
    result = invoke(
        *add("-c", "masto", "-c", "sky", "--media", "a.png", "--media", "b.jpg", "--alt", ALT_AR),
        "--format", "json", config=cli_config, env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    post = json.loads(result.stdout)
    assert kept_alts(tmp_path) == [(post["id"], 0, ALT_AR), (post["id"], 1, None)]

    # --alt alone: the kept media get new alt texts from the first on; the rest keep theirs.
    edit = invoke("queue", "edit", str(post["id"]), "--alt", "", "--alt", ALT_EMOJI,
                   config=cli_config, env=ENV)  # fmt: skip
    assert edit.returncode == 0, edit.stderr
    assert kept_alts(tmp_path) == [(post["id"], 0, None), (post["id"], 1, ALT_EMOJI)]
    line = refused(invoke, cli_config, "queue", "edit", str(post["id"]), "--alt", "1",
                   "--alt", "2", "--alt", "3")  # fmt: skip
    assert line == (
        f"error: 3 alt texts given for the 2 media file(s) of post {post['id']}; give at most "
        "one --alt per medium, in order"
    )
    # With --media, the alt texts go with the new media.
    edit = invoke("queue", "edit", str(post["id"]), "--media", "b.jpg", "--alt", ALT_AR,
                   config=cli_config, env=ENV)  # fmt: skip
    assert edit.returncode == 0, edit.stderr
    assert kept_alts(tmp_path) == [(post["id"], 0, ALT_AR)]


def test_kept_media_are_checked_again_when_an_edit_moves_them_to_telegram(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "b.jpg", JPEG)
    two = invoke(*add("-c", "masto", "--media", "a.png", "--media", "b.jpg"),
                  config=cli_config, env=ENV)  # fmt: skip
    assert two.returncode == 0, two.stderr
    result = invoke("queue", "edit", queued_id(two.stdout), "-c", "tg", config=cli_config, env=ENV)
    assert (result.returncode, result.stderr) == (
        1,
        "error: 2 media files given; channel 'tg' (telegram) takes at most 1\n",
    )
    caption = "👋🏽" * 300  # 1200 UTF-16 units: a text, but not a caption
    one = invoke("queue", "add", caption, "-c", "masto", "--kind", "core", "--media", "a.png",
                  config=cli_config, env=ENV)  # fmt: skip
    assert one.returncode == 0, one.stderr
    result = invoke("queue", "edit", queued_id(one.stdout), "-c", "tg", config=cli_config, env=ENV)
    assert (result.returncode, result.stderr) == (
        1,
        "error: the body is 1200 UTF-16 code units long (a photo's caption, as Telegram "
        "counts); channel 'tg' (telegram) accepts at most 1024\n",
    )


def test_import_reads_alt_from_a_csv_cell_and_a_jsonl_list(
    tmp_path: Path, invoke: RunCli, cli_config: Path
) -> None:
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "b.jpg", JPEG)
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text(
        "text,channel,kind,media,alt\n"
        f'first,sky,core,a.png b.jpg,"{ALT_AR}|{ALT_EMOJI}"\n'
        "second,sky,core,a.png,\n",
        encoding="utf-8",
    )
    result = invoke("queue", "import", str(csv_file), config=cli_config, env=ENV)
    assert result.returncode == 0, result.stderr
    jsonl = tmp_path / "posts.jsonl"
    rows = [
        {"text": "third", "channel": "masto", "kind": "core", "media": ["b.jpg", "a.png"],
         "alt": [ALT_EMOJI, "a, b; c"]},
    ]  # fmt: skip
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    result = invoke("queue", "import", str(jsonl), config=cli_config, env=ENV)
    assert result.returncode == 0, result.stderr
    assert kept_alts(tmp_path) == [
        (1, 0, ALT_AR),
        (1, 1, ALT_EMOJI),
        (2, 0, None),
        (3, 0, ALT_EMOJI),
        (3, 1, "a, b; c"),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"text": "x", "channel": "masto", "kind": "core", "alt": ["orphan"]}) + "\n",
        encoding="utf-8",
    )
    assert refused(invoke, cli_config, "queue", "import", str(bad)) == (
        "error: nothing was imported: bad.jsonl: line 1: 1 alt texts given for 0 media "
        "file(s); give at most one --alt per --media, in the same order"
    )


# --- what each platform receives -----------------------------------------------------------


def now() -> datetime:
    return NOW


def delivery(*media: Medium, body: str = "صباح الخير 👋🏽 #news", airing_id: int = 12) -> Delivery:
    return Delivery(
        airing_id=airing_id,
        channel="main",
        post_id=7,
        kind="core",
        body=body,
        media=media,
        idempotency_key=f"airing-{airing_id}-k",
        due=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=5.0) as shared:
        yield shared


def test_bluesky_uploads_each_blob_and_embeds_the_images_with_their_alt_text(
    client: httpx.Client,
) -> None:
    with FakeBluesky() as pds:
        publisher = BlueskyPublisher(pds.base_url, pds.handle, pds.password, client, now=now)
        media = (
            Medium("sunrise.png", "image/png", PNG, alt=ALT_AR),
            Medium("b.jpg", "image/jpeg", JPEG),
        )
        receipt = publisher.publish(delivery(*media))
        (record,) = pds.records.values()
        embed = record["value"]["embed"]
        assert embed["$type"] == "app.bsky.embed.images"
        assert [image["alt"] for image in embed["images"]] == [ALT_AR, ""]
        blobs = [image["image"] for image in embed["images"]]
        assert [pds.blobs[blob["ref"]["$link"]] for blob in blobs] == [
            ("image/png", PNG),
            ("image/jpeg", JPEG),
        ]
        assert [(b["mimeType"], b["size"]) for b in blobs] == [
            ("image/png", len(PNG)),
            ("image/jpeg", len(JPEG)),
        ]
        uploads = pds.requests_to("/xrpc/com.atproto.repo.uploadBlob", "POST")
        assert [(r.headers["content-type"], r.raw) for r in uploads] == [
            ("image/png", PNG),
            ("image/jpeg", JPEG),
        ]
        assert record["value"]["facets"][0]["features"][0]["tag"] == "news"  # text untouched
        assert receipt.remote_id == record["uri"]

        # A retry of a post that exists finds it and uploads nothing again.
        assert publisher.publish(delivery(*media)) == receipt
        assert len(pds.requests_to("/xrpc/com.atproto.repo.uploadBlob")) == 2


def test_the_fake_pds_refuses_what_a_pds_refuses_in_an_images_embed(
    client: httpx.Client,
) -> None:
    with FakeBluesky() as pds:
        publisher = BlueskyPublisher(pds.base_url, pds.handle, pds.password, client, now=now)
        five = tuple(Medium(f"{n}.png", "image/png", PNG) for n in range(5))
        with pytest.raises(PermanentPublishError, match="must not have more than 4 elements"):
            publisher.publish(delivery(*five))
        lying = Medium("a.png", "image/png", JPEG)  # declared PNG, bytes of a JPEG
        with pytest.raises(PermanentPublishError, match="does not match the bytes"):
            publisher.publish(delivery(lying, airing_id=13))
        big = Medium("big.png", "image/png", PNG + bytes(1_000_001 - len(PNG)))
        with pytest.raises(PermanentPublishError, match=r"file too large \(1000001 > 1000000\)"):
            publisher.publish(delivery(big, airing_id=14))
        assert pds.records == {}

        # A record naming a blob the PDS never received is refused.
        session = client.post(
            f"{pds.base_url}/xrpc/com.atproto.server.createSession",
            json={"identifier": pds.handle, "password": pds.password},
        ).json()
        ghost = {
            "$type": "blob",
            "ref": {"$link": "bafkreighost"},
            "mimeType": "image/png",
            "size": 1,
        }
        answer = client.post(
            f"{pds.base_url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {session['accessJwt']}"},
            json={
                "repo": pds.did,
                "collection": "app.bsky.feed.post",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "text": "x",
                    "createdAt": "2026-11-24T08:00:00.000Z",
                    "embed": {
                        "$type": "app.bsky.embed.images",
                        "images": [{"alt": "", "image": ghost}],
                    },
                },
            },
        )
        assert (answer.status_code, answer.json()["message"]) == (
            400,
            "Could not find blob: bafkreighost",
        )


def test_mastodon_sends_alt_text_as_the_description_and_waits_for_processing(
    client: httpx.Client,
) -> None:
    with FakeMastodon() as server:
        server.media_processing_polls = 2  # 202 on upload, then 206 twice, then 200
        publisher = MastodonPublisher(server.base_url, server.token, client, now=now)
        publisher.media_poll_interval = 0.0
        media = (
            Medium("a.png", "image/png", PNG, alt=ALT_EMOJI),
            Medium("b.jpg", "image/jpeg", JPEG),
        )
        publisher.publish(delivery(*media))
        (status,) = server.statuses
        assert [
            (m["description"], server.uploaded[m["id"]]) for m in status["media_attachments"]
        ] == [
            (ALT_EMOJI, PNG),
            (None, JPEG),
        ]
        polls = [r.path for r in server.requests if r.method == "GET"]
        assert len(polls) == 2 * 3  # each upload polled until it answered 200
        too_long = Medium("c.png", "image/png", PNG, alt="x" * 1501)
        with pytest.raises(
            PermanentPublishError, match=r"Description is too long \(maximum is 1500"
        ):
            publisher.publish(delivery(too_long, airing_id=13))


def test_telegram_sends_one_photo_with_its_caption(client: httpx.Client) -> None:
    with FakeTelegram() as server:
        publisher = TelegramPublisher(server.base_url, server.token, "@brand", client, now=now)
        caption = f"{ALT_AR} {FAMILY} https://example.org/wiki/Bluesky_(social_network)"
        receipt = publisher.publish(delivery(Medium("a.jpg", "image/jpeg", JPEG), body=caption))
        (message,) = server.messages
        assert message["caption"] == caption and "text" not in message
        assert server.photos[message["message_id"]] == JPEG
        (request,) = server.requests_to(f"/bot{server.token}/sendPhoto", "POST")
        assert request.headers["content-type"].startswith("multipart/form-data")
        assert receipt.remote_url == f"https://t.me/brand/{message['message_id']}"
        # The fake counts as the Bot API does: 1025 UTF-16 units is one too many.
        with pytest.raises(PermanentPublishError, match="message caption is too long"):
            publisher.publish(delivery(Medium("a.jpg", "image/jpeg", JPEG), body="👋" * 512 + "x"))
        with pytest.raises(PermanentPublishError, match="IMAGE_PROCESS_FAILED"):
            publisher.publish(delivery(Medium("a.gif", "image/jpeg", GIF)))


def test_the_daemon_sends_the_kept_images_and_alt_text_to_bluesky_and_telegram(
    tmp_path: Path, invoke: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued through the CLI, kept in the database, sent by the daemon: the bytes and alt
    texts that reach the platforms are the ones queued, whatever the paths hold later."""
    with FakeBluesky(password=TOKEN) as pds, FakeTelegram(token="1:" + TOKEN) as telegram:
        config_path = write_config(
            tmp_path,
            f"""
            [channels.sky]
            publisher = "bluesky"
            service = "{pds.base_url}"
            handle = "{pds.handle}"
            app_password = {{ env = "TEST_MEDIA_TOKEN" }}
            language = "ar"

            [channels.tg]
            publisher = "telegram"
            base_url = "{telegram.base_url}"
            bot_token = {{ env = "TEST_BOT_TOKEN" }}
            chat_id = "@brand"
            """,
        )
        env = {**ENV, "TEST_BOT_TOKEN": "1:" + TOKEN}
        write(tmp_path / "sunrise.jpg", JPEG)
        at = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        body = "شروق اليوم 🌅 #صباح"
        result = invoke(
            "queue", "add", body, "-c", "sky", "-c", "tg", "--kind", "core",
            "--at", at.isoformat(), "--media", "sunrise.jpg", "--alt", ALT_AR,
            config=config_path, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        write(tmp_path / "sunrise.jpg", PNG)  # changed after queueing: the daemon won't look

        for name, value in env.items():
            monkeypatch.setenv(name, value)
        send_pinned_in_process(config_path, at, 1)

        (record,) = (r["value"] for r in pds.records.values())
        assert record["text"] == body and record["langs"] == ["ar"]
        (image,) = record["embed"]["images"]
        assert image["alt"] == ALT_AR
        assert pds.blobs[image["image"]["ref"]["$link"]] == ("image/jpeg", JPEG)
        (message,) = telegram.messages
        assert message["caption"] == body
        assert telegram.photos[message["message_id"]] == JPEG
