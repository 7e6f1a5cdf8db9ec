"""The promise `queue add` and the read-only views keep on SQLite: they never import
SQLAlchemy or SQLModel, nor the HTTP stack (httpx, the publishers).

Editors run `queue add` more than any other command; importing the database layer alone
costs more than the whole command should (docs/architecture.md, "the fast path"), and the
HTTP stack about a third of it again: the platforms' specs it checks a post against are
data that import neither (`scheduler/platforms/`). `status`, `calendar`, `queue list`,
`simulate` and `report` read an SQLite file at the latest schema with the standard driver
(`store/view_store.py`); a missing file or an older schema still goes through the store,
which creates or migrates it. Each test runs a fresh interpreter, since a module imported
by an earlier test would hide the import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.domain import PostDraft
from scheduler.store.migrations import LATEST_VERSION
from scheduler.store.store import Store
from tests.conftest import REPO, write_config
from tests.test_view_store import _older_database, _schema_version

# Runs the real console entry point, then reports which database modules were imported.
_PROBE = textwrap.dedent(
    """
    import json, sys
    from scheduler.cli.app import main
    sys.argv[0] = "scheduler"
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    else:
        code = 0
    heavy = ("sqlalchemy", "sqlmodel", "httpx", "scheduler.publishers")
    loaded = sorted(name for name in sys.modules if name.startswith(heavy))
    print("\\n" + json.dumps({"code": code, "loaded": loaded}))  # after output without a newline
    """
)
HEAVY = ["sqlalchemy", "sqlmodel"]  # what the store path loads first
HOUR = timedelta(hours=1)


def _run_probe(tmp_path: Path, *args: str) -> dict[str, object]:
    env = {**os.environ, "SCHEDULER_EDITOR": "tester", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_queue_add_on_a_migrated_sqlite_file_imports_no_sqlalchemy(tmp_path: Path) -> None:
    # A network platform's channel too: its spec is checked, its client never imported.
    masto = '[channels.masto]\npublisher = "mastodon"\nbase_url = "https://m.example"\n'
    config = write_config(tmp_path, masto + 'token = { env = "NOT_READ_BY_QUEUE_ADD" }\n')
    store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    store.migrate()
    store.close()

    report = _run_probe(
        tmp_path, "--config", str(config), "queue", "add", "-c", "main", "--kind", "core", "hello"
    )

    assert report == {"code": 0, "loaded": []}
    store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    try:
        (record,) = store.all_posts()
        assert record.post.body == "hello"
    finally:
        store.close()


# Each view once, and every calendar format (each loads its own renderer).
VIEWS = [
    ("status",),
    ("calendar", "--days", "7"),
    ("calendar", "--days", "7", "--format", "json"),
    ("calendar", "--format", "html", "--view", "month"),
    ("calendar", "--format", "ics"),
    ("queue", "list", "--format", "json", "--status", "queued"),
    ("simulate", "--days", "3", "--format", "json"),
    ("report", "--format", "html"),
]


def _queued_database(tmp_path: Path) -> Path:
    """A config and a migrated SQLite file with a floating and a pinned post, a daemon's
    heartbeat and an open inbox item, so every view has something to read."""
    from scheduler.domain import Notice
    from scheduler.store.inbox import InboxStore

    config = write_config(tmp_path)
    now = datetime.now(UTC)
    store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    try:
        store.migrate()
        drafts = [
            PostDraft(body="floating", kind="core", channels=("main",), editor="sara"),
            PostDraft(
                body="pinned", kind="core", channels=("main",), editor="sara", at=now + 3 * HOUR
            ),
        ]
        store.add_posts(drafts, now=now, spacing={"main": timedelta(0)})
        store.beat(owner="d", pid=1, host="h", now=now, state="running")
        notice = Notice("n1", "mention", "@ali", "hello?", now - HOUR, None, None, {})
        InboxStore(store).ingest("main", [notice], None, now=now)
    finally:
        store.close()
    return config


@pytest.mark.parametrize("command", VIEWS, ids=" ".join)
def test_views_on_a_migrated_sqlite_file_import_no_database_layer(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = _queued_database(tmp_path)

    report = _run_probe(tmp_path, "--config", str(config), *command)

    assert report == {"code": 0, "loaded": []}


def test_a_missing_database_goes_through_the_store_which_creates_it(tmp_path: Path) -> None:
    """Also what shows the probe can fail: it sees the database layer when it is loaded."""
    config = write_config(tmp_path)

    report = _run_probe(tmp_path, "--config", str(config), "queue", "list")

    assert report["code"] == 0
    assert set(HEAVY) <= set(report["loaded"])  # type: ignore[arg-type]
    assert _schema_version(tmp_path / "scheduler.db") == LATEST_VERSION


def test_an_older_schema_goes_through_the_store_which_migrates_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    _older_database(tmp_path / "scheduler.db")

    report = _run_probe(tmp_path, "--config", str(config), "status", "--format", "json")

    assert report["code"] == 0
    assert set(HEAVY) <= set(report["loaded"])  # type: ignore[arg-type]
    assert _schema_version(tmp_path / "scheduler.db") == LATEST_VERSION
