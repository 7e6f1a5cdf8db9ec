"""The editors' command line (DESIGN §4), run in this process (`invoke`: the same output
and exit status as `python -m scheduler …`); the console script itself runs as a process.

Every refusal must exit 1 with one line on stderr, print nothing on stdout, and leave the
database exactly as it was; usage errors exit 2. State is seeded through the library where
that is quicker than a process, and read back through the CLI's JSON.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from scheduler.domain import PostDraft
from scheduler.store.migrations import LATEST_VERSION
from scheduler.store.models import Airing
from scheduler.store.store import Store
from scheduler.timeutil import local_label
from tests.conftest import RunCli, write_config

BERLIN, RIYADH = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Riyadh")
# A day safely ahead of the real clock the CLI reads; 09:00 local on it is the seeded pin.
DAY = date.today() + timedelta(days=30)
PINNED = datetime.combine(DAY, time(9, 0), BERLIN).astimezone(UTC)
SECRET = "hunter2-s3cr3t"

CHANNELS = """
[channels.masto]
publisher = "mastodon"
base_url = "https://social.example"
token = { env = "TEST_MASTO_TOKEN" }

[channels.sky]
publisher = "bluesky"
handle = "brand.bsky.social"
app_password = { file = "secrets/sky" }

[channels.tg]
publisher = "telegram"
bot_token = { credential = "tg-token" }
chat_id = "@brand"
timezone = "Asia/Riyadh"
"""
KNOWN = "known channels: main, masto, sky, tg"

# Mastodon: a 220-character link counts as 23, so these are 500 and 501 long.
LINK = "https://example.org/" + "a" * 200
MASTODON_500 = "m" * 476 + " " + LINK
MASTODON_501 = "m" * 477 + " " + LINK
# Bluesky: letters with vowel marks (سَ is one grapheme), a ZWJ family of seven code points,
# a thumb with skin tone and a flag each count once. 42 × 7 + 4 + 1 + 1 = 300 graphemes,
# but 683 code points: counting code points would refuse it.
ARABIC_UNIT = "سَلَامٌ 👨\u200d👩\u200d👧\u200d👦 "
BLUESKY_300 = ARABIC_UNIT * 42 + "سَلَامٌ👍🏽🇸🇦"
BLUESKY_301 = BLUESKY_300 + "!"
TELEGRAM_4096 = "t" * 4096
TELEGRAM_4097 = "t" * 4097
ARABIC = "مَرْحَبًا بِكُمْ في قناتنا 👨\u200d👩\u200d👧\u200d👦 اقرأ المزيد: https://example.org/ar"

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
POST_KEYS = {"id", "body", "kind", "channels", "at", "expires", "evergreen", "editor", "created"}
AIRING_KEYS = {"id", "channel", "post_id", "kind", "pinned", "at", "local", "status", "body"}


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def berlin(moment: datetime) -> str:
    """How the main channel (Europe/Berlin) shows a time to the editor."""
    return local_label(moment, BERLIN)


def parse_z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Cli:
    """One config directory and the ways to run the CLI against it."""

    directory: Path
    run_cli: RunCli

    @property
    def db(self) -> Path:
        return self.directory / "scheduler.db"

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run_cli(*args, config=Path("config.toml"), **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        return result.stdout

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "--format", "json", **kwargs))

    def refused(self, *args: str, **kwargs: Any) -> str:
        """Run a command that must be refused; return its one line of stderr."""
        result = self.run(*args, **kwargs)
        assert result.returncode == 1, result
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert "Traceback" not in result.stderr
        return lines[0]

    def store(self) -> Store:
        store = Store(f"sqlite:///{self.db}")
        store.ensure_schema()
        return store

    def dump(self) -> list[str]:
        """Every row of every table, to prove a refused command changed nothing."""
        with sqlite3.connect(self.db) as conn:
            return list(conn.iterdump())


@pytest.fixture
def cli(tmp_path: Path, invoke: RunCli) -> Cli:
    write_config(tmp_path, CHANNELS)
    return Cli(tmp_path, invoke)


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    """Post 1 floating on main, post 2 pinned on main at PINNED, post 3 cancelled."""
    now = datetime.now(UTC)
    store = cli.store()
    spacing = {name: timedelta(minutes=30) for name in ("main", "masto", "sky", "tg")}
    drafts = [
        PostDraft(body="floating", kind="core", channels=("main",), editor="sara"),
        PostDraft(body="pinned", kind="core", channels=("main",), editor="sara", at=PINNED),
        PostDraft(body="cancelled", kind="entertaining", channels=("tg",), editor="omar"),
    ]
    assert store.add_posts(drafts, now=now, spacing=spacing) == [1, 2, 3]
    store.cancel_post(3, now=now)
    store.close()
    return cli


def assert_post_shape(post: dict[str, Any]) -> None:
    """The post and airing JSON shapes of DESIGN §4."""
    assert set(post) >= POST_KEYS
    assert isinstance(post["id"], int)
    assert isinstance(post["body"], str) and post["body"]
    assert post["kind"] in ("core", "entertaining")
    assert post["channels"] and all(isinstance(name, str) for name in post["channels"])
    for key in ("at", "expires"):
        assert post[key] is None or UTC_TIME.match(post[key])
    assert isinstance(post["evergreen"], bool)
    assert isinstance(post["editor"], str)
    assert UTC_TIME.match(post["created"])
    for airing in post["airings"]:
        assert set(airing) >= AIRING_KEYS
        assert isinstance(airing["id"], int)
        assert airing["post_id"] == post["id"]
        assert airing["channel"] in post["channels"]
        assert airing["kind"] in ("core", "entertaining", "repost")
        assert isinstance(airing["pinned"], bool)
        assert UTC_TIME.match(airing["at"]) and LOCAL_TIME.match(airing["local"])
        assert datetime.fromisoformat(airing["local"]) == parse_z(airing["at"])
        assert isinstance(airing["status"], str) and isinstance(airing["body"], str)


# --- queue add -----------------------------------------------------------------------------------


def test_add_says_what_it_queued_then_the_post_as_json(cli: Cli) -> None:
    assert cli.ok("queue", "add", "Hello", "--channel", "main", "--kind", "core") == (
        "queued post 1 on main; floating: the planner gives it the next free slot "
        "(see `scheduler calendar`)\n"
    )
    expires = DAY + timedelta(days=5)
    post = cli.json(
        "queue", "add", "Pinned everywhere", "-c", "main", "-c", "tg",
        "--kind", "entertaining", "--at", f"{DAY}T09:00:00+03:00",
        "--expires", f"{expires}T00:00:00Z", "--no-evergreen", "--editor", "omar",
    )  # fmt: skip
    assert_post_shape(post)
    at = datetime.combine(DAY, time(6, 0), UTC)
    assert post["id"] == 2
    assert post["body"] == "Pinned everywhere"
    assert post["kind"] == "entertaining"
    assert post["channels"] == ["main", "tg"]
    assert post["at"] == z(at)
    assert post["expires"] == f"{expires}T00:00:00Z"
    assert post["evergreen"] is False
    assert post["editor"] == "omar"
    assert abs(parse_z(post["created"]) - datetime.now(UTC)) < timedelta(minutes=1)
    by_channel = {a["channel"]: a for a in post["airings"]}
    assert by_channel.keys() == {"main", "tg"}
    for name, tz in (("main", BERLIN), ("tg", RIYADH)):
        airing = by_channel[name]
        assert airing["at"] == z(at)
        assert airing["local"] == at.astimezone(tz).isoformat()
        assert (airing["kind"], airing["pinned"], airing["status"]) == (
            "entertaining",
            True,
            "planned",
        )
        assert airing["body"] == "Pinned everywhere"

    assert cli.json("queue", "show", "2") == post
    listed = cli.json("queue", "list")
    assert list(listed) == ["posts"]
    assert [p["id"] for p in listed["posts"]] == [1, 2]
    assert listed["posts"][1] == post
    first = listed["posts"][0]
    assert_post_shape(first)
    assert (first["at"], first["airings"], first["editor"]) == (None, [], "tester")
    assert first["evergreen"] is True


@pytest.mark.parametrize(
    ("when", "channels", "expected"),
    [
        ("now", ("main",), timedelta(0)),
        ("+90s", ("main",), timedelta(seconds=90)),
        ("+15m", ("main",), timedelta(minutes=15)),
        ("+2h", ("main",), timedelta(hours=2)),
        ("+3d", ("main",), timedelta(days=3)),
        (f"{DAY}T09:00:00Z", ("main",), datetime.combine(DAY, time(9), UTC)),
        (f"{DAY}T09:00:00+03:00", ("main",), datetime.combine(DAY, time(6), UTC)),
        (f"{DAY}T09:00", ("main",), datetime.combine(DAY, time(9), BERLIN)),  # channel's zone
        (f"{DAY}T09:00", ("tg",), datetime.combine(DAY, time(9), RIYADH)),
        (f"{DAY}T09:00", ("main", "tg"), datetime.combine(DAY, time(9), UTC)),  # scheduler's
    ],
)
def test_when_forms(
    cli: Cli, when: str, channels: tuple[str, ...], expected: timedelta | datetime
) -> None:
    flags = [arg for name in channels for arg in ("-c", name)]
    post = cli.json("queue", "add", "timed", *flags, "--kind", "core", "--at", when)
    created = parse_z(post["created"])
    at = parse_z(post["at"])
    if isinstance(expected, timedelta):
        assert at - created == expected
    else:
        assert at == expected
    assert [a["at"] for a in post["airings"]] == [post["at"]] * len(channels)


def test_body_from_a_file_standard_input_and_media(cli: Cli) -> None:
    (cli.directory / "post.txt").write_text(ARABIC + "\n", encoding="utf-8")
    (cli.directory / "صورة.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    post = cli.json(
        "queue", "add", "--file", "post.txt", "-c", "main", "--kind", "core",
        "--media", "صورة.png",
    )  # fmt: skip
    assert post["body"] == ARABIC  # the trailing newline is not part of the post
    assert post["media"] == ["صورة.png"]  # kept by the scheduler: the name, not the path
    post = cli.json("queue", "add", "--file", "-", "-c", "sky", "--kind", "core", input=ARABIC)
    assert post["body"] == ARABIC


def test_bodies_at_each_channels_limit_are_accepted_and_round_trip(cli: Cli) -> None:
    rows = [
        {"text": MASTODON_500, "channel": "masto", "kind": "core"},
        {"text": BLUESKY_300, "channel": "sky", "kind": "entertaining"},
        {"text": TELEGRAM_4096, "channel": "tg", "kind": "core"},
        {"text": ARABIC, "channel": ["main", "masto", "sky", "tg"], "kind": "core"},
    ]
    path = cli.directory / "limits.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    posts = cli.json("queue", "import", "limits.jsonl")["posts"]
    assert [p["body"] for p in posts] == [row["text"] for row in rows]
    assert posts[3]["channels"] == ["main", "masto", "sky", "tg"]
    for post in posts:
        assert_post_shape(post)


# --- refusals --------------------------------------------------------------------------------


def write(cli: Cli, name: str, text: str) -> None:
    (cli.directory / name).write_text(text, encoding="utf-8")


def csv_with_bad_row_2(cli: Cli) -> None:
    write(
        cli,
        "posts.csv",
        "text,channel,kind\nfine,main,core\nlost,nope,core\nalso fine,tg,entertaining\n",
    )


def csv_with_spacing_conflict(cli: Cli) -> None:
    at = datetime.combine(DAY, time(15), UTC)
    write(
        cli,
        "posts.csv",
        "text,channel,kind,at\n"
        f"first,main,core,{z(at)}\n"
        "floating,main,core,\n"
        f"too close,main,core,{z(at + timedelta(minutes=20))}\n",
    )


def jsonl_with_bad_line(cli: Cli) -> None:
    write(cli, "posts.jsonl", '{"text": "fine", "channel": "main", "kind": "core"}\n{oops\n')


def jsonl_with_long_row(cli: Cli) -> None:
    row = {"text": TELEGRAM_4097, "channel": "tg", "kind": "core"}
    write(cli, "posts.jsonl", '{"text": "fine", "channel": "main", "kind": "core"}\n')
    with (cli.directory / "posts.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


ADD = ("queue", "add")
CORE = ("--kind", "core")
# Times in refusals are the channel's wall clock with its offset, as the editor typed them.
LOCAL = r"\w{3} \d{1,2} \w{3} \d\d:\d\d [+-]\d\d:\d\d"
PAST = rf"is in the past \(now is {LOCAL}\)"
REFUSALS: list[Any] = [
    pytest.param(
        (*ADD, "hi", "-c", "nope", *CORE),
        None,
        f"error: unknown channel 'nope'; {KNOWN}",
        id="unknown-channel",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", "-c", "nope", *CORE),
        None,
        f"error: unknown channel 'nope'; {KNOWN}",
        id="one-unknown-channel-of-two",
    ),
    pytest.param(
        (*ADD, "hi", *CORE),
        None,
        "error: no channel given; use --channel with one of: main, masto, sky, tg",
        id="no-channel",
    ),
    pytest.param(
        (*ADD, " \n\t ", "-c", "main", *CORE),
        None,
        "error: the body is empty; give TEXT, --file PATH or --file - (standard input)",
        id="blank-body",
    ),
    pytest.param(
        (*ADD, "-c", "main", *CORE),
        None,
        "error: the body is empty; give TEXT, --file PATH or --file - (standard input)",
        id="no-body",
    ),
    pytest.param(
        (*ADD, "hi", "--file", "post.txt", "-c", "main", *CORE),
        None,
        "error: give the body either as TEXT or with --file, not both",
        id="text-and-file",
    ),
    pytest.param(
        (*ADD, "--file", "missing.txt", "-c", "main", *CORE),
        None,
        "error: --file 'missing.txt' does not exist",
        id="missing-file",
    ),
    pytest.param(
        (*ADD, MASTODON_501, "-c", "masto", *CORE),
        None,
        "error: the body is 501 characters long (as Mastodon counts: a link counts 23, "
        "@user@server counts as @user); channel 'masto' (mastodon) accepts at most 500",
        id="mastodon-501",
    ),
    pytest.param(
        (*ADD, BLUESKY_301, "-c", "sky", *CORE),
        None,
        "error: the body is 301 graphemes long; channel 'sky' (bluesky) accepts at most 300",
        id="bluesky-301-graphemes",
    ),
    pytest.param(
        (*ADD, BLUESKY_301, "-c", "main", "-c", "masto", "-c", "sky", *CORE),
        None,
        "error: the body is 301 graphemes long; channel 'sky' (bluesky) accepts at most 300",
        id="too-long-for-one-of-three-channels",
    ),
    pytest.param(
        (*ADD, TELEGRAM_4097, "-c", "tg", *CORE),
        None,
        "error: the body is 4097 UTF-16 code units long (as Telegram counts); "
        "channel 'tg' (telegram) accepts at most 4096",
        id="telegram-4097",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", "--kind", "news"),
        None,
        "error: kind 'news' is not accepted; use core or entertaining",
        id="unknown-kind",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main"),
        None,
        "error: no kind given; use --kind core or --kind entertaining",
        id="no-kind",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--at", "2020-01-01T00:00:00Z"),
        None,
        re.compile(rf"^error: pinned time Wed 1 Jan 01:00 \+01:00 {PAST}; give a later --at$"),
        id="pinned-in-the-past",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--at", z(PINNED + timedelta(minutes=10))),
        None,
        f"error: pinned time {berlin(PINNED + timedelta(minutes=10))} on channel 'main' is "
        f"within min_spacing 30m of post 2 (pinned at {berlin(PINNED)}); choose a time at "
        "least 30m away",
        id="pinned-spacing-conflict",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--at", "+3h", "--expires", "+2h"),
        None,
        re.compile(rf"^error: expiry {LOCAL} is not after the pinned time {LOCAL}$"),
        id="expiry-before-pinned-time",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--expires", "2020-01-01T00:00"),
        None,
        re.compile(rf"^error: expiry Wed 1 Jan 00:00 \+01:00 {PAST}; give a later --expires$"),
        id="expiry-in-the-past",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--at", "tomorrow"),
        None,
        "error: --at: 'tomorrow' is not an ISO 8601 time (e.g. 2026-11-24T09:00 or "
        "2026-11-24T08:00:00Z), now, today, or +90s/+15m/+2h/+3d/-1h",
        id="unreadable-when",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--at", "2025-03-30T02:30"),
        None,
        "error: --at: '2025-03-30T02:30' does not exist in Europe/Berlin (skipped by a clock "
        "change)",
        id="time-skipped-by-dst",
    ),
    pytest.param(
        (*ADD, "hi", "-c", "main", *CORE, "--media", "nope.png"),
        None,
        "error: media file 'nope.png' does not exist",
        id="missing-media",
    ),
    pytest.param(
        ("queue", "import", "posts.csv"),
        csv_with_bad_row_2,
        f"error: nothing was imported: posts.csv: row 2: unknown channel 'nope'; {KNOWN}",
        id="import-bad-row",
    ),
    pytest.param(
        ("queue", "import", "posts.csv"),
        csv_with_spacing_conflict,
        "error: posts.csv: row 3: pinned time "
        f"{berlin(datetime.combine(DAY, time(15, 20), UTC))} on channel 'main' is within "
        "min_spacing 30m of posts.csv: row 1 (pinned at "
        f"{berlin(datetime.combine(DAY, time(15), UTC))}); choose a time at least 30m away",
        id="import-rows-too-close",
    ),
    pytest.param(
        ("queue", "import", "posts.jsonl"),
        jsonl_with_bad_line,
        "error: nothing was imported: posts.jsonl: line 2: not valid JSON "
        "(Expecting property name enclosed in double quotes)",
        id="import-bad-json",
    ),
    pytest.param(
        ("queue", "import", "posts.jsonl"),
        jsonl_with_long_row,
        "error: nothing was imported: posts.jsonl: line 2: the body is 4097 UTF-16 code units "
        "long (as Telegram counts); channel 'tg' (telegram) accepts at most 4096",
        id="import-too-long-row",
    ),
    pytest.param(
        ("queue", "import", "posts.txt"),
        None,
        "error: 'posts.txt' must be a .csv or .jsonl file",
        id="import-other-format",
    ),
    pytest.param(
        ("queue", "show", "99"), None, "error: no post with id 99", id="show-unknown-post"
    ),
    pytest.param(
        ("queue", "edit", "99", "x"), None, "error: no post with id 99", id="edit-unknown-post"
    ),
    pytest.param(
        ("queue", "edit", "3", "again"),
        None,
        "error: post 3 is cancelled; queue a new post instead",
        id="edit-cancelled-post",
    ),
    pytest.param(
        ("queue", "edit", "1"),
        None,
        "error: nothing to change; give a new TEXT, --file, --channel, --kind, --at, "
        "--expires, --media, --alt or --evergreen/--no-evergreen",
        id="edit-without-changes",
    ),
    pytest.param(
        ("queue", "edit", "1", "--at", z(PINNED - timedelta(minutes=29))),
        None,
        f"error: pinned time {berlin(PINNED - timedelta(minutes=29))} on channel 'main' is "
        f"within min_spacing 30m of post 2 (pinned at {berlin(PINNED)}); choose a time at "
        "least 30m away",
        id="edit-into-spacing-conflict",
    ),
    pytest.param(
        ("queue", "edit", "1", TELEGRAM_4097, "-c", "tg"),
        None,
        "error: the body is 4097 UTF-16 code units long (as Telegram counts); "
        "channel 'tg' (telegram) accepts at most 4096",
        id="edit-over-limit",
    ),
    pytest.param(
        ("queue", "cancel", "99"), None, "error: no post with id 99", id="cancel-unknown-post"
    ),
    pytest.param(
        ("queue", "retry", "2"),
        None,
        "error: post 2 has no failed, missed or unconfirmed airing to retry",
        id="retry-nothing",
    ),
    pytest.param(
        ("queue", "retry", "3"),
        None,
        "error: post 3 is cancelled; it can't be retried",
        id="retry-cancelled",
    ),
    pytest.param(
        ("queue", "list", "--status", "late"),
        None,
        "error: --status 'late' is not accepted; use one of: queued, published, failed, "
        "missed, unconfirmed, cancelled, expired",
        id="list-unknown-status",
    ),
    pytest.param(
        ("queue", "list", "-c", "nope"),
        None,
        f"error: unknown channel 'nope'; {KNOWN}",
        id="list-unknown-channel",
    ),
]


@pytest.mark.parametrize(("args", "prepare", "expected"), REFUSALS)
def test_refusal_is_one_line_and_changes_nothing(
    seeded: Cli,
    args: tuple[str, ...],
    prepare: Callable[[Cli], None] | None,
    expected: str | re.Pattern[str],
) -> None:
    write(seeded, "post.txt", "from a file")
    if prepare is not None:
        prepare(seeded)
    before = seeded.dump()
    line = seeded.refused(*args)
    if isinstance(expected, str):
        assert line == expected
    else:
        assert expected.match(line), line
    assert seeded.dump() == before


def test_refused_commands_leave_the_listing_identical(seeded: Cli) -> None:
    before = seeded.ok("queue", "list", "--format", "json")
    csv_with_spacing_conflict(seeded)
    seeded.refused("queue", "import", "posts.csv")
    seeded.refused("queue", "add", "x", "-c", "main", "--kind", "core", "--at", z(PINNED))
    seeded.refused("queue", "edit", "2", "--at", z(PINNED), "-c", "main", "-c", "nope")
    seeded.refused("queue", "retry", "1")
    assert seeded.ok("queue", "list", "--format", "json") == before
    assert [p["id"] for p in json.loads(before)["posts"]] == [1, 2, 3]


def test_import_names_every_bad_row(cli: Cli) -> None:
    write(
        cli,
        "posts.csv",
        "text,channel,kind,at\n"
        "fine,main,core,\n"
        ",main,core,\n"
        "hi,main,news,\n"
        "hi,main,core,2020-01-01T00:00:00Z\n",
    )
    result = cli.run("queue", "import", "posts.csv")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: nothing was imported:"
    assert lines[1] == (
        "posts.csv: row 2: the body is empty; give TEXT, --file PATH or --file - (standard input)"
    )
    assert lines[2] == "posts.csv: row 3: kind 'news' is not accepted; use core or entertaining"
    assert lines[3].startswith(
        "posts.csv: row 4: pinned time Wed 1 Jan 01:00 +01:00 is in the past"
    )
    assert len(lines) == 4
    assert not cli.db.exists()  # refused before the database was even opened


# --- import, edit, cancel, retry, list -------------------------------------------------------


def test_import_csv_stores_every_row(cli: Cli) -> None:
    at = datetime.combine(DAY, time(12), UTC)
    write(
        cli,
        "posts.csv",
        "text,channel,kind,at,expires,evergreen,editor\n"
        f'"{ARABIC}",main,core,,,,\n'
        f"pinned,main tg,entertaining,{z(at)},,false,omar\n"
        f'"with, comma",masto,core,,{DAY}T00:00,yes,\n',
    )
    assert cli.ok("queue", "import", "posts.csv") == "imported 3 posts (ids 1–3)\n"
    posts = cli.json("queue", "list")["posts"]
    assert [p["body"] for p in posts] == [ARABIC, "pinned", "with, comma"]
    assert [p["editor"] for p in posts] == ["tester", "omar", "tester"]
    assert posts[1]["channels"] == ["main", "tg"]
    assert posts[1]["at"] == z(at)
    assert posts[1]["evergreen"] is False
    assert len(posts[1]["airings"]) == 2
    assert posts[2]["expires"] == z(datetime.combine(DAY, time(0), UTC))  # scheduler zone


def test_edit_body_time_and_float(seeded: Cli) -> None:
    post = seeded.json("queue", "edit", "2", ARABIC)
    assert post["body"] == ARABIC
    assert post["at"] == z(PINNED)
    assert [(a["at"], a["body"]) for a in post["airings"]] == [(z(PINNED), ARABIC)]

    post = seeded.json("queue", "edit", "1", "--at", "+5h", "--expires", "+4d")
    assert parse_z(post["at"]) - parse_z(post["created"]) >= timedelta(hours=5)
    assert [a["pinned"] for a in post["airings"]] == [True]
    assert post["expires"] is not None

    text = seeded.ok("queue", "edit", "2", "--at", "none")
    assert text.startswith("post 2 · core · queued · by sara\n")
    post = seeded.json("queue", "show", "2")
    assert (post["at"], post["airings"], post["body"]) == (None, [], ARABIC)


def test_cancel(seeded: Cli) -> None:
    assert seeded.ok("queue", "cancel", "2") == "cancelled post 2: 1 planned airing cancelled\n"
    posts = seeded.json("queue", "list", "--status", "cancelled")["posts"]
    assert [p["id"] for p in posts] == [2, 3]
    assert [a["status"] for a in posts[0]["airings"]] == ["cancelled"]


def test_retry_puts_a_failed_airing_back(seeded: Cli) -> None:
    store = seeded.store()
    with store.session(write=True) as session:
        airing = session.get(Airing, 1)
        assert airing is not None and airing.post_id == 2
        airing.status, airing.error = "failed", "HTTP 422: text too long"
        session.add(airing)
    store.close()
    assert seeded.json("queue", "show", "2")["airings"][0]["status"] == "failed"
    assert seeded.ok("queue", "retry", "2") == (
        "post 2: airing 1 put back in the plan, to be sent again under the same idempotency key\n"
    )
    (airing_json,) = seeded.json("queue", "show", "2")["airings"]
    assert (airing_json["status"], airing_json["at"]) == ("planned", z(PINNED))


def test_list_filters_and_table(seeded: Cli) -> None:
    posts = seeded.json("queue", "list", "--channel", "tg")["posts"]
    assert [p["id"] for p in posts] == [3]
    posts = seeded.json("queue", "list", "--status", "queued")["posts"]
    assert [p["id"] for p in posts] == [1, 2]
    seeded.ok("queue", "add", ARABIC, "-c", "main", "--kind", "core")
    lines = seeded.ok("queue", "list").splitlines()
    assert lines[0].split() == ["ID", "KIND", "STATUS", "CHANNELS", "NEXT", "EDITOR", "BODY"]
    assert len(lines) == 5
    assert "(pinned)" in lines[2]
    # Piped, the bodies carry no invisible isolates (on a terminal, FSI … PDI keep right-to-left
    # text from reordering the columns: test_cli_messages.py checks that on a pty).
    assert "  مَرْحَبًا" in lines[4] and "\u2068" not in "".join(lines)


def test_empty_list(cli: Cli) -> None:
    result = cli.run("queue", "list")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "no posts\n")
    assert cli.json("queue", "list") == {"posts": []}


# --- usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("queue", "add", "hi", "-c", "main", "--kind"),
        ("queue", "add", "hi", "--colour", "red"),
        ("queue", "show", "abc"),
        ("queue", "list", "--format", "xml"),
        ("queue", "publish", "1"),
    ],
    ids=["missing-value", "unknown-option", "id-not-a-number", "unknown-format", "no-command"],
)
def test_usage_errors_exit_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli.run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert not cli.db.exists()


# --- check ---------------------------------------------------------------------------------------


def test_check_resolves_every_secret_and_never_prints_one(cli: Cli) -> None:
    (cli.directory / "secrets").mkdir()
    (cli.directory / "secrets" / "sky").write_text(f"sky-{SECRET}\n", encoding="utf-8")
    (cli.directory / "creds").mkdir()
    (cli.directory / "creds" / "tg-token").write_text(f"tg-{SECRET}", encoding="utf-8")
    env = {
        "TEST_MASTO_TOKEN": f"masto-{SECRET}",
        "CREDENTIALS_DIRECTORY": str(cli.directory / "creds"),
    }
    result = cli.run("check", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "config.toml: 4 channel(s)"
    assert "  main: file, Europe/Berlin, every 1h, max gap 1d, quiet hours none" in lines
    assert "  tg: telegram, Asia/Riyadh, every 1h, max gap 1d, quiet hours none" in lines
    assert lines[-2] == f"database: sqlite:///{cli.db} (schema version {LATEST_VERSION})"
    assert lines[-1] == "ok"
    assert SECRET not in result.stdout


def test_check_names_each_unresolved_secret(cli: Cli) -> None:
    result = cli.run("check", env={"TEST_MASTO_TOKEN": "", "CREDENTIALS_DIRECTORY": ""})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "config.toml: channels.masto.token: environment variable TEST_MASTO_TOKEN is not set",
        f"config.toml: channels.sky.app_password: secret file "
        f"'{cli.directory.resolve() / 'secrets' / 'sky'}' does not exist",
        "config.toml: channels.tg.bot_token: credential 'tg-token' needs $CREDENTIALS_DIRECTORY "
        "(set by systemd LoadCredential=)",
    ]
    assert "ok" not in result.stdout.splitlines()


def test_check_prints_every_config_problem_and_no_secret(cli: Cli) -> None:
    write_config(
        cli.directory,
        f"""
        cadence = "7m"
        colour = "red"

        [channels.masto]
        publisher = "mastodon"
        base_url = "social.example"
        token = "{SECRET}"
        """,
    )
    result = cli.run("check")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "config.toml: channels.main.colour: unknown key; accepted keys: cadence, "
        "freeze, goals, "
        "max_gap, min_spacing, mix, path, publisher, quiet_hours, repost, response_time, "
        "slot_offset, timezone",
        "config.toml: channels.main.cadence: 7m does not divide 24h into whole slots; "
        "use e.g. 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h",
        "config.toml: channels.masto.base_url: 'social.example' is not an http:// or https:// URL",
        "config.toml: channels.masto.token: secrets are never written inline; "
        'use { env = "NAME" }, { file = "path" } or { credential = "name" }',
    ]
    assert SECRET not in result.stderr
    # Every other command refuses the same config the same way, before touching the database.
    listed = cli.run("queue", "list")
    assert (listed.returncode, listed.stdout, listed.stderr) == (1, "", result.stderr)
    assert not cli.db.exists()


def test_check_reports_an_unreachable_database_without_its_password(cli: Cli) -> None:
    write_config(cli.directory, database=f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/x")
    result = cli.run("check")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "config.toml: scheduler.database: database postgresql+psycopg://bob:***@127.0.0.1:1/x "
        "failed: "
    )
    assert SECRET not in result.stdout + result.stderr


# --- help ----------------------------------------------------------------------------------------

COMMANDS = [
    (),
    ("check",),
    ("queue",),
    ("queue", "add"),
    ("queue", "import"),
    ("queue", "list"),
    ("queue", "show"),
    ("queue", "edit"),
    ("queue", "cancel"),
    ("queue", "retry"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "scheduler")
def test_help_works(invoke: RunCli, command: tuple[str, ...]) -> None:
    result = invoke(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: scheduler {' '.join(command)}".rstrip())
    assert result.stderr == ""


def test_console_script_runs(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("scheduler")
    result = subprocess.run(
        [str(script), "queue", "--help"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Queue, inspect and change posts." in result.stdout


def all_commands() -> list[tuple[str, Any]]:
    """Every (sub)command Typer builds, by its full name ("scheduler queue add")."""
    from scheduler.cli.app import app

    found: list[tuple[str, Any]] = []

    def walk(name: str, command: Any) -> None:
        found.append((name, command))
        if hasattr(command, "commands"):  # a group (Typer vendors its own click)
            for sub_name, sub in command.commands.items():
                walk(f"{name} {sub_name}", sub)

    walk("scheduler", typer.main.get_command(app))
    return found


def test_every_command_and_option_has_help_text() -> None:
    """Like sqlite-utils' test_docs: nothing in the CLI is undocumented."""
    missing = []
    commands = all_commands()
    for name, command in commands:
        if not (command.help or "").strip():
            missing.append(name)
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{name} {param.name}")
    assert missing == []
    names = {name for name, _ in commands}
    assert {f"scheduler {' '.join(c)}".rstrip() for c in COMMANDS} <= names

    runner = CliRunner()
    from scheduler.cli.app import app

    for name, _ in commands:
        result = runner.invoke(app, [*name.split()[1:], "--help"])
        assert result.exit_code == 0, (name, result.output)
