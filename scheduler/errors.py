"""One exception tree. Each exception builds its own message, so the CLI only prints it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class SchedulerError(Exception):
    """Base of every error the project raises on purpose; its text is meant for users."""


class ConfigError(SchedulerError):
    """The configuration is invalid; carries every problem, each naming the key path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputError(SchedulerError):
    """A value given on the command line or in an import file is not accepted."""


class PinnedConflict(InputError):
    """§3.2: a pinned time too close to another pinned post on the same channel.

    The store finds the conflict and knows only UTC; `shown_in` gives the same refusal in
    the channel's zone, as every time a person reads is shown (the CLI calls it)."""

    def __init__(
        self,
        *,
        prefix: str,
        channel: str,
        at: datetime,
        other: str,
        other_at: datetime,
        gap: timedelta,
        zone: ZoneInfo | None = None,
    ) -> None:
        from .timeutil import format_duration, local_label

        self.prefix, self.channel, self.at = prefix, channel, at
        self.other, self.other_at, self.gap = other, other_at, gap
        shown = zone or ZoneInfo("UTC")
        spacing = format_duration(gap)
        super().__init__(
            f"{prefix}pinned time {local_label(at, shown)} on channel {channel!r} is within "
            f"min_spacing {spacing} of {other} (pinned at {local_label(other_at, shown)}); "
            f"choose a time at least {spacing} away"
        )

    def shown_in(self, zone: ZoneInfo) -> PinnedConflict:
        return PinnedConflict(
            prefix=self.prefix,
            channel=self.channel,
            at=self.at,
            other=self.other,
            other_at=self.other_at,
            gap=self.gap,
            zone=zone,
        )


class PostNotFound(SchedulerError):
    def __init__(self, post_id: int) -> None:
        self.post_id = post_id
        super().__init__(f"no post with id {post_id}")


class ReplyNotAPost(SchedulerError):
    """The post id of a reply's text: replies are answered and shown through the inbox."""

    def __init__(self, post_id: int, item_id: int | None) -> None:
        self.post_id = post_id
        answers = f" to inbox item {item_id}" if item_id is not None else ""
        again = f"; `scheduler reply {item_id}` answers again" if item_id is not None else ""
        super().__init__(
            f"post {post_id} is the text of a reply{answers}, not a post in the queue: "
            f"`scheduler inbox --all` shows it{again}"
        )


class InboxItemNotFound(SchedulerError):
    def __init__(self, item_id: int) -> None:
        self.item_id = item_id
        super().__init__(f"no inbox item with id {item_id}; `scheduler inbox --all` lists them")


class AiringNotFound(SchedulerError):
    def __init__(self, airing_id: int) -> None:
        self.airing_id = airing_id
        super().__init__(f"no airing with id {airing_id}")


class StoreError(SchedulerError):
    """The database can't be reached or its schema can't be used."""


class SecretError(SchedulerError):
    """A secret reference can't be resolved; the message names the reference, never a value."""


class PublishError(SchedulerError):
    """Base of publisher failures. `permanent` errors are not retried."""

    permanent = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class TransientPublishError(PublishError):
    """Timeouts, 5xx and 429: worth retrying. `retry_after` is seconds the platform asked for."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class PermanentPublishError(PublishError):
    """The platform refused the post (a 4xx other than 429); retrying would not help."""

    permanent = True


class InterruptedPublishError(PublishError):
    """The request may or may not have reached the platform (connection lost mid-request)."""
