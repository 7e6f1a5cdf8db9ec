"""Real local HTTP servers that speak each platform's API, for tests and benchmarks.

Each server runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (port 0 by default) in a
thread, keeps platform state (statuses, records, messages) so deduplication can be checked,
and records every request it receives::

    with FakeMastodon() as server:
        publisher = MastodonPublisher(server.base_url, server.token, client, now=now)
        server.fail_next(status=503, times=2)
        ...
        assert server.requests[-1].headers["idempotency-key"] == "k1"

Faults apply to the next matching requests, in the order they were added (`path=` narrows
them to one path): `fail_next` (an error in the platform's own shape), `rate_limit_next`
(429 with `Retry-After` seconds or HTTP date, or a reset header), `hold_next` (keep the
response until released: an in-flight request) and `drop_next` (close the connection after
reading the request). By default a held or dropped request still takes effect on the
platform first, the worst case for exactly-once: the post exists but the client never hears.

From another process: `python -m tests.fakeplatforms webhook --port 8025 --record log.jsonl`
serves in the foreground, prints its base URL on the first line, and appends every request
to the record file as a JSON line; SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import hashlib
import html
import itertools
import json
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from scheduler.runtime.signals import StopSignals


@dataclass(frozen=True)
class Request:
    """One request as the server read it. `headers` has lower-case names."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: Any  # JSON value, form fields {name: [values]}, multipart {name: Part | str}, text
    at: datetime  # aware UTC, when the request had been read in full

    def json_line(self) -> str:
        body = self.body if _json_safe(self.body) else self.raw.decode("utf-8", "replace")
        return json.dumps(
            {
                "method": self.method,
                "path": self.path,
                "query": self.query,
                "headers": self.headers,
                "body": body,
                "raw": self.raw.decode("utf-8", "replace"),
                "at": self.at.isoformat(),
            },
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class Part:
    """A file sent in a multipart form."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; str: text; bytes: as they are; None: empty
    headers: dict[str, str] = field(default_factory=dict)


class Hold:
    """A request the server keeps unanswered until `release()`: a request in flight."""

    def __init__(self) -> None:
        self._arrived = threading.Event()
        self._released = threading.Event()
        self._drop = False

    def wait_arrived(self, timeout: float = 60.0) -> bool:
        """True once the held request has reached the server (and taken effect if `apply`)."""
        return self._arrived.wait(timeout)

    def release(self, *, drop: bool = False) -> None:
        """Let the held request go: answered, or with `drop` its connection closed unanswered
        (the client then can't know whether the post was made)."""
        self._drop = drop
        self._released.set()


@dataclass
class _Fault:
    kind: str  # reply | hold | drop
    times: int
    path: str | None
    reply: Reply | None = None
    hold: Hold | None = None
    apply: bool = True
    after: int = 0  # matching requests let through before the fault starts


class FakeServer:
    """The shared machinery; subclasses implement `respond` and `error_reply` for a platform."""

    name = "generic"
    retry_after_header = True  # Telegram says it in the body instead
    reset_header = "X-RateLimit-Reset"

    def __init__(self, *, port: int = 0, record_to: Path | None = None) -> None:
        self.port = port
        self.record_to = record_to
        self.lock = threading.RLock()  # guards platform state and the request log
        self._requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        self._httpd = _Server(self, self.port)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        with self.lock:
            for hold in self._holds:
                hold.release()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what was received ---------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self._requests)

    @property
    def connections_opened(self) -> int:
        """How many connections clients have opened to the server since it started."""
        return self._httpd.opened if self._httpd is not None else 0

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path == path and (method is None or r.method == method.upper())
        ]

    # --- faults --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next `times` requests with `status`, in the platform's error shape;
        `after` lets that many matching requests through first."""
        reply = self.error_reply(status, message or HTTPStatus(status).phrase)
        reply.headers.update(headers or {})
        self._add(_Fault("reply", times, path, reply=reply, after=after))

    def rate_limit_next(
        self,
        *,
        seconds: float | None = None,
        http_date: datetime | None = None,
        reset: datetime | float | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer 429: `seconds` or `http_date` as Retry-After, `reset` as the reset header.

        `reset` as a datetime is sent ISO 8601 (Mastodon), as a number epoch seconds (Bluesky).
        """
        reply = self.error_reply(429, "Too Many Requests", retry_after=seconds)
        if seconds is not None and self.retry_after_header:
            reply.headers["Retry-After"] = _number(seconds)
        if http_date is not None:
            reply.headers["Retry-After"] = format_datetime(http_date.astimezone(UTC), usegmt=True)
        if isinstance(reset, datetime):
            iso = reset.astimezone(UTC).isoformat(timespec="microseconds")
            reply.headers[self.reset_header] = iso.replace("+00:00", "Z")
        elif reset is not None:
            reply.headers[self.reset_header] = _number(reset)
        self._add(_Fault("reply", times, path, reply=reply))

    def hold_next(self, *, apply: bool = True, path: str | None = None) -> Hold:
        """Keep the next request's response until `Hold.release()` (or the server stops)."""
        hold = Hold()
        with self.lock:
            self._holds.append(hold)
        self._add(_Fault("hold", 1, path, hold=hold, apply=apply))
        return hold

    def drop_next(self, *, times: int = 1, apply: bool = True, path: str | None = None) -> None:
        """Close the connection after reading the next request, without answering."""
        self._add(_Fault("drop", times, path, apply=apply))

    def clear_faults(self) -> None:
        """Forget the faults not yet used up: the platform is reachable and healthy again."""
        with self.lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- the platform --------------------------------------------------------------------

    def respond(self, request: Request) -> Reply:
        """The platform's answer; called with `self.lock` held."""
        raise NotImplementedError

    def error_reply(self, status: int, message: str, retry_after: float | None = None) -> Reply:
        return Reply(status, {"error": message})

    # --- serving (handler threads) -------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            request = _read_request(handler)
        except _CutShort:
            handler.close_connection = True
            return
        with self.lock:
            self._requests.append(request)
            if self.record_to is not None:
                with open(self.record_to, "a", encoding="utf-8") as log:
                    log.write(request.json_line() + "\n")
        fault = self._take_fault(request.path)
        if fault is None:
            _write_reply(handler, self._apply(request))
        elif fault.kind == "reply":
            assert fault.reply is not None
            _write_reply(handler, fault.reply)
        elif fault.kind == "hold":
            assert fault.hold is not None
            reply = self._apply(request) if fault.apply else None
            fault.hold._arrived.set()
            fault.hold._released.wait()
            if fault.hold._drop:
                _drop_connection(handler)
            else:
                _write_reply(handler, reply or self._apply(request))
        else:  # drop
            if fault.apply:
                self._apply(request)
            _drop_connection(handler)

    def _apply(self, request: Request) -> Reply:
        with self.lock:
            return self.respond(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real platforms (and httpx's pool) use
    timeout = 30  # an idle keep-alive connection ends after this
    # Headers and body leave in two writes; without TCP_NODELAY, Nagle's algorithm holds the
    # body until the client's delayed ACK (40 ms), which would cap any client at ~25 req/s.
    disable_nagle_algorithm = True
    server: _Server

    def _any(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    """Tracks connections and threads so `stop()` leaves no socket or thread behind."""

    daemon_threads = True
    allow_reuse_address = True
    # A burst of connections (the bench: 100 channels at once) must not wait on SYN retries.
    request_queue_size = 256

    def __init__(self, fake: FakeServer, port: int) -> None:
        self.fake = fake
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: list[threading.Thread] = []
        self.opened = 0
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._conn_lock:
            self.opened += 1
            self._connections.add(request)
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()] + [thread]
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads waiting on idle keep-alive connections, and wait for them."""
        with self._conn_lock:
            connections, threads = list(self._connections), list(self._handler_threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (after a hold, a kill -9) is expected here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _CutShort(Exception):
    """The client went away before the request's body was whole (a sender killed between
    writing the headers and the body): a platform never acts on it, so it isn't recorded."""


def _read_request(handler: BaseHTTPRequestHandler) -> Request:
    headers = {name.lower(): value for name, value in handler.headers.items()}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = _read_chunked(handler)
    else:
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length)
        if len(raw) < length:
            raise _CutShort
    return received(handler.command, handler.path, headers, raw)


def received(method: str, target: str, headers: dict[str, str], raw: bytes) -> Request:
    """A whole request as received now: `target` is the request line's path and query,
    `headers` have lower-case names. The benches' asyncio receiver records the same."""
    url = urlsplit(target)
    return Request(
        method=method,
        path=url.path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers=headers,
        raw=raw,
        body=_parse_body(headers.get("content-type", ""), raw),
        at=datetime.now(UTC),
    )


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = handler.rfile.readline()
        if not line:
            raise _CutShort
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunk = handler.rfile.read(size)
        if len(chunk) < size:
            raise _CutShort
        chunks.append(chunk)
        handler.rfile.readline()


def _parse_body(content_type: str, raw: bytes) -> Any:
    kind = content_type.split(";")[0].strip().lower()
    if not raw:
        return None
    if kind == "application/x-www-form-urlencoded":
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    if kind == "multipart/form-data":
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        fields: dict[str, Part | str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            filename = part.get_filename()
            if filename is None:
                fields[str(name)] = data.decode("utf-8")
            else:
                fields[str(name)] = Part(filename, part.get_content_type(), data)
        return fields
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _write_reply(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    body = reply.body
    headers = dict(reply.headers)
    if isinstance(body, dict | list):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    elif isinstance(body, str):
        data = body.encode("utf-8")
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    else:
        data = body or b""
    handler.send_response(reply.status)
    for name, value in headers.items():
        handler.send_header(name, value)
    if reply.status not in (204, 304):
        handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if reply.status not in (204, 304) and handler.command != "HEAD":
        handler.wfile.write(data)


def _drop_connection(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def _params(request: Request) -> dict[str, Any]:
    """Parameters from a JSON body, a form (single values; `x[]` keeps its list) or the query."""
    if isinstance(request.body, dict):
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            return {k: (v if k.endswith("[]") else v[-1]) for k, v in request.body.items()}
        return dict(request.body)
    return {k: v[-1] for k, v in request.query.items()}


# --- generic webhook ---------------------------------------------------------------------


class FakeWebhook(FakeServer):
    """Accepts any request and answers `reply` (default: 200 "ok", as Slack does).

    Verifies nothing; tests check `requests` (raw body, headers) themselves. `posts` is what
    a receiver honouring `Idempotency-Key` keeps: one body per key, a repeat taking no effect.
    """

    name = "webhook"

    def __init__(self, *, port: int = 0, record_to: Path | None = None) -> None:
        super().__init__(port=port, record_to=record_to)
        self.reply = Reply(200, "ok")
        self.posts: dict[str, Any] = {}  # idempotency key -> the body first received with it

    @property
    def url(self) -> str:
        return self.base_url + "/hook"

    def respond(self, request: Request) -> Reply:
        key = request.headers.get("idempotency-key", "")
        self.posts.setdefault(key, request.body)
        return Reply(self.reply.status, self.reply.body, dict(self.reply.headers))

    def idempotency_keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.requests]


# --- Mastodon ----------------------------------------------------------------------------


# What Mastodon's upload checks by content, as its own validation does: the declared type
# must be one it takes, and the bytes must be what the type says (else "not what they are
# reported to be"); images up to 16 MiB.
MASTODON_IMAGE_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
MASTODON_IMAGE_SIZE_LIMIT = 16 * 1024 * 1024
MASTODON_DESCRIPTION_LIMIT = 1500  # MediaAttachment::MAX_DESCRIPTION_LENGTH, in code points


def _image_type(data: bytes) -> str | None:
    """The image type the bytes start like, written apart from the scheduler's `sniff`."""
    for mime, signatures in MASTODON_IMAGE_SIGNATURES.items():
        if data.startswith(signatures) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


class FakeMastodon(FakeServer):
    """`POST /api/v1/statuses` (honouring `Idempotency-Key`), `POST /api/v2/media`,
    `GET /api/v1/media/:id`, bearer auth, `X-RateLimit-*` headers on every answer.

    `media_processing_polls = N` makes uploads answer 202 and the next N polls 206.
    Uploads are refused as Mastodon refuses them (type, content, size, a `description` over
    1500 characters); `uploaded` keeps the bytes of each accepted one by media id, and the
    attachment its `description` (the alt text). `GET /api/v1/accounts/verify_credentials`
    answers the account for the token (with `followers_count`), 401 for any other.
    `GET /api/v1/statuses/:id` answers a status with the counts a test sets in
    `counts[status_id]` (`favourites_count`, `reblogs_count`, `replies_count`; 0 unset).

    Statuses are checked as Mastodon checks them: `visibility` must be one of its four
    values (422 otherwise); a `language` Mastodon doesn't know is not refused but replaced
    by the account's default (None here), as `PostStatusService` does; the 500-character
    limit counts graphemes, with a link as 23 and `@user@server` as `@user` (a simpler
    reading of links than Mastodon's, written apart from the scheduler's own count).
    """

    name = "mastodon"
    visibilities = ("public", "unlisted", "private", "direct")

    def __init__(
        self,
        *,
        token: str = "mastodon-test-token",
        account: str = "brand",
        port: int = 0,
        record_to: Path | None = None,
    ) -> None:
        super().__init__(port=port, record_to=record_to)
        self.token = token
        self.account = account
        self.statuses: list[dict[str, Any]] = []
        self.counts: dict[str, dict[str, int]] = {}  # status id -> counts (changed by tests)
        self.followers_count = 0
        self.media: dict[str, dict[str, Any]] = {}
        self.uploaded: dict[str, bytes] = {}
        self.media_processing_polls = 0
        self._by_key: dict[str, dict[str, Any]] = {}
        self._pending_polls: dict[str, int] = {}
        self._ids = itertools.count(109_000_000_000_000_001)
        self.notifications: list[dict[str, Any]] = []  # oldest first
        self.page_size = 40  # the most one notifications page holds (Mastodon: 40, max 80)
        self.rate_remaining = 299  # X-RateLimit-Remaining on every answer
        self._notification_ids = itertools.count(1)

    def mention(
        self,
        text: str,
        *,
        author: str = "ali@example.social",
        in_reply_to_id: str | None = None,
        content: str | None = None,
    ) -> dict[str, Any]:
        """Another account's status mentioning us (a reply when `in_reply_to_id` is given),
        and its `mention` notification. `content` is the status HTML as sent (default: the
        text escaped, after a mention link as Mastodon renders one)."""
        with self.lock:
            status_id = str(next(self._ids))
            user, _, domain = author.partition("@")
            profile = f"https://{domain or 'local.test'}/@{user}"
            mention = (
                f'<span class="h-card"><a href="{self.base_url}/@{self.account}" '
                f'class="u-url mention">@<span>{self.account}</span></a></span> '
            )
            status = {
                "id": status_id,
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "in_reply_to_id": in_reply_to_id,
                "content": content
                if content is not None
                else f"<p>{mention}{html.escape(text)}</p>",
                "url": f"{profile}/{status_id}",
                "account": {"id": str(hash(author) & 0xFFFF), "username": user, "acct": author},
            }
            self.notifications.append(
                {
                    "id": str(next(self._notification_ids)),
                    "type": "mention",
                    "created_at": status["created_at"],
                    "account": status["account"],
                    "status": status,
                }
            )
            return status

    def respond(self, request: Request) -> Reply:
        if _bearer(request) != self.token:
            return self._ok(Reply(401, {"error": "The access token is invalid"}))
        if request.method == "GET" and request.path == "/api/v1/notifications":
            return self._ok(self._notifications(request))
        if request.method == "GET" and request.path == "/api/v1/accounts/verify_credentials":
            return self._ok(Reply(200, self._account()))
        if request.method == "POST" and request.path == "/api/v1/statuses":
            return self._ok(self._post_status(request))
        status = re.fullmatch(r"/api/v1/statuses/(\w+)", request.path)
        if request.method == "GET" and status:
            return self._ok(self._get_status(status.group(1)))
        if request.method == "POST" and request.path == "/api/v2/media":
            return self._ok(self._upload(request))
        media = re.fullmatch(r"/api/v1/media/(\w+)", request.path)
        if request.method == "GET" and media:
            return self._ok(self._poll(media.group(1)))
        return self._ok(Reply(404, {"error": "Record not found"}))

    def error_reply(self, status: int, message: str, retry_after: float | None = None) -> Reply:
        return self._ok(Reply(status, {"error": message}))

    def _notifications(self, request: Request) -> Reply:
        """Newest first, as Mastodon pages them: `max_id` (older than), `since_id` (the
        newest ones newer than), `min_id` (the ones just newer than), `limit`, `types[]`,
        with the `Link` header's `next` (older) and `prev` (newer) pages."""
        query = request.query
        types = query.get("types[]") or []
        limit = min(int((query.get("limit") or ["40"])[-1]), self.page_size, 80)

        def bound(name: str) -> int | None:
            value = (query.get(name) or [None])[-1]
            return int(value) if value else None

        max_id, since_id, min_id = bound("max_id"), bound("since_id"), bound("min_id")
        with self.lock:
            chosen = [
                n
                for n in self.notifications
                if (not types or n["type"] in types)
                and (max_id is None or int(n["id"]) < max_id)
                and (since_id is None or int(n["id"]) > since_id)
                and (min_id is None or int(n["id"]) > min_id)
            ]
        # min_id pages forward (the oldest newer ones), the others back from the newest.
        page = chosen[:limit] if min_id is not None else chosen[-limit:]
        page = list(reversed(page))
        reply = Reply(200, page)
        if page:
            path = f"{self.base_url}/api/v1/notifications"
            reply.headers["Link"] = (
                f'<{path}?max_id={page[-1]["id"]}>; rel="next", '
                f'<{path}?min_id={page[0]["id"]}>; rel="prev"'
            )
        return reply

    def _ok(self, reply: Reply) -> Reply:
        reset = (datetime.now(UTC) + timedelta(minutes=5)).replace(second=0, microsecond=0)
        reply.headers.setdefault("X-RateLimit-Limit", "300")
        reply.headers.setdefault("X-RateLimit-Remaining", str(self.rate_remaining))
        reply.headers.setdefault("X-RateLimit-Reset", reset.isoformat().replace("+00:00", "Z"))
        return reply

    def _post_status(self, request: Request) -> Reply:
        key = request.headers.get("idempotency-key")
        if key and key in self._by_key:
            return Reply(200, self._by_key[key])
        params = _params(request)
        text = params.get("status") or ""
        media_ids = params.get("media_ids[]") or params.get("media_ids") or []
        if not text and not media_ids:
            return Reply(422, {"error": "Validation failed: Text can't be blank"})
        if _mastodon_count(text) > 500:
            return Reply(422, {"error": "Validation failed: Text character limit of 500 exceeded"})
        visibility = params.get("visibility") or "public"
        if visibility not in self.visibilities:
            return Reply(422, {"error": f"'{visibility}' is not a valid visibility"})
        language = params.get("language")
        if not (isinstance(language, str) and _MASTODON_LANGUAGE.match(language)):
            language = None  # Mastodon falls back to the account's default language
        attachments = []
        for media_id in media_ids:
            if media_id not in self.media:
                return Reply(422, {"error": "Validation failed: Media attachments is invalid"})
            if self._pending_polls.get(media_id):
                return Reply(
                    422,
                    {
                        "error": "Cannot attach files that have not finished processing. "
                        "Try again in a moment!"
                    },
                )
            attachments.append(self.media[media_id])
        status_id = str(next(self._ids))
        status = {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "content": f"<p>{html.escape(text)}</p>",
            "text": text,
            "visibility": visibility,
            "language": language,
            "uri": f"{self.base_url}/users/{self.account}/statuses/{status_id}",
            "url": f"{self.base_url}/@{self.account}/{status_id}",
            "media_attachments": attachments,
            "in_reply_to_id": params.get("in_reply_to_id"),
            "account": {"id": "1", "username": self.account, "acct": self.account},
        }
        self.statuses.append(status)
        if key:
            self._by_key[key] = status
        return Reply(200, status)

    def _get_status(self, status_id: str) -> Reply:
        with self.lock:
            found = [status for status in self.statuses if status["id"] == status_id]
            if not found:
                return Reply(404, {"error": "Record not found"})
            counts = {"favourites_count": 0, "reblogs_count": 0, "replies_count": 0}
            counts.update(self.counts.get(status_id, {}))
            return Reply(200, {**found[0], **counts})

    def _account(self) -> dict[str, Any]:
        return {
            "id": "1",
            "username": self.account,
            "acct": self.account,
            "followers_count": self.followers_count,
            "display_name": self.account.title(),
            "url": f"{self.base_url}/@{self.account}",
        }

    def _upload(self, request: Request) -> Reply:
        part = request.body.get("file") if isinstance(request.body, dict) else None
        if not isinstance(part, Part):
            return Reply(422, {"error": "Validation failed: File can't be blank"})
        description = request.body.get("description")
        if not isinstance(description, str) or not description:
            description = None
        elif len(description) > MASTODON_DESCRIPTION_LIMIT:
            return Reply(
                422,
                {
                    "error": "Validation failed: Description is too long (maximum is "
                    f"{MASTODON_DESCRIPTION_LIMIT} characters)"
                },
            )
        signatures = MASTODON_IMAGE_SIGNATURES.get(part.content_type)
        if signatures is None:
            return Reply(422, {"error": "Validation failed: File content type is invalid"})
        if not part.data.startswith(signatures) or (
            part.content_type == "image/webp" and part.data[8:12] != b"WEBP"
        ):
            return Reply(
                422,
                {
                    "error": "Validation failed: File has contents that are not what they are "
                    "reported to be"
                },
            )
        if len(part.data) > MASTODON_IMAGE_SIZE_LIMIT:
            return Reply(
                422, {"error": "Validation failed: File file size must be less than 16 MB"}
            )
        media_id = str(next(self._ids))
        self.uploaded[media_id] = part.data
        kind = part.content_type.split("/")[0]
        url = f"{self.base_url}/system/media/{media_id}/{part.filename}"
        self.media[media_id] = {
            "id": media_id,
            "type": kind if kind in ("image", "video", "audio") else "unknown",
            "url": url,
            "preview_url": url,
            "description": description,
            "size": len(part.data),
            "filename": part.filename,
        }
        if self.media_processing_polls:
            self._pending_polls[media_id] = self.media_processing_polls
            return Reply(202, {**self.media[media_id], "url": None})
        return Reply(200, self.media[media_id])

    def _poll(self, media_id: str) -> Reply:
        if media_id not in self.media:
            return Reply(404, {"error": "Record not found"})
        if self._pending_polls.get(media_id):
            self._pending_polls[media_id] -= 1
            return Reply(206, {**self.media[media_id], "url": None})
        return Reply(200, self.media[media_id])


_MASTODON_LANGUAGE = re.compile(r"^([a-z]{2,3}|zh-(CN|HK|TW|YUE))$")


def _mastodon_count(text: str) -> int:
    import regex

    text = regex.sub(r"https?://\S+?(?=[.,;:!?]*(\s|$))", "x" * 23, text)
    text = regex.sub(r"(?<![=/\w])(@\w+(?:[\w.-]+\w)?)@[\w.-]+\w", r"\1", text)
    return len(regex.findall(r"\X", text))


# --- Bluesky PDS -------------------------------------------------------------------------

_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


class FakeBluesky(FakeServer):
    """A PDS: `com.atproto.server.createSession` / `refreshSession`,
    `com.atproto.repo.createRecord` (TID record keys, a taken key refused) and `getRecord`.

    `expire_access_tokens()` makes the current access tokens answer `ExpiredToken`.
    `com.atproto.identity.resolveHandle` answers for the handles in `known_handles` (the
    account's own, plus any a test adds) and 400 "Unable to resolve handle" for others.

    `com.atproto.repo.uploadBlob` takes raw bytes whose content must be the image type the
    Content-Type names (as the PDS sniffs them) and answers a blob reference; `blobs` keeps
    (type, bytes) by CID. A post's `app.bsky.embed.images` is checked as the lexicon says:
    at most 4 images, each with `alt` and a blob this PDS received, of `image/*` and at most
    1,000,000 bytes. `com.atproto.server.createSession` is also what proves credentials.

    A post record is checked against the `app.bsky.feed.post` lexicon as a PDS does: text at
    most 3000 UTF-8 bytes and 300 graphemes, `langs` at most 3 well-formed BCP 47 tags, each
    facet a known feature (a mention with a DID, a link with a URI, a tag of at most 64
    graphemes). Stricter than a PDS, which leaves that to the app view: a facet whose byte
    range is empty, outside the text or not on UTF-8 character boundaries is refused too.
    Note: the exact error a real PDS gives for a taken record key is not documented; this
    one answers 400 `InvalidRequest`, and the publisher does not depend on it.
    """

    name = "bluesky"
    reset_header = "RateLimit-Reset"

    def __init__(
        self,
        *,
        handle: str = "brand.test",
        password: str = "app-pass-word-test",
        did: str = "did:plc:fakebrand0000000000000000",
        port: int = 0,
        record_to: Path | None = None,
    ) -> None:
        super().__init__(port=port, record_to=record_to)
        self.handle = handle
        self.password = password
        self.did = did
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {uri, cid, value}
        # at:// URI -> likeCount, repostCount, replyCount, quoteCount (0 unset; set by tests)
        self.counts: dict[str, dict[str, int]] = {}
        self.followers_count = 0
        self.known_handles: dict[str, str] = {handle: did}  # handle -> DID
        self.sessions_created = 0
        self.blobs: dict[str, tuple[str, bytes]] = {}  # CID -> (mime type, bytes)
        self._access: dict[str, bool] = {}  # token -> still valid
        self._refresh: set[str] = set()
        self._tokens = itertools.count(1)
        self.notifications: list[dict[str, Any]] = []  # oldest first
        self.page_size = 50  # listNotifications' default limit (at most 100)
        self._others = itertools.count(1)

    def notify(
        self,
        reason: str,
        text: str,
        *,
        author: str = "ali.example.com",
        parent: dict[str, str] | None = None,
        root: dict[str, str] | None = None,
        quoted: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Another account's post that replies to `parent` (with `root`, default the
        parent), mentions us or quotes `quoted`, and our notification of it (`reason`:
        reply, mention, quote). Returns its strong ref {uri, cid}."""
        with self.lock:
            number = next(self._others)
            now = datetime.now(UTC)
            record: dict[str, Any] = {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            }
            if parent is not None:
                record["reply"] = {"root": root or parent, "parent": parent}
            if quoted is not None:
                record["embed"] = {"$type": "app.bsky.embed.record", "record": quoted}
            did = f"did:plc:other{abs(hash(author)) % 10**12:012d}"
            uri = f"at://{did}/app.bsky.feed.post/{self._new_tid()[:-3]}{number % 32768:03d}"
            cid = "bafyrei" + hashlib.sha256(uri.encode()).hexdigest()[:52]
            self.notifications.append(
                {
                    "uri": uri,
                    "cid": cid,
                    "author": {"did": did, "handle": author},
                    "reason": reason,
                    "record": record,
                    "isRead": False,
                    # Microseconds keep the order strict even for notices a moment apart.
                    "indexedAt": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                }
            )
            return {"uri": uri, "cid": cid}

    def record_ref(self, rkey: str) -> dict[str, str]:
        """The strong ref {uri, cid} of one of our records."""
        record = self.records[rkey]
        return {"uri": record["uri"], "cid": record["cid"]}

    def expire_access_tokens(self) -> None:
        with self.lock:
            self._access = dict.fromkeys(self._access, False)

    def error_reply(self, status: int, message: str, retry_after: float | None = None) -> Reply:
        names = {400: "InvalidRequest", 401: "AuthenticationRequired", 429: "RateLimitExceeded"}
        name = names.get(status, "InternalServerError" if status >= 500 else "InvalidRequest")
        return Reply(status, {"error": name, "message": message})

    def respond(self, request: Request) -> Reply:
        method = request.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession" and request.method == "POST":
            return self._create_session(request)
        if method == "com.atproto.server.refreshSession" and request.method == "POST":
            return self._refresh_session(request)
        if method == "com.atproto.repo.getRecord" and request.method == "GET":
            return self._get_record(request)
        if method == "com.atproto.identity.resolveHandle" and request.method == "GET":
            return self._resolve_handle(request)
        if method == "com.atproto.repo.createRecord" and request.method == "POST":
            refused = self._check_access(request)
            return refused or self._create_record(request)
        if method == "com.atproto.repo.uploadBlob" and request.method == "POST":
            refused = self._check_access(request)
            return refused or self._upload_blob(request)
        if method == "app.bsky.notification.listNotifications" and request.method == "GET":
            refused = self._check_access(request)
            return refused or self._list_notifications(request)
        if method == "app.bsky.feed.getPosts" and request.method == "GET":
            return self._check_access(request) or self._get_posts(request)
        if method == "app.bsky.actor.getProfile" and request.method == "GET":
            return self._check_access(request) or self._get_profile(request)
        return Reply(501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})

    def _session(self) -> dict[str, Any]:
        number = next(self._tokens)
        access, refresh = f"access-{number}", f"refresh-{number}"
        self._access[access] = True
        self._refresh.add(refresh)
        return {
            "did": self.did,
            "handle": self.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }

    def _create_session(self, request: Request) -> Reply:
        params = _params(request)
        if params.get("identifier") not in (self.handle, self.did) or (
            params.get("password") != self.password
        ):
            return Reply(
                401,
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
            )
        self.sessions_created += 1
        return Reply(200, self._session())

    def _refresh_session(self, request: Request) -> Reply:
        token = _bearer(request)
        if token not in self._refresh:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
        self._refresh.discard(token)
        return Reply(200, self._session())

    def _check_access(self, request: Request) -> Reply | None:
        token = _bearer(request)
        if token is None:
            return Reply(401, {"error": "AuthMissing", "message": "Authentication Required"})
        if token not in self._access:
            return Reply(401, {"error": "InvalidToken", "message": "Token could not be verified"})
        if not self._access[token]:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def _get_posts(self, request: Request) -> Reply:
        """Post views of the URIs asked for (at most 25, as the AppView allows); a URI with
        no record is left out of `posts`, as a deleted post is."""
        uris = request.query.get("uris", [])
        if len(uris) > 25:
            return Reply(
                400,
                {"error": "InvalidRequest", "message": "uris must not have more than 25 elements"},
            )
        posts = []
        with self.lock:
            by_uri = {record["uri"]: record for record in self.records.values()}
            for uri in uris:
                if uri in by_uri:
                    counts = {"likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0}
                    counts.update(self.counts.get(uri, {}))
                    posts.append(
                        {
                            "uri": uri,
                            "cid": by_uri[uri]["cid"],
                            "record": by_uri[uri]["value"],
                            **counts,
                        }
                    )
        return Reply(200, {"posts": posts})

    def _get_profile(self, request: Request) -> Reply:
        actor = _params(request).get("actor")
        if actor not in (self.did, self.handle):
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        return Reply(
            200, {"did": self.did, "handle": self.handle, "followersCount": self.followers_count}
        )

    def _uri(self, collection: str, rkey: str) -> str:
        return f"at://{self.did}/{collection}/{rkey}"

    def _get_record(self, request: Request) -> Reply:
        params = _params(request)
        rkey, collection = params.get("rkey", ""), params.get("collection", "")
        record = self.records.get(rkey)
        if params.get("repo") not in (self.did, self.handle) or record is None:
            return Reply(
                400,
                {
                    "error": "RecordNotFound",
                    "message": f"Could not locate record: {self._uri(collection, rkey)}",
                },
            )
        return Reply(200, record)

    def _create_record(self, request: Request) -> Reply:
        params = _params(request)
        collection, record = params.get("collection"), params.get("record")
        rkey = params.get("rkey") or self._new_tid()
        problem = None
        if params.get("repo") not in (self.did, self.handle):
            problem = "Invalid repo"
        elif not isinstance(record, dict) or record.get("$type") != collection:
            problem = f"Invalid $type: expected {collection}"
        elif collection == "app.bsky.feed.post" and not (
            isinstance(record.get("text"), str) and isinstance(record.get("createdAt"), str)
        ):
            problem = "Record/text and Record/createdAt are required"
        elif not _TID.match(rkey):
            problem = f"Invalid record key: {rkey} is not a TID"
        elif rkey in self.records:
            problem = f"Record already exists: {self._uri(str(collection), rkey)}"
        elif collection == "app.bsky.feed.post":
            problem = _post_problem(record) or self._embed_problem(record)
        if problem:
            return Reply(400, {"error": "InvalidRequest", "message": problem})
        uri = self._uri(str(collection), rkey)
        cid = "bafyrei" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
        self.records[rkey] = {"uri": uri, "cid": cid[:59], "value": record}
        return Reply(
            200,
            {
                "uri": uri,
                "cid": cid[:59],
                "commit": {"cid": cid[:59], "rev": self._new_tid()},
                "validationStatus": "valid",
            },
        )

    def _list_notifications(self, request: Request) -> Reply:
        """Newest first; `cursor` is the `indexedAt` the previous page ended at, as the
        AppView's is (so notices arriving meanwhile don't shift the pages)."""
        params = _params(request)
        limit = min(int(params.get("limit") or 50), self.page_size, 100)
        cursor = params.get("cursor")
        with self.lock:
            older = [
                n for n in reversed(self.notifications) if cursor is None or n["indexedAt"] < cursor
            ]
        page = older[:limit]
        body: dict[str, Any] = {"notifications": page}
        if len(older) > limit:
            body["cursor"] = page[-1]["indexedAt"]
        return Reply(200, body)

    def _upload_blob(self, request: Request) -> Reply:
        declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
        data = request.raw
        if not data:
            return Reply(400, {"error": "InvalidRequest", "message": "request body is empty"})
        sniffed = _image_type(data)
        if sniffed is not None and declared != sniffed:
            return Reply(
                400,
                {
                    "error": "InvalidRequest",
                    "message": f"Content-Type {declared} does not match the bytes ({sniffed})",
                },
            )
        mime = sniffed or declared or "application/octet-stream"
        cid = "bafkrei" + hashlib.sha256(data).hexdigest()[:52]
        with self.lock:
            self.blobs[cid] = (mime, data)
        return Reply(
            200,
            {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}},
        )

    def _embed_problem(self, record: dict[str, Any]) -> str | None:
        """Why the record's embed can't be stored: images over the lexicon or unknown blobs."""
        embed = record.get("embed")
        if embed is None:
            return None
        where = "Invalid app.bsky.feed.post record: Record/embed"
        if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.images":
            return f"{where} must be an app.bsky.embed.images (the only embed this fake knows)"
        images = embed.get("images")
        if not isinstance(images, list) or not images:
            return f"{where}/images must be a non-empty array"
        if len(images) > 4:
            return f"{where}/images must not have more than 4 elements"
        for i, image in enumerate(images):
            if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                return f'{where}/images/{i} must have the property "alt"'
            blob = image.get("image")
            ref = blob.get("ref") if isinstance(blob, dict) else None
            cid = ref.get("$link") if isinstance(ref, dict) else None
            if not isinstance(blob, dict) or blob.get("$type") != "blob" or cid is None:
                return f"{where}/images/{i}/image should be a blob ref"
            if cid not in self.blobs:
                return f"Could not find blob: {cid}"
            mime, data = self.blobs[cid]
            if blob.get("mimeType") != mime or blob.get("size") != len(data):
                return f"{where}/images/{i}/image: mimeType or size does not match the blob"
            if not mime.startswith("image/"):
                return f"{where}/images/{i}/image has an unaccepted mime type: {mime}"
            if len(data) > 1_000_000:
                return f"{where}/images/{i}/image file too large ({len(data)} > 1000000)"
        return None

    def _resolve_handle(self, request: Request) -> Reply:
        handle = str(_params(request).get("handle", "")).lower()
        if handle in self.known_handles:
            return Reply(200, {"did": self.known_handles[handle]})
        return Reply(400, {"error": "InvalidRequest", "message": "Unable to resolve handle"})

    def _new_tid(self) -> str:
        alphabet = "234567abcdefghijklmnopqrstuvwxyz"
        value = int(datetime.now(UTC).timestamp() * 1_000_000) << 10
        return "".join(alphabet[(value >> shift) & 31] for shift in range(60, -1, -5))


# packages/syntax/src/language.ts BCP47_REGEXP, without the grandfathered tags.
_BCP47 = re.compile(
    r"^((?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}(?:-[A-Za-z]{3}){0,2})?|[A-Za-z]{4}|[A-Za-z]{5,8})"
    r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?"
    r"|[xX](?:-[A-Za-z0-9]{1,8})+)$"
)
_FEATURES = {
    "app.bsky.richtext.facet#mention": "did",
    "app.bsky.richtext.facet#link": "uri",
    "app.bsky.richtext.facet#tag": "tag",
}


def _post_problem(record: dict[str, Any]) -> str | None:
    """Why a PDS (and this fake's stricter facet check) refuses an `app.bsky.feed.post`."""
    import regex

    text = record["text"]
    raw = text.encode("utf-8")
    if len(raw) > 3000:
        return (
            "Invalid app.bsky.feed.post record: Record/text must not be longer than 3000 characters"
        )
    if len(regex.findall(r"\X", text)) > 300:
        return (
            "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
        )
    langs = record.get("langs", [])
    if not isinstance(langs, list) or len(langs) > 3:
        return "Invalid app.bsky.feed.post record: Record/langs must be an array of at most 3"
    for i, lang in enumerate(langs):
        if not (isinstance(lang, str) and _BCP47.match(lang)):
            return (
                f"Invalid app.bsky.feed.post record: Record/langs/{i} must be a valid language code"
            )
    facets = record.get("facets", [])
    if not isinstance(facets, list):
        return "Invalid app.bsky.feed.post record: Record/facets must be an array"
    for i, facet in enumerate(facets):
        problem = _facet_problem(facet, raw)
        if problem:
            return f"Invalid app.bsky.feed.post record: Record/facets/{i}{problem}"
    return None


def _facet_problem(facet: Any, raw: bytes) -> str | None:
    import regex

    index = facet.get("index") if isinstance(facet, dict) else None
    start = index.get("byteStart") if isinstance(index, dict) else None
    end = index.get("byteEnd") if isinstance(index, dict) else None
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(raw)):
        return "/index must be a non-empty byte range inside the text"
    for edge in (start, end):
        if edge < len(raw) and raw[edge] & 0xC0 == 0x80:
            return f"/index: byte {edge} is inside a UTF-8 character"
    features = facet.get("features")
    if not isinstance(features, list) or not features:
        return "/features must be a non-empty array"
    for feature in features:
        key = _FEATURES.get(feature.get("$type") if isinstance(feature, dict) else None)
        value = feature.get(key) if key else None
        if not isinstance(value, str) or not value:
            return "/features: unknown feature or missing value"
        if key == "did" and not value.startswith("did:"):
            return "/features/did must be a DID"
        if key == "uri" and not regex.match(r"^[a-z][a-z0-9+.-]*:\S+$", value, regex.I):
            return "/features/uri must be a URI"
        if key == "tag" and (len(regex.findall(r"\X", value)) > 64 or len(value.encode()) > 640):
            return "/features/tag must not be longer than 64 graphemes"
    return None


# --- Telegram Bot API --------------------------------------------------------------------


TELEGRAM_PHOTO_LIMIT = 10 * 1000 * 1000  # "The photo must be at most 10 MB in size."


class FakeTelegram(FakeServer):
    """Bot API `sendMessage` at `/bot<token>/sendMessage` (JSON, form or query parameters),
    `sendPhoto` (a multipart upload: `photo` must be JPEG, PNG or WebP bytes of at most
    10 MB, `caption` at most 1024 UTF-16 code units; `photos` keeps the bytes by message
    id) and `getMe` (the bot, `@username`)."""

    name = "telegram"
    retry_after_header = False  # the Bot API says it in `parameters.retry_after`

    def __init__(
        self,
        *,
        token: str = "123456:TEST-bot-token_abc",
        username: str = "brand_bot",
        port: int = 0,
        record_to: Path | None = None,
    ) -> None:
        super().__init__(port=port, record_to=record_to)
        self.token = token
        self.username = username
        self.messages: list[dict[str, Any]] = []
        self.photos: dict[int, bytes] = {}
        self._ids = itertools.count(1)

    def error_reply(self, status: int, message: str, retry_after: float | None = None) -> Reply:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": message}
        if status == 429:
            wait = int(retry_after if retry_after is not None else 5)
            body["description"] = f"Too Many Requests: retry after {wait}"
            body["parameters"] = {"retry_after": wait}
        return Reply(status, body)

    def respond(self, request: Request) -> Reply:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if not match:
            return self.error_reply(404, "Not Found")
        if match.group(1) != self.token:
            return self.error_reply(401, "Unauthorized")
        if match.group(2) == "getMe":
            bot = {"id": 123456, "is_bot": True, "first_name": "Brand", "username": self.username}
            return Reply(200, {"ok": True, "result": bot})
        if match.group(2) == "sendPhoto":
            return self._send_photo(request)
        if match.group(2) != "sendMessage":
            return self.error_reply(404, "Not Found: method not found")
        params = _params(request)
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, ""):
            return self.error_reply(400, "Bad Request: chat_id is empty")
        if not text:
            return self.error_reply(400, "Bad Request: message text is empty")
        if len(str(text).encode("utf-16-le")) // 2 > 4096:  # the Bot API counts UTF-16 units
            return self.error_reply(400, "Bad Request: message is too long")
        message = {
            "message_id": next(self._ids),
            "date": int(datetime.now(UTC).timestamp()),
            "chat": _telegram_chat(chat_id),
            "text": text,
        }
        self.messages.append(message)
        return Reply(200, {"ok": True, "result": message})

    def _send_photo(self, request: Request) -> Reply:
        params = _params(request)
        chat_id, caption, photo = params.get("chat_id"), params.get("caption"), params.get("photo")
        if chat_id in (None, ""):
            return self.error_reply(400, "Bad Request: chat_id is empty")
        if not isinstance(photo, Part):
            return self.error_reply(400, "Bad Request: there is no photo in the request")
        if len(photo.data) > TELEGRAM_PHOTO_LIMIT:
            return self.error_reply(400, "Bad Request: file is too big")
        if _image_type(photo.data) not in ("image/jpeg", "image/png", "image/webp"):
            return self.error_reply(400, "Bad Request: IMAGE_PROCESS_FAILED")
        if caption is not None and len(str(caption).encode("utf-16-le")) // 2 > 1024:
            return self.error_reply(400, "Bad Request: message caption is too long")
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(datetime.now(UTC).timestamp()),
            "chat": _telegram_chat(chat_id),
            "photo": [
                {
                    "file_id": "AgAC" + hashlib.sha256(photo.data).hexdigest()[:24],
                    "file_size": len(photo.data),
                    "width": 1,
                    "height": 1,
                }
            ],
        }
        if caption:
            message["caption"] = caption
        self.photos[message["message_id"]] = photo.data
        self.messages.append(message)
        return Reply(200, {"ok": True, "result": message})


def _telegram_chat(chat_id: Any) -> dict[str, Any]:
    if isinstance(chat_id, str) and chat_id.startswith("@"):
        return {"id": -1001000000000, "type": "channel", "username": chat_id[1:]}
    return {"id": chat_id, "type": "channel"}


SERVERS: dict[str, Callable[..., FakeServer]] = {
    "webhook": FakeWebhook,
    "mastodon": FakeMastodon,
    "bluesky": FakeBluesky,
    "telegram": FakeTelegram,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakeplatforms",
        description="Serve a fake platform in the foreground; prints its base URL first.",
    )
    parser.add_argument("platform", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--record", type=Path, help="append every request here as JSON lines")
    args = parser.parse_args(argv)
    stop = threading.Event()
    with (
        StopSignals(on_stop=stop.set),
        SERVERS[args.platform](port=args.port, record_to=args.record) as server,
    ):
        print(server.base_url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
