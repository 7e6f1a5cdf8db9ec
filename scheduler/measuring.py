"""The measuring vocabulary of §11: `[metrics]` settings and goals, read from `config.toml`.

`config.py` calls the readers here with its problem collector, so every problem still names
its key path. A goal's date in the past is a problem only against a `today`, which `check`
gives (reading config never reads the clock).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .timeutil import DURATION_HINT, parse_duration

# Below this many measured airings per tag, `--compare` says "not enough airings to tell":
# with fewer than 5 a side no permutation split can reach p < 0.05 reliably.
MIN_COMPARE_N = 5

AddProblem = Callable[[str, str], None]

GOAL_KINDS = ("followers", "engagement_per_airing", "replies_answered")
_TARGET_KEYS = {"target", "by"}
_ANSWER_KEYS = {"share", "within"}
_METRICS_KEYS = {"read_after", "followers_every", "weights"}
WEIGHT_KEYS = ("likes", "shares", "replies")


@dataclass(frozen=True)
class Counts:
    """One reading of an airing's counts, as a platform or an import gives them."""

    likes: int
    shares: int  # reblogs / reposts, Bluesky's quotes included (a quote is a share with words)
    replies: int
    quotes: int = 0  # of `shares`, kept apart so nothing measured is lost


def count_or_none(value: Any) -> int | None:
    """A count from a platform's answer: a whole number 0 or more, else None (untrusted)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**12:
        return None
    return value


@dataclass(frozen=True)
class Weights:
    likes: float = 1
    shares: float = 2
    replies: float = 3

    def engagement(self, likes: int, shares: int, replies: int) -> float:
        return self.likes * likes + self.shares * shares + self.replies * replies


@dataclass(frozen=True)
class MetricsSettings:
    read_after: tuple[timedelta, ...] = (
        timedelta(hours=1),
        timedelta(hours=24),
        timedelta(days=7),
    )
    followers_every: timedelta = timedelta(hours=24)
    weights: Weights = Weights()


@dataclass(frozen=True)
class TargetGoal:
    """`followers` or `engagement_per_airing`: reach `target` by the date `by`."""

    target: float
    by: date
    path: str  # where it was configured, for `check`'s messages


@dataclass(frozen=True)
class AnswerGoal:
    """`replies_answered`: answer `share` (0..1) of inbox items within `within`."""

    share: float
    within: timedelta
    path: str  # where it was configured: its level decides whether it sets `response_time`


@dataclass(frozen=True)
class Goals:
    followers: TargetGoal | None = None
    engagement_per_airing: TargetGoal | None = None
    replies_answered: AnswerGoal | None = None

    def dated(self) -> list[tuple[str, TargetGoal]]:
        found = [
            ("followers", self.followers),
            ("engagement_per_airing", self.engagement_per_airing),
        ]
        return [(name, goal) for name, goal in found if goal is not None]


def read_metrics(table: Mapping[str, Any], add: AddProblem) -> MetricsSettings:
    plain = MetricsSettings()
    for key in sorted(set(table) - _METRICS_KEYS):
        add(f"metrics.{key}", f"unknown key; accepted keys: {', '.join(sorted(_METRICS_KEYS))}")
    read_after = plain.read_after
    if "read_after" in table:
        value = table["read_after"]
        if not isinstance(value, list) or not value:
            add("metrics.read_after", 'must be a non-empty list such as ["1h", "24h", "7d"]')
        else:
            parsed = [
                _duration(item, f"metrics.read_after[{i}]", add) for i, item in enumerate(value)
            ]
            if all(step is not None for step in parsed):
                steps = tuple(step for step in parsed if step is not None)
                if list(steps) != sorted(set(steps)) or steps[0] <= timedelta(0):
                    add("metrics.read_after", "must be longer than zero and strictly increasing")
                else:
                    read_after = steps
    followers_every = plain.followers_every
    if "followers_every" in table:
        parsed_every = _duration(table["followers_every"], "metrics.followers_every", add)
        if parsed_every is not None:
            followers_every = parsed_every
    return MetricsSettings(
        read_after=read_after,
        followers_every=followers_every,
        weights=_weights(table.get("weights"), add),
    )


def _weights(value: Any, add: AddProblem) -> Weights:
    if value is None:
        return Weights()
    path = "metrics.weights"
    if not isinstance(value, Mapping):
        add(path, "must be a table such as { likes = 1, shares = 2, replies = 3 }")
        return Weights()
    for key in sorted(set(value) - set(WEIGHT_KEYS)):
        add(f"{path}.{key}", f"unknown key; accepted keys: {', '.join(WEIGHT_KEYS)}")
    fields = {}
    for key in WEIGHT_KEYS:
        if key in value:
            weight = _number(value[key])
            if weight is None or weight < 0:
                add(f"{path}.{key}", f"{value[key]!r} must be a number, 0 or more")
            else:
                fields[key] = weight
    return Weights(**fields)


def read_goals(defaults: Any, override: Any, channel_path: str, add: AddProblem) -> Goals:
    """Goals merge goal by goal: a channel may set one goal and inherit the others."""
    merged: dict[str, tuple[Any, str]] = {}
    for value, path in ((defaults, "defaults.goals"), (override, f"{channel_path}.goals")):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            add(path, "must be a table such as { followers = { target = 5000, by = 2027-03-31 } }")
            continue
        for key in sorted(set(value) - set(GOAL_KINDS)):
            add(f"{path}.{key}", f"unknown goal; accepted goals: {', '.join(GOAL_KINDS)}")
        merged.update(
            {key: (item, f"{path}.{key}") for key, item in value.items() if key in GOAL_KINDS}
        )
    goals: dict[str, Any] = {}
    for key in ("followers", "engagement_per_airing"):
        if key in merged:
            goals[key] = _target_goal(*merged[key], add)
    if "replies_answered" in merged:
        goals["replies_answered"] = _answer_goal(*merged["replies_answered"], add)
    return Goals(**goals)


def _goal_table(value: Any, path: str, example: str, accepted: set[str], add: AddProblem) -> bool:
    """Is the goal a table? Its unknown keys are reported either way."""
    if not isinstance(value, Mapping):
        add(path, f"must be a table such as {example}")
        return False
    for key in sorted(set(value) - accepted):
        add(f"{path}.{key}", f"unknown key; accepted keys: {', '.join(sorted(accepted))}")
    return True


def _target_goal(value: Any, path: str, add: AddProblem) -> TargetGoal | None:
    if not _goal_table(value, path, '{ target = 5000, by = "2027-03-31" }', _TARGET_KEYS, add):
        return None
    target = _number(value.get("target"))
    if target is None or target <= 0:
        add(f"{path}.target", f"{value.get('target')!r} must be a number above 0")
    by = _date(value.get("by"))
    if by is None:
        add(f"{path}.by", f"{value.get('by')!r} must be a date such as 2027-03-31")
    if target is None or target <= 0 or by is None:
        return None
    return TargetGoal(target=target, by=by, path=path)


def _answer_goal(value: Any, path: str, add: AddProblem) -> AnswerGoal | None:
    if not _goal_table(value, path, '{ share = "90%", within = "2h" }', _ANSWER_KEYS, add):
        return None
    share = _share(value.get("share"))
    if share is None:
        add(
            f"{path}.share",
            f'{value.get("share")!r} must be a percentage from 0% to 100%, e.g. "90%"',
        )
    within = None
    if "within" not in value:
        add(f"{path}.within", 'missing; give how long an answer may take, e.g. "2h"')
    else:
        within = _duration(value["within"], f"{path}.within", add)
    if share is None or within is None:
        return None
    return AnswerGoal(share=share, within=within, path=path)


def past_goal_problems(goals: Goals, today: date) -> list[tuple[str, str]]:
    """(key path, reason) for each dated goal whose date has passed: `check` refuses them."""
    return [
        (f"{goal.path}.by", f"{goal.by.isoformat()} is in the past (today is {today.isoformat()})")
        for _, goal in goals.dated()
        if goal.by < today
    ]


def _duration(value: Any, path: str, add: AddProblem) -> timedelta | None:
    try:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not {DURATION_HINT}")
        parsed = parse_duration(value)
    except ValueError as exc:
        add(path, str(exc))
        return None
    if parsed <= timedelta(0):
        add(path, f"must be longer than zero, got {value!r}")
        return None
    return parsed


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):  # a date and time is not a goal's date
        return None
    if isinstance(value, date):  # TOML's own date literal
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _share(value: Any) -> float | None:
    """`"90%"`, or a plain number 0..100 read as a percentage."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number: float | None
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = None
    else:
        number = _number(value)
    if number is None or not math.isfinite(number) or not 0 <= number <= 100:
        return None
    return number / 100
