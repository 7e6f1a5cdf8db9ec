"""The progress bar of long commands: drawn on stderr only when it is a terminal (checked
under a real pseudo-terminal), erased when done, and nothing at all when stderr is piped."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from scheduler.render.progress import ProgressBar
from tests.conftest import REPO, RunCli, write_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_is_drawn_at_most_ten_times_a_second_and_erased() -> None:
    stream, ticks = Terminal(), iter([0.0, 0.05, 0.2, 0.25])
    with ProgressBar("work", 4, stream=stream, clock=lambda: next(ticks)) as bar:
        for _ in range(4):
            bar.advance()
    lines = stream.getvalue().split("\r")
    drawn = [line for line in lines if line.strip()]
    # The first advance and the one 0.2 s later are drawn; the two in between are not.
    assert drawn == [f"work [{'#' * 7}{'.' * 23}] 1/4", f"work [{'#' * 22}{'.' * 8}] 3/4"]
    assert stream.getvalue().endswith("\r" + " " * len(drawn[0]) + "\r")


def test_no_bar_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("work", 3, stream=stream) as bar:
        for _ in range(3):
            bar.advance()
    assert stream.getvalue() == ""


def _stderr_under_pty(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; (exit status, stdout, stderr as seen)."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "scheduler", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "PYTHONPATH": str(REPO), "SCHEDULER_EDITOR": "tester"},
    ) as process:
        os.close(terminal)
        seen = b""
        while True:
            ready, _, _ = select.select([controller], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            seen += chunk
        assert process.stdout is not None
        stdout = process.stdout.read().decode()
        status = process.wait(timeout=120)
    os.close(controller)
    return status, stdout, seen.decode()


CONFIG = """
[channels.side]
publisher = "file"
path = "side.jsonl"
"""


def test_simulate_shows_a_bar_on_a_terminal_and_nothing_when_piped(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = write_config(tmp_path, CONFIG)
    run_cli("--config", str(config), "queue", "add", "hello", "-c", "main", "--kind", "core")
    args = ["--config", str(config), "simulate", "--from", "2030-01-01T00:00Z", "--format", "json"]
    status, stdout, stderr = _stderr_under_pty(args, tmp_path)
    assert status == 0
    assert "simulate: planning channels [" in stderr and "] 1/2" in stderr
    assert stderr.endswith("\r")  # erased: the line is free again
    assert stdout.startswith("{")
    piped = run_cli(*args)
    assert piped.returncode == 0
    assert piped.stderr == ""
    assert piped.stdout == stdout


def test_report_shows_a_bar_on_a_terminal_and_nothing_when_piped(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = write_config(tmp_path, CONFIG)
    window = ["--from", "2030-01-01T00:00Z", "--to", "2031-01-01T00:00Z"]
    args = ["--config", str(config), "report", *window, "--format", "json"]
    status, stdout, stderr = _stderr_under_pty(args, tmp_path)
    assert status == 0, stderr
    assert "report: reading channels [" in stderr and "] 1/2" in stderr
    assert stderr.endswith("\r")
    assert stdout.startswith("{")
    piped = run_cli(*args)
    assert piped.returncode == 0
    assert piped.stderr == ""
    assert piped.stdout == stdout


def test_a_large_import_shows_a_bar_on_a_terminal_and_nothing_when_piped(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = write_config(tmp_path)
    rows = "".join(f'"post {n}",main,core\n' for n in range(300))
    (tmp_path / "posts.csv").write_text("text,channel,kind\n" + rows, encoding="utf-8")
    status, stdout, stderr = _stderr_under_pty(
        ["--config", str(config), "queue", "import", "posts.csv"], tmp_path
    )
    assert status == 0, stderr
    assert "queue import: checking rows [" in stderr
    assert stdout.startswith("imported 300 posts")
    piped = run_cli("--config", str(config), "queue", "import", "posts.csv")
    assert piped.returncode == 0
    assert piped.stderr == ""
