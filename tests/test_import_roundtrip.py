"""`queue import` keeps every body exactly as the file holds it (issue 10).

Files are written the way other programs write them, by Python's csv module and by
json.dumps, and imported through the command; the bodies are then read back from the store.
Line ends inside a cell, CR, U+2028, NEL, form feeds, quotes, commas, Arabic and emoji must
all survive. The one documented change is the trimming of whitespace around a body, which
every way of queueing applies.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.store.store import Store
from tests.conftest import RunCli, invoke_cli, write_config

# What broke imports before: line ends and separators that str.splitlines and csv reading
# without newline="" treat as row ends, and what CSV must quote.
TRICKY = [
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0c",
    "\x0b",
    "\x1c",
    '"',
    ",",
    ";",
    "'",
    "\t",
    " ",
    "مرحبا بكم",
    "👨\u200d👩\u200d👧\u200d👦",
    "👍🏽",
    "🇸🇦",
    "\u200f",
]
# Any text save NUL and surrogates, which no body may hold (they can't be stored).
CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
BODIES = (
    st.lists(st.one_of(CHARACTERS, st.sampled_from(TRICKY)), min_size=1, max_size=30)
    .map("".join)
    .filter(lambda body: body.strip() != "")
)


def write_csv(path: Path, bodies: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "channel", "kind"])
        writer.writerows([body, "main", "core"] for body in bodies)


def write_jsonl(path: Path, bodies: list[str], *, ensure_ascii: bool) -> None:
    lines = [
        json.dumps({"text": body, "channel": "main", "kind": "core"}, ensure_ascii=ensure_ascii)
        for body in bodies
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")


def imported_ids(config: Path, path: Path) -> list[int]:
    result = invoke_cli("queue", "import", str(path), "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    return [post["id"] for post in json.loads(result.stdout)["posts"]]


def stored_bodies(database: str, ids: list[int]) -> list[str]:
    store = Store(database)
    try:
        return [store.get_post(post_id).post.body for post_id in ids]
    finally:
        store.close()


def test_import_round_trips_every_body(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    database = f"sqlite:///{tmp_path / 'scheduler.db'}"

    @settings(max_examples=50, deadline=None)
    @given(bodies=st.lists(BODIES, min_size=1, max_size=4), ensure_ascii=st.booleans())
    def round_trip(bodies: list[str], ensure_ascii: bool) -> None:
        expected = [body.strip() for body in bodies]
        write_csv(tmp_path / "posts.csv", bodies)
        csv_ids = imported_ids(config, tmp_path / "posts.csv")
        assert stored_bodies(database, csv_ids) == expected
        write_jsonl(tmp_path / "posts.jsonl", bodies, ensure_ascii=ensure_ascii)
        jsonl_ids = imported_ids(config, tmp_path / "posts.jsonl")
        assert stored_bodies(database, jsonl_ids) == expected

    round_trip()


EXAMPLE = (
    "First paragraph.\n\nSecond\r\nthird\rfourth\u2028fifth\x85sixth\x0cseventh "
    '"quoted", comma; مرحبا 👨\u200d👩\u200d👧\u200d👦'
)


def listed_bodies(run_cli: RunCli, config: Path) -> list[Any]:
    result = run_cli("queue", "list", "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    return [post["body"] for post in json.loads(result.stdout)["posts"]]


def test_the_issues_example_survives_the_real_command(tmp_path: Path, run_cli: RunCli) -> None:
    """The report's own case, through `python -m scheduler`: paragraphs are not merged."""
    config = write_config(tmp_path)
    write_csv(tmp_path / "posts.csv", [EXAMPLE, "plain"])
    write_jsonl(tmp_path / "posts.jsonl", [EXAMPLE], ensure_ascii=False)
    for name in ("posts.csv", "posts.jsonl"):
        result = run_cli("queue", "import", name, config=config)
        assert result.returncode == 0, result.stderr
    assert listed_bodies(run_cli, config) == [EXAMPLE, "plain", EXAMPLE]
