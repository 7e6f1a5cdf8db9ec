"""A repost's body through the channel's `repost.template`: `first_aired` is the local date
of the post's first airing, computed in one place (`text.airing_body`) for the dispatcher,
the calendar and `queue show` alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from scheduler.config import ChannelSettings, load_config
from scheduler.text import airing_body
from tests.conftest import write_config


def _channel(tmp_path: Path) -> ChannelSettings:
    config = write_config(
        tmp_path,
        """
        [channels.main.repost]
        template = "{{ body }} (first aired {{ first_aired }})"
        """,
    )
    return load_config(config).channels["main"]


def test_first_aired_is_the_date_in_the_channels_zone(tmp_path: Path) -> None:
    channel = _channel(tmp_path)  # Europe/Berlin: 23:30 UTC on 1 March is 2 March there
    first = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)

    body = airing_body("hello", "repost", channel, first_at=first)

    assert body == "hello (first aired 2026-03-02)"


def test_without_a_first_airing_the_date_is_empty_and_first_airings_are_untouched(
    tmp_path: Path,
) -> None:
    channel = _channel(tmp_path)
    first = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    assert airing_body("hello", "repost", channel, first_at=None) == "hello (first aired )"
    assert airing_body("hello", "core", channel, first_at=first) == "hello"
