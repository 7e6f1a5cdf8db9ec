"""Pure statistics of §11: engagement, repost scores, the permutation test, goal pace.

Nothing here reads a clock or a database: callers pass the measured airings and `now`.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain import InboxStatus
from ..measuring import MIN_COMPARE_N

DAY_SECONDS = 86_400.0
PERMUTATION_ROUNDS = 2_000  # p to within about ±0.01 near 0.05
MAX_TESTED_PER_ARM = 500
PERMUTATION_SEED = 16
# A goal whose needed pace is over this many times the current trend is "unrealistic".
UNREALISTIC_FACTOR = 3.0


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def repost_scores(
    engagements: Iterable[tuple[int, str, float]],
) -> dict[tuple[int, str], float]:
    """A post's score on a channel: the mean engagement of its airings there over the
    channel's median engagement (§11). A channel whose median is 0 divides by 1 instead, so
    a post with any engagement still ranks above one with none."""
    by_channel: dict[str, list[float]] = defaultdict(list)
    by_post: dict[tuple[int, str], list[float]] = defaultdict(list)
    for post_id, channel, value in engagements:
        by_channel[channel].append(value)
        by_post[(post_id, channel)].append(value)
    medians = {channel: statistics.median(values) for channel, values in by_channel.items()}
    return {
        key: statistics.fmean(values) / (medians[key[1]] or 1.0) for key, values in by_post.items()
    }


@dataclass(frozen=True)
class Comparison:
    n: tuple[int, int]
    median: tuple[float | None, float | None]
    mean: tuple[float | None, float | None]
    p_value: float | None  # None when either side has fewer than MIN_COMPARE_N
    verdict: str


def compare(a: Sequence[float], b: Sequence[float], *, seed: int = PERMUTATION_SEED) -> Comparison:
    """Two-sided permutation test of the difference of means, seeded so a report is stable."""
    n = (len(a), len(b))
    medians = (median(a), median(b))
    means = (statistics.fmean(a) if a else None, statistics.fmean(b) if b else None)
    if min(n) < MIN_COMPARE_N:
        return Comparison(
            n, medians, means, None, f"not enough airings to tell (at least {MIN_COMPARE_N} each)"
        )
    rng = random.Random(seed)
    # Large arms are tested on a seeded random sample of each: the test stays valid (a
    # random sample is exchangeable too) and a year of airings is judged in well under 1 s.
    a = a if len(a) <= MAX_TESTED_PER_ARM else rng.sample(list(a), MAX_TESTED_PER_ARM)
    b = b if len(b) <= MAX_TESTED_PER_ARM else rng.sample(list(b), MAX_TESTED_PER_ARM)
    observed = abs(statistics.fmean(a) - statistics.fmean(b))
    pooled = [*a, *b]
    total = sum(pooled)
    first_n, second_n = len(a), len(b)
    at_least = 0
    for _ in range(PERMUTATION_ROUNDS):
        first = sum(rng.sample(pooled, first_n))  # a random relabelling of the pooled values
        if abs(first / first_n - (total - first) / second_n) >= observed - 1e-12:
            at_least += 1
    p = (at_least + 1) / (PERMUTATION_ROUNDS + 1)
    if p < 0.05:
        verdict = "the difference is more than noise (p < 0.05)"
    else:
        verdict = "no clear difference: it may be noise"
    return Comparison(n, medians, means, p, verdict)


@dataclass(frozen=True)
class GoalPace:
    name: str
    target: float
    by: datetime
    value: float | None  # now
    trend_per_day: float | None  # the current trend (least squares over the history)
    needed_per_day: float | None  # the pace that reaches the target on its date
    projected: float | None  # the value on the goal's date at the current trend
    verdict: str  # on track | behind | unrealistic at the current trend | not measured


def goal_pace(
    name: str,
    target: float,
    by: datetime,
    times: Sequence[float],
    values: Sequence[float],
    *,
    now: datetime,
    value: float | None = None,
) -> GoalPace:
    """How a dated goal stands: its history is `values` at `times` (POSIX seconds), oldest
    first; `value` is the value now when it is not the last one (engagement per airing is a
    mean)."""
    if not values:
        return GoalPace(name, target, by, None, None, None, None, "not measured")
    current = values[-1] if value is None else value
    days_left = max((by - now).total_seconds() / DAY_SECONDS, 0.0)
    trend = _slope(times, values)
    projected = current + trend * days_left
    needed = (target - current) / days_left if days_left > 0 else None
    if current >= target or projected >= target:
        verdict = "on track"
    elif needed is None or trend <= 0 or needed > UNREALISTIC_FACTOR * trend:
        verdict = "unrealistic at the current trend"
    else:
        verdict = "behind"
    return GoalPace(name, target, by, current, trend, needed, projected, verdict)


def _slope(times: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares change per day; 0 with fewer than two distinct times."""
    if len(times) < 2:
        return 0.0
    origin = times[0]
    xs = [(at - origin) / DAY_SECONDS for at in times]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(values)
    spread = sum([(x - mean_x) ** 2 for x in xs])
    if spread == 0:
        return 0.0
    return sum([(x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True)]) / spread


def hour_shift(first_minute: int, later_minute: int) -> int:
    """Whole hours between two local minutes of day on the 24 h circle (0..12)."""
    minutes = (later_minute - first_minute) % 1440
    return round(min(minutes, 1440 - minutes) / 60)


@dataclass(frozen=True)
class AnswerStats:
    """How a channel's inbox was answered over a window (§10, §11)."""

    received: int
    answered: int
    done: int  # closed with `inbox done`: they needed no answer
    open: int
    answered_share: float | None  # answered / (received - done); None when nothing needed one
    median_response_seconds: float | None  # item `at` → its answer's published time
    due: int  # items the replies_answered goal judges (see `answer_stats`)
    answered_within: int  # of `due`, answered within `within`
    within_share: float | None  # answered_within / due; None when nothing is due yet


def answer_stats(
    items: Iterable[tuple[datetime, str, datetime | None]],
    *,
    within: timedelta,
    now: datetime,
) -> AnswerStats:
    """`items` are (arrived, status, answer published) of one channel's items in the window.

    The goal's denominator is the items old enough to be due (arrived more than `within`
    before `now`) plus any younger one already answered (it can only have been answered in
    time): an item that arrived five minutes ago is not yet a miss. Items closed with
    `inbox done` needed no answer and count in neither share."""
    received = answered = done = still_open = due = in_time = 0
    responses: list[float] = []
    for arrived, status, answered_at in items:
        received += 1
        if status == InboxStatus.done:
            done += 1
            continue
        if status == InboxStatus.answered:
            answered += 1
        else:
            still_open += 1
        took = None if answered_at is None else answered_at - arrived
        if took is not None:
            responses.append(max(took.total_seconds(), 0.0))
        if took is not None or arrived + within <= now:
            due += 1
            if took is not None and took <= within:
                in_time += 1
    needing = received - done
    return AnswerStats(
        received=received,
        answered=answered,
        done=done,
        open=still_open,
        answered_share=answered / needing if needing else None,
        median_response_seconds=median(responses),
        due=due,
        answered_within=in_time,
        within_share=in_time / due if due else None,
    )


def answer_verdict(stats: AnswerStats, share: float) -> str:
    """The replies_answered goal against its share: on track, behind, or not measured."""
    if stats.within_share is None:
        return "not measured"
    return "on track" if stats.within_share >= share - 1e-9 else "behind"
