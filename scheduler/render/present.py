"""Records as editors see them: the JSON shapes of docs/design.md §4 and terminal tables.

Terminal text goes through the one terminal renderer (`terminal.py`): every value an editor
or a platform wrote loses its control characters, cells are measured in display columns,
and right-to-left text is isolated so it can't reorder the columns around it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ..calendar_data import CalendarAiring
from ..config import Config
from ..domain import LIVE_STATUSES, NEEDS_EDITOR
from ..text import airing_body
from ..timeutil import iso_utc, local_label
from .terminal import cell, clean, display_width, isolate

UTC_ZONE = ZoneInfo("UTC")


class PostFields(Protocol):
    """A post's columns: the ORM row of `queue show`, or a light row of `queue list`."""

    @property
    def id(self) -> int | None: ...
    @property
    def body(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime | None: ...
    @property
    def expires(self) -> datetime | None: ...
    @property
    def evergreen(self) -> bool: ...
    @property
    def editor(self) -> str: ...
    @property
    def created(self) -> datetime: ...
    @property
    def media(self) -> str: ...  # JSON list of the media's names
    @property
    def score(self) -> float | None: ...


class AiringFields(Protocol):
    """An airing's columns, whichever way they were read."""

    @property
    def id(self) -> int | None: ...
    @property
    def post_id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def pinned(self) -> bool: ...
    @property
    def at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def body(self) -> str | None: ...
    @property
    def remote_url(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...


class PostView(Protocol):
    """A post with its channels, airings (by time) and tags: `store.PostView` or
    `store.listings.PostListing`."""

    @property
    def post(self) -> PostFields: ...
    @property
    def channels(self) -> tuple[str, ...]: ...
    @property
    def airings(self) -> Sequence[AiringFields]: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    def status(self, now: datetime) -> str: ...


def media_names(post: PostFields) -> list[str]:
    if post.media == "[]":  # most posts: no parse for them
        return []
    names: list[str] = json.loads(post.media)
    return names


def calendar_airings(record: PostView, config: Config) -> list[CalendarAiring]:
    """The post's airings with local times and the body each one sends (or sent).

    A repost's `first_aired` is the earliest airing that is (or will be) on air, as the
    calendar and the dispatcher count it; a failed or cancelled one never aired.
    """
    first_on_air: dict[str, datetime] = {}
    for airing in record.airings:  # sorted by time
        if airing.status in LIVE_STATUSES:
            first_on_air.setdefault(airing.channel, airing.at)
    result = []
    for airing in record.airings:
        channel = config.channels.get(airing.channel)
        tz = channel.timezone if channel else UTC_ZONE
        body = record.post.body
        if airing.body is not None:
            body = airing.body  # the text it was sent with, whatever edits came after
        elif channel is not None:
            first = first_on_air.get(airing.channel, airing.at)
            body = airing_body(body, airing.kind, channel, first_at=first)
        result.append(calendar_airing(airing, tz, body))
    return result


def calendar_airing(airing: AiringFields, tz: ZoneInfo, body: str) -> CalendarAiring:
    assert airing.id is not None
    return CalendarAiring(
        id=airing.id,
        channel=airing.channel,
        post_id=airing.post_id,
        kind=airing.kind,
        pinned=airing.pinned,
        at=airing.at,
        timezone=tz,
        status=airing.status,
        body=body,
        remote_url=airing.remote_url,
        error=airing.error,
    )


def post_json(record: PostView, config: Config, *, now: datetime) -> dict[str, Any]:
    post = record.post
    return {
        "id": post.id,
        "body": post.body,
        "kind": post.kind,
        "channels": list(record.channels),
        "at": iso_utc(post.at) if post.at else None,
        "expires": iso_utc(post.expires) if post.expires else None,
        "evergreen": post.evergreen,
        "editor": post.editor,
        "created": iso_utc(post.created),
        "media": media_names(post),
        "score": post.score,
        "tags": list(record.tags),
        "status": record.status(now),
        "airings": [airing.to_json() for airing in calendar_airings(record, config)],
    }


# --- terminal ------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns measured in display width; the last column is not padded."""
    widths = [display_width(h) for h in headers]
    for row in rows:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], display_width(text))
    lines = []
    for row in [list(headers), *rows]:
        cells = [
            text if index == len(row) - 1 else text + " " * (widths[index] - display_width(text))
            for index, text in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def posts_table(
    records: Sequence[PostView], config: Config, *, now: datetime, body_width: int = 48
) -> str:
    rows = []
    for record in records:
        post = record.post
        status = record.status(now)
        rows.append(
            [
                str(post.id),
                post.kind,
                status,
                ",".join(record.channels),
                _next_text(record, status, config),
                cell(post.editor),
                cell(post.body, body_width),
            ]
        )
    return table(["ID", "KIND", "STATUS", "CHANNELS", "NEXT", "EDITOR", "BODY"], rows)


def _next_text(record: PostView, status: str, config: Config) -> str:
    """The next airing in its channel's wall clock; `(pinned)` only on an airing that is
    pinned (never on its reposts); "floating" only for a queued post still waiting for a
    slot, so a cancelled or failed post does not look as if it will air."""
    next_airing = _next_airing(record)
    if next_airing is not None:
        when = local_label(next_airing.at, _zone(config, next_airing.channel))
        return when + (" (pinned)" if next_airing.pinned else "")
    return "floating" if status == "queued" and record.post.at is None else "-"


def _zone(config: Config, channel: str) -> ZoneInfo:
    settings = config.channels.get(channel)
    return settings.timezone if settings else UTC_ZONE


def _next_airing(record: PostView) -> AiringFields | None:
    planned = [a for a in record.airings if a.status in ("planned", "publishing")]
    return min(planned, key=lambda a: a.at) if planned else None


def post_details(record: PostView, config: Config, *, now: datetime) -> str:
    post = record.post
    zone = config.zone(record.channels[0] if len(record.channels) == 1 else None)
    lines = [
        f"post {post.id} · {post.kind} · {record.status(now)} · by {cell(post.editor)}",
        f"channels: {', '.join(record.channels)}",
        f"pinned:   {local_label(post.at, zone) if post.at else 'no (the planner picks slots)'}",
        f"expires:  {local_label(post.expires, zone) if post.expires else 'never'}",
        f"evergreen: {'yes' if post.evergreen else 'no'}",
    ]
    if media_names(post):
        lines.append(f"media:    {', '.join(cell(path) for path in media_names(post))}")
    lines += ["", isolate(clean(post.body, keep_newlines=True)), ""]
    airings = calendar_airings(record, config)
    if not airings:
        lines.append("no airings yet")
    sent = {a.id: a.body for a in record.airings if a.body is not None}
    # A channel where an airing waits for an editor airs nothing more of the post until
    # `queue retry`: its planned reruns are on hold, as `status` and the planner see it.
    waiting = {a.channel for a in record.airings if a.status in NEEDS_EDITOR}
    for airing in airings:
        extra = cell(airing.remote_url or airing.error or "")
        status = airing.status
        if status == "planned" and airing.channel in waiting:
            status = f"on hold until `scheduler queue retry {post.id}`"
        lines.append(
            f"  #{airing.id} {airing.channel} {local_label(airing.at, airing.timezone)} "
            f"{airing.kind}{' (pinned)' if airing.pinned else ''} {status} {extra}".rstrip()
        )
        # History keeps the text that went out: after an edit it differs from the body above.
        if airing.id in sent and sent[airing.id] != post.body:
            lines.append(f"    sent: {cell(sent[airing.id])}")
    return "\n".join(lines)
