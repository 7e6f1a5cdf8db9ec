"""Hostile and unlucky input through the real CLI (issue 10): one line, no traceback, no change.

Each case runs the CLI in this process (`invoke`: what `python -m scheduler` would print and
exit with) against a seeded SQLite database and asserts the exit status, exactly one line on
stderr naming the value and what would be accepted, nothing on stdout, and every row of every
table unchanged. Times too far out, ids past 64 bits, files that never end (`/dev/zero`, a
FIFO), text that is not UTF-8 or can't be stored (NUL, lone surrogates) and import files
that could be read two ways.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.domain import PostDraft
from scheduler.store.store import Store
from tests.conftest import RunCli, write_config

HUGE_ID = "99999999999999999999"  # past 2^64
RANGE = "is not a time between 2000-01-01 and 2100-01-01"
ADD = ("queue", "add", "hello", "-c", "main", "--kind", "core")
SECRET_CHANNEL = """
[channels.masto]
publisher = "mastodon"
base_url = "https://social.example"
token = { file = "token.txt" }
"""


def write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def setup(directory: Path) -> None:
        (directory / name).write_bytes(data)

    return setup


def write_text(name: str, text: str) -> Callable[[Path], None]:
    return write_bytes(name, text.encode("utf-8"))


def make_fifo(name: str) -> Callable[[Path], None]:
    def setup(directory: Path) -> None:
        os.mkfifo(directory / name)

    return setup


def make_directory(name: str) -> Callable[[Path], None]:
    def setup(directory: Path) -> None:
        (directory / name).mkdir()

    return setup


def sparse_file(name: str, size: int) -> Callable[[Path], None]:
    """A file of `size` bytes that takes no disk space: reading it all would still cost."""

    def setup(directory: Path) -> None:
        with (directory / name).open("wb") as handle:
            handle.truncate(size)

    return setup


def config_with(body: str = "", *, scheduler: str = "") -> Callable[[Path], None]:
    """A second config, `other.toml`, on the same database: `scheduler` lines added to its
    [scheduler] table and `body` appended."""

    def setup(directory: Path) -> None:
        text = write_config(directory, body).read_text(encoding="utf-8")
        text = text.replace("[scheduler]\n", f"[scheduler]\n{scheduler}\n", 1)
        (directory / "other.toml").write_text(text, encoding="utf-8")
        write_config(directory)  # the seeded database's own config stays as it was

    return setup


def secret_file_not_utf8(directory: Path) -> None:
    config_with(SECRET_CHANNEL)(directory)
    (directory / "token.txt").write_bytes(b"tok\xffen")


def secret_file_dev_zero(directory: Path) -> None:
    config_with(SECRET_CHANNEL.replace("token.txt", "/dev/zero"))(directory)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    expected: str | re.Pattern[str]  # the one line on stderr
    setup: Callable[[Path], None] | None = None
    stdin: bytes | None = None
    status: int = 1
    reports: bool = False  # `check` prints its report on stdout even when it finds problems


CSV_HEAD = "text,channel,kind\n"
EXTRA_CHANNEL = '\n[channels.extra]\npublisher = "file"\npath = "extra.jsonl"\n'
CASES: dict[str, Case] = {
    # --- times out of range (§4 WHEN) ---
    "at-plus-999999999d": Case(
        (*ADD, "--at", "+999999999d"),
        "error: --at: '+999999999d' lands after 2100-01-01; give a time between 2000-01-01 "
        "and 2100-01-01",
    ),
    "at-plus-overflowing-digits": Case(
        (*ADD, "--at", "+99999999999999999999999d"),
        "error: --at: '+99999999999999999999999d' lands after 2100-01-01; give a time between "
        "2000-01-01 and 2100-01-01",
    ),
    "at-year-1": Case(
        (*ADD, "--at", "0001-01-01T00:00"), f"error: --at: '0001-01-01T00:00' {RANGE}"
    ),
    "at-year-9999": Case(
        (*ADD, "--at", "9999-12-31T23:59"), f"error: --at: '9999-12-31T23:59' {RANGE}"
    ),
    "at-just-after-2100": Case(
        (*ADD, "--at", "2100-01-01T00:00:01Z"), f"error: --at: '2100-01-01T00:00:01Z' {RANGE}"
    ),
    "expires-plus-999999999d": Case(
        (*ADD, "--expires", "+999999999d"),
        "error: --expires: '+999999999d' lands after 2100-01-01; give a time between "
        "2000-01-01 and 2100-01-01",
    ),
    "expires-year-1": Case(
        (*ADD, "--expires", "0001-01-01T00:00Z"), f"error: --expires: '0001-01-01T00:00Z' {RANGE}"
    ),
    "expires-1999": Case(
        (*ADD, "--expires", "1999-12-31T23:59Z"), f"error: --expires: '1999-12-31T23:59Z' {RANGE}"
    ),
    "edit-at-year-9999": Case(
        ("queue", "edit", "1", "--at", "9999-12-31T23:59"),
        f"error: --at: '9999-12-31T23:59' {RANGE}",
    ),
    "import-at-year-9999": Case(
        ("queue", "import", "posts.csv"),
        f"error: nothing was imported: posts.csv: row 1: --at: '9999-12-31T23:59' {RANGE}",
        write_text("posts.csv", "text,channel,kind,at\nhi,main,core,9999-12-31T23:59\n"),
    ),
    "calendar-from-9999": Case(
        ("calendar", "--from", "9999-12-30"), f"error: --from: '9999-12-30' {RANGE}"
    ),
    "calendar-to-year-1": Case(
        ("calendar", "--to", "0001-01-01"), f"error: --to: '0001-01-01' {RANGE}"
    ),
    "simulate-from-year-1": Case(
        ("simulate", "--from", "0001-01-01T00:00Z"), f"error: --from: '0001-01-01T00:00Z' {RANGE}"
    ),
    # --- ids past 64 bits name no post ---
    "show-huge-id": Case(("queue", "show", HUGE_ID), f"error: no post with id {HUGE_ID}"),
    "show-2-to-the-63": Case(("queue", "show", str(2**63)), f"error: no post with id {2**63}"),
    "edit-huge-id": Case(
        ("queue", "edit", HUGE_ID, "new text"), f"error: no post with id {HUGE_ID}"
    ),
    "cancel-huge-id": Case(("queue", "cancel", HUGE_ID), f"error: no post with id {HUGE_ID}"),
    "retry-huge-id": Case(("queue", "retry", HUGE_ID), f"error: no post with id {HUGE_ID}"),
    # --- config files ---
    "config-not-utf8": Case(
        ("--config", "other.toml", "queue", "list"),
        re.compile(r"^\S*other\.toml: is not UTF-8 text \(invalid byte at offset \d+\)$"),
        write_bytes("other.toml", b'[scheduler]\ntimezone = "caf\xe9"\n'),
    ),
    "config-dev-zero": Case(
        ("--config", "/dev/zero", "status"),
        "/dev/zero: is not a regular file (but a device, FIFO or directory)",
    ),
    "config-fifo": Case(
        ("--config", "other.toml", "status"),
        "other.toml: is not a regular file (but a device, FIFO or directory)",
        make_fifo("other.toml"),
    ),
    "config-directory": Case(
        ("--config", "other.toml", "status"),
        "other.toml: is not a regular file (but a device, FIFO or directory)",
        make_directory("other.toml"),
    ),
    "config-over-1-mb": Case(
        ("--config", "other.toml", "status"),
        "other.toml: is larger than 1 MB",
        write_text("other.toml", "#" * 1_000_001),
    ),
    "secret-file-not-utf8": Case(
        ("--config", "other.toml", "check"),
        re.compile(r"^\S*other\.toml: channels\.masto\.token: .*UTF-8.*$"),
        secret_file_not_utf8,
        reports=True,
    ),
    "secret-file-dev-zero": Case(
        ("--config", "other.toml", "check"),
        re.compile(
            r"^\S*other\.toml: channels\.masto\.token: secret file '/dev/zero' is not a regular "
            r"file \(but a device, FIFO or directory\)$"
        ),
        secret_file_dev_zero,
        reports=True,
    ),
    **{
        f"huge-duration-{key.replace('.', '-')}": Case(
            ("--config", "other.toml", "status"),
            re.compile(rf"^\S*other\.toml: {re.escape(key)}: '{value}' is longer than 365d$"),
            config_with(
                EXTRA_CHANNEL + toml.get("body", "").format(value) + "\n",
                scheduler=toml.get("scheduler", "").format(value),
            ),
        )
        for key, value, toml in [
            ("scheduler.horizon", "99999999999999999999d", {"scheduler": 'horizon = "{}"'}),
            ("scheduler.lease", "9999999999999m", {"scheduler": 'lease = "{}"'}),
            ("channels.extra.max_gap", "99999999999999999999999h", {"body": 'max_gap = "{}"'}),
            (
                "channels.extra.repost.min_interval",
                "999999999999999999999s",
                {"body": 'repost = {{ min_interval = "{}" }}'},
            ),
        ]
    },
    # --- body files and standard input ---
    "file-dev-zero": Case(
        ("queue", "add", "--file", "/dev/zero", "-c", "main", "--kind", "core"),
        "error: --file '/dev/zero' is not a regular file (but a device, FIFO or directory)",
    ),
    "file-fifo": Case(
        ("queue", "add", "--file", "body.txt", "-c", "main", "--kind", "core"),
        "error: --file 'body.txt' is not a regular file (but a device, FIFO or directory)",
        make_fifo("body.txt"),
    ),
    "file-directory": Case(
        ("queue", "add", "--file", "body.txt", "-c", "main", "--kind", "core"),
        "error: --file 'body.txt' is not a regular file (but a device, FIFO or directory)",
        make_directory("body.txt"),
    ),
    "file-over-1-mb": Case(
        ("queue", "add", "--file", "body.txt", "-c", "main", "--kind", "core"),
        "error: --file 'body.txt' is larger than 1 MB",
        write_text("body.txt", "b" * 1_000_001),
    ),
    "file-not-utf8": Case(
        ("queue", "add", "--file", "body.txt", "-c", "main", "--kind", "core"),
        "error: --file 'body.txt' is not UTF-8 text (invalid byte at offset 3)",
        write_bytes("body.txt", b"caf\xe9"),
    ),
    "file-with-nul": Case(
        ("queue", "add", "--file", "body.txt", "-c", "main", "--kind", "core"),
        "error: the body contains a NUL character (U+0000) at character 3; remove it",
        write_text("body.txt", "ab\x00cd"),
    ),
    "edit-file-with-nul": Case(
        ("queue", "edit", "1", "--file", "body.txt"),
        "error: the body contains a NUL character (U+0000) at character 3; remove it",
        write_text("body.txt", "ab\x00cd"),
    ),
    "stdin-not-utf8": Case(
        ("queue", "add", "--file", "-", "-c", "main", "--kind", "core"),
        "error: standard input (--file -) is not UTF-8 text (invalid byte at offset 5)",
        stdin=b"hello\xff\xfe",
    ),
    "stdin-over-1-mb": Case(
        ("queue", "add", "--file", "-", "-c", "main", "--kind", "core"),
        "error: standard input (--file -) is larger than 1 MB",
        stdin=b"s" * 1_000_001,
    ),
    "argument-not-utf8": Case(
        # Python hands bytes that are not UTF-8 over as lone surrogates (surrogateescape).
        ("queue", "add", "caf\udce9", "-c", "main", "--kind", "core"),
        "error: the body contains U+DCE9 at character 4, which is not text (a lone surrogate, "
        "or bytes that are not UTF-8); remove it",
    ),
    "editor-too-long": Case(
        (*ADD, "--editor", "e" * 201),
        "error: the editor name is 201 characters long; at most 200 are accepted",
    ),
    # --- import files ---
    "import-not-utf8": Case(
        ("queue", "import", "posts.csv"),
        "error: 'posts.csv' is not UTF-8 text (invalid byte at offset 21)",
        write_bytes("posts.csv", CSV_HEAD.encode() + b"caf\xe9,main,core\n"),
    ),
    "import-fifo": Case(
        ("queue", "import", "posts.jsonl"),
        "error: 'posts.jsonl' is not a regular file (but a device, FIFO or directory)",
        make_fifo("posts.jsonl"),
    ),
    "import-directory": Case(
        ("queue", "import", "posts.csv"),
        "error: 'posts.csv' is not a regular file (but a device, FIFO or directory)",
        make_directory("posts.csv"),
    ),
    "import-over-50-mb": Case(
        ("queue", "import", "posts.csv"),
        "error: 'posts.csv' is larger than 50 MB",
        sparse_file("posts.csv", 50_000_001),
    ),
    "import-lone-surrogate": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: the body contains U+D800 at "
        "character 2, which is not text (a lone surrogate, or bytes that are not UTF-8); "
        "remove it",
        write_text("posts.jsonl", '{"text": "a\\ud800b", "channel": "main", "kind": "core"}\n'),
    ),
    "import-deeply-nested": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: is nested too deeply to be a post",
        write_text("posts.jsonl", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
    ),
    "import-csv-nul": Case(
        ("queue", "import", "posts.csv"),
        "error: nothing was imported: posts.csv: row 1: the body contains a NUL character "
        "(U+0000) at character 2; remove it",
        write_text("posts.csv", CSV_HEAD + "a\x00b,main,core\n"),
    ),
    "import-csv-cell-past-csv-limit": Case(
        ("queue", "import", "posts.csv"),
        "error: nothing was imported: posts.csv: row 1: not valid CSV (field larger than "
        "field limit (131072))",
        write_text("posts.csv", CSV_HEAD + "x" * 131_073 + ",main,core\n"),
    ),
    "import-csv-column-twice": Case(
        ("queue", "import", "posts.csv"),
        "error: nothing was imported: posts.csv: header: column 'text' appears twice; keep one",
        write_text("posts.csv", "text,channel,kind,text\nfirst,main,core,second\n"),
    ),
    "import-csv-text-and-body": Case(
        ("queue", "import", "posts.csv"),
        "error: nothing was imported: posts.csv: header: columns 'text' and 'body' both give "
        "the text; keep one",
        write_text("posts.csv", "text,body,channel,kind\nfirst,second,main,core\n"),
    ),
    "import-jsonl-key-twice": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 2: key 'text' appears twice; keep one",
        write_text(
            "posts.jsonl",
            '{"text": "fine", "channel": "main", "kind": "core"}\n'
            '{"text": "one", "channel": "main", "kind": "core", "text": "two"}\n',
        ),
    ),
    "import-jsonl-text-and-body": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: keys 'text' and 'body' both give "
        "the text; keep one",
        write_text(
            "posts.jsonl", '{"text": "one", "body": "two", "channel": "main", "kind": "core"}\n'
        ),
    ),
    "import-jsonl-channel-and-channels": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: keys 'channel' and 'channels' both "
        "give the channel; keep one",
        write_text(
            "posts.jsonl",
            '{"text": "one", "channel": "main", "channels": ["main"], "kind": "core"}\n',
        ),
    ),
    "import-csv-score-inf": Case(
        ("queue", "import", "posts.csv"),
        "error: nothing was imported: posts.csv: row 1: score 'inf' must be a finite number",
        write_text("posts.csv", "text,channel,kind,score\nhi,main,core,inf\n"),
    ),
    "import-jsonl-score-nan": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: score nan must be a finite number",
        write_text(
            "posts.jsonl", '{"text": "hi", "channel": "main", "kind": "core", "score": NaN}\n'
        ),
    ),
    "import-jsonl-number-too-long": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: holds a number too long to read",
        write_text(
            "posts.jsonl",
            '{"text": "hi", "channel": "main", "kind": "core", "score": ' + "9" * 5000 + "}\n",
        ),
    ),
    "import-jsonl-score-past-float": Case(
        ("queue", "import", "posts.jsonl"),
        f"error: nothing was imported: posts.jsonl: line 1: score {10**400} must be a number",
        write_text(
            "posts.jsonl",
            '{"text": "hi", "channel": "main", "kind": "core", "score": ' + str(10**400) + "}\n",
        ),
    ),
    "import-jsonl-score-infinity": Case(
        ("queue", "import", "posts.jsonl"),
        "error: nothing was imported: posts.jsonl: line 1: score inf must be a finite number",
        write_text(
            "posts.jsonl",
            '{"text": "hi", "channel": "main", "kind": "core", "score": Infinity}\n',
        ),
    ),
}


def seed(directory: Path) -> Path:
    """A config and a database holding a floating and a pinned post; returns the database."""
    write_config(directory)
    database = directory / "scheduler.db"
    store = Store(f"sqlite:///{database}")
    store.migrate()
    now = datetime.now(UTC)
    pinned = now.replace(microsecond=0) + timedelta(days=3)
    store.add_posts(
        [
            PostDraft(body="floating", kind="core", channels=("main",), editor="sara"),
            PostDraft(body="pinned", kind="core", channels=("main",), editor="sara", at=pinned),
        ],
        now=now,
        spacing={"main": timedelta(minutes=30)},
    )
    store.close()
    return database


def dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return list(connection.iterdump())


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_line_and_changes_nothing(
    name: str, tmp_path: Path, invoke: RunCli
) -> None:
    case = CASES[name]
    database = seed(tmp_path)
    if case.setup is not None:
        case.setup(tmp_path)
    before = dump(database)
    args = case.args if case.args[0] == "--config" else ("--config", "config.toml", *case.args)
    result = invoke(*args, input=case.stdin)  # raw bytes on standard input where given
    stdout, stderr = result.stdout, result.stderr
    assert "Traceback" not in stderr, stderr
    assert result.returncode == case.status, stderr
    assert case.reports or stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    if isinstance(case.expected, str):
        assert lines[0] == case.expected
    else:
        assert case.expected.match(lines[0]), lines[0]
    assert dump(database) == before


USAGE_ERRORS = {
    "calendar-days-huge": (("calendar", "--days", "99999999999999"), "'--days'"),
    "simulate-days-huge": (("simulate", "--days", "99999999999999"), "'--days'"),
    "show-not-a-number": (("queue", "show", "7x"), "'7x' is not a post id; give a whole number"),
}


@pytest.mark.parametrize("name", list(USAGE_ERRORS))
def test_unusable_options_are_usage_errors(name: str, tmp_path: Path, invoke: RunCli) -> None:
    args, named = USAGE_ERRORS[name]
    database = seed(tmp_path)
    before = dump(database)
    result = invoke(*args, config=Path("config.toml"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert named in result.stderr.splitlines()[-1]
    assert dump(database) == before


# --- both databases -----------------------------------------------------------------------


def listing(invoke: RunCli) -> Any:
    result = invoke("queue", "list", "--format", "json", config=Path("config.toml"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_nul_byte_is_refused_on_both_databases(
    db_url: str, tmp_path: Path, invoke: RunCli
) -> None:
    """PostgreSQL can't store NUL; SQLite could, so the rule is checked before either."""
    write_config(tmp_path, database=db_url)
    (tmp_path / "posts.jsonl").write_text(
        '{"text": "fine", "channel": "main", "kind": "core"}\n'
        '{"text": "bad\\u0000", "channel": "main", "kind": "core"}\n',
        encoding="utf-8",
    )
    before = listing(invoke)
    result = invoke("queue", "import", "posts.jsonl", config=Path("config.toml"))
    assert result.returncode == 1
    assert result.stderr == (
        "error: nothing was imported: posts.jsonl: line 2: the body contains a NUL character "
        "(U+0000) at character 4; remove it\n"
    )
    assert listing(invoke) == before


def test_ids_past_32_bits_work_on_both_databases(
    db_url: str, tmp_path: Path, invoke: RunCli
) -> None:
    """Post and airing ids are 64-bit everywhere: the sequences start past 2^32 here."""
    write_config(tmp_path, database=db_url)
    store = Store(db_url)
    store.migrate()
    big = 2**32 + 5
    with store.session(write=True) as session:
        connection = session.connection()
        if db_url.startswith("sqlite"):
            # Migrations may already have left a row per table (an INSERT … SELECT of nothing).
            connection.exec_driver_sql(
                "DELETE FROM sqlite_sequence WHERE name IN ('post', 'airing')"
            )
            connection.exec_driver_sql(
                f"INSERT INTO sqlite_sequence (name, seq) VALUES ('post', {big - 1}), "
                f"('airing', {big - 1})"
            )
        else:
            connection.exec_driver_sql(f"ALTER TABLE post ALTER COLUMN id RESTART WITH {big}")
            connection.exec_driver_sql(f"ALTER TABLE airing ALTER COLUMN id RESTART WITH {big}")
    store.close()
    config = Path("config.toml")
    added = invoke(*ADD, "--at", "+2d", config=config)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"queued post {big} on main; first airing ")
    shown = invoke("queue", "show", str(big), "--format", "json", config=config)
    assert shown.returncode == 0, shown.stderr
    post = json.loads(shown.stdout)
    assert post["id"] == big and [a["id"] for a in post["airings"]] == [big]
    edited = invoke("queue", "edit", str(big), "new body", config=config)
    assert edited.returncode == 0, edited.stderr
    missing = invoke("queue", "show", str(big + 2**31), config=config)
    assert (missing.returncode, missing.stderr) == (1, f"error: no post with id {big + 2**31}\n")
    cancelled = invoke("queue", "cancel", str(big), config=config)
    assert cancelled.returncode == 0, cancelled.stderr
    (after,) = listing(invoke)["posts"]
    assert (after["id"], after["body"]) == (big, "new body")
    assert [a["status"] for a in after["airings"]] == ["cancelled"]


# --- the edges of what is accepted ----------------------------------------------------------


def test_the_last_accepted_time_keeps_every_view_working(tmp_path: Path, invoke: RunCli) -> None:
    """A post pinned at the very end of the range: before, `--at 9999-12-31T23:59` was
    accepted and then every `status` and `simulate` crashed on it."""
    seed(tmp_path)
    config = Path("config.toml")
    added = invoke(*ADD, "--at", "2100-01-01T00:00Z", config=config)
    assert (added.returncode, added.stderr) == (0, ""), added.stderr
    for args in (
        ("status", "--format", "json"),
        ("simulate", "--from", "2099-12-31T00:00Z", "--days", "366", "--format", "json"),
        ("simulate", "--from", "2000-01-01T00:00Z", "--days", "1", "--format", "json"),
        ("calendar", "--from", "2099-12-31T12:00Z", "--days", "366", "--format", "json"),
    ):
        result = invoke(*args, config=config)
        assert (result.returncode, result.stderr) == (0, ""), (args, result.stderr)
        json.loads(result.stdout)
    # The calendar plans from now up to its window (seconds for 2099), so the last one's
    # answer is read again rather than asked for a second time.
    pinned = [a for a in json.loads(result.stdout)["airings"] if a["pinned"]]
    assert [(a["at"], a["body"]) for a in pinned] == [("2100-01-01T00:00:00Z", "hello")]


def test_durations_and_times_are_bounded_inclusively() -> None:
    from scheduler.timeutil import parse_duration, parse_when, zone

    assert parse_duration("365d") == timedelta(days=365)
    with pytest.raises(ValueError, match="'366d' is longer than 365d"):
        parse_duration("366d")
    berlin, now = zone("Europe/Berlin"), datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_when("2000-01-01T00:00Z", now=now, tz=berlin) == datetime(2000, 1, 1, tzinfo=UTC)
    assert parse_when("2100-01-01T01:00", now=now, tz=berlin) == datetime(2100, 1, 1, tzinfo=UTC)
    until_2100 = datetime(2100, 1, 1, tzinfo=UTC) - now
    assert parse_when(f"+{int(until_2100.total_seconds())}s", now=now, tz=berlin) == datetime(
        2100, 1, 1, tzinfo=UTC
    )
    for text in ("1999-12-31T23:59:59Z", "2000-01-01T00:59", f"+{until_2100.days + 1}d"):
        with pytest.raises(ValueError, match="2000-01-01 and 2100-01-01"):
            parse_when(text, now=now, tz=berlin)
