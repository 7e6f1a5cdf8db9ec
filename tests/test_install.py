"""A normal install works away from the checkout: the wheel carries the templates.

Builds the project's wheel, installs it into a fresh virtual environment (its dependencies
come from pip's cache or the package index, as for a user), and from another directory runs
`scheduler --version`, `check`, renders the HTML calendar and serves it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, write_config

# One worker builds the wheel and the venv once for the module (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("install")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `scheduler` console script of a fresh venv holding only the built wheel."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("content_scheduler-*.whl")
    venv = work / "venv"
    # The venv gets no pip of its own: this environment's pip installs into it (`--python`),
    # and the modules are compiled as they are first imported, not all of them up front.
    # Both would cost a quarter of a minute of CPU and test nothing here.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=600
    )
    subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "install", "--quiet", "--no-compile", str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )  # fmt: skip
    return venv / "bin" / "scheduler"


def user_env() -> dict[str, str]:
    """A user's environment: no PYTHONPATH into the checkout; bytecode cached, so only the
    first run compiles what it imports from the fresh venv."""
    env = {**os.environ, "SCHEDULER_EDITOR": "tester"}
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(scheduler: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(scheduler), *args], cwd=cwd, capture_output=True, text=True, env=user_env(),
        timeout=120,
    )  # fmt: skip


def test_the_installed_wheel_renders_and_serves_the_calendar(
    installed: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    version = run(installed, elsewhere, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("content-scheduler ")

    checked = run(installed, elsewhere, "--config", str(config), "check")
    assert checked.returncode == 0, checked.stderr
    added = run(
        installed, elsewhere, "--config", str(config), "queue", "add", "مرحبا <b>bold</b>",
        "--channel", "main", "--kind", "core",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    page = elsewhere / "week.html"
    rendered = run(
        installed, elsewhere, "--config", str(config), "calendar", "--format", "html",
        "--output", str(page),
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    # The command says what it wrote (the post airs once, then as reruns).
    assert re.fullmatch(
        rf"wrote \d+ airings[^\n]* – [^\n]*, to {re.escape(str(page))}\n", rendered.stderr
    )
    html = page.read_text(encoding="utf-8")
    assert "<html" in html and "مرحبا &lt;b&gt;bold&lt;/b&gt;" in html
    # The week's hour grid: seven days from the start of today, 24 hours each.
    assert html.count('<span class="hour-label">') == 7 * 24
    assert 'http-equiv="refresh"' not in html  # a saved file does not reload itself

    with subprocess.Popen(
        [str(installed), "--config", str(config), "calendar", "--serve", "--port", "0"],
        cwd=elsewhere,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # "Serving the calendar on http://127.0.0.1:N/ …"
            url = line.split(" on ", 1)[1].split()[0]
            with urllib.request.urlopen(url, timeout=60) as response:
                assert response.status == 200
                served = response.read().decode("utf-8")
            assert "مرحبا &lt;b&gt;bold&lt;/b&gt;" in served
            assert 'class="week"' in served and 'http-equiv="refresh"' in served
        finally:
            server.terminate()
            server.wait(timeout=60)
