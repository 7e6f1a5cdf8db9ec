"""HTTP clients for the publishers and the one place that turns HTTP outcomes into publish errors.

The split that matters for exactly-once (docs/design.md §5) is *when* a request failed:
- before anything was sent (connection refused, connect timeout): retrying is always safe;
- after the request went out (read timeout, connection dropped): the platform may have
  posted, so the error is `InterruptedPublishError` and only a deduplicating publisher may
  retry it blindly.
Reads (look-ups, session creation, media polling) pass `posting=False`, since repeating
them can't post anything.

A publisher writes each exchange with its platform once, as *steps*: a generator that
yields the `Call`s it needs (and `Pause`s between them) and receives each answer, so the
request building, the reading of answers and the error classification are the same code
whether the daemon sends on its event loop (`Api.run_async`, through an `httpx.AsyncClient`)
or a command reads synchronously (`Api.run`, through an `httpx.Client`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

from ..errors import (
    InterruptedPublishError,
    PermanentPublishError,
    PublishError,
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


def _client_options(timeout: float, tls: ssl.SSLContext | None) -> dict[str, Any]:
    """What every client of ours is made with, sync or async: our timeouts, TLS verified,
    redirects not followed (a POST that is redirected is a misconfigured base URL, better
    reported than replayed somewhere else), one channel's small pool."""
    redact_http_logs()
    return {
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        "verify": tls if tls is not None else True,
        "follow_redirects": False,
        "headers": {"User-Agent": USER_AGENT},
        "limits": httpx.Limits(max_connections=CONNECTIONS_PER_CHANNEL),
    }


def make_http_client(timeout: float = 10.0, *, tls: ssl.SSLContext | None = None) -> httpx.Client:
    """A synchronous client with our settings (`_client_options`)."""
    return httpx.Client(**_client_options(timeout, tls))


def make_async_http_client(
    timeout: float = 10.0, *, tls: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """An asyncio client with the same settings; it opens connections only on the event
    loop that first sends through it, and must be closed there."""
    return httpx.AsyncClient(**_client_options(timeout, tls))


AsyncClientFactory = Callable[[], httpx.AsyncClient]


class ChannelClients:
    """One HTTP client (one connection pool) per channel, all sharing one TLS context.

    A channel sends one request at a time, so its own small pool is all it needs, and a
    slow or rate-limited platform can't hold connections another channel is waiting for.
    One pool shared by 100 channels also cost more CPU than the requests themselves under
    a burst: httpcore scans every pooled connection under one lock on each request.

    `new` gives the synchronous client a channel reads with (listening, measuring, `check
    --online`); `new_async` makes the asyncio client its publisher sends with. The async
    clients belong to the event loop that uses them: the publisher closes its own there
    (`Publisher.close_async`), so only the synchronous ones are closed here.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._tls = httpx.create_ssl_context()  # the CA bundle is read once, not per channel
        self._clients: list[httpx.Client] = []

    def new(self) -> httpx.Client:
        client = make_http_client(self._timeout, tls=self._tls)
        self._clients.append(client)
        return client

    def new_async(self) -> httpx.AsyncClient:
        return make_async_http_client(self._timeout, tls=self._tls)

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


@dataclass(frozen=True)
class Call:
    """One request a publisher's steps ask for; `options` are httpx's (params, headers,
    json, data, files, content). `posting` says whether it can make a post (see above)."""

    method: str
    url: str
    posting: bool
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pause:
    """Wait this long before the next step (Mastodon's media processing)."""

    seconds: float


T = TypeVar("T")
# A publisher's exchange: yields what to do, is sent each answer (None after a pause), and
# has a `PublishError` thrown in where a request failed; returns its result.
Steps = Generator[Call | Pause, httpx.Response | None, T]


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
    # Where the async path's clients come from: one per event loop that sends through this
    # channel (a client's connections belong to the loop that opened them), made on first use.
    new_async_client: AsyncClientFactory = field(default=make_async_http_client, repr=False)

    def __post_init__(self) -> None:
        self._redact = Redactor(self.secrets)
        self._async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

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
        with self._transport_errors(posting):
            request = self.client.build_request(method, url, **kwargs)
            response = self.client.send(request, stream=True)
            try:
                if _small_and_plain(response):
                    response.read()
                    return response
                body = _read_at_most(response, ANSWER_LIMIT)
            finally:
                response.close()  # past the limit this drops the connection, unread
            return _with_body(response, body)

    async def send_async(self, call: Call) -> httpx.Response:
        """`send` on the event loop, through this channel's async client for that loop."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = self.new_async_client()
        with self._transport_errors(call.posting):
            request = client.build_request(call.method, call.url, **call.options)
            response = await client.send(request, stream=True)
            try:
                if _small_and_plain(response):
                    await response.aread()
                    return response
                body = await _read_at_most_async(response, ANSWER_LIMIT)
            finally:
                await response.aclose()
            return _with_body(response, body)

    async def close_async(self) -> None:
        """Close the running loop's async client, which opened its connections there."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def run(self, steps: Steps[T]) -> T:
        """Carry out a publisher's steps synchronously; returns what they return."""
        drive = _Drive(steps)
        while (step := drive.next()) is not None:
            if isinstance(step, Pause):
                time.sleep(step.seconds)
                continue
            try:
                drive.answer = self.send(
                    step.method, step.url, posting=step.posting, **step.options
                )
            except PublishError as exc:
                drive.failure = exc
        return drive.result

    async def run_async(self, steps: Steps[T]) -> T:
        """Carry out the same steps on the event loop, each request awaited."""
        drive = _Drive(steps)
        while (step := drive.next()) is not None:
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                continue
            try:
                drive.answer = await self.send_async(step)
            except PublishError as exc:
                drive.failure = exc
        return drive.result

    def calling(
        self, method: str, url: str, *, posting: bool, **options: Any
    ) -> Steps[httpx.Response]:
        """Steps of one request whose answer must be a success (see `check`)."""
        answer = yield Call(method, url, posting, options)
        assert answer is not None
        return self.check(answer)

    @contextmanager
    def _transport_errors(self, posting: bool) -> Iterator[None]:
        """Turn what httpx raises while sending into the publish error it means."""
        try:
            yield
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


class _Drive(Generic[T]):
    """Where a run of steps stands: the answer (or failure) the next step receives, and
    what the steps returned once they are done."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.answer: httpx.Response | None = None
        self.failure: PublishError | None = None
        self.result: T

    def next(self) -> Call | Pause | None:
        """Hand over the last answer or failure; the next step, or None when done."""
        answer, failure = self.answer, self.failure
        self.answer = self.failure = None
        try:
            return self._steps.throw(failure) if failure is not None else self._steps.send(answer)
        except StopIteration as done:
            self.result = done.value
            return None


def _small_and_plain(response: httpx.Response) -> bool:
    """Does the answer say it is within `ANSWER_LIMIT`, uncompressed? Then it is read whole
    and kept as it is, which saves the chunked read and a rebuilt response on every send
    (the platforms' answers are all like this). A compressed one is read in bounded chunks
    like one of unknown length: a small body may inflate past the limit."""
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    return length.isdigit() and int(length) <= ANSWER_LIMIT and encoding == "identity"


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The answer's (decoded) body, cut at `limit` bytes: a receiver that answers with
    hundreds of megabytes must not take the daemon's memory with it."""
    reading = _Bounded(limit)
    for chunk in response.iter_bytes():
        if reading.full_after(chunk):
            break
    return reading.body()


async def _read_at_most_async(response: httpx.Response, limit: int) -> bytes:
    """`_read_at_most` for a response streamed by an async client."""
    reading = _Bounded(limit)
    async for chunk in response.aiter_bytes():
        if reading.full_after(chunk):
            break
    return reading.body()


class _Bounded:
    """The chunks of an answer read so far, up to a limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0

    def full_after(self, chunk: bytes) -> bool:
        self._chunks.append(chunk)
        self._size += len(chunk)
        return self._size > self._limit

    def body(self) -> bytes:
        return b"".join(self._chunks)[: self._limit]


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
