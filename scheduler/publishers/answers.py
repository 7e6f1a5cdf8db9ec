"""A platform's answer as the publishers read it, and what they read from it.

Both senders hand the steps (`http.py`) an `Answer`: the synchronous one converts httpx's
response, the event loop's is made from aiohttp's. One small object of our own rather than an
`httpx.Response` rebuilt from aiohttp's answer: building that cost about a tenth of the
event loop's CPU per airing in a burst (bench/dispatch.py), for fields no publisher reads.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any


class Answer:
    """Status, headers (case-insensitive names, as the platform sent them) and the body,
    already decoded from any Content-Encoding and at most `http.ANSWER_LIMIT` bytes."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(
        self, status_code: int, headers: Mapping[str, str], content: bytes, reason_phrase: str
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.reason_phrase = reason_phrase

    def __repr__(self) -> str:
        return f"<Answer {self.status_code} {self.reason_phrase}, {len(self.content)} bytes>"

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        """The body as text, in the charset its Content-Type names (UTF-8 when it names
        none, or one Python doesn't know); undecodable bytes become U+FFFD."""
        return self.content.decode(_charset(self.headers.get("content-type", "")), "replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it isn't."""
        return json.loads(self.content)


def _charset(content_type: str) -> str:
    message = Message()
    message["content-type"] = content_type
    charset = message.get_content_charset()
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"


def json_body(answer: Answer) -> Any:
    """The decoded JSON object or array, or None when the body is neither.

    What every caller reads is an object (or Mastodon's list of statuses), so a body that
    doesn't start like one (RFC 8259 has JSON between systems in UTF-8, without a byte order
    mark), such as Slack's `ok`, is not parsed: the parser's error cost a few microseconds
    on each webhook airing.
    """
    if answer.content.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return answer.json()
    except ValueError:
        return None


def platform_message(answer: Answer) -> str:
    """The platform's own words for an error, from the shapes the platforms use.

    Mastodon `{"error": …}`, AT Protocol `{"error": "Name", "message": …}`, Telegram
    `{"description": …}`, Discord `{"message": …}`, Slack a plain-text body.
    """
    body = json_body(answer)
    text: str | None = None
    if isinstance(body, dict):
        error, message = body.get("error"), body.get("message")
        if isinstance(error, str) and isinstance(message, str):
            text = f"{error}: {message}"
        else:
            for key in ("error_description", "description", "error", "message"):
                if isinstance(body.get(key), str):
                    text = body[key]
                    break
    if text is None:
        text = answer.text.strip() or answer.reason_phrase
    return text  # whole: `Api.message` redacts it before cutting it short


def retry_after(answer: Answer, now: datetime, *, rate_limited: bool = True) -> float | None:
    """Seconds the platform asked us to wait, or None when it did not say. Never negative.

    `Retry-After` (seconds or an HTTP date, RFC 9110) counts on any answer (a 503 may send
    it). On a 429 also, in order: a JSON body's `retry_after` (Telegram's
    `parameters.retry_after`, Discord's top-level value), `X-RateLimit-Reset` (Mastodon: an
    ISO 8601 time) and `RateLimit-Reset` (Bluesky: epoch seconds). Those reset headers come
    on every Mastodon/Bluesky answer, so on a 5xx they say nothing about when to retry.
    """
    headers = answer.headers
    candidates: list[float | None] = [_seconds_or_date(headers.get("Retry-After"), now)]
    if rate_limited:
        candidates += [
            _body_retry_after(json_body(answer)),
            _reset_time(headers.get("X-RateLimit-Reset"), now),
            _reset_time(headers.get("RateLimit-Reset"), now),
        ]
    for seconds in candidates:
        if seconds is not None:
            return max(0.0, seconds)
    return None


def _seconds_or_date(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()


def _body_retry_after(body: Any) -> float | None:
    if not isinstance(body, dict):
        return None
    parameters = body.get("parameters")
    for value in (
        parameters.get("retry_after") if isinstance(parameters, dict) else None,
        body.get("retry_after"),
    ):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _reset_time(value: str | None, now: datetime) -> float | None:
    """A reset given as epoch seconds, as seconds from now (small numbers), or ISO 8601."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - now).total_seconds()
    # Epoch seconds are ~1.7e9; anything below a year is a delta (the IETF RateLimit draft).
    if number > 365 * 86400:
        return number - now.timestamp()
    return number
