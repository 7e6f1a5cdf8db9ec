"""The benches' fast webhook receiver records what it was sent as `FakeWebhook` does."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    record = tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.benchwebhook", "--record", str(record)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    try:
        yield base_url, record
    finally:
        process.send_signal(signal.SIGTERM)
        process.stdout.close()
        assert process.wait(timeout=30) == 0


def lines(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


def test_each_request_is_answered_ok_and_recorded_whole(receiver: tuple[str, Path]) -> None:
    base_url, record = receiver
    before = datetime.now(UTC)
    body = json.dumps({"body": "إطلاق 🚀"}, ensure_ascii=False).encode()
    with httpx.Client() as client:  # one keep-alive connection for all three
        first = client.post(
            f"{base_url}/hook/ch001?x=1",
            content=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": "k1"},
        )
        chunked = client.post(f"{base_url}/hook/ch002", content=iter([b"plain ", b"text"]))
        empty = client.get(f"{base_url}/hook/ch003")
    assert [r.status_code for r in (first, chunked, empty)] == [200, 200, 200]
    assert first.text == "ok"
    one, two, three = lines(record)
    assert one["method"] == "POST" and one["path"] == "/hook/ch001"
    assert one["query"] == {"x": ["1"]}
    assert one["headers"]["idempotency-key"] == "k1"
    assert one["body"] == {"body": "إطلاق 🚀"}
    assert one["raw"] == body.decode()
    assert before <= datetime.fromisoformat(one["at"]) <= datetime.now(UTC)
    assert two["headers"]["transfer-encoding"] == "chunked"
    assert two["raw"] == two["body"] == "plain text"
    assert three["method"] == "GET" and three["body"] is None and three["raw"] == ""


def test_pipelined_requests_are_each_answered(receiver: tuple[str, Path]) -> None:
    base_url, record = receiver
    host, port = base_url.removeprefix("http://").split(":")
    request = b"POST /hook/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request * 3)
        answers = b""
        while answers.count(b"HTTP/1.1 200 OK") < 3:
            chunk = connection.recv(65536)
            assert chunk, "the receiver closed the connection"
            answers += chunk
    assert [r["body"] for r in lines(record)] == [{}, {}, {}]


def test_a_request_that_is_not_http_is_refused(receiver: tuple[str, Path]) -> None:
    base_url, record = receiver
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"nonsense\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 400 ")
    assert not record.exists() or lines(record) == []
