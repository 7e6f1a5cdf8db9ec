"""Measuring (§11) over SQLite and PostgreSQL: snapshots and when they are due, engagement,
scores and the repost order they give, goals and their pace, the permutation test, and the
`metrics import` and `report` commands."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import Config, parse_config
from scheduler.errors import ConfigError
from scheduler.measuring import Counts, Goals, TargetGoal, past_goal_problems
from scheduler.planning.forecast import channel_inputs, measured_scores, plan_all
from scheduler.planning.measures import MIN_COMPARE_N, compare, goal_pace, repost_scores
from scheduler.store.metrics import (
    Snapshot,
    due_reads,
    engagement_counts,
    record_snapshots,
)
from scheduler.store.models import Airing
from scheduler.store.store import PostDraft, Store
from tests.conftest import RunCli, write_config

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
READ_AFTER = (HOUR, 24 * HOUR, 7 * DAY)
SPACING = {"main": timedelta(minutes=30)}


def config_of(text: str) -> Config:
    base = """
    [channels.main]
    publisher = "file"
    path = "out.jsonl"
    """
    return parse_config(tomllib.loads(base + text), Path("/tmp/config.toml"))


def published(
    store: Store,
    now: datetime,
    at: datetime,
    *,
    kind: str = "core",
    post_id: int | None = None,
    score: float | None = None,
    tags: tuple[str, ...] = (),
) -> tuple[int, int]:
    """(post id, airing id) of an airing published at `at` (a new post unless given one)."""
    if post_id is None:
        draft = PostDraft(
            body="hello", kind="core", channels=("main",), editor="sara", score=score, tags=tags
        )
        (post_id,) = store.add_posts([draft], now=now - 30 * DAY, spacing=SPACING)
    with store.session(write=True) as session:
        airing = Airing(
            post_id=post_id,
            channel="main",
            kind=kind,
            at=at,
            status="published",
            published_at=at,
            remote_id=f"remote-{post_id}-{int(at.timestamp())}",
            remote_url=f"https://social.example/@us/{post_id}{int(at.timestamp())}",
            updated=at,
        )
        session.add(airing)
        session.flush()
        assert airing.id is not None
        return post_id, airing.id


def snap(
    airing_id: int, at: datetime, likes: int = 0, shares: int = 0, replies: int = 0
) -> Snapshot:
    return Snapshot(airing_id, at, Counts(likes, shares, replies), step=None, source="import")


# --- snapshots and when reads are due -------------------------------------------------------


def test_reads_are_due_1h_24h_and_7d_after_airing_and_each_only_once(
    store: Store, now: datetime
) -> None:
    aired = now - 10 * DAY
    _, airing_id = published(store, now, aired)

    def due_at(moment: datetime) -> list[int]:
        return [read.step for read in due_reads(store, ["main"], READ_AFTER, now=moment)]

    assert due_at(aired + 59 * timedelta(minutes=1)) == []
    assert due_at(aired + HOUR) == [0]
    record_snapshots(store, [Snapshot(airing_id, aired + HOUR, Counts(3, 1, 0), 0, "platform")])
    assert due_at(aired + 2 * HOUR) == []
    assert due_at(aired + 24 * HOUR) == [1]
    record_snapshots(store, [Snapshot(airing_id, aired + DAY, Counts(5, 2, 1), 1, "platform")])
    assert due_at(aired + 6 * DAY) == []
    assert due_at(aired + 7 * DAY) == [2]
    record_snapshots(store, [Snapshot(airing_id, aired + 7 * DAY, Counts(9, 3, 2), 2, "platform")])
    assert due_at(aired + 8 * DAY) == []
    assert due_reads(store, ["other"], READ_AFTER, now=aired + DAY) == []


def test_after_downtime_only_the_latest_step_reached_is_read(store: Store, now: datetime) -> None:
    aired = now - 10 * DAY
    published(store, now, aired)
    assert [r.step for r in due_reads(store, ["main"], READ_AFTER, now=aired + 3 * DAY)] == [1]


def test_engagement_reads_the_latest_snapshot_up_to_24h(store: Store, now: datetime) -> None:
    aired = now - 10 * DAY
    _, airing_id = published(store, now, aired)
    record_snapshots(
        store,
        [
            snap(airing_id, aired + HOUR, likes=1),
            snap(airing_id, aired + DAY + 10 * timedelta(minutes=1), likes=4, shares=1, replies=2),
            snap(airing_id, aired + 7 * DAY, likes=50),  # after 24 h: kept, not engagement
        ],
    )
    assert engagement_counts(store) == {airing_id: Counts(4, 1, 2)}
    weights = config_of("").metrics.weights
    assert weights.engagement(4, 1, 2) == 4 + 2 * 1 + 3 * 2


def test_weights_come_from_metrics() -> None:
    config = config_of("[metrics]\nweights = { likes = 1, shares = 5, replies = 0 }\n")
    assert config.metrics.weights.engagement(2, 3, 7) == 2 + 15


# --- scores and the repost order --------------------------------------------------------------


def test_score_is_mean_engagement_over_the_channel_median() -> None:
    scores = repost_scores([(1, "main", 2.0), (1, "main", 4.0), (2, "main", 9.0), (3, "main", 4.0)])
    # channel median of 2, 4, 9, 4 is 4; post 1's mean is 3
    assert scores == {(1, "main"): 0.75, (2, "main"): 2.25, (3, "main"): 1.0}
    assert repost_scores([(1, "x", 0.0), (2, "x", 3.0), (3, "x", 0.0)])[(2, "x")] == 3.0


def test_reposts_go_best_score_first_and_a_hand_set_score_wins(store: Store, now: datetime) -> None:
    config = config_of(
        """
        cadence = "1h"
        mix = { core = 0, entertaining = 0, repost = 100 }
        repost = { max_per_day = 1, min_interval = "1h", hour_shift = "1h", max_airings = 3 }
        """
    )
    day_before = datetime(2026, 11, 22, tzinfo=UTC)
    first, a1 = published(store, now, day_before)  # engagement 2 (2 likes): score 2/4 = 0.5
    second, a2 = published(store, now, day_before + HOUR)  # 9 (3 replies): score 2.25
    third, a3 = published(store, now, day_before + 2 * HOUR, score=5.0)  # 4 (2 shares), hand 5
    record_snapshots(
        store,
        [
            snap(a1, day_before + HOUR, likes=2),
            snap(a2, day_before + 2 * HOUR, replies=3),
            snap(a3, day_before + 3 * HOUR, shares=2),
        ],
    )

    def reposts(scores: dict[tuple[int, str], float] | None) -> list[int]:
        posts, airings = store.planning_rows()
        inputs = channel_inputs(posts, airings, config, now=now, scores=scores)
        plans = plan_all(inputs, start=now, end=now + 3 * HOUR)
        return [airing.post_id for airing in plans["main"].new]

    # Without measured scores only the hand-set one counts: #3, then the oldest (#1, #2).
    assert reposts(None) == [third, first, second]
    # Measured: #3 by hand (5.0) first, then #2 (2.25) before #1 (0.5).
    assert reposts(measured_scores(store, config)) == [third, second, first]


# --- goals ------------------------------------------------------------------------------------


GOAL_NOW = datetime(2026, 11, 23, tzinfo=UTC)
GOAL_BY = GOAL_NOW + 10 * DAY


def followers_rising(per_day: float) -> tuple[list[float], list[float]]:
    """Eleven daily follower counts up to GOAL_NOW: their times and values."""
    days = range(11)
    return [(GOAL_NOW - (10 - day) * DAY).timestamp() for day in days], [
        1000 + per_day * day for day in days
    ]


def test_goal_on_track_when_the_trend_reaches_the_target() -> None:
    pace = goal_pace("followers", 1200, GOAL_BY, *followers_rising(20), now=GOAL_NOW)
    assert pace.value == 1200 - 0  # 1000 + 20 × 10
    assert pace.verdict == "on track"
    pace = goal_pace("followers", 1350, GOAL_BY, *followers_rising(20), now=GOAL_NOW)
    assert pace.projected == pytest.approx(1400)
    assert pace.verdict == "on track"


def test_goal_behind_when_the_needed_pace_is_within_reach() -> None:
    pace = goal_pace("followers", 1500, GOAL_BY, *followers_rising(20), now=GOAL_NOW)
    assert pace.needed_per_day == pytest.approx(30)
    assert pace.trend_per_day == pytest.approx(20)
    assert pace.verdict == "behind"


def test_goal_unrealistic_when_it_needs_over_three_times_the_trend() -> None:
    pace = goal_pace("followers", 2000, GOAL_BY, *followers_rising(20), now=GOAL_NOW)
    assert pace.needed_per_day == pytest.approx(80)
    assert pace.verdict == "unrealistic at the current trend"
    flat = goal_pace("followers", 1001, GOAL_BY, *followers_rising(0), now=GOAL_NOW)
    assert flat.verdict == "unrealistic at the current trend"


def test_goal_without_data_is_not_measured() -> None:
    assert goal_pace("followers", 10, GOAL_BY, [], [], now=GOAL_NOW).verdict == "not measured"


def test_goals_are_read_merged_and_validated() -> None:
    config = config_of(
        """
        [defaults.goals]
        followers = { target = 5000, by = 2027-03-31 }
        replies_answered = { share = "90%", within = "2h" }
        [channels.main.goals]
        engagement_per_airing = { target = 12, by = "2027-02-28" }
        """
    )
    goals = config.channels["main"].goals
    assert goals.followers == TargetGoal(5000, date(2027, 3, 31), "defaults.goals.followers")
    assert goals.engagement_per_airing is not None
    assert goals.engagement_per_airing.target == 12
    assert goals.replies_answered is not None
    assert (goals.replies_answered.share, goals.replies_answered.within) == (0.9, 2 * HOUR)
    with pytest.raises(ConfigError) as refused:
        config_of(
            """
            [channels.main.goals]
            likes = { target = 5 }
            replies_answered = { share = "120%", within = "2h" }
            """
        )
    assert refused.value.problems == [
        "/tmp/config.toml: channels.main.goals.likes: unknown goal; accepted goals: "
        "followers, engagement_per_airing, replies_answered",
        "/tmp/config.toml: channels.main.goals.replies_answered.share: '120%' must be a "
        'percentage from 0% to 100%, e.g. "90%"',
    ]


def test_a_goal_date_in_the_past_is_refused_by_check(tmp_path: Path, invoke: RunCli) -> None:
    goal = TargetGoal(10, date(2020, 1, 1), "channels.main.goals.followers")
    assert past_goal_problems(Goals(followers=goal), date(2026, 1, 1)) == [
        ("channels.main.goals.followers.by", "2020-01-01 is in the past (today is 2026-01-01)")
    ]
    config = write_config(
        tmp_path, "\n[channels.main.goals]\nfollowers = { target = 10, by = 2020-01-01 }\n"
    )
    result = invoke("check", config=config)
    assert result.returncode == 1
    assert "channels.main.goals.followers.by: 2020-01-01 is in the past" in result.stderr


# --- the permutation test --------------------------------------------------------------------


def test_compare_finds_a_clear_difference() -> None:
    result = compare([10, 12, 11, 13, 12, 11, 10, 12], [1, 2, 1, 3, 2, 1, 2, 1])
    assert result.n == (8, 8)
    assert result.p_value is not None and result.p_value < 0.01
    assert result.verdict == "the difference is more than noise (p < 0.05)"


def test_compare_finds_none_where_there_is_none() -> None:
    same = [3, 7, 5, 4, 6, 5, 3, 7]
    result = compare(same, list(reversed(same)))
    assert result.p_value is not None and result.p_value > 0.9
    assert result.verdict == "no clear difference: it may be noise"
    assert compare(same, same).p_value == result.p_value  # seeded: the same answer each time


def test_compare_below_the_minimum_says_so() -> None:
    result = compare([1.0] * (MIN_COMPARE_N - 1), [5.0] * 20)
    assert result.p_value is None
    assert result.verdict.startswith("not enough airings to tell")


# --- the commands ------------------------------------------------------------------------------


def test_metrics_import_is_all_or_nothing(tmp_path: Path, invoke: RunCli) -> None:
    config = write_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    store.migrate()
    real_now = datetime.now(UTC)
    _, airing_id = published(store, real_now, real_now - 2 * DAY)
    url = f"https://social.example/@us/1{int((real_now - 2 * DAY).timestamp())}"
    aired = real_now - 2 * DAY
    good = tmp_path / "counts.csv"
    bad = tmp_path / "bad.csv"
    rows = [
        "airing,url,at,likes,shares,replies",
        f"{airing_id},,{(aired + HOUR).isoformat()},3,1,0",
        f",{url},{(aired + DAY).isoformat()},5,2,1",
    ]
    bad.write_text("\n".join([*rows, f"{airing_id},,{aired.isoformat()},many,0,0"]) + "\n")
    refused = invoke("metrics", "import", str(bad), config=config)
    assert refused.returncode == 1
    assert "nothing was imported: bad.csv: row 3: likes 'many' must be a whole number" in (
        refused.stderr
    )
    assert engagement_counts(store) == {}
    good.write_text("\n".join(rows) + "\n")
    accepted = invoke("metrics", "import", str(good), config=config)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == "imported 2 snapshots"
    assert engagement_counts(store) == {airing_id: Counts(5, 2, 1)}
    store.close()


def test_report_json_by_kind_hour_tag_and_compare(tmp_path: Path, invoke: RunCli) -> None:
    config = write_config(
        tmp_path, "\n[channels.main.goals]\nfollowers = { target = 10, by = 2099-01-01 }\n"
    )
    store = Store(f"sqlite:///{tmp_path / 'scheduler.db'}")
    store.migrate()
    real_now = datetime.now(UTC)
    start = (real_now - 5 * DAY).replace(hour=8, minute=0, second=0, microsecond=0)
    snapshots = []
    for index in range(6):
        for tag, likes in (("long", 10 + index), ("short", 1 + index % 2)):
            post_id, airing_id = published(store, real_now, start + index * 4 * HOUR, tags=(tag,))
            snapshots.append(snap(airing_id, start + index * 4 * HOUR + HOUR, likes=likes))
            if tag == "long":
                rerun_at = start + index * 4 * HOUR + DAY + 3 * HOUR
                _, rerun = published(store, real_now, rerun_at, kind="repost", post_id=post_id)
                snapshots.append(snap(rerun, rerun_at + HOUR, likes=2))
    record_snapshots(store, snapshots)
    store.close()
    result = invoke(
        "report", "--days", "7", "--compare", "long", "short", "--format", "json", config=config
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    main = report["channels"]["main"]
    assert main["airings"] == 18
    assert main["by_kind"]["repost"] == {"airings": 6, "median": 2, "total": 12}
    assert main["by_tag"]["long"]["airings"] == 12
    assert main["reruns"] == {"3": {"reruns": 6, "median": 2, "first_median": 12.5}}
    assert main["top"][0]["engagement"] == 15
    assert report["compare"]["n"] == [12, 6]
    assert report["compare"]["verdict"] == "the difference is more than noise (p < 0.05)"
    assert main["goals"][0]["verdict"] == "not measured"
    text = invoke("report", "--days", "7", config=config)
    assert text.returncode == 0, text.stderr
    assert "reruns against first airings, by hour shift:" in text.stdout


def test_simulate_shows_the_reposts_the_score_chose(store: Store, now: datetime) -> None:
    from scheduler.planning.forecast import simulate

    config = config_of(
        """
        cadence = "1h"
        mix = { core = 0, entertaining = 0, repost = 100 }
        repost = { max_per_day = 1, min_interval = "1h", hour_shift = "1h", max_airings = 3 }
        """
    )
    day_before = datetime(2026, 11, 22, tzinfo=UTC)
    low, a1 = published(store, now, day_before)
    high, a2 = published(store, now, day_before + HOUR, score=4.0)
    record_snapshots(store, [snap(a1, day_before + HOUR, likes=2)])
    result = simulate(config, store, start=now, days=1, channel=None)
    chosen = result["channels"]["main"]["reposts_by_score"]
    assert [(r["post_id"], r["score"], r["by_hand"]) for r in chosen[:2]] == [
        (high, 4.0, True),
        (low, 1.0, False),  # its 2 over the channel's median of 2
    ]


def test_status_names_goals_that_are_behind(store: Store, now: datetime) -> None:
    from scheduler.queries.status import status_report
    from scheduler.render.status import status_text
    from scheduler.store.metrics import record_followers

    config = config_of(
        """
        [channels.main.goals]
        followers = { target = 1300, by = "2026-12-23" }
        """
    )
    for day in range(10):  # +5 a day; the goal needs 10 a day
        record_followers(store, "main", 1000 + 5 * day, at=now - (9 - day) * DAY)
    report = status_report(config, store.view(), now=now)
    assert report["channels"]["main"]["goals_behind"] == ["followers behind"]
    assert "goals behind:     followers behind" in status_text(report, config)
