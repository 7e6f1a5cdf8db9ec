"""Shared fixtures: real databases (an SQLite file per test, a PostgreSQL schema per test).

PostgreSQL is the local server on 127.0.0.1:5432 (trust auth, database `test`). Each test
gets its own schema through the connection's `search_path`, so parallel runs never meet.
Where no server answers, PostgreSQL cases are skipped with the reason shown in the summary.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

PG_BASE_URL = os.environ.get(
    "SCHEDULER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REPO = Path(__file__).resolve().parent.parent


def _pg_reason() -> str | None:
    """None when PostgreSQL answers, else why not (shown as the skip reason)."""
    try:
        import psycopg

        with psycopg.connect(plain_url(PG_BASE_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: not reachable here
        return f"PostgreSQL not reachable at {plain_url(PG_BASE_URL)}: {str(exc).strip()[:120]}"
    return None


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


PG_UNAVAILABLE = _pg_reason()


_LOST_GROUP = pytest.StashKey[str]()

# The longest tests, longest first (30 s down to 9 s each on a quiet 2-core machine with 3
# workers), run before all others: they mostly wait (leases, pinned times, daemons starting),
# so they overlap with the rest, and none is left running alone at the end while the other
# workers idle.
LONGEST_FIRST = (
    "test_ha.py::test_a_killed_replicas_claims_are_published_by_another_under_the_default_lease",
    "test_ha.py::test_a_cli_change_reaches_every_replica_at_once",
    "test_readme_tour.py::test_the_readme_tour_runs_as_printed",
    "test_hostile_daemon.py::test_an_airing_that_kills_the_daemon_each_time_stops_after_three",
    "test_ha.py::test_replicas_survive_a_postgresql_restart_and_killed_backends",
    "test_ha.py::test_a_burst_of_1000_is_delivered_exactly_once_by_several_replicas",
    "test_ha.py::test_kill_9_of_a_replica_mid_batch_loses_and_doubles_nothing",
    "test_ha.py::test_a_request_longer_than_the_lease_is_never_taken_over_while_its_sender_lives",
    "test_install.py::test_the_installed_wheel_renders_and_serves_the_calendar",
    "test_daemon_identity.py::test_a_second_daemon_on_one_sqlite_file_refuses_and_names_the_first",
    "test_async_dispatch.py::test_kill_9_mid_burst_loses_and_duplicates_nothing",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first (`LONGEST_FIRST`), the others in their order.

    Under `--dist loadgroup` (on each xdist worker, after xdist has run this hook) every
    `xdist_group` test must also carry its group in its node id, which is all the scheduler
    sees: a pytest whose node ids xdist can no longer rewrite loses the grouping without a
    word (pytest-xdist#1386), and each worker would build the modules' shared fixtures
    again. Such tests fail, saying why."""
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("/", 1)[-1].split("@")[0], len(rank)))
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        group = mark and (mark.args[0] if mark.args else mark.kwargs["name"])
        if group and not item.nodeid.endswith(f"@{group}"):
            item.stash[_LOST_GROUP] = (
                f"--dist loadgroup ignored xdist_group({group!r}) under pytest "
                f"{pytest.__version__}: install the pytest of the test extras"
            )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _LOST_GROUP in item.stash:
        pytest.fail(item.stash[_LOST_GROUP], pytrace=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if PG_UNAVAILABLE:
        pytest.skip(PG_UNAVAILABLE)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain_url(PG_BASE_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain_url(PG_BASE_URL), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scheduler.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each contract test runs once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scheduler.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[object]:
    from scheduler.store.store import Store

    instance = Store(db_url)
    instance.migrate()
    yield instance
    instance.close()


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    """A fixed 'now' for library calls (the clock is passed in, never patched)."""
    return NOW


def write_config(directory: Path, body: str = "", *, database: str | None = None) -> Path:
    """A config file in `directory` with a file channel `main` and the given extra TOML."""
    database = database or f"sqlite:///{directory / 'scheduler.db'}"
    text = textwrap.dedent(
        f"""
        [scheduler]
        database = "{database}"
        timezone = "UTC"

        [defaults]
        cadence = "1h"
        min_spacing = "30m"
        max_gap = "24h"

        [channels.main]
        publisher = "file"
        path = "published.jsonl"
        timezone = "Europe/Berlin"
        """
    ) + textwrap.dedent(body)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


RunCli = Callable[..., subprocess.CompletedProcess[str]]


def queued_id(stdout: str) -> str:
    """The post id in `queue add`'s "queued post 5 on main; …"."""
    match = re.match(r"queued post (\d+) on ", stdout)
    assert match, stdout
    return match.group(1)


# What a `run_cli` process sees that this one may not: the editor's name, and the width a
# process with piped output falls back to (here stdout may be a terminal, under `pytest -s`).
_AS_A_PROCESS = {"SCHEDULER_EDITOR": "tester"} | (
    {} if "COLUMNS" in os.environ else {"COLUMNS": "100"}
)


def invoke_cli(
    *args: str,
    config: Path | None = None,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    context: object | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `scheduler ARGS` in this process, as `run_cli` would in a real one: the same
    arguments, environment (`SCHEDULER_EDITOR=tester` and `env`) and result (exit status,
    stdout, stderr), so a test reads the same either way. `context` is an `AppContext` to
    hand in, e.g. one with a fixed clock. A bug is raised here with its traceback (the
    console script would print its one "internal error" line)."""
    from typer.testing import CliRunner

    from scheduler.cli.app import app
    from scheduler.cli.root import config_first
    from scheduler.render import terminal

    command = ["--config", str(config)] if config is not None else []
    rest = config_first(args)
    while rest[:1] == ["--config"] or rest[:1] and rest[0].startswith("--config="):
        rest = rest[2:] if rest[0] == "--config" else rest[1:]
    # The daemon sets up the process's logging and signal handling: it runs as a process.
    assert rest[:1] != ["run"] or "--help" in rest, "`scheduler run` is a daemon: use run_cli"
    terminal._stdout_is_terminal.cache_clear()  # a process asks once; each command is one
    try:
        result = CliRunner().invoke(
            app,
            [*command, *args],
            input=input,
            env={**_AS_A_PROCESS, **(env or {})},
            catch_exceptions=False,
            prog_name="scheduler",
            obj=context,
        )
    finally:
        terminal._stdout_is_terminal.cache_clear()
    return subprocess.CompletedProcess(
        ["scheduler", *command, *args], result.exit_code, result.stdout, result.stderr
    )


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """`invoke_cli` from `tmp_path`: the CLI in this process, for every test whose behaviour
    doesn't need a real one (signals, kill -9, daemons, the import check of the fast path,
    the installed console script, a terminal)."""
    monkeypatch.chdir(tmp_path)
    return invoke_cli


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """Run `python -m scheduler ARGS` as a real process; returns the completed process."""

    def run(
        *args: str,
        config: Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "scheduler"]
        if config is not None:
            command += ["--config", str(config)]
        full_env = {**os.environ, "SCHEDULER_EDITOR": "tester", **(env or {})}
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            input=input,
            env=full_env,
            cwd=tmp_path,
            timeout=120,
        )

    return run


def send_pinned_in_process(config_path: Path, at: datetime, post_id: int) -> None:
    """Run a daemon in this process, its clock stopped at `at`, until every pinned airing of
    post `post_id` is published and nothing is left in flight (up to 60 s of real time for
    the workers' round trips). Secrets come from the environment, as for `scheduler run`."""
    import time

    from scheduler.config import load_config
    from scheduler.domain import AiringStatus
    from scheduler.publishers import ChannelClients, build_publishers
    from scheduler.runtime.daemon import Daemon
    from scheduler.runtime.dispatch import RetrySettings
    from scheduler.store.store import Store

    config = load_config(config_path)
    store = Store(config.scheduler.database)
    clients = ChannelClients(timeout=5.0)
    publishers = build_publishers(config.channels, clients, now=lambda: at)
    no_wait = RetrySettings(attempts=2, initial=0.0, maximum=0.0)
    daemon = Daemon(config, store, publishers, clock=lambda: at, retry=no_wait)
    try:
        daemon.tick(at)
        deadline = time.monotonic() + 60
        while daemon.dispatcher.busy() or any(
            a.status != AiringStatus.published for a in store.get_post(post_id).airings if a.pinned
        ):
            assert time.monotonic() < deadline, store.get_post(post_id).airings
            time.sleep(0.05)
    finally:
        daemon.close(timeout=5)
        clients.close()
        store.close()
