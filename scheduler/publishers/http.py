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
whether the daemon sends on its event loop (`Api.run_async`) or a command reads
synchronously (`Api.run`, through an `httpx.Client`).

The event loop sends through aiohttp, not httpx's `AsyncClient`: on the dispatch bench's
burst (bench/http_floor.py) httpx spent ~0.9 ms of CPU per request, aiohttp ~0.17 ms, and
the daemon's throughput is bounded by that CPU. The request is encoded as httpx would encode
it, and both paths hand the steps the same kind of answer (`answers.Answer`). aiohttp is
imported on first use: the CLI's commands never send on a loop, and its import would add a
tenth of a second to each of them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import httpx

from ..errors import (
    InterruptedPublishError,
    PermanentPublishError,
    PublishError,
    TransientPublishError,
)
from ..redact import Redactor
from .answers import Answer, platform_message, retry_after

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("scheduler.publishers")

USER_AGENT = "content-scheduler/0.1"
# Telegram puts the bot token in the path (`/bot123:ABC/sendMessage`); httpx logs request URLs.
_BOT_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+")
MESSAGE_LIMIT = 300  # characters of an error message kept for logs and editors
ANSWER_LIMIT = 1_000_000  # bytes of an answer read; the platforms' own are a few kilobytes
# A channel's requests go one at a time (its worker sends them in order); one spare.
CONNECTIONS_PER_CHANNEL = 2
# Headers the sync client adds that the loop's sender leaves to aiohttp: it advertises only
# the encodings it can decode, and keeps connections alive by itself (HTTP/1.1).
_LEFT_TO_AIOHTTP = frozenset({"accept-encoding", "connection"})
# What h11 refuses in a header value (httpx's sync path raises for it before sending).
_UNSENDABLE_IN_HEADER = re.compile(r"[\x00\r\n]")


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
    """What every synchronous client of ours is made with: our timeouts, TLS verified,
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
) -> aiohttp.ClientSession:
    """An aiohttp session with the same settings as `make_http_client` (redirects are
    refused per request, in `Api.send_async`). Made on the event loop that sends through
    it, and closed there: its connections belong to that loop. Like httpx it takes proxies
    from the environment, but only if any is set: aiohttp's `trust_env` reads the
    environment again on every request, which tripled its CPU per request."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=CONNECTIONS_PER_CHANNEL,
            ssl=tls if tls is not None else httpx.create_ssl_context(),
        ),
        # `connect` covers waiting for a pooled connection too, as httpx's pool timeout.
        timeout=aiohttp.ClientTimeout(total=None, connect=min(timeout, 5.0), sock_read=timeout),
        headers={"User-Agent": USER_AGENT},
        # httpx sends bytes with no Content-Type of its own; aiohttp would add one.
        skip_auto_headers=("Content-Type",),
        trust_env=_proxies_in_environment(),
    )


@cache
def _proxies_in_environment() -> bool:
    return bool(urllib.request.getproxies())


def prepare_async_sending() -> None:
    """Import aiohttp and read the proxy settings now, not at the first send: the daemon
    calls this at start, so the first airing of a burst doesn't wait a tenth of a second
    on the event loop for the import."""
    import aiohttp  # noqa: F401

    _proxies_in_environment()


AsyncClientFactory = Callable[[], "aiohttp.ClientSession"]


class ChannelClients:
    """One HTTP client (one connection pool) per channel, all sharing one TLS context.

    A channel sends one request at a time, so its own small pool is all it needs, and a
    slow or rate-limited platform can't hold connections another channel is waiting for.
    One pool shared by 100 channels also cost more CPU than the requests themselves under
    a burst: httpcore scans every pooled connection under one lock on each request.

    `new` gives the synchronous client a channel reads with (listening, measuring, `check
    --online`); `new_async` makes the aiohttp session its publisher sends with. The sessions
    belong to the event loop that uses them: the publisher closes its own there
    (`Publisher.close_async`), so only the synchronous clients are closed here.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._tls = httpx.create_ssl_context()  # the CA bundle is read once, not per channel
        self._clients: list[httpx.Client] = []

    def new(self) -> httpx.Client:
        client = make_http_client(self._timeout, tls=self._tls)
        self._clients.append(client)
        return client

    def new_async(self) -> aiohttp.ClientSession:
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
Steps = Generator[Call | Pause, Answer | None, T]


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
        self._async_clients: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

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

    def send(self, method: str, url: str, *, posting: bool, **kwargs: Any) -> Answer:
        """Send one request; transport failures become publish errors, any status is returned."""
        with self._transport_errors(posting):
            request = self.client.build_request(method, url, **kwargs)
            response = self.client.send(request, stream=True)
            try:
                if _small_and_plain(response.headers):
                    body = response.read()
                else:
                    body = _read_at_most(response, ANSWER_LIMIT)
            finally:
                response.close()  # past the limit this drops the connection, unread
            return Answer(response.status_code, response.headers, body, response.reason_phrase)

    async def send_async(self, call: Call) -> Answer:
        """`send` on the event loop, through this channel's aiohttp session for that loop."""
        session = self._session()
        with self._transport_errors(call.posting):
            url, headers, body = self._encode(call)
            async with session.request(
                call.method, url, headers=headers, data=body, allow_redirects=False
            ) as answer:
                if _small_and_plain(answer.headers):
                    content = await answer.read()
                else:
                    reading = _Bounded(ANSWER_LIMIT)
                    async for chunk in answer.content.iter_chunked(64 * 1024):
                        if reading.full_after(chunk):
                            answer.close()  # drops the connection, the rest unread
                            break
                    content = reading.body()
                return Answer(answer.status, answer.headers, content, answer.reason or "")

    def _session(self) -> aiohttp.ClientSession:
        """This channel's aiohttp session on the running loop, made the first time."""
        loop = asyncio.get_running_loop()
        session = self._async_clients.get(loop)
        if session is None:
            session = self._async_clients[loop] = self.new_async_client()
        return session

    async def connect_async(self, url: str) -> None:
        """Open a connection to `url`'s server (TCP and TLS) in the running loop's pool,
        sending nothing, so that the next request there doesn't wait for it.

        Best effort: a server that can't be reached now is the request's to report, so a
        failure here is only logged. With a proxy in the environment nothing is opened (the
        request would go through the proxy, on a connection of its own).
        """
        import aiohttp
        import yarl

        if _proxies_in_environment():
            return
        session = self._session()
        connector = session.connector
        if connector is None or connector.closed:
            return
        # aiohttp has no call to open a connection alone: its connector is asked for one
        # as a request would ask, with a request that is never sent (`ClientRequest` and
        # `BaseConnector.connect` are its documented parts). A request to the same scheme,
        # host and port then takes it from the pool (tests/test_publishers.py checks it).
        try:
            request = aiohttp.ClientRequest(
                "POST", yarl.URL(url), loop=asyncio.get_running_loop(), session=session
            )
            connection = await connector.connect(request, [], session.timeout)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            log.info("%s", self._describe("could not connect ahead of sending", exc))
            return
        connection.release()

    def _encode(self, call: Call) -> tuple[str, list[tuple[str, str]], bytes | None]:
        """The URL, headers and body bytes of `call`, as the sync client would send them.

        A request of bytes and headers (the webhook's, the burst's) is put together here;
        any other (JSON, forms, files, query parameters) is encoded by httpx itself, which
        costs it about 80 µs more.
        """
        options = call.options
        if options.keys() <= {"content", "headers"} and isinstance(
            options.get("content", b""), bytes
        ):
            headers = list((options.get("headers") or {}).items())
            url, body = call.url, options.get("content")
        else:
            request = self.client.build_request(call.method, call.url, **options)
            headers = [
                (name, value)
                for name, value in request.headers.multi_items()
                if name.lower() not in _LEFT_TO_AIOHTTP
            ]
            url, body = str(request.url), request.read() or None
        for _name, value in headers:
            # What httpx's sync path refuses before sending, refused the same way here.
            value.encode("ascii")
            if _UNSENDABLE_IN_HEADER.search(value):
                raise UnicodeEncodeError("ascii", value, 0, 1, "not sendable in a header")
        return url, headers, body

    async def close_async(self) -> None:
        """Close the running loop's session, which opened its connections there."""
        session = self._async_clients.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

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

    def calling(self, method: str, url: str, *, posting: bool, **options: Any) -> Steps[Answer]:
        """Steps of one request whose answer must be a success (see `check`)."""
        answer = yield Call(method, url, posting, options)
        assert answer is not None
        return self.check(answer)

    def _transport_errors(self, posting: bool) -> _TransportErrors:
        """Turn what httpx or aiohttp raise while sending into the publish error it means."""
        return _TransportErrors(self, posting)

    def _transport_error(self, exc: Exception, posting: bool) -> Exception:
        """The publish error a transport failure means: whether the request can have left
        decides between "retry freely" and "the post may have been made"."""
        before, after, impossible = _transport_failures()
        if isinstance(exc, UnicodeEncodeError | httpx.InvalidURL):
            # A header or URL built from a token HTTP can't carry; nothing was sent. The
            # exception's text quotes the character, a piece of the token: it is left out.
            return PermanentPublishError(
                f"{self.platform}: request not possible: a header or the URL holds a "
                "character HTTP can't carry (check the channel's token)"
            )
        if isinstance(exc, before):
            return TransientPublishError(self._describe("can't connect", exc))
        if isinstance(exc, after):
            timed_out = isinstance(exc, httpx.TimeoutException | TimeoutError)  # aiohttp's too
            message = self._describe("no answer" if timed_out else "connection lost", exc)
            if posting:
                return InterruptedPublishError(message + " (the post may have been made)")
            return TransientPublishError(message)
        if isinstance(exc, impossible):  # invalid URL, unsupported scheme, …
            return PermanentPublishError(self._describe("request not possible", exc))
        return exc

    def check(self, response: Answer) -> Answer:
        """Return a 2xx response; raise the publish error its status calls for otherwise."""
        if response.is_success:
            return response
        status = response.status_code
        message = self.message(f"{self.platform} answered {status}: {platform_message(response)}")
        if status in (408, 429) or status >= 500:
            wait = retry_after(response, self.now(), rate_limited=status == 429)
            raise TransientPublishError(message, status=status, retry_after=wait)
        raise PermanentPublishError(message, status=status)

    def call(self, method: str, url: str, *, posting: bool, **kwargs: Any) -> Answer:
        return self.check(self.send(method, url, posting=posting, **kwargs))

    def _describe(self, what: str, exc: Exception) -> str:
        detail = str(exc) or type(exc).__name__
        return self.message(f"{self.platform}: {what}: {detail}")


class _TransportErrors:
    """`Api._transport_errors`: a class rather than a generator's context manager, which
    cost a hundredth of what the event loop spends on a request, on every request of a
    burst (2.8 µs a request against 0.4 µs for this one)."""

    __slots__ = ("_api", "_posting")

    def __init__(self, api: Api, posting: bool) -> None:
        self._api = api
        self._posting = posting

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: object, exc: BaseException | None, traceback: object
    ) -> Literal[False]:
        if not isinstance(exc, Exception):  # none, or a cancel: not a transport failure
            return False
        error = self._api._transport_error(exc, self._posting)
        if error is exc:
            return False  # re-raised as it is
        raise error from None


class _Drive(Generic[T]):
    """Where a run of steps stands: the answer (or failure) the next step receives, and
    what the steps returned once they are done."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.answer: Answer | None = None
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


def _small_and_plain(headers: Mapping[str, str]) -> bool:
    """Does the answer say it is within `ANSWER_LIMIT`, uncompressed? Then it is read whole
    and kept as it is, which saves the chunked read and a rebuilt response on every send
    (the platforms' answers are all like this). A compressed one is read in bounded chunks
    like one of unknown length: a small body may inflate past the limit."""
    length = headers.get("content-length", "")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    return length.isdigit() and int(length) <= ANSWER_LIMIT and encoding == "identity"


# Transport errors: raised before the request can have left, after, and requests that can't
# be made at all. aiohttp's are added once it is imported (before that none can be raised).
_HTTPX_FAILURES: tuple[tuple[type[Exception], ...], ...] = (
    (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout),
    (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError),
    (httpx.HTTPError,),
)


def _transport_failures() -> tuple[tuple[type[Exception], ...], ...]:
    if "aiohttp" not in sys.modules:
        return _HTTPX_FAILURES
    return _with_aiohttp_failures()


@cache
def _with_aiohttp_failures() -> tuple[tuple[type[Exception], ...], ...]:
    import aiohttp

    before, after, impossible = _HTTPX_FAILURES
    return (
        (
            *before,
            aiohttp.ClientConnectorError,  # refused, DNS, TLS handshake and certificate
            aiohttp.ConnectionTimeoutError,  # connecting, or waiting for a pooled connection
        ),
        (
            *after,
            aiohttp.ClientConnectionError,  # disconnected, reset, read timeout
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,  # an answer that is not HTTP
        ),
        (*impossible, aiohttp.ClientError),  # invalid URL, unsupported scheme, …
    )


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The answer's (decoded) body, cut at `limit` bytes: a receiver that answers with
    hundreds of megabytes must not take the daemon's memory with it."""
    reading = _Bounded(limit)
    for chunk in response.iter_bytes():
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
