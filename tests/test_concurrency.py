"""Several processes queueing on one SQLite file at once (DESIGN §9): nothing lost, never
"database is locked".

Four worker processes start from a fresh database file (so even the schema creation races),
wait behind a barrier file, then each queues 50 posts: most through the library, two of them
through the real CLI. Half the posts are pinned, so the pinned-spacing check (a read inside
the write transaction) runs under contention too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scheduler.store.store import Store
from tests.conftest import REPO, queued_id, write_config

WORKERS = 4
POSTS_PER_WORKER = 50
CLI_EVERY = 25  # two posts per worker go through `python -m scheduler queue add`

WORKER = """
import json, subprocess, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.config import load_config
from scheduler.cli.queue_commands import RawPost, draft_post, spacing_by_channel
from scheduler.store.store import Store
from scheduler.timeutil import iso_utc

worker, directory, count, cli_every = int(sys.argv[1]), Path(sys.argv[2]), *map(int, sys.argv[3:])
config_path = directory / "config.toml"
config = load_config(config_path)
spacing = spacing_by_channel(config)
first_pin = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)

(directory / f"ready-{worker}").touch()
while not (directory / "go").exists():
    time.sleep(0.002)
started = time.time()

store = Store(config.scheduler.database)
store.ensure_schema()
for index in range(count):
    body = f"worker {worker} post {index}"
    # Every pinned time is distinct and a whole hour from every other: no refusal expected.
    at = first_pin + timedelta(hours=worker * count + index) if index % 2 == 0 else None
    if index % cli_every == 0:
        command = [sys.executable, "-m", "scheduler", "--config", str(config_path),
                   "queue", "add", body, "--channel", "main", "--kind", "core"]
        if at is not None:
            command += ["--at", iso_utc(at)]
        result = subprocess.run(command, capture_output=True, text=True)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode != 0:
            sys.exit(result.returncode)
    else:
        now = datetime.now(UTC)
        raw = RawPost(body=body, channels=["main"], kind="core",
                      at=iso_utc(at) if at else None, editor=f"worker{worker}")
        store.add_posts([draft_post(raw, config, now=now)], now=now, spacing=spacing)
store.close()
print(json.dumps({"started": started, "finished": time.time()}))
"""


def test_four_processes_queue_at_once_on_one_sqlite_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    args = [str(tmp_path), str(POSTS_PER_WORKER), str(CLI_EVERY)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(worker), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for worker in range(WORKERS)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{w}").exists() for w in range(WORKERS)):
            assert all(p.poll() is None for p in processes), "a worker died before the barrier"
            assert time.monotonic() < deadline, "workers never got ready"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = [p.communicate(timeout=240) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()

    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert "locked" not in (stdout + stderr).lower(), stdout + stderr
        assert process.returncode == 0, stderr
        assert stderr == ""
    spans = [json.loads(stdout.splitlines()[-1]) for stdout, _ in outputs]
    assert max(s["started"] for s in spans) < min(s["finished"] for s in spans), "no overlap"

    store = Store(f"sqlite:///{config.parent / 'scheduler.db'}")
    try:
        records = store.all_posts()
        expected = {f"worker {w} post {i}" for w in range(WORKERS) for i in range(POSTS_PER_WORKER)}
        assert len(records) == WORKERS * POSTS_PER_WORKER
        assert {r.post.body for r in records} == expected
        pinned = [a for r in records for a in r.airings]
        assert len(pinned) == WORKERS * POSTS_PER_WORKER // 2
        assert all(a.pinned and a.at > datetime.now(UTC) for a in pinned)
        assert store.revision() == WORKERS * POSTS_PER_WORKER  # one transaction per post
        cli_ids = [line for stdout, _ in outputs for line in stdout.splitlines()[:-1]]
        assert len(cli_ids) == WORKERS * POSTS_PER_WORKER // CLI_EVERY
        assert {int(queued_id(i)) for i in cli_ids} <= {r.id for r in records}
    finally:
        store.close()
