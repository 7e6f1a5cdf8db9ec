"""Reports editors read as text: `simulate` and `status` (docs/design.md §4). The data
comes from `queries.status` and `planning.forecast`; this module only draws it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config import Config
from ..timeutil import format_duration, local_label


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
