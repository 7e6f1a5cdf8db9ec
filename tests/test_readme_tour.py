"""The README's tour, run exactly as printed on a fresh directory, step by step.

The commands are parsed from the `sh` code blocks of the README's "A short tour" section
and run in order with `sh -c`, in a temporary directory holding only a copy of the shipped
`config.toml`, with the project's `scheduler` on PATH (as after `. .venv/bin/activate`).
Every command must have its expected output below, and every expectation its command, so
the README can't drift from what the program does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
BIN = Path(sys.executable).parent
LOCAL = r"\w{3} \d{1,2} \w{3} \d\d:\d\d \+0[12]:00"  # Wed 2 Dec 09:00 +01:00
FLOATING = "floating: the planner gives it the next free slot (see `scheduler calendar`)"
Check = Callable[[str], None]
LISTEN = "**Listen and answer.**"
FIRST_ADD = (
    'scheduler queue add "New release is out https://example.com" --channel main --kind core'
)


def tour_commands(readme: str) -> list[str]:
    """Each line of the tour's `sh` blocks, without its trailing `  # comment`."""
    section = readme.split("\n## A short tour\n", 1)[1].split("\n## ", 1)[0]
    # Answering needs items a real Mastodon or Bluesky account received: the runnable tour
    # ends where "Listen and answer" begins (the inbox has process tests of its own).
    section = section.split(LISTEN, 1)[0]
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
    for command in commands:
        if "--serve" in command:
            serve(command, tmp_path, env)
            continue
        done = subprocess.run(
            ["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
        assert "Traceback" not in done.stderr
        EXPECTED[command](done.stdout)
        for name, marker in WRITES.items():
            if f"--output {name}" in command:
                assert done.stderr.startswith("wrote "), done.stderr
                assert marker in (tmp_path / name).read_text(encoding="utf-8")


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
