"""`scheduler report` as text for the terminal (the JSON is `queries.report`'s dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .terminal import clean, clip


def report_text(report: Mapping[str, Any]) -> str:
    lines = [f"report {report['from']} – {report['to']}"]
    for name, channel in report["channels"].items():
        lines.append("")
        lines.append(f"{name} ({channel['publisher']})")
        if channel["measured"]:
            lines.extend(_engagement(channel))
        else:
            lines.append("  not measured: its platform can't be read; feed it with metrics import")
        lines.extend(_inbox(channel["inbox"]))
        followers = channel["followers"]
        shown = "not measured" if followers["now"] is None else str(followers["now"])
        lines.append(f"  followers: {shown}")
        for goal in channel["goals"]:
            if goal["goal"] == "replies_answered":
                lines.append(_answer_goal(goal))
                continue
            lines.append(
                f"  goal {goal['goal']} {_num(goal['target'])} by {goal['by']}: "
                f"{goal['verdict']} (now {_num(goal['value'])}, trend "
                f"{_num(goal['trend_per_day'])}/day, needs {_num(goal['needed_per_day'])}/day, "
                f"projected {_num(goal['projected'])})"
            )
    if "compare" in report:
        result = report["compare"]
        first, second = result["tags"]
        lines.append("")
        lines.append(f"compare {first} against {second}:")
        for index, tag in enumerate(result["tags"]):
            lines.append(
                f"  {tag}: n {result['n'][index]}, median {_num(result['median'][index])}, "
                f"mean {_num(result['mean'][index])}"
            )
        p_value = result["p_value"]
        shown_p = "" if p_value is None else f"p = {p_value:.3f}: "
        lines.append(f"  {shown_p}{result['verdict']}")
    return "\n".join(lines)


def _engagement(channel: Mapping[str, Any]) -> list[str]:
    """Airings and their engagement: shown only for a channel whose counts are measured."""
    lines = [f"  airings: {channel['airings']}, measured: {channel['measured_airings']}"]
    lines.extend(_table("by kind", channel["by_kind"]))
    lines.extend(_table("by local hour", channel["by_hour"]))
    if channel["reruns"]:
        lines.append("  reruns against first airings, by hour shift:")
        for shift, row in channel["reruns"].items():
            lines.append(
                f"    {shift}h: {row['reruns']} reruns, median {_num(row['median'])} "
                f"(first airings {_num(row['first_median'])})"
            )
    lines.extend(_table("by tag", channel["by_tag"]))
    for title in ("top", "bottom"):
        if channel[title]:
            lines.append(f"  {title} posts:")
            lines.extend(
                f"    post {row['post_id']} ({row['kind']}, {row['at']}): {_num(row['engagement'])}"
                for row in channel[title]
            )
    return lines


def _excerpt(body: str | None) -> str:
    """The first line of a post's text, cleaned for the terminal and cut to fit a line."""
    lines = (body or "").strip().splitlines()
    line = clean(lines[0]).strip() if lines else ""
    return f"  {clip(line, 50)}" if line else ""


def _inbox(inbox: Mapping[str, Any] | None) -> list[str]:
    if inbox is None:
        return ["  inbox: not read (its platform can't be listened to)"]
    minutes = inbox["median_response_minutes"]
    response = "–" if minutes is None else _minutes(minutes)
    lines = [
        f"  inbox: {inbox['received']} received, {inbox['answered']} answered "
        f"({_share(inbox['answered_share'])}), {inbox['done']} done, {inbox['open']} open; "
        f"median response {response}; {inbox['answered_within']} of {inbox['due']} due "
        f"answered within {inbox['within']}"
    ]
    lines.extend(
        f"    waiting: item {item['id']} from {clean(item['author'])} since {item['at']}"
        for item in inbox["waiting"]
    )
    return lines


def _answer_goal(goal: Mapping[str, Any]) -> str:
    return (
        f"  goal replies_answered {_share(goal['target'])} within {goal['within']}: "
        f"{goal['verdict']} (now {_share(goal['value'])}: {goal['answered_within']} of "
        f"{goal['due']} due answered in time)"
    )


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _minutes(minutes: float) -> str:
    hours, rest = divmod(round(minutes), 60)
    return f"{hours}h {rest}m" if hours else f"{rest}m"


def _table(title: str, rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not rows:
        return []
    return [f"  {title}:"] + [
        f"    {key}: {row['airings']} airings, median {_num(row['median'])}, "
        f"total {_num(row['total'])}"
        for key, row in rows.items()
    ]


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
