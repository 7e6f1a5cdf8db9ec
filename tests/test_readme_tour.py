"""The README's tour, run exactly as printed on a fresh directory, step by step.

The commands are parsed from the `sh` code blocks of the README's "A short tour" section
and run in order with `sh -c`, in a temporary directory holding only a copy of the shipped
`config.toml`, with the project's `scheduler` on PATH (as after `. .venv/bin/activate`).
Every command must have its expected output below, and every expectation its command, so
the README can't drift from what the program does.

"Listen and answer" needs an account others wrote to: before its first command the test
adds a Mastodon channel served by a local fake holding three mentions, as the README says,
and starts `scheduler run`; afterwards the fake must have received each reply once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.fakeplatforms import FakeMastodon

README = REPO / "README.md"
BIN = Path(sys.executable).parent
LOCAL = r"\w{3} \d{1,2} \w{3} \d\d:\d\d \+0[12]:00"  # Wed 2 Dec 09:00 +01:00
FLOATING = "floating: the planner gives it the next free slot (see `scheduler calendar`)"
Check = Callable[[str], None]
FIRST_LISTENING = "scheduler inbox"
MENTIONS = (
    ("Love the new release!", "ali@example.social"),
    ("Is there a dark mode?", "mona@example.social"),
    ("👍", "sam@example.social"),
)
FIRST_ADD = (
    'scheduler queue add "New release is out https://example.com" --channel main --kind core'
)


def tour_commands(readme: str) -> list[str]:
    """Each line of the tour's `sh` blocks, without its trailing `  # comment`."""
    section = readme.split("\n## A short tour\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            command = re.sub(r"\s{2,}#.*$", "", line).strip()
            if command:
                commands.append(command)
    return commands


def matches(pattern: str) -> Check:
    def check(stdout: str) -> None:
        assert re.fullmatch(pattern, stdout, flags=re.S), stdout

    return check


def contains(*parts: str) -> Check:
    def check(stdout: str) -> None:
        for part in parts:
            assert part in stdout, (part, stdout)

    return check


def queue_list(stdout: str) -> None:
    lines = stdout.splitlines()
    assert lines[0].split() == ["ID", "KIND", "STATUS", "CHANNELS", "NEXT", "EDITOR", "BODY"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3", "4", "5"]
    assert re.search(rf"^2 .* {LOCAL} \(pinned\)  tour ", stdout, flags=re.M), stdout


def inbox_json(stdout: str) -> None:
    items = json.loads(stdout)["items"]
    assert [(i["id"], i["kind"], i["status"]) for i in items] == [
        (1, "mention", "open"),
        (2, "mention", "open"),
        (3, "mention", "open"),
    ]
    assert [(i["text"], i["author"]) for i in items] == [
        (f"@brand {text}", f"@{author}") for text, author in MENTIONS
    ]


def calendar_text(stdout: str) -> None:
    lines = stdout.splitlines()
    assert re.fullmatch(rf"Content calendar: {LOCAL} – {LOCAL} \(Europe/Berlin\)", lines[0])
    assert all(len(line) <= 100 for line in lines)  # COLUMNS=100
    assert "#2" in stdout and "New release is out" in stdout


EXPECTED: dict[str, Check] = {
    "scheduler check": contains(
        "config.toml: 1 channel(s)\n",
        "  main: file, Europe/Berlin, every 1h, max gap 3h, quiet hours 00:00-02:00\n",
        "(schema version",
        "\nok\n",
    ),
    FIRST_ADD: matches(f"queued post 1 on main; {re.escape(FLOATING)}\n"),
    'echo "Why did the editor cross the road? To reach the other timezone." > joke.txt': matches(
        ""
    ),
    "scheduler queue add --kind entertaining --channel main --at +3h --file joke.txt": matches(
        f"queued post 2 on main; first airing {LOCAL}\n"
    ),
    'scheduler queue add "Flash sale ends tonight" -c main --kind core --expires +6h '
    "--no-evergreen": matches(f"queued post 3 on main; {re.escape(FLOATING)}\n"),
    'printf \'text,channel,kind\\n"Tip: answer every question",main,core\\n'
    '"Caption this",main,entertaining\\n\' > posts.csv': matches(""),
    "scheduler queue import posts.csv": matches("imported 2 posts \\(ids 4–5\\)\n"),
    "scheduler queue list": queue_list,
    "scheduler queue show 2": contains(
        "post 2 · entertaining · queued · by tour\n",
        "Why did the editor cross the road?",
    ),
    "scheduler queue edit 3 --expires none": contains("post 3 · core · queued", "expires:  never"),
    "scheduler queue cancel 3": matches("cancelled post 3: \\d+ planned airings? cancelled\n"),
    "scheduler calendar --days 7": calendar_text,
    "scheduler calendar --format html --view week --output week.html": matches(""),
    "scheduler calendar --format ics --output plan.ics": matches(""),
    "scheduler calendar --serve --port 0": matches(""),  # run in the background, see below
    "scheduler simulate --days 14": contains("main: ", "gaps over max_gap 3h", "worst gap: "),
    "scheduler simulate --days 14 --audit": contains("rule violations: none"),
    "scheduler status": contains(
        "daemon: never ran (start it with `scheduler run`)", "queued posts:     4"
    ),
    FIRST_LISTENING: contains(
        "#1  social  mention  open", "ali@example.social", "Love the new release!", "#3  social"
    ),
    "scheduler inbox --all --format json": inbox_json,
    'scheduler reply 1 "Thanks, fixed in 2.1"': matches(
        r"reply to inbox item 1 queued as airing \d+\n"
    ),
    'echo "Glad you like it" > answer.txt': matches(""),
    "scheduler reply 2 --file answer.txt": matches(r"reply to inbox item 2 queued as airing \d+\n"),
    "scheduler inbox done 3": matches("inbox item 3: done\n"),
}
WRITES = {"week.html": 'class="week"', "plan.ics": "BEGIN:VCALENDAR"}


def test_the_readme_tour_runs_as_printed(tmp_path: Path) -> None:
    commands = tour_commands(README.read_text(encoding="utf-8"))
    assert commands == list(EXPECTED), "the README's tour and this test disagree"
    assert (BIN / "scheduler").exists()
    shutil.copy(REPO / "config.toml", tmp_path / "config.toml")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SCHEDULER_CONFIG", "PYTHONPATH")
    }
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="100")
    env["SCHEDULER_EDITOR"] = "tour"
    with contextlib.ExitStack() as stack:
        for command in commands:
            if command == FIRST_LISTENING:
                mastodon = stack.enter_context(a_listened_account(tmp_path, env))
            run_step(command, tmp_path, env)
        wait_until(lambda: len(replies_of(mastodon)) == 2, "the two replies")
    mentions = {s["id"]: s for s in (n["status"] for n in mastodon.notifications)}
    replies = replies_of(mastodon)
    assert sorted(mentions[r["in_reply_to_id"]]["account"]["acct"] for r in replies) == [
        "ali@example.social",
        "mona@example.social",
    ]
    assert sorted(r["text"] for r in replies) == [
        "@ali@example.social Thanks, fixed in 2.1",
        "@mona@example.social Glad you like it",
    ]


def run_step(command: str, cwd: Path, env: dict[str, str]) -> None:
    """One tour line as printed, checked against its expectation."""
    if "--serve" in command:
        serve(command, cwd, env)
        return
    done = subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, (command, done.stderr)
    assert "Traceback" not in done.stderr
    EXPECTED[command](done.stdout)
    for name, marker in WRITES.items():
        if f"--output {name}" in command:
            assert done.stderr.startswith("wrote "), done.stderr
            assert marker in (cwd / name).read_text(encoding="utf-8")


@contextlib.contextmanager
def a_listened_account(cwd: Path, env: dict[str, str]) -> Iterator[FakeMastodon]:
    """A Mastodon channel others wrote to, added to the tour's config, with `scheduler run`
    listening to it (every second, so the test needn't wait two minutes)."""
    with FakeMastodon() as mastodon:
        for text, author in MENTIONS:
            mastodon.mention(text, author=author)
        (cwd / "masto-token").write_text(mastodon.token, encoding="utf-8")
        config = cwd / "config.toml"
        text = config.read_text(encoding="utf-8").replace(
            "[scheduler]\n", '[scheduler]\nlisten = "1s"\n', 1
        )
        text += textwrap.dedent(
            f"""
            [channels.social]
            publisher = "mastodon"
            base_url = "{mastodon.base_url}"
            token = {{ file = "masto-token" }}
            timezone = "Europe/Berlin"
            """
        )
        config.write_text(text, encoding="utf-8")
        run = ["scheduler", "run"]
        with (
            open(cwd / "daemon.log", "wb") as log,
            subprocess.Popen(run, cwd=cwd, env=env, stdout=log, stderr=log) as daemon,
        ):
            try:
                wait_until(lambda: inbox_count(config) == len(MENTIONS), "the mentions")
                yield mastodon
            finally:
                daemon.terminate()
                daemon.wait(timeout=60)
        assert "Traceback" not in (cwd / "daemon.log").read_text(encoding="utf-8")


def inbox_count(config: Path) -> int:
    """How many items the daemon has stored, read in this process: a `scheduler inbox`
    process per poll would cost a second of CPU each (the tour's own step runs it)."""
    from scheduler.config import load_config
    from scheduler.store.inbox import InboxStore
    from scheduler.store.store import Store

    store = Store(load_config(config).scheduler.database)
    try:
        return len(InboxStore(store).entries(include_closed=True))
    finally:
        store.close()


def replies_of(mastodon: FakeMastodon) -> list[dict[str, Any]]:
    return [status for status in mastodon.statuses if status["in_reply_to_id"] is not None]


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def serve(command: str, cwd: Path, env: dict[str, str]) -> None:
    """Start the served calendar as printed, load it once, and stop it (as Ctrl-C would)."""
    with subprocess.Popen(
        ["sh", "-c", f"exec {command}"], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert line.startswith("Serving the calendar on http://127.0.0.1:"), line
            url = line.split(" on ", 1)[1].split()[0]
            with urllib.request.urlopen(url, timeout=60) as response:
                page = response.read().decode("utf-8")
            assert 'class="week"' in page and 'http-equiv="refresh"' in page
        finally:
            server.terminate()
            server.wait(timeout=60)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("scheduler check", "scheduler check"),
        ("scheduler status     # daemon heartbeat", "scheduler status"),
        ('scheduler queue add "a # b" -c main', 'scheduler queue add "a # b" -c main'),
    ],
)
def test_tour_lines_lose_only_their_trailing_comment(line: str, command: str) -> None:
    assert tour_commands(f"\n## A short tour\n```sh\n{line}\n```\n## Next\n") == [command]
