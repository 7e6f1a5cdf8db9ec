"""Media (DESIGN §7): read by the editor's own command at queue time, checked, kept by the
scheduler. The daemon sends the bytes it kept and never opens a path an editor named.

Refusals are checked through `draft_post` (the function every command validates with) and
through the real CLI; the daemon side runs `Daemon.tick` against the Mastodon fake, which
refuses an upload whose bytes are not of the type declared, as Mastodon does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from scheduler.cli.queue_commands import RawPost, draft_post, edit_changes
from scheduler.config import Config, load_config
from scheduler.domain import AiringStatus, PostDraft
from scheduler.errors import InputError
from scheduler.media import IMPORT_MEDIA_LIMIT, MediaBudget, Medium
from scheduler.platforms.mastodon import MEDIA as MASTODON_MEDIA
from scheduler.runtime.daemon import Daemon
from scheduler.store.migrations import MIGRATIONS
from scheduler.store.store import Store
from tests.conftest import NOW, RunCli, send_pinned_in_process, write_config
from tests.fakeplatforms import FakeMastodon

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value: nothing may change one
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(255, -1, -1))
GIF = b"GIF89a" + b"\x01\x00\x01\x00" + bytes(64)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32)
MIB = 1024 * 1024
SPACING = {name: timedelta(minutes=30) for name in ("main", "masto", "sky", "tg", "hook")}
TOKEN = "media-test-token"
NOBODY = 65534


def channels_toml(mastodon_url: str = "https://social.example") -> str:
    return f"""
    [channels.masto]
    publisher = "mastodon"
    base_url = "{mastodon_url}"
    token = {{ env = "TEST_MEDIA_TOKEN" }}
    timezone = "UTC"

    [channels.sky]
    publisher = "bluesky"
    handle = "brand.bsky.social"
    app_password = {{ env = "TEST_MEDIA_TOKEN" }}

    [channels.tg]
    publisher = "telegram"
    bot_token = {{ env = "TEST_MEDIA_TOKEN" }}
    chat_id = "@brand"

    [channels.hook]
    publisher = "webhook"
    url = "https://hooks.example/in"
    """


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_MEDIA_TOKEN", TOKEN)
    return load_config(write_config(tmp_path, channels_toml()))


def draft(config: Config, *paths: str | Path, channels: tuple[str, ...] = ("masto",)) -> PostDraft:
    raw = RawPost(
        body="look at this", channels=channels, kind="core", media=[str(p) for p in paths]
    )
    return draft_post(raw, config, now=NOW)


def refusal(config: Config, *paths: str | Path, channels: tuple[str, ...] = ("masto",)) -> str:
    with pytest.raises(InputError) as caught:
        draft(config, *paths, channels=channels)
    return str(caught.value)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- reading and checking at queue time -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_a_medium_keeps_its_exact_bytes_and_the_type_its_content_has(
    tmp_path: Path, config: Config, data: bytes, mime: str
) -> None:
    # The extension lies on purpose: the type comes from the bytes.
    path = write(tmp_path / "holiday photo.txt", data)
    (medium,) = draft(config, path, channels=("masto", "main")).media
    assert medium == Medium(name="holiday photo.txt", mime=mime, data=data)
    assert medium.info.size == len(data)
    assert medium.info.sha256 == hashlib.sha256(data).hexdigest()


def test_refusals_name_the_file_and_what_it_is(tmp_path: Path, config: Config) -> None:
    (tmp_path / "folder").mkdir()
    write(tmp_path / "notes.png", b"just some text, not an image\n")
    write(tmp_path / "scan.jpg", b"%PDF-1.7\n" + bytes(100))
    os.mkfifo(tmp_path / "pipe.png")  # opening must not wait for a writer

    assert refusal(config, tmp_path / "gone.png") == (
        f"media file {str(tmp_path / 'gone.png')!r} does not exist"
    )
    assert refusal(config, tmp_path / "folder") == (
        f"media file {str(tmp_path / 'folder')!r} is a directory, not a file"
    )
    assert refusal(config, tmp_path / "notes.png") == (
        f"media file {str(tmp_path / 'notes.png')!r} is of no type recognised (not a PNG, JPEG, "
        "GIF or WebP image); channel 'masto' (mastodon) takes PNG, JPEG, GIF, WebP images"
    )
    assert refusal(config, tmp_path / "scan.jpg", channels=("main",)) == (
        f"media file {str(tmp_path / 'scan.jpg')!r} is a PDF document; channel 'main' (file) "
        "takes PNG, JPEG, GIF, WebP images"
    )
    assert refusal(config, tmp_path / "pipe.png") == (
        f"media file {str(tmp_path / 'pipe.png')!r} is not a regular file"
    )
    assert refusal(config, "a\x00.png") == "media file 'a\\x00.png' is not a valid path"
    # Without a bound this would read forever; it is not a file, so nothing is read at all.
    assert refusal(config, "/dev/zero") == "media file '/dev/zero' is not a regular file"


def test_a_file_over_the_limit_is_refused_with_both_sizes(tmp_path: Path, config: Config) -> None:
    limit = MASTODON_MEDIA.max_bytes
    assert limit == 16 * MIB
    at_limit = tmp_path / "at-limit.png"
    with at_limit.open("wb") as file:  # sparse: no 16 MiB written to disk
        file.write(PNG)
        file.truncate(limit)
    over = tmp_path / "over.png"
    with over.open("wb") as file:
        file.write(PNG)
        file.truncate(limit + 1)

    (medium,) = draft(config, at_limit).media
    assert len(medium.data) == limit and medium.data.startswith(PNG)
    assert refusal(config, over) == (
        f"media file {str(over)!r} is 16,777,217 bytes (16.0 MiB); channel 'masto' (mastodon) "
        "takes files up to 16,777,216 bytes (16.0 MiB)"
    )


def test_more_files_than_the_platform_takes_are_refused(tmp_path: Path, config: Config) -> None:
    paths = [write(tmp_path / f"{n}.png", PNG) for n in range(5)]
    assert len(draft(config, *paths[:4]).media) == 4
    assert refusal(config, *paths) == (
        "5 media files given; channel 'masto' (mastodon) takes at most 4"
    )


def test_the_media_of_many_posts_share_one_bound(tmp_path: Path, config: Config) -> None:
    """An import holds every row's media until all are stored, so their sum is bounded:
    past the budget a file is refused from its size, before it is read."""
    image = write(tmp_path / "a.png", PNG)
    budget = MediaBudget(2 * len(PNG))
    assert IMPORT_MEDIA_LIMIT == 256 * MIB
    raw = RawPost(body="hi", channels=("masto",), kind="core", media=[str(image)])
    for row in (1, 2):
        draft_post(raw, config, now=NOW, source=f"row {row}", media_budget=budget)
    with pytest.raises(InputError) as caught:
        draft_post(raw, config, now=NOW, source="row 3", media_budget=budget)
    assert str(caught.value) == (
        f"row 3: media file {str(image)!r} brings the media of this import over 2,064 bytes; "
        "split it into smaller imports"
    )


@pytest.mark.parametrize(
    ("channel", "message"),
    [("hook", "channel 'hook' (webhook) can't take media: webhooks don't carry media")],
)  # fmt: skip
def test_a_channel_whose_platform_takes_no_media_refuses_them_at_queue_time(
    tmp_path: Path, config: Config, channel: str, message: str
) -> None:
    image = write(tmp_path / "a.png", PNG)
    assert refusal(config, image, channels=("masto", channel)) == (
        message + "; remove the media or that channel"
    )
    assert draft(config, channels=("masto", channel)).media == ()  # text alone is fine


def test_an_import_row_with_a_bad_medium_imports_nothing(
    tmp_path: Path, invoke: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = write_config(tmp_path, channels_toml())
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "b.png", b"not an image")
    rows = [
        {"text": "first", "channel": "masto", "kind": "core", "media": ["a.png"]},
        {"text": "second", "channel": "masto", "kind": "core", "media": ["b.png"]},
    ]
    (tmp_path / "posts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    env = {"TEST_MEDIA_TOKEN": TOKEN}
    seeded = invoke("queue", "add", "text only", "-c", "masto", "--kind", "core",
                     config=config_path, env=env)  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    result = invoke("queue", "import", "posts.jsonl", config=config_path, env=env)
    assert result.returncode == 1, result
    assert result.stderr == (
        "error: nothing was imported: posts.jsonl: line 2: media file 'b.png' is of no type "
        "recognised (not a PNG, JPEG, GIF or WebP image); channel 'masto' (mastodon) takes "
        "PNG, JPEG, GIF, WebP images\n"
    )
    with sqlite3.connect(tmp_path / "scheduler.db") as db:
        assert db.execute("SELECT count(*) FROM post").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM media").fetchone() == (0,)
    write(tmp_path / "b.png", GIF)
    result = invoke("queue", "import", "posts.jsonl", config=config_path, env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "scheduler.db") as db:
        rows_kept = db.execute("SELECT post_id, name, mime, data FROM media ORDER BY 1").fetchall()
    assert rows_kept == [(2, "a.png", "image/png", PNG), (3, "b.png", "image/gif", GIF)]


def test_queue_edit_replaces_or_removes_the_media(tmp_path: Path, invoke: RunCli) -> None:
    config_path = write_config(tmp_path, channels_toml())
    env = {"TEST_MEDIA_TOKEN": TOKEN}
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "b.gif", GIF)

    def cli_json(*args: str) -> dict[str, object]:
        result = invoke(*args, "--format", "json", config=config_path, env=env)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def kept() -> list[tuple[str, str, bytes]]:
        with sqlite3.connect(tmp_path / "scheduler.db") as db:
            return db.execute("SELECT name, mime, data FROM media ORDER BY position").fetchall()

    post = cli_json("queue", "add", "hi", "-c", "masto", "--kind", "core", "--media", "a.png")
    assert kept() == [("a.png", "image/png", PNG)]
    edited = cli_json("queue", "edit", str(post["id"]), "--media", "b.gif", "--media", "a.png")
    assert edited["media"] == ["b.gif", "a.png"]
    assert kept() == [("b.gif", "image/gif", GIF), ("a.png", "image/png", PNG)]
    refused = invoke(
        "queue", "edit", str(post["id"]), "-c", "hook", config=config_path, env=env
    )  # kept media are checked against the new channel
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "error: channel 'hook' (webhook) can't take media: webhooks don't carry media; remove "
        "the media or that channel\n"
    )
    assert cli_json("queue", "edit", str(post["id"]), "--media", "none")["media"] == []
    assert kept() == []
    assert cli_json("queue", "edit", str(post["id"]), "-c", "hook")["channels"] == ["hook"]


# --- the editor's rights, not the daemon's ------------------------------------------------------


def test_a_file_the_editor_cannot_read_is_refused_at_queue_time(config: Config) -> None:
    """The editor's own process opens the file: what the editor can't read is refused, even
    where the daemon's user could read it. Run as root, the editor is `nobody`."""
    directory = Path(tempfile.mkdtemp(prefix="media-rights-"))
    try:
        directory.chmod(0o755)
        secret = write(directory / "shadow.png", PNG)
        secret.chmod(0o600 if os.geteuid() == 0 else 0)
        # The daemon's user (root here) could read it; the editor's command must not.
        if os.geteuid() == 0:
            assert secret.read_bytes() == PNG
        answer = as_editor(lambda: draft(config, secret))
        assert answer == f"media file {str(secret)!r} can't be read: Permission denied"
    finally:
        shutil.rmtree(directory)  # removing needs the directory's rights, not the file's


def as_editor(queue: Callable[[], object]) -> str:
    """Run `queue` as an editor without root's rights (`nobody` when we are root) in a
    forked process; return the InputError it raised, or "accepted"."""
    if os.geteuid() != 0:
        try:
            queue()
        except InputError as exc:
            return str(exc)
        return "accepted"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, try, report, exit without pytest's cleanup
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                queue()
                answer = "accepted"
            except InputError as exc:
                answer = str(exc)
            os.write(write_end, answer.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    return answer


# --- kept by the store ------------------------------------------------------------------------


def test_media_bytes_round_trip_exactly_through_the_store(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    try:
        big = os.urandom(MIB) + b"\x00" * 1000  # random, and NUL bytes at the end
        media = (Medium("صورة 1.png", "image/png", PNG), Medium("big.jpg", "image/jpeg", big))
        pinned = NOW + timedelta(hours=1)
        (post_id,) = store.add_posts(
            [PostDraft("hi", "core", ("masto",), "sara", at=pinned, media=media)],
            now=NOW,
            spacing=SPACING,
        )
        record = store.get_post(post_id)
        assert record.media == tuple(m.info for m in media)
        assert json.loads(record.post.media) == ["صورة 1.png", "big.jpg"]
        (listed,) = store.list_posts(now=NOW)
        assert listed.media == record.media

        (claimed,) = store.claim_due(
            owner="d1",
            now=pinned,
            lease=timedelta(minutes=2),
            limit=10,
            key_prefix="k-",
            channels=["masto"],
        )
        assert claimed.media == media  # name, type and every byte, in order
    finally:
        store.close()


def test_an_edit_replaces_the_media_and_a_refused_batch_keeps_none(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    try:
        first = (Medium("a.png", "image/png", PNG),)
        pinned = NOW + timedelta(hours=1)
        (post_id,) = store.add_posts(
            [PostDraft("hi", "core", ("masto",), "sara", at=pinned, media=first)],
            now=NOW,
            spacing=SPACING,
        )
        second = (Medium("b.gif", "image/gif", GIF), Medium("c.webp", "image/webp", WEBP))
        store.edit_post(post_id, {"media": second}, now=NOW, spacing=SPACING)
        assert store.get_post(post_id).media == tuple(m.info for m in second)
        store.edit_post(post_id, {"body": "new text"}, now=NOW, spacing=SPACING)
        assert store.get_post(post_id).media == tuple(m.info for m in second)

        # The second draft is pinned too close to the first post: neither post nor medium stays.
        clash = PostDraft("x", "core", ("masto",), "sara", at=pinned, media=first)
        fine = PostDraft("y", "core", ("masto",), "sara", media=first)
        with pytest.raises(InputError, match="within min_spacing"):
            store.add_posts([fine, clash], now=NOW, spacing=SPACING)
        assert [r.id for r in store.all_posts()] == [post_id]
        assert store.get_post(post_id).media == tuple(m.info for m in second)
    finally:
        store.close()


def test_an_edit_checks_kept_media_against_new_channels_without_reading_them(
    tmp_path: Path, config: Config, sqlite_url: str
) -> None:
    image = write(tmp_path / "a.png", PNG)
    store = Store(sqlite_url)
    store.migrate()
    try:
        (post_id,) = store.add_posts([draft(config, image)], now=NOW, spacing=SPACING)
        image.unlink()  # kept media are never read again

        def edit(channels: list[str]) -> dict[str, object]:
            return edit_changes(
                store.get_post(post_id), config, now=NOW, body_text=None, file=None,
                stdin_text=None, channels=channels, kind=None, at=None, expires=None,
                evergreen=None, media=None,
            )  # fmt: skip

        assert edit(["main"]) == {"channels": ("main",)}
        with pytest.raises(InputError, match=r"^channel 'hook' \(webhook\) can't take media"):
            edit(["masto", "hook"])
    finally:
        store.close()


# --- the daemon sends what was kept ---------------------------------------------------------


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as server:
        yield server


def test_the_daemon_uploads_the_bytes_queued_not_what_the_path_holds_now(
    tmp_path: Path, invoke: RunCli, mastodon: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_MEDIA_TOKEN", TOKEN)
    config_path = write_config(tmp_path, channels_toml(mastodon.base_url))
    write(tmp_path / "photo.png", PNG)
    write(tmp_path / "other.jpg", JPEG)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    result = invoke(
        "queue", "add", "with pictures", "-c", "masto", "-c", "main", "--kind", "core",
        "--at", at.isoformat(), "--media", "photo.png", "--media", "other.jpg",
        "--format", "json", config=config_path, env={"TEST_MEDIA_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["media"] == ["photo.png", "other.jpg"]

    # After queueing, the paths are gone or hold something else: the daemon must not care.
    (tmp_path / "photo.png").unlink()
    write(tmp_path / "other.jpg", b"%PDF-1.7 replaced after queueing")

    send_pinned_in_process(config_path, at, 1)

    (status,) = mastodon.statuses
    uploads = [r.body["file"] for r in mastodon.requests_to("/api/v2/media", "POST")]
    assert [(p.filename, p.content_type, p.data) for p in uploads] == [
        ("photo.png", "image/png", PNG),
        ("other.jpg", "image/jpeg", JPEG),
    ]
    assert [m["id"] for m in status["media_attachments"]] == list(mastodon.uploaded)
    assert list(mastodon.uploaded.values()) == [PNG, JPEG]
    # The file channel's line describes each medium; the bytes stay in the database.
    (line,) = (tmp_path / "published.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["media"] == [
        {"name": "photo.png", "mime": "image/png", "size": len(PNG),
         "sha256": hashlib.sha256(PNG).hexdigest()},
        {"name": "other.jpg", "mime": "image/jpeg", "size": len(JPEG),
         "sha256": hashlib.sha256(JPEG).hexdigest()},
    ]  # fmt: skip


# --- posts queued with paths, before media were kept -------------------------------------------


def test_posts_queued_with_media_paths_wait_for_an_editor_after_the_upgrade(
    db_url: str, tmp_path: Path
) -> None:
    """Migration 5 can't read the paths older versions stored (nor may the daemon), so
    such a post never airs without its media: it waits as failed, telling the editor how to
    attach them again. Posts without media, cancelled or expired ones are left alone."""
    store = Store(db_url)
    try:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(text("CREATE TABLE meta (key VARCHAR(100) PRIMARY KEY, value TEXT)"))
            for migration in MIGRATIONS[:2]:
                for statement in migration.sql(store.dialect):
                    conn.execute(text(statement))
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '2')"))
            created, past, future = (
                datetime(2026, 11, 1),
                datetime(2026, 11, 2),
                datetime(2099, 1, 1),
            )
            paths = '["/home/sara/a.png"]'
            posts = [  # id, at, expires, media, cancelled
                (1, None, None, paths, False),  # floating, not planned yet
                (2, future, None, paths, False),  # pinned and planned
                (3, None, None, paths, False),  # aired once: its reruns must wait too
                (4, None, None, paths, True),  # cancelled
                (5, None, past, paths, False),  # expired
                (6, None, None, "[]", False),  # no media
            ]
            for post_id, at, expires, media, cancelled in posts:
                conn.execute(
                    text(
                        "INSERT INTO post (id, body, kind, at, expires, editor, created, media, "
                        "cancelled) VALUES (:id, 'b', 'core', :at, :expires, 'sara', :created, "
                        ":media, :cancelled)"
                    ),
                    {"id": post_id, "at": at, "expires": expires, "created": created,
                     "media": media, "cancelled": cancelled},
                )  # fmt: skip
                conn.execute(
                    text("INSERT INTO post_channel (post_id, channel) VALUES (:id, 'main')"),
                    {"id": post_id},
                )
            for post_id, at, status in ((2, future, "planned"), (3, past, "published")):
                conn.execute(
                    text(
                        "INSERT INTO airing (post_id, channel, kind, pinned, at, status, updated) "
                        "VALUES (:id, 'main', 'core', :pinned, :at, :status, :at)"
                    ),
                    {"id": post_id, "pinned": post_id == 2, "at": at, "status": status},
                )
        store.migrate()
        now = datetime(2026, 11, 23, tzinfo=UTC)
        records = {record.id: record for record in store.all_posts()}
        assert {i: r.status(now) for i, r in records.items()} == {
            1: "failed", 2: "failed", 3: "failed", 4: "cancelled", 5: "expired", 6: "queued",
        }  # fmt: skip
        waiting = {
            (r.id, a.kind, a.pinned, a.status): a.error
            for r in records.values()
            for a in r.airings
            if a.status == AiringStatus.failed
        }
        assert set(waiting) == {
            (1, "core", False, "failed"),
            (2, "core", True, "failed"),
            (3, "repost", False, "failed"),
        }
        assert waiting[(2, "core", True, "failed")] == (
            "not sent; its media were queued as file paths by an older version, and the daemon "
            "does not open files editors name. Attach them again with `scheduler queue edit 2 "
            "--media PATH`, then `scheduler queue retry 2`"
        )
        assert all(r.post.media == "[]" and r.media == () for r in records.values())

        # The daemon plans the post without media, and none of those waiting for an editor.
        config = load_config(write_config(tmp_path, database=db_url))
        daemon = Daemon(config, store, {}, clock=lambda: now)
        try:
            daemon.tick(now)
        finally:
            daemon.close(timeout=5)
        planned = {a.post_id for r in store.all_posts() for a in r.airings if a.status == "planned"}
        assert planned == {6}
    finally:
        store.close()
