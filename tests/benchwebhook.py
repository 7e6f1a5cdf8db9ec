"""A webhook receiver fast enough to measure the daemon's sending against: for the benches.

`FakeWebhook` (tests/fakeplatforms.py) gives each connection a thread and parses with
`http.server`; on two cores that caps a burst near 800 requests/s, below the rate the
dispatch bench asks of the daemon, so the bench measured the receiver. This one serves the
same webhook API (any request answered 200 "ok" as Slack does, HTTP/1.1 keep-alive) from one
asyncio loop with a parser of its own, and records every request as the same JSON line
(`Request.json_line`: method, path, query, headers with lower-case names, body, raw, and `at`,
when the request had been read in full). It has no faults to inject: tests that need them
use `FakeWebhook`.

    python -m tests.benchwebhook --record log.jsonl [--port 0]

prints its base URL on the first line and serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from tests.fakeplatforms import Request, received

_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nok"
)
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_HEADERS_LIMIT = 64 * 1024


class _Malformed(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One client connection: reads requests as they come (pipelined ones too), answers each."""

    def __init__(self, record: Path) -> None:
        self._record = record
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        lines: list[str] = []
        try:
            while (request := self._next_request()) is not None:
                lines.append(request.json_line() + "\n")
        except _Malformed:
            self._transport.write(_BAD_REQUEST)
            self._transport.close()
            return
        if lines:
            # Opened for each write, as a reader may remove the record between bursts; written
            # before the answer, so a request is in the record once its client has the answer.
            with open(self._record, "a", encoding="utf-8") as log:
                log.write("".join(lines))
            self._transport.write(_ANSWER * len(lines))

    def _next_request(self) -> Request | None:
        """The first whole request in the buffer, taken out of it; None until one is whole."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _HEADERS_LIMIT:
                raise _Malformed
            return None
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, _version = head[0].split(" ")
        except ValueError:
            raise _Malformed from None
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise _Malformed
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            taken = _dechunk(self._buffer, start)
            if taken is None:
                return None
            raw, after = taken
        else:
            length = headers.get("content-length", "0")
            if not length.isdigit():
                raise _Malformed
            after = start + int(length)
            if len(self._buffer) < after:
                return None
            raw = bytes(self._buffer[start:after])
        del self._buffer[:after]
        return received(method, target, headers, raw)


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body starting at `start`: its bytes and where it ends, or None if not whole."""
    chunks: list[bytes] = []
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[at:line_end]).split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise _Malformed from None
        at = line_end + 2
        if size == 0:
            trailers_end = buffer.find(b"\r\n", at)
            while trailers_end > at:  # skip trailer lines up to the empty one
                at = trailers_end + 2
                trailers_end = buffer.find(b"\r\n", at)
            if trailers_end < 0:
                return None
            return b"".join(chunks), trailers_end + 2
        if len(buffer) < at + size + 2:
            return None
        chunks.append(bytes(buffer[at : at + size]))
        at += size + 2


async def serve(record: Path, port: int, ready: asyncio.Future[str] | None = None) -> None:
    """Serve until cancelled; `ready` gets the base URL once listening."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(record), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    async with server:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        if ready is not None:
            ready.set_result(url)
        else:
            print(url, flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchwebhook",
        description="Serve a fast fake webhook in the foreground; prints its base URL first.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--record", type=Path, required=True, help="append requests here")
    args = parser.parse_args(argv)

    async def run() -> None:
        serving = asyncio.create_task(serve(args.record, args.port))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, serving.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
