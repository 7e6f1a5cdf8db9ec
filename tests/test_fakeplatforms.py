"""The fake platforms themselves, where the fault tests rely on how they read a request."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.fakeplatforms import FakeWebhook


@pytest.mark.parametrize(
    "cut",
    [
        b'Content-Length: 10\r\n\r\n{"a"',  # headers written, the body not all
        b'Transfer-Encoding: chunked\r\n\r\n9\r\n{"a"',  # a chunk cut short
        b"Transfer-Encoding: chunked\r\n\r\n",  # no chunk at all
    ],
    ids=["body", "chunk", "no-chunk"],
)
def test_a_request_cut_short_by_a_dying_sender_is_not_received(cut: bytes) -> None:
    """A sender killed between writing a request's headers and its body (kill -9 mid-batch)
    leaves half a request on the wire; a platform never acts on it, and the fake neither
    records nor answers it. The whole request after it is received as usual."""
    with FakeWebhook() as hook:
        with socket.create_connection(("127.0.0.1", hook.port), timeout=10) as sender:
            sender.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\n" + cut)
            sender.shutdown(socket.SHUT_WR)
            assert sender.recv(100) == b""  # closed without an answer
        whole = urllib.request.Request(hook.url, data=b'{"a": 1}', method="POST")
        whole.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(whole, timeout=10) as response:
            assert response.status == 200
    assert [(r.path, r.body) for r in hook.requests] == [("/hook", {"a": 1})]
    assert hook.posts == {"": {"a": 1}}
