"""The promise `queue add` keeps on SQLite: it never imports SQLAlchemy or SQLModel, nor
the HTTP stack (httpx, the publishers).

Editors run `queue add` more than any other command; importing the database layer alone
costs more than the whole command should (docs/architecture.md, "the fast path"), and the
HTTP stack about a third of it again: the platforms' specs it checks a post against are
data that import neither (`scheduler/platforms/`). Each test runs a fresh interpreter, since
a module imported by an earlier test would hide the import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from scheduler.store.store import Store
from tests.conftest import REPO, write_config

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
    print(json.dumps({"code": code, "loaded": loaded}))
    """
)


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


def test_the_probe_sees_sqlalchemy_when_a_command_loads_it(tmp_path: Path) -> None:
    """The check above can fail: `queue list` goes through the store and the probe says so."""
    config = write_config(tmp_path)

    report = _run_probe(tmp_path, "--config", str(config), "queue", "list")

    assert report["code"] == 0
    assert "sqlalchemy" in report["loaded"]  # type: ignore[operator]
