"""What publishers read from a platform's answer (publishers/answers.py), on both paths."""

from __future__ import annotations

import httpx
import pytest

from scheduler.publishers.answers import Answer, json_body, platform_message


def answer(content: bytes, content_type: str = "", status: int = 200) -> Answer:
    headers = httpx.Headers({"Content-Type": content_type} if content_type else {})
    return Answer(status, headers, content, "Reason")


@pytest.mark.parametrize(
    ("content", "content_type", "text"),
    [
        ("café".encode(), "text/plain; charset=utf-8", "café"),
        ("café".encode("latin-1"), "text/plain; charset=ISO-8859-1", "café"),
        ("café".encode(), "text/plain", "café"),  # no charset named: UTF-8
        ("café".encode(), "text/plain; charset=no-such-codec", "café"),
        (b"caf\xe9", "", "caf\ufffd"),  # not UTF-8: replaced, never an error
    ],
)
def test_the_text_is_read_in_the_charset_the_answer_names(
    content: bytes, content_type: str, text: str
) -> None:
    assert answer(content, content_type).text == text


@pytest.mark.parametrize(
    ("content", "body"),
    [
        (b'{"id": "7", "url": "https://x/7"}', {"id": "7", "url": "https://x/7"}),
        (b' \n [{"id": "1"}]', [{"id": "1"}]),
        (b"ok", None),  # Slack's answer
        (b"", None),  # Discord's 204
        (b'"a JSON string"', None),  # no caller reads one
        (b"{not json", None),
        (b"<html>busy</html>", None),
    ],
)
def test_a_json_body_is_an_object_or_an_array_or_none(content: bytes, body: object) -> None:
    assert json_body(answer(content, "application/json")) == body


def test_an_error_without_json_is_told_in_its_text_or_reason() -> None:
    assert platform_message(answer(b"  invalid_token \n", status=403)) == "invalid_token"
    assert platform_message(answer(b"", status=503)) == "Reason"
    assert platform_message(answer(b'{"error": "Name", "message": "why"}')) == "Name: why"


def test_the_headers_keep_their_case_insensitive_names() -> None:
    got = Answer(429, httpx.Headers({"Retry-After": "3"}), b"", "Too Many Requests")
    assert got.headers.get("retry-after") == "3" and not got.is_success
    assert repr(got) == "<Answer 429 Too Many Requests, 0 bytes>"
