"""HTTP clients for the publishers and the one place that turns HTTP outcomes into publish errors.

The split that matters for exactly-once (docs/design.md §5) is *when* a request failed:
- before anything was sent (connection refused, connect timeout): retrying is always safe;
- after the request went out (read timeout, connection dropped): the platform may have
  posted, so the error is `InterruptedPublishError` and only a deduplicating publisher may
  retry it blindly.
Reads (look-ups, session creation, media polling) pass `posting=False`, since repeating
them can't post anything.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..errors import (
    InterruptedPublishError,
    PermanentPublishError,
    TransientPublishError,
)
from ..redact import Redactor

USER_AGENT = "content-scheduler/0.1"
# Telegram puts the bot token in the path (`/bot123:ABC/sendMessage`); httpx logs request URLs.
_BOT_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+")
MESSAGE_LIMIT = 300  # characters of an error message kept for logs and editors
ANSWER_LIMIT = 1_000_000  # bytes of an answer read; the platforms' own are a few kilobytes
# A channel's requests go one at a time (its worker sends them in order); one spare.
CONNECTIONS_PER_CHANNEL = 2


class _RedactBotTokens(logging.Filter):
    """Rewrites `/bot<token>` in httpx's own log lines, so INFO logging never shows a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _BOT_TOKEN_IN_PATH.sub("/bot<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_redact_filter = _RedactBotTokens()


def redact_http_logs() -> None:
    """Install the bot-token filter on httpx's loggers (idempotent)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _redact_filter not in logger.filters:
            logger.addFilter(_redact_filter)


def make_http_client(timeout: float = 10.0, *, tls: ssl.SSLContext | None = None) -> httpx.Client:
    """A client with our timeouts, TLS verified and redirects not followed.

    Redirects are not followed: a POST that is redirected is a misconfigured base URL,
    better reported than replayed somewhere else.
    """
    redact_http_logs()
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        verify=tls if tls is not None else True,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=CONNECTIONS_PER_CHANNEL),
    )


class ChannelClients:
    """One HTTP client (one connection pool) per channel, all sharing one TLS context.

    A channel sends one request at a time, so its own small pool is all it needs, and a
    slow or rate-limited platform can't hold connections another channel is waiting for.
    One pool shared by 100 channels also cost more CPU than the requests themselves under
    a burst: httpcore scans every pooled connection under one lock on each request.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._tls = httpx.create_ssl_context()  # the CA bundle is read once, not per channel
        self._clients: list[httpx.Client] = []

    def new(self) -> httpx.Client:
        client = make_http_client(self._timeout, tls=self._tls)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


@dataclass
class Api:
    """One platform's view of its channel's client: sends requests and classifies the answers.

    Every message it builds passes through `message`: the channel's secrets are removed in
    every form (see `redact.py`) before the text is made one line and cut to length, so an
    exception text can be logged, stored and shown to editors as it is.
    """

    client: httpx.Client
    platform: str
    now: Callable[[], datetime]
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self._redact = Redactor(self.secrets)

    def session_secrets(self, *tokens: str) -> None:
        """Keep a session's tokens out of messages too; they replace the last session's."""
        self._redact = Redactor((*self.secrets, *tokens))

    def scrub(self, text: str) -> str:
        """`text` without any form of the channel's secrets or a Telegram bot token."""
        return _BOT_TOKEN_IN_PATH.sub("/bot<redacted>", self._redact(text))

    def message(self, text: str) -> str:
        """`text` scrubbed, on one line, cut to `MESSAGE_LIMIT` characters: the cut comes
        last, so it can't leave part of a secret that redaction would no longer know."""
        line = self.scrub(" ".join(self.scrub(text).split()))
        return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"

    def send(self, method: str, url: str, *, posting: bool, **kwargs: Any) -> httpx.Response:
        """Send one request; transport failures become publish errors, any status is returned."""
        try:
            request = self.client.build_request(method, url, **kwargs)
            response = self.client.send(request, stream=True)
            try:
                body = _read_at_most(response, ANSWER_LIMIT)
            finally:
                response.close()  # past the limit this drops the connection, unread
            return _with_body(response, body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientPublishError(self._describe("can't connect", exc)) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            what = "no answer" if isinstance(exc, httpx.TimeoutException) else "connection lost"
            message = self._describe(what, exc)
            if posting:
                raise InterruptedPublishError(message + " (the post may have been made)") from None
            raise TransientPublishError(message) from None
        except httpx.HTTPError as exc:  # invalid URL, unsupported scheme, …
            raise PermanentPublishError(self._describe("request not possible", exc)) from None
        except (httpx.InvalidURL, UnicodeEncodeError):
            # A header or URL built from a token HTTP can't carry; nothing was sent. The
            # exception's text quotes the character, a piece of the token: it is left out.
            raise PermanentPublishError(
                f"{self.platform}: request not possible: a header or the URL holds a "
                "character HTTP can't carry (check the channel's token)"
            ) from None

    def check(self, response: httpx.Response) -> httpx.Response:
        """Return a 2xx response; raise the publish error its status calls for otherwise."""
        if response.is_success:
            return response
        status = response.status_code
        message = self.message(f"{self.platform} answered {status}: {platform_message(response)}")
        if status in (408, 429) or status >= 500:
            wait = retry_after(response, self.now(), rate_limited=status == 429)
            raise TransientPublishError(message, status=status, retry_after=wait)
        raise PermanentPublishError(message, status=status)

    def call(self, method: str, url: str, *, posting: bool, **kwargs: Any) -> httpx.Response:
        return self.check(self.send(method, url, posting=posting, **kwargs))

    def _describe(self, what: str, exc: Exception) -> str:
        detail = str(exc) or type(exc).__name__
        return self.message(f"{self.platform}: {what}: {detail}")


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The answer's (decoded) body, cut at `limit` bytes: a receiver that answers with
    hundreds of megabytes must not take the daemon's memory with it."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[:limit]


def _with_body(streamed: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response holding `body`, already decoded, in place of a streamed one."""
    headers = [
        (name, value)
        for name, value in streamed.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    extensions = {k: v for k, v in streamed.extensions.items() if k != "network_stream"}
    return httpx.Response(
        streamed.status_code,
        headers=headers,
        content=body,
        request=streamed.request,
        extensions=extensions,
    )


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def platform_message(response: httpx.Response) -> str:
    """The platform's own words for an error, from the shapes the platforms use.

    Mastodon `{"error": …}`, AT Protocol `{"error": "Name", "message": …}`, Telegram
    `{"description": …}`, Discord `{"message": …}`, Slack a plain-text body.
    """
    body = json_body(response)
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
        text = response.text.strip() or response.reason_phrase
    return text  # whole: `Api.message` redacts it before cutting it short


def retry_after(
    response: httpx.Response, now: datetime, *, rate_limited: bool = True
) -> float | None:
    """Seconds the platform asked us to wait, or None when it did not say. Never negative.

    `Retry-After` (seconds or an HTTP date, RFC 9110) counts on any answer (a 503 may send
    it). On a 429 also, in order: a JSON body's `retry_after` (Telegram's
    `parameters.retry_after`, Discord's top-level value), `X-RateLimit-Reset` (Mastodon: an
    ISO 8601 time) and `RateLimit-Reset` (Bluesky: epoch seconds). Those reset headers come
    on every Mastodon/Bluesky answer, so on a 5xx they say nothing about when to retry.
    """
    headers = response.headers
    candidates: list[float | None] = [_seconds_or_date(headers.get("Retry-After"), now)]
    if rate_limited:
        candidates += [
            _body_retry_after(json_body(response)),
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
