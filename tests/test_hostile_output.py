"""What leaves the scheduler when the outside is hostile (issue 10, "Secrets" and "Injection").

Every case runs the real CLI, and the daemon as a real process against local fake platforms:
- a secret that can't be valid (multi-line, control characters, non-ASCII in a header token)
  is refused by `check` and by `run`, naming the key and never showing the value;
- a platform echoing the token (whole, JSON-escaped, past 300 characters, cut short) leaves
  no piece of it in the daemon log, the error column, `queue show`, `queue list --format
  json` or the HTML calendar;
- a receiver answering a URL and an id with CR LF and ESC injects no event into the ICS
  calendar and no line or control character into the log;
- bodies and editor names with ESC, BEL, NUL and RLO reach no terminal through `queue list`
  or `queue show`.
"""

from __future__ import annotations

import html
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import icalendar
import markupsafe
import pytest

from scheduler.domain import PostDraft
from scheduler.redact import Redactor
from scheduler.store.store import Store
from tests.conftest import REPO, RunCli, write_config
from tests.fakeplatforms import FakeMastodon, FakeWebhook, Reply

# One worker runs the module's daemon (`hostile_world`) once for all (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile_world")]

# Quotes and a backslash, so the JSON-, repr- and HTML-escaped forms differ from the raw one.
TOKEN = 'Zq8x"Y3vB\\w7Kp-hostile-token-42'
RAW_CONTROLS = ("\x1b", "\x07", "\x00", "\u202e", "\r")


def exposed(text: str, secret: str) -> list[str]:
    """Every run of 8 characters of `secret`, raw or escaped in any usual way, in `text`."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        str(markupsafe.escape(secret)),  # as Jinja writes it into the HTML calendar
        html.escape(secret),
    }
    pieces = {form[i : i + 8] for form in forms for i in range(len(form) - 7)}
    return sorted(piece for piece in pieces if piece in text)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- secrets that can't be valid ---------------------------------------------------------------

MASTODON_CHANNEL = """
[channels.masto]
publisher = "mastodon"
base_url = "https://social.example"
token = {token}
"""


@pytest.mark.parametrize(
    ("value", "source", "reason"),
    [
        (f"{TOKEN}\nsecond-line-of-the-secret", "env", "control character"),
        (f"{TOKEN}\nsecond-line-of-the-secret\n", "file", "control character"),
        (f"{TOKEN}\x1b[2J", "file", "control character"),
        (f"{TOKEN}-tökén", "env", "not ASCII"),
    ],
    ids=["multi-line-env", "multi-line-file", "escape-in-file", "non-ascii-header-token"],
)
def test_check_and_run_refuse_a_secret_that_cant_be_valid(
    tmp_path: Path, invoke: RunCli, run_cli: RunCli, value: str, source: str, reason: str
) -> None:
    if source == "env":
        reference = '{ env = "HOSTILE_TOKEN" }'
    else:
        (tmp_path / "token.txt").write_text(value, encoding="utf-8")
        reference = '{ file = "token.txt" }'
    config = write_config(tmp_path, MASTODON_CHANNEL.format(token=reference))
    for command, runner in (("check", invoke), ("run", run_cli)):  # the daemon: a process
        result = runner(command, config=config, env={"HOSTILE_TOKEN": value})
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "channels.masto.token: the secret in" in result.stderr
        assert reason in result.stderr and "(its value is not shown)" in result.stderr
        assert "Traceback" not in output
        for line in value.split("\n"):
            assert exposed(output, line) == [], command


def test_check_refuses_a_credential_outside_the_credentials_directory(
    tmp_path: Path, invoke: RunCli
) -> None:
    (tmp_path / "creds").mkdir()
    config = write_config(
        tmp_path, MASTODON_CHANNEL.format(token='{ credential = "../../etc/shadow" }')
    )
    result = invoke("check", config=config, env={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"{config}: channels.masto.token: credential '../../etc/shadow' must be the plain name "
        "of a file in $CREDENTIALS_DIRECTORY (no '/', not '..')\n"
    )


# --- the daemon against platforms that echo tokens and answer hostile URLs ----------------------

ECHOES = [
    f"The access token {TOKEN} is invalid",
    f"bad token {json.dumps(TOKEN)}",
    "x" * 255 + f" token {TOKEN} is not valid for this account",  # our cut falls on it
    "y" * 50 + f" token {TOKEN[:13]}… (the platform cut it)",
]
INJECTED_URL = (
    "https://hooks.example/p/1\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:forged\r\n"
    "DTSTART:20300101T000000Z\r\n2026-01-01 00:00:00,000 INFO forged log line \x1b[31m"
)


class Daemon:
    """`scheduler run` as a real process, its stderr kept in a log file."""

    def __init__(self, config: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
                cwd=config.parent,
                env={**os.environ, "PYTHONPATH": str(REPO), **env},
                stdout=out,
                stderr=out,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


@dataclass(frozen=True)
class HostileWorld:
    config: Path
    database: Path
    log: str  # what the daemon wrote on stderr
    window: tuple[str, ...]  # calendar options covering every airing


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    """A daemon that sent 4 posts to a Mastodon echoing the token in its errors and 1 to a
    webhook answering a URL and an id with CR LF and ESC; yields once every airing ended."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    with FakeMastodon(token=TOKEN) as mastodon, FakeWebhook() as hook:
        for echo in ECHOES:
            mastodon.fail_next(401, message=echo, path="/api/v1/statuses")
        hook.reply = Reply(200, {"id": "7\r\nforged-id\x1b[2J", "url": INJECTED_URL})
        config = tmp_path / "config.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [scheduler]
                database = "sqlite:///scheduler.db"
                reconcile = "1s"
                retry = {{ attempts = 1, initial = "0s", maximum = "0s" }}

                [defaults]
                min_spacing = "1s"
                timezone = "UTC"

                [channels.masto]
                publisher = "mastodon"
                base_url = "{mastodon.base_url}"
                token = {{ env = "HOSTILE_TOKEN" }}

                [channels.hook]
                publisher = "webhook"
                url = "{hook.url}"
                """
            ),
            encoding="utf-8",
        )
        # Due a moment ago: the daemon sends them as soon as it starts (within misfire_grace).
        start = datetime.now(UTC) - timedelta(seconds=10)
        drafts = [
            PostDraft(
                body=f"post {index}",
                kind="core",
                channels=("masto",),
                editor="test",
                at=start + timedelta(seconds=2 * index),
            )
            for index in range(len(ECHOES))
        ]
        drafts.append(
            PostDraft(body="to the hook", kind="core", channels=("hook",), editor="t", at=start)
        )
        store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
        store.migrate()
        spacing = {"masto": timedelta(seconds=1), "hook": timedelta(seconds=1)}
        store.add_posts(drafts, now=start - timedelta(minutes=1), spacing=spacing)
        store.close()

        daemon = Daemon(config, tmp_path / "daemon.log", {"HOSTILE_TOKEN": TOKEN})
        database = tmp_path / "scheduler.db"

        def ended() -> bool:
            with sqlite3.connect(database) as db:
                rows = db.execute("SELECT status FROM airing WHERE pinned").fetchall()
            return len(rows) == 5 and all(s in ("failed", "published") for (s,) in rows)

        try:
            wait_until(ended, 90, "every airing to end")
        finally:
            daemon.stop()
        yield HostileWorld(
            config=config,
            database=database,
            log=daemon.log.read_text(encoding="utf-8", errors="replace"),
            window=("--from", iso(start - timedelta(hours=1)), "--days", "1"),
        )


def test_a_token_echoed_by_the_platform_never_leaves_the_scheduler(
    hostile_world: HostileWorld, invoke: RunCli
) -> None:
    config, database, window = hostile_world.config, hostile_world.database, hostile_world.window
    with sqlite3.connect(database) as db:
        errors = [
            e
            for (e,) in db.execute(
                "SELECT error FROM airing WHERE channel = 'masto' AND status = 'failed'"
            )
        ]
        details = [d for (d,) in db.execute("SELECT detail FROM attempt") if d]
    assert len(errors) == len(ECHOES)
    assert all(e.startswith("mastodon answered 401:") and "<redacted>" in e for e in errors)

    outputs = {"error column": "\n".join(errors), "attempt details": "\n".join(details)}
    outputs["daemon log"] = hostile_world.log
    for post_id in range(1, len(ECHOES) + 1):
        shown = invoke("queue", "show", str(post_id), config=config)
        assert "mastodon answered 401" in shown.stdout
        outputs[f"queue show {post_id}"] = shown.stdout + shown.stderr
    listed = invoke("queue", "list", "--format", "json", config=config)
    assert "mastodon answered 401" in listed.stdout
    outputs["queue list --format json"] = listed.stdout + listed.stderr
    page = invoke("calendar", *window, "--format", "html", config=config)
    assert "mastodon answered 401" in page.stdout
    outputs["calendar --format html"] = page.stdout + page.stderr

    for where, text in outputs.items():
        assert exposed(text, TOKEN) == [], where


def test_a_hostile_url_injects_nothing_into_ics_or_the_log(
    hostile_world: HostileWorld, invoke: RunCli
) -> None:
    config, database, window = hostile_world.config, hostile_world.database, hostile_world.window
    with sqlite3.connect(database) as db:
        (row,) = db.execute(
            "SELECT status, remote_id, remote_url FROM airing WHERE channel = 'hook' AND pinned"
        ).fetchall()
    assert row == ("published", None, None)  # published; what the receiver said is not kept

    ics = invoke("calendar", *window, "--format", "ics", config=config)
    assert ics.returncode == 0, ics.stderr
    listed = invoke("calendar", *window, "--format", "json", config=config)
    events = icalendar.Calendar.from_ical(ics.stdout).walk("VEVENT")
    assert len(events) == len(json.loads(listed.stdout)["airings"])
    assert "forged" not in ics.stdout
    assert not any(c in ics.stdout.replace("\r\n", "") for c in RAW_CONTROLS)

    log = hostile_world.log
    assert "dropped the post URL" in log and "dropped the post id" in log
    assert "forged" in log  # the value is shown, escaped …
    assert not any(c in log for c in RAW_CONTROLS)  # … with no raw control character
    for line in log.splitlines():
        assert line[:4].isdigit() or line.startswith(("Traceback", "  ")), line
        assert not line.startswith("2026-01-01 00:00:00,000 INFO forged"), line


# --- terminals: queue list and queue show -------------------------------------------------------

HOSTILE_BODY = "\x1b[2J\x1b]0;pwned\x07hello \u202eevil\u2069 world"
HOSTILE_EDITOR = "ed\x1b[31m\x07\u202eitor"


def test_queue_list_and_show_print_no_raw_control_character(
    tmp_path: Path, invoke: RunCli, db_url: str
) -> None:
    config = write_config(tmp_path, database=db_url)
    added = invoke(
        "queue", "add", HOSTILE_BODY, "-c", "main", "--kind", "core", "--editor", HOSTILE_EDITOR,
        config=config,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    if db_url.startswith("sqlite"):
        # NUL is refused at queue time; a database written before that may still hold one.
        with sqlite3.connect(tmp_path / "scheduler.db") as db:
            db.execute("UPDATE post SET body = body || ?, editor = editor || ?", ("\x00!", "\x00"))
    shown = {
        "queue list": invoke("queue", "list", config=config),
        "queue show": invoke("queue", "show", "1", config=config),
        "queue list --format json": invoke("queue", "list", "--format", "json", config=config),
    }
    for where, result in shown.items():
        assert result.returncode == 0, (where, result.stderr)
        assert "hello" in result.stdout and "itor" in result.stdout, where
        for char in RAW_CONTROLS:
            assert char not in result.stdout + result.stderr, (where, char)
    posts = json.loads(shown["queue list --format json"].stdout)["posts"]
    assert posts[0]["body"].startswith(HOSTILE_BODY)  # JSON keeps the text, escaped
    assert posts[0]["editor"].startswith(HOSTILE_EDITOR)


def test_the_daemon_log_escapes_control_characters_in_any_record(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import logging
        from scheduler.runtime.service import configure_logging

        configure_logging()
        log = logging.getLogger("scheduler.test")
        log.warning("from outside: %s", "a\\r\\nFORGED line \\x1b[31m\\x07\\u202e\\x85 end")
        try:
            raise ValueError("boom \\x1b]0;title\\x07")
        except ValueError:
            log.exception("failed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    lines = result.stderr.splitlines()
    assert lines[0].endswith(
        "WARNING scheduler.test: from outside: a\\r\\nFORGED line \\x1b[31m\\x07\\u202e\\x85 end"
    )
    assert lines[1].endswith("ERROR scheduler.test: failed")
    assert lines[2] == "Traceback (most recent call last):"  # tracebacks keep their lines
    assert lines[-1] == "ValueError: boom \\x1b]0;title\\x07"
    assert not any(c in result.stderr for c in ("\x1b", "\x07", "\u202e", "\x85", "\r"))


def test_a_pooled_connection_the_database_ended_is_one_warning_line(tmp_path: Path) -> None:
    """What SQLAlchemy's pool logs when a connection of a restarted PostgreSQL can't be
    rolled back as it is returned (a replica's log in the restart test of test_ha.py)."""
    script = textwrap.dedent(
        """
        import logging
        from scheduler.runtime.service import configure_logging

        class AdminShutdown(Exception):
            pass

        configure_logging()
        try:
            raise AdminShutdown("terminating connection due to administrator command")
        except AdminShutdown:
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").error(
                "Exception during reset or similar", exc_info=True
            )
        logging.getLogger("scheduler.test").info("next")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    first, after = result.stderr.splitlines()
    assert first.endswith(
        "WARNING sqlalchemy.pool.impl.QueuePool: a pooled database connection could not be "
        "reset (AdminShutdown); it is dropped"
    )
    assert after.endswith("INFO scheduler.test: next")


# --- the redactor on its own ---------------------------------------------------------------------

MULTI_LINE = "first-line-of-a-key\nsecond-line-of-it"


@pytest.mark.parametrize(
    "text",
    [
        f"raw {MULTI_LINE} end",
        f"json {json.dumps(MULTI_LINE)} end",
        f"repr {MULTI_LINE.encode()!r} end",
        f"collapsed {' '.join(MULTI_LINE.split())} end",
        "one line echoed: second-line-of-it end",
        f"percent {quote(MULTI_LINE, safe='')} end",
        f"cut at the end {MULTI_LINE[:11]}",
        f"cut by an ellipsis {MULTI_LINE[:9]}... end",
        f"a piece quoted mid-message {MULTI_LINE[:12]} end",
        f"a piece from inside {MULTI_LINE[3:15]} end",
    ],
)
def test_the_redactor_removes_every_form_and_piece(text: str) -> None:
    redacted = Redactor([MULTI_LINE])(text)
    assert "<redacted>" in redacted
    for line in MULTI_LINE.split("\n"):
        assert exposed(redacted, line) == [], redacted
    assert redacted.split()[0] == text.split()[0]  # the words around it stay


def test_the_redactor_leaves_ordinary_text_alone() -> None:
    text = "mastodon answered 422: Validation failed: Text can't be blank"
    assert Redactor(["mastodon-test-token"])(text) == text


def test_a_secret_webhook_url_hides_its_tokens_not_every_url() -> None:
    url = "https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/abcdefghijklmnopqrstuvwx"
    redact = Redactor([url])
    other = "slack: can't connect to https://hooks.slack.com/services/: refused"
    assert redact(other) == other
    quoted = "slack answered 404: no_service for B0A1B2C3D/abcdefghijklmno"
    assert redact(quoted) == "slack answered 404: no_service for <redacted>/<redacted>"
