"""Worked examples of the scheduling rules (DESIGN §3) that a reader can check by hand.

Calendars are written the way an editor reads them, in the channel's local time:
"Mon 06:00 core #1" is post 1 airing fresh as a core post on Monday at 06:00.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.config import ChannelSettings, Mix, QuietWindow, RepostRules
from scheduler.planning.audit import audit_channel
from scheduler.planning.planner import (
    ChannelPlan,
    Gap,
    PlanAiring,
    PlanPost,
    gap_has_free_slot,
    plan_channel,
    slots,
)
from scheduler.platforms.file import SPEC as FILE

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def channel(**rules: object) -> ChannelSettings:
    settings: dict[str, object] = {"name": "main", "platform": FILE, "timezone": BERLIN}
    settings.update(rules)
    return ChannelSettings(**settings)  # type: ignore[arg-type]


def local(tz: ZoneInfo, text: str) -> datetime:
    """A wall-clock time in `tz` ("2026-06-15 06:00") as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


def posts(kind: str, *ids: int, **fields: object) -> list[PlanPost]:
    """Posts created one minute apart in id order, so first in, first out is by id."""
    return [
        PlanPost(post_id, kind, LONG_AGO + post_id * MINUTE, None, **fields)  # type: ignore[arg-type]
        for post_id in ids
    ]


def calendar(plan: ChannelPlan, tz: ZoneInfo) -> list[str]:
    return [f"{a.at.astimezone(tz):%a %H:%M} {a.kind} #{a.post_id}" for a in plan.airings]


def wall_times(tz: ZoneInfo, times: list[datetime]) -> list[str]:
    return [f"{t.astimezone(tz):%H:%M%z}" for t in times]


# --- one week, spelled out ----------------------------------------------------------------

WEEK = channel(
    cadence=4 * HOUR,
    slot_offset=2 * HOUR,  # slots at 02, 06, 10, 14, 18, 22 …
    quiet_hours=(QuietWindow(22 * 60, 6 * 60),),  # … of which 22:00 and 02:00 are quiet
    max_gap=12 * HOUR,
    mix=Mix(core=50, entertaining=25, repost=25),
    repost=RepostRules(max_per_day=1, min_interval=DAY, hour_shift=4 * HOUR, max_airings=2),
)
WEEK_POSTS = posts("core", 1, 2, 3, 4, 5, 6, 7, 8) + posts("entertaining", 9, 10, 11, 12)
MONDAY = local(BERLIN, "2026-06-15 00:00")


def test_a_week_on_one_channel() -> None:
    """Four slots a day. Each day starts on core (largest deficit, ties go to core), then
    entertaining, then a repost at 14:00 once one is 24h old and 4h away in time of day.
    Fresh content is gone after Thursday 10:00; from then on reposts fill every slot, each
    time the eligible post with the fewest airings and the oldest latest airing."""
    plan = plan_channel(WEEK, WEEK_POSTS, [], MONDAY, MONDAY + 7 * DAY)

    assert calendar(plan, BERLIN) == [
        "Mon 06:00 core #1",
        "Mon 10:00 entertaining #9",
        "Mon 14:00 core #2",  # repost is due by the mix, but #1 aired only 8h ago
        "Mon 18:00 core #3",
        "Tue 06:00 core #4",
        "Tue 10:00 entertaining #10",
        "Tue 14:00 repost #1",  # #1 (Mon 06:00) and #9 (Mon 10:00) qualify; #1 is older
        "Tue 18:00 core #5",
        "Wed 06:00 core #6",
        "Wed 10:00 entertaining #11",
        "Wed 14:00 repost #9",  # #1 aired at 14:00 yesterday: too close in time of day
        "Wed 18:00 core #7",
        "Thu 06:00 core #8",
        "Thu 10:00 entertaining #12",  # the last fresh post
        "Thu 14:00 repost #3",
        "Thu 18:00 repost #2",
        "Fri 06:00 repost #10",
        "Fri 10:00 repost #4",
        "Fri 14:00 repost #5",
        "Fri 18:00 repost #6",
        "Sat 06:00 repost #11",
        "Sat 10:00 repost #7",
        "Sat 14:00 repost #8",
        "Sat 18:00 repost #12",
        "Sun 06:00 repost #9",  # everything has aired twice now: oldest latest airing first
        "Sun 10:00 repost #1",
        "Sun 14:00 repost #10",
        "Sun 18:00 repost #4",
    ]
    assert plan.fresh_runs_out == local(BERLIN, "2026-06-18 14:00")
    assert plan.gaps == ()  # 18:00 to 06:00 is exactly max_gap, which is allowed
    assert plan.new == plan.airings
    assert audit_channel(WEEK, WEEK_POSTS, plan.airings, MONDAY, MONDAY + 7 * DAY, plan.gaps) == []


# --- the grid: daylight saving and quiet hours (rules 1, 9) -------------------------------


def test_berlin_spring_forward_has_no_0200_slot() -> None:
    day = local(BERLIN, "2026-03-29 00:00")
    grid = list(slots(channel(), day, day + 4 * HOUR))
    assert wall_times(BERLIN, grid) == [
        "00:00+0100",
        "01:00+0100",
        "03:00+0200",  # 02:00 never happens that night
        "04:00+0200",
    ]


def test_berlin_fall_back_has_one_0200_slot() -> None:
    day = local(BERLIN, "2026-10-25 00:00")
    grid = list(slots(channel(cadence=30 * MINUTE), day, day + 5 * HOUR))
    assert wall_times(BERLIN, grid) == [
        "00:00+0200",
        "00:30+0200",
        "01:00+0200",
        "01:30+0200",
        "02:00+0200",  # the first 02:00 and 02:30 only; the repeated hour has no slots
        "02:30+0200",
        "03:00+0100",
        "03:30+0100",
    ]
    assert grid[6] - grid[5] == 90 * timedelta(minutes=1)


def test_new_york_days_around_both_changes() -> None:
    hourly = channel(timezone=NEW_YORK)
    spring = local(NEW_YORK, "2026-03-08 00:00")
    fall = local(NEW_YORK, "2026-11-01 00:00")
    assert len(list(slots(hourly, spring, spring + 23 * HOUR))) == 23  # a 23-hour day
    assert len(list(slots(hourly, fall, fall + 25 * HOUR))) == 24  # a 25-hour day, 24 slots
    assert wall_times(NEW_YORK, list(slots(hourly, fall, fall + 3 * HOUR))) == [
        "00:00-0400",
        "01:00-0400",  # 01:00 comes twice that night; only the first has a slot
    ]


def test_quiet_hours_across_midnight_have_no_slots() -> None:
    quiet = channel(quiet_hours=(QuietWindow(23 * 60, 7 * 60),), max_gap=9 * HOUR)
    day = local(BERLIN, "2026-06-15 00:00")
    grid = wall_times(BERLIN, list(slots(quiet, day, day + DAY)))
    assert grid == [f"{hour:02d}:00+0200" for hour in range(7, 23)]


def test_a_plan_across_a_dst_change_fills_the_real_slots() -> None:
    day = local(NEW_YORK, "2026-03-08 00:00")
    hourly = channel(timezone=NEW_YORK, mix=Mix(1, 0, 0))
    plan = plan_channel(hourly, posts("core", *range(1, 31)), [], day, day + 4 * HOUR)
    assert calendar(plan, NEW_YORK) == [
        "Sun 00:00 core #1",
        "Sun 01:00 core #2",
        "Sun 03:00 core #3",  # 02:00 is skipped by the clock, so no slot and no airing
        "Sun 04:00 core #4",
    ]


# --- spacing and stability (rules 2, 8) ---------------------------------------------------


def test_slots_too_close_to_a_pinned_airing_stay_empty() -> None:
    day = local(BERLIN, "2026-06-15 09:00")
    spaced = channel(min_spacing=30 * MINUTE, mix=Mix(1, 0, 0))
    pinned = PlanPost(100, "core", LONG_AGO, None, pinned=True)
    fixed = [PlanAiring(100, "core", local(BERLIN, "2026-06-15 10:20"), pinned=True, airing_id=7)]
    plan = plan_channel(spaced, [pinned, *posts("core", 1, 2, 3)], fixed, day, day + 3 * HOUR)
    assert calendar(plan, BERLIN) == [
        "Mon 09:00 core #1",
        "Mon 10:20 core #100",  # pinned; 10:00 is 20 minutes away, so that slot stays empty
        "Mon 11:00 core #2",  # 40 minutes away: fine
    ]


def test_spacing_holds_when_the_clock_springs_forward() -> None:
    """00:00 and 04:00 are four hours apart on the wall but three in real time that night."""
    four_hourly = channel(
        cadence=4 * HOUR, min_spacing=4 * HOUR, max_gap=12 * HOUR, mix=Mix(1, 0, 0)
    )
    night = local(BERLIN, "2026-03-29 00:00")
    plan = plan_channel(four_hourly, posts("core", 1, 2, 3), [], night, night + 9 * HOUR)
    assert calendar(plan, BERLIN) == ["Sun 00:00 core #1", "Sun 08:00 core #2"]


def test_fixed_airings_never_move() -> None:
    """Published history, a pinned post and an airing inside the freeze window come back
    exactly as given, off the grid or not; new airings fit around them."""
    day = local(BERLIN, "2026-06-15 09:00")
    fixed = [
        PlanAiring(1, "core", day - 2 * HOUR, airing_id=1, status="published"),
        PlanAiring(2, "core", day + 5 * MINUTE, airing_id=2, status="publishing"),
        PlanAiring(3, "entertaining", day + 150 * MINUTE, airing_id=3, pinned=True),
    ]
    library = [*posts("core", 1, 2, 4, 5), *posts("entertaining", 3, pinned=True)]
    plan = plan_channel(channel(), library, fixed, day, day + 4 * HOUR)
    assert [a for a in plan.airings if a.airing_id is not None] == fixed[1:]
    assert calendar(plan, BERLIN) == [
        "Mon 09:05 core #2",  # the 09:00 slot is 5 minutes from it: empty
        "Mon 10:00 core #4",
        "Mon 11:00 repost #1",  # 30 minutes before the pinned 11:30: exactly min_spacing
        "Mon 11:30 entertaining #3",
        "Mon 12:00 core #5",
    ]


# --- fill, mix and FIFO (rule 4) ----------------------------------------------------------


def test_fresh_posts_go_first_in_first_out() -> None:
    created = LONG_AGO
    library = [
        PlanPost(5, "core", created + HOUR, None),
        PlanPost(9, "core", created, None),
        PlanPost(3, "core", created + HOUR, None),  # same time as #5: lower id first
        PlanPost(1, "core", created + 2 * HOUR, None),
    ]
    day = local(BERLIN, "2026-06-15 09:00")
    plan = plan_channel(channel(mix=Mix(1, 0, 0)), library, [], day, day + 4 * HOUR)
    assert [a.post_id for a in plan.airings] == [9, 3, 5, 1]


def test_mix_counts_follow_the_shares_through_the_day() -> None:
    """With every kind available all day, 24 hourly slots at 60/25/15 split 14/6/4, and at
    every point of the day each count is within 1 of its share of the airings so far."""
    day = local(BERLIN, "2026-06-15 00:00")
    history = posts("core", *range(1001, 1101))
    fixed = [
        PlanAiring(post.id, "core", day - 3 * DAY - post.id * 17 * MINUTE, airing_id=post.id)
        for post in history
    ]
    library = [*posts("core", *range(1, 40)), *posts("entertaining", *range(40, 80)), *history]
    plan = plan_channel(channel(), library, fixed, day, day + DAY)

    kinds = [airing.kind for airing in plan.new]
    assert len(kinds) == 24
    assert {kind: kinds.count(kind) for kind in ("core", "entertaining", "repost")} == {
        "core": 14,
        "entertaining": 6,
        "repost": 4,
    }
    for count in range(1, 25):
        so_far = kinds[:count]
        assert abs(so_far.count("core") - 0.60 * count) <= 1
        assert abs(so_far.count("entertaining") - 0.25 * count) <= 1
        assert abs(so_far.count("repost") - 0.15 * count) <= 1
    # Deficits share × (n+1) − count at the 6th slot: core 3.6 − 3, entertaining 1.5 − 1.
    assert kinds[:6] == ["core", "entertaining", "core", "repost", "core", "core"]


def test_a_kind_with_weight_zero_never_airs() -> None:
    day = local(BERLIN, "2026-06-15 09:00")
    library = [*posts("core", 1, 2), *posts("entertaining", 3, 4)]
    plan = plan_channel(channel(mix=Mix(1, 0, 1)), library, [], day, day + 6 * HOUR)
    assert {a.post_id for a in plan.airings} == {1, 2}


def test_a_gap_is_reported_when_content_runs_out() -> None:
    day = local(BERLIN, "2026-06-15 09:00")
    short = channel(max_gap=3 * HOUR, mix=Mix(1, 1, 0))
    before = [PlanAiring(7, "core", day - DAY, airing_id=1, status="published")]
    plan = plan_channel(short, posts("core", 1, 2), before, day, day + 8 * HOUR)
    assert calendar(plan, BERLIN) == ["Mon 09:00 core #1", "Mon 10:00 core #2"]
    assert plan.gaps == (
        Gap(day - DAY, day),  # silence since yesterday's airing
        Gap(day + HOUR, day + 8 * HOUR),  # and from the last airing to the window's end
    )
    assert plan.gaps[0].minutes == 24 * 60
    assert plan.fresh_runs_out == day + 2 * HOUR


def test_silence_counts_only_from_when_the_channel_began() -> None:
    """§3.3: a channel whose first post was queued at 14:00 was not silent in the morning,
    and one with no post and no airing at all has no gap."""
    day = local(BERLIN, "2026-06-15 00:00")
    short = channel(max_gap=3 * HOUR, mix=Mix(1, 1, 0), quiet_hours=())
    queued = [
        PlanPost(1, "core", day + 14 * HOUR, None),
        PlanPost(2, "core", day + 14 * HOUR, None),
    ]
    plan = plan_channel(short, queued, [], day, day + DAY)
    assert calendar(plan, BERLIN) == ["Mon 00:00 core #1", "Mon 01:00 core #2"]
    # (The planner plans from `now` in practice; here it airs them from the window's start,
    # which counts as the channel's beginning too.) The silence after them is reported.
    assert plan.gaps == (Gap(day + HOUR, day + DAY),)
    later = plan_channel(short, queued, [], day + 15 * HOUR, day + DAY)
    assert later.gaps[0].start == day + 16 * HOUR
    fresh = plan_channel(short, [], [], day, day + DAY)
    assert fresh.gaps == ()
    created_late = [PlanPost(1, "core", day + 20 * HOUR, None, evergreen=False)]
    pinned = [PlanAiring(1, "core", day + 21 * HOUR, pinned=True, airing_id=1)]
    plan = plan_channel(short, created_late, pinned, day, day + DAY)
    assert plan.gaps == ()  # began at 20:00: one hour of silence, then the pinned post
    assert audit_channel(short, created_late, plan.airings, day, day + DAY, plan.gaps) == []


def test_a_gap_without_a_free_slot_is_not_closable_by_more_posts() -> None:
    """Quiet hours 00:00-02:00 and a pinned post at 02:20 leave no slot 30 minutes from both
    ends of a silence from 23:00; one that runs to 03:00 has 02:00 free."""
    quiet = channel(max_gap=3 * HOUR, quiet_hours=(QuietWindow(0, 120),))
    evening = local(BERLIN, "2026-06-15 23:00")
    assert gap_has_free_slot(quiet, Gap(evening, evening + 4 * HOUR))
    assert not gap_has_free_slot(quiet, Gap(evening, evening + 3 * HOUR + 20 * MINUTE))
    assert not gap_has_free_slot(quiet, Gap(evening, evening + 50 * MINUTE))


# --- reposts and expiry (rules 5, 6) ------------------------------------------------------

REPOSTS_ONLY = channel(
    mix=Mix(0, 0, 1),
    repost=RepostRules(max_per_day=2, min_interval=4 * HOUR, hour_shift=3 * HOUR, max_airings=6),
)


def test_reposts_keep_their_distance_in_time_of_day() -> None:
    """Aired yesterday at 09:00: the slots 07:00 to 11:00 are less than 3h from that time of
    day, so the first repost is at 12:00. The next needs 4h since then and 3h from both 09:00
    and 12:00: 16:00. Two reposts is the day's limit, so nothing more until tomorrow."""
    day = local(BERLIN, "2026-06-15 07:00")
    fixed = [PlanAiring(1, "core", local(BERLIN, "2026-06-14 09:00"), airing_id=1)]
    plan = plan_channel(REPOSTS_ONLY, posts("core", 1), fixed, day, day + 17 * HOUR)
    assert calendar(plan, BERLIN) == ["Mon 12:00 repost #1", "Mon 16:00 repost #1"]


def test_repost_order_prefers_score_then_fewest_airings() -> None:
    day = local(BERLIN, "2026-06-15 09:00")
    last_week = day - 7 * DAY
    library = [
        PlanPost(1, "core", LONG_AGO, None),  # no score: after every scored post
        PlanPost(2, "core", LONG_AGO, None, score=1.0),
        PlanPost(3, "core", LONG_AGO, None, score=5.0),
        PlanPost(4, "core", LONG_AGO, None, score=5.0),  # same score as #3, aired twice
    ]
    fixed = [
        PlanAiring(1, "core", last_week - 15 * HOUR, airing_id=1),  # evening airings, far
        PlanAiring(2, "core", last_week - 14 * HOUR, airing_id=2),  # from the morning slots
        PlanAiring(3, "core", last_week - 13 * HOUR, airing_id=3),  # in time of day
        PlanAiring(4, "core", last_week - 16 * HOUR, airing_id=4),
        PlanAiring(4, "repost", last_week - 12 * HOUR, airing_id=5),
    ]
    plan = plan_channel(REPOSTS_ONLY, library, fixed, day, day + 4 * HOUR)
    # #3 is best; at 10:00 it aired only an hour ago, so #4; then #2 (a lower score); then
    # #1 (no score), since #3 is still inside its 4h min_interval at 12:00.
    assert [a.post_id for a in plan.new] == [3, 4, 2, 1]


def test_nothing_airs_at_or_after_expiry() -> None:
    day = local(BERLIN, "2026-06-15 09:00")
    expiring = [
        PlanPost(1, "core", LONG_AGO, day + HOUR),  # expires exactly at the 10:00 slot
        PlanPost(2, "core", LONG_AGO + HOUR, day + HOUR),
        PlanPost(3, "core", LONG_AGO + 2 * HOUR, None),
    ]
    fresh_only = channel(
        mix=Mix(1, 0, 1), repost=RepostRules(min_interval=0 * HOUR, hour_shift=0 * HOUR)
    )
    plan = plan_channel(fresh_only, expiring, [], day, day + 4 * HOUR)
    assert calendar(plan, BERLIN) == [
        "Mon 09:00 core #1",
        "Mon 10:00 core #3",  # #2 expired at 10:00 before it got a slot
        "Mon 11:00 repost #3",  # #1 can't be re-aired either: it has expired
        "Mon 12:00 repost #3",
    ]


# --- determinism (rule 7) -----------------------------------------------------------------


def test_same_inputs_give_the_same_plan_in_any_order() -> None:
    shuffled = WEEK_POSTS[:]
    random.Random(3).shuffle(shuffled)
    first = plan_channel(WEEK, WEEK_POSTS, [], MONDAY, MONDAY + 7 * DAY)
    assert plan_channel(WEEK, shuffled, [], MONDAY, MONDAY + 7 * DAY) == first
    assert plan_channel(WEEK, WEEK_POSTS, [], MONDAY, MONDAY + 7 * DAY) == first


def test_replanning_with_the_plan_as_history_changes_nothing() -> None:
    whole = plan_channel(WEEK, WEEK_POSTS, [], MONDAY, MONDAY + 7 * DAY)
    wednesday = MONDAY + 2 * DAY
    aired = [
        replace(a, airing_id=n, status="published")
        for n, a in enumerate(whole.new, 1)
        if a.at < wednesday
    ]
    rest = plan_channel(WEEK, WEEK_POSTS, aired, wednesday, MONDAY + 7 * DAY)
    assert rest.new == tuple(a for a in whole.new if a.at >= wednesday)
