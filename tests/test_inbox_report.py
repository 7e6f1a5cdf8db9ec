"""The inbox side of `scheduler report` (§10, §11): how `response_time` is set by the
`replies_answered` goal's `within`, the inbox arithmetic on items with known answers, and
the goal's value now and status, over SQLite and PostgreSQL."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.config import Config, parse_config
from scheduler.errors import ConfigError

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
