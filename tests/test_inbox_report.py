"""The inbox side of `scheduler report` (§10, §11): how `response_time` is set by the
`replies_answered` goal's `within`, the inbox arithmetic on items with known answers, and
the goal's value now and status, over SQLite and PostgreSQL."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.config import Config, parse_config
from scheduler.domain import AiringStatus, Notice
from scheduler.errors import ConfigError
from scheduler.queries.report import build_report
from scheduler.render.report_text import report_text
from scheduler.store.inbox import InboxStore
from scheduler.store.store import Outcome, Store

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def config_of(text: str) -> Config:
    base = '[channels.main]\npublisher = "file"\npath = "out.jsonl"\n'
    return parse_config(tomllib.loads(base + text), Path("/tmp/config.toml"))


# --- `within` sets `response_time` ------------------------------------------------------------


def goal(within: str) -> str:
    return f'replies_answered = {{ share = "90%", within = "{within}" }}\n'


# Lines before the first table header belong to [channels.main].
@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("", 4 * HOUR),  # nothing set: the design's default
        ('[defaults]\nresponse_time = "3h"\n', 3 * HOUR),
        ("[defaults.goals]\n" + goal("2h"), 2 * HOUR),  # the defaults goal sets it
        # [defaults] says both: its explicit response_time wins over its goal's within
        ('[defaults]\nresponse_time = "3h"\n[defaults.goals]\n' + goal("2h"), 3 * HOUR),
        # the channel's own goal is nearer than anything in [defaults]
        (
            "[channels.main.goals]\n" + goal("90m") + '[defaults]\nresponse_time = "3h"\n',
            90 * MINUTE,
        ),
        # the channel's own response_time is nearest of all, even against its own goal
        (
            'response_time = "1h"\n[channels.main.goals]\n'
            + goal("2h")
            + "[defaults.goals]\n"
            + goal("30m"),
            HOUR,
        ),
        ('response_time = "45m"\n[defaults.goals]\n' + goal("2h"), 45 * MINUTE),
    ],
)
def test_within_sets_response_time_where_nothing_nearer_does(
    toml: str, expected: timedelta
) -> None:
    settings = config_of(toml).channels["main"]
    assert settings.response_time == expected


def test_the_goal_keeps_its_own_within_when_response_time_is_nearer() -> None:
    settings = config_of('response_time = "1h"\n[defaults.goals]\n' + goal("2h")).channels["main"]
    assert settings.goals.replies_answered is not None
    assert settings.goals.replies_answered.within == 2 * HOUR  # the goal is judged on 2h
    assert settings.response_time == HOUR  # items are flagged after 1h


@pytest.mark.parametrize(
    ("goal", "problem"),
    [
        (
            'replies_answered = { share = "90%", within = "soon" }',
            "channels.main.goals.replies_answered.within: ",
        ),
        (
            'replies_answered = { share = "90%" }',
            "channels.main.goals.replies_answered.within: missing; give how long an answer "
            'may take, e.g. "2h"',
        ),
        (
            'replies_answered = { share = "90%", within = "0m" }',
            "channels.main.goals.replies_answered.within: must be longer than zero, got '0m'",
        ),
    ],
)
def test_check_refuses_a_bad_within_naming_its_key(goal: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        config_of("[channels.main.goals]\n" + goal)
    (only,) = refused.value.problems
    assert only.startswith("/tmp/config.toml: " + problem), only


# --- the inbox in the report, on both backends ------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def item(
    store: Store, platform_id: str, at: datetime, *, author: str = "@ali@example.social"
) -> int:
    inbox = InboxStore(store)
    notice = Notice(platform_id, "mention", author, f"text {platform_id}", at, None, None, {})
    inbox.ingest("main", [notice], platform_id, now=at)
    (entry,) = [e for e in inbox.entries(include_closed=True) if e.item.platform_id == platform_id]
    assert entry.item.id is not None
    return entry.item.id


def answer(store: Store, item_id: int, at: datetime) -> None:
    """Queue a reply at `at` and publish it at once: the item is answered at `at`."""
    airing_id = InboxStore(store).queue_reply(item_id, "thanks", editor="sara", now=at)
    (claimed,) = store.claim_due(
        owner="me", now=at, lease=timedelta(seconds=30), limit=10, key_prefix="k", channels=["main"]
    )
    assert claimed.id == airing_id
    store.record_outcomes(
        [Outcome(airing_id, AiringStatus.published, "published", at, remote_id=f"r{airing_id}")],
        owner="me",
    )


def constructed_inbox(store: Store) -> None:
    """Seven items in the week before NOW (and one before it), with known answers:

    | item | arrived | answered after | counts for the 2h goal |
    | A | -10h | 30m | due, in time |
    | B | -9h | 3h | due, late |
    | C | -8h | 1h | due, in time |
    | D | -5h | open | due, unanswered |
    | E | -1h | open | not yet due |
    | F | -30m | 10m | due (answered early), in time |
    | G | -6h | done | needed no answer |
    | H | -8d | 5m | outside the window |
    """
    arrivals = {"H": -8 * 24 * 60, "A": -600, "B": -540, "G": -360, "C": -480, "D": -300}
    arrivals |= {"E": -60, "F": -30}
    ids = {name: item(store, name, NOW + minutes * MINUTE) for name, minutes in arrivals.items()}
    answers = {"H": 5, "A": 30, "B": 180, "C": 60, "F": 10}
    for name, after in sorted(answers.items(), key=lambda pair: arrivals[pair[0]] + pair[1]):
        answer(store, ids[name], NOW + (arrivals[name] + after) * MINUTE)
    InboxStore(store).done(ids["G"])


def report_of(store: Store, toml: str = "") -> dict[str, Any]:
    config = config_of(toml)
    report = build_report(config, store.view(), start=NOW - WEEK, end=NOW, now=NOW)
    main: dict[str, Any] = report["channels"]["main"]
    return main


def test_inbox_arithmetic_on_items_with_known_answers(store: Store) -> None:
    constructed_inbox(store)
    inbox = report_of(store, "[channels.main.goals]\n" + goal("2h"))["inbox"]
    assert {key: value for key, value in inbox.items() if key != "waiting"} == {
        "received": 7,
        "answered": 4,  # A, B, C, F
        "done": 1,  # G
        "open": 2,  # D, E
        "answered_share": 4 / 6,  # of the six that needed an answer
        "median_response_minutes": 45.0,  # 10, 30, 60, 180
        "within": "2h",
        "due": 5,  # A, B, C, D, F
        "answered_within": 3,  # A, C, F
    }
    assert [w["at"] for w in inbox["waiting"]] == ["2026-11-23T07:00:00Z", "2026-11-23T11:00:00Z"]
    assert all(w["author"] == "@ali@example.social" for w in inbox["waiting"])


@pytest.mark.parametrize(("share", "verdict"), [("90%", "behind"), ("60%", "on track")])
def test_replies_answered_goal_value_and_status(store: Store, share: str, verdict: str) -> None:
    constructed_inbox(store)
    toml = f'[channels.main.goals]\nreplies_answered = {{ share = "{share}", within = "2h" }}\n'
    main = report_of(store, toml)
    (answered,) = [g for g in main["goals"] if g["goal"] == "replies_answered"]
    assert (answered["value"], answered["due"], answered["answered_within"]) == (0.6, 5, 3)
    assert answered["verdict"] == verdict
    text = report_text({"from": "", "to": "", "channels": {"main": main}})
    assert f"goal replies_answered {share} within 2h: {verdict} (now 60%: 3 of 5 due" in text
    assert "inbox: 7 received, 4 answered (67%), 1 done, 2 open; median response 45m" in text


def test_a_wider_within_counts_the_late_answer_and_response_time_is_the_fallback(
    store: Store,
) -> None:
    constructed_inbox(store)
    # Without a goal, answers are counted against response_time (here 4h, the default):
    # B's 3h answer is in time, and E (1h old) is still not due.
    inbox = report_of(store)["inbox"]
    assert (inbox["within"], inbox["due"], inbox["answered_within"]) == ("4h", 5, 4)


def test_nothing_due_is_not_measured_and_an_unread_channel_has_no_inbox(store: Store) -> None:
    item(store, "young", NOW - 10 * MINUTE)
    main = report_of(store, "[channels.main.goals]\n" + goal("2h"))
    (answered,) = main["goals"]
    assert (answered["value"], answered["verdict"]) == (None, "not measured")
    assert main["inbox"]["received"] == 1 and main["inbox"]["answered_share"] == 0
    config = config_of('[channels.quiet]\npublisher = "file"\npath = "quiet.jsonl"\n')
    report = build_report(config, store.view(), start=NOW - WEEK, end=NOW, now=NOW)
    assert report["channels"]["quiet"]["inbox"] is None  # nothing is read from a file channel
    assert "inbox: not read" in report_text(report)


@pytest.mark.parametrize(("share", "named"), [("90%", True), ("60%", False)])
def test_status_names_replies_answered_when_behind(store: Store, share: str, named: bool) -> None:
    from scheduler.queries.status import status_report

    constructed_inbox(store)  # over status's 30 days H counts too: 4 of 6 due in time
    toml = f'[channels.main.goals]\nreplies_answered = {{ share = "{share}", within = "2h" }}\n'
    report = status_report(config_of(toml), store.view(), now=NOW)
    behind = report["channels"]["main"]["goals_behind"]
    assert behind == (["replies_answered behind"] if named else [])
