"""Reports editors read: `simulate`'s text form and `status` (docs/design.md §4).

Status answers "do I need to queue more, and is anything broken?": per channel the next
airing, queued posts, airings waiting for an editor, the first forecast breach of max_gap
and when fresh content runs out, open inbox items and how long the oldest has waited, plus
whether a daemon is alive.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config import Config
from ..domain import NEEDS_EDITOR
from ..store.store import Store
from ..timeutil import format_duration, iso_local, iso_utc, local_label

FORECAST_DAYS = 7


def _local(text: str | None, config: Config, channel: str) -> str:
    """A UTC time of the JSON as a person reads it: the channel's wall clock and offset."""
    if text is None:
        return "-"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return local_label(moment, config.channels[channel].timezone)


def simulate_text(result: dict[str, Any], config: Config) -> str:
    zone = config.zone()
    window = [datetime.fromisoformat(result[k].replace("Z", "+00:00")) for k in ("from", "to")]
    lines = [f"simulation from {local_label(window[0], zone)} to {local_label(window[1], zone)}"]
    for name, channel in result["channels"].items():
        kinds = ", ".join(f"{kind} {count}" for kind, count in channel["by_kind"].items())
        max_gap = format_duration(config.channels[name].max_gap)
        lines += [
            "",
            f"{name}: {channel['airings']} airings ({kinds})",
            f"  worst gap: {format_duration(timedelta(minutes=channel['worst_gap_minutes']))}",
        ]
        if channel["gaps"]:
            lines.append(f"  gaps over max_gap {max_gap}:")
            lines += [
                f"    {_local(g['from'], config, name)} → {_local(g['to'], config, name)} "
                f"({format_duration(timedelta(minutes=g['minutes']))})"
                for g in channel["gaps"]
            ]
        else:
            lines.append(f"  gaps over max_gap {max_gap}: none")
        runs_out = channel["fresh_runs_out"]
        lines.append(
            "  fresh content runs out: "
            + (_local(runs_out, config, name) if runs_out else "not within the window")
        )
        chosen = channel["reposts_by_score"]
        lines.append(f"  reposts chosen by score: {len(chosen) or 'none'}")
        lines += [
            f"    {_local(r['at'], config, name)} post {r['post_id']} score {r['score']:.2f}"
            + (" (set by hand)" if r["by_hand"] else "")
            for r in chosen
        ]
        violations = channel["violations"]
        if violations is not None:  # the audit ran (simulate --audit)
            found = len(violations) or "none"
            if channel["gaps"] and not violations:
                # A gap no eligible content could close breaks no rule (§3.3): say so, or
                # "none" reads as a contradiction of the gaps just listed.
                found = "none (the gaps above are left by missing content, not by the planner)"
            lines.append(f"  rule violations: {found}")
            lines += [f"    {v}" for v in violations]
    return "\n".join(lines)


def status_report(config: Config, store: Store, *, now: datetime) -> dict[str, Any]:
    from ..planning.forecast import gap_json, plan_all, window_inputs
    from ..store.inbox import InboxStore

    days = max(FORECAST_DAYS, int(config.scheduler.horizon / timedelta(days=1)) + 1)
    end = now + timedelta(days=days)
    # The forecast is the plan itself: no bodies, no audit, only the rows the week needs.
    inputs, _ = window_inputs(config, store, now=now, end=end, history_from=now)
    plans = plan_all(inputs, start=now, end=end)
    waiting: dict[str, list[Any]] = {
        name: [a for a in item.stored if a.status in NEEDS_EDITOR] for name, item in inputs.items()
    }
    queued = store.queued_counts(list(config.channels), now=now)
    inbox = InboxStore(store).waiting()
    from .report_data import goals_behind

    behind = goals_behind(config, store, now=now)
    channels = {}
    for name in config.channels:
        plan = plans[name]
        waits = inbox.get(name)
        oldest = waits.oldest if waits else None
        upcoming = [a.at for a in plan.airings if now <= a.at < end]
        tz = config.channels[name].timezone
        channels[name] = {
            "next_airing": iso_utc(min(upcoming)) if upcoming else None,
            "next_airing_local": iso_local(min(upcoming), tz) if upcoming else None,
            "queued_posts": queued[name],
            "needs_editor": sorted(a.id for a in waiting[name]),
            # What `queue retry` takes is the post id; the airing id alone sent editors astray.
            "needs_editor_posts": [
                {"post_id": a.post_id, "airing_id": a.id, "status": a.status}
                for a in sorted(waiting[name], key=lambda a: a.id)
            ],
            "first_gap": gap_json(plan.gaps[0]) if plan.gaps else None,
            "fresh_runs_out": iso_utc(plan.fresh_runs_out) if plan.fresh_runs_out else None,
            "inbox_open": waits.open if waits else 0,
            "inbox_oldest": iso_utc(oldest) if oldest else None,
            "inbox_oldest_minutes": int((now - oldest).total_seconds() // 60) if oldest else None,
            "inbox_late": bool(oldest and now - oldest > config.channels[name].response_time),
            "goals_behind": behind[name],
        }
    return {"now": iso_utc(now), "daemon": _daemon_state(config, store, now), "channels": channels}


def _daemon_state(config: Config, store: Store, now: datetime) -> dict[str, Any]:
    beats = store.heartbeats()
    if not beats:
        return {"state": "never ran"}
    latest = beats[0]
    fresh = now - latest.beat <= 2 * config.scheduler.reconcile + timedelta(seconds=5)
    running = [
        b
        for b in beats
        if b.state == "running"
        and now - b.beat <= 2 * config.scheduler.reconcile + timedelta(seconds=5)
    ]
    state = (
        "running"
        if running
        else ("stopped" if latest.state == "stopped" or fresh else "not responding")
    )
    return {
        "state": state,
        "replicas": len(running),
        "owner": latest.owner,
        "last_heartbeat": iso_utc(latest.beat),
    }


def status_text(report: dict[str, Any], config: Config) -> str:
    """Every time in the channel's wall clock with its offset, durations as `3h 28m`."""
    daemon = report["daemon"]
    zone = config.zone()
    if daemon["state"] == "never ran":
        lines = ["daemon: never ran (start it with `scheduler run`)"]
    else:
        beat = datetime.fromisoformat(daemon["last_heartbeat"].replace("Z", "+00:00"))
        lines = [
            f"daemon: {daemon['state']} ({daemon['replicas']} running; last heartbeat "
            f"{local_label(beat, zone)} from {daemon['owner']})"
        ]
    for name, channel in report["channels"].items():
        gap = channel["first_gap"]
        gap_text = "none forecast"
        if gap:
            gap_text = (
                f"{_local(gap['from'], config, name)} → {_local(gap['to'], config, name)} "
                f"({format_duration(timedelta(minutes=gap['minutes']))})"
            )
        waiting = [
            f"post {w['post_id']} ({w['status']}; `scheduler queue retry {w['post_id']}`)"
            for w in channel["needs_editor_posts"]
        ]
        runs_out = channel["fresh_runs_out"]
        lines += [
            "",
            f"{name}:",
            "  next airing:      "
            + (
                _local(channel["next_airing"], config, name)
                if channel["next_airing"]
                else "none planned"
            ),
            f"  queued posts:     {channel['queued_posts']}",
            "  needs an editor:  " + (", ".join(waiting) or "nothing"),
            f"  first gap:        {gap_text}",
            "  fresh runs out:   "
            + (_local(runs_out, config, name) if runs_out else "not this week"),
            f"  inbox:            {_inbox_line(channel)}",
            f"  goals behind:     {', '.join(channel['goals_behind']) or 'none'}",
        ]
    return "\n".join(lines)


def _inbox_line(channel: dict[str, Any]) -> str:
    if not channel["inbox_open"]:
        return "nothing open"
    age = format_duration(timedelta(minutes=channel["inbox_oldest_minutes"]))
    late = ", over response_time: `scheduler inbox`" if channel["inbox_late"] else ""
    return f"{channel['inbox_open']} open, oldest waiting {age}{late}"
