"""One exception tree. Each exception builds its own message, so the CLI only prints it."""

from __future__ import annotations

from collections.abc import Sequence


class SchedulerError(Exception):
    """Base of every error the project raises on purpose; its text is meant for users."""


class ConfigError(SchedulerError):
    """The configuration is invalid; carries every problem, each naming the key path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputError(SchedulerError):
    """A value given on the command line or in an import file is not accepted."""


class PostNotFound(SchedulerError):
    def __init__(self, post_id: int) -> None:
        self.post_id = post_id
        super().__init__(f"no post with id {post_id}")


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
