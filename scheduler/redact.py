"""Removing secrets from text that leaves the process (errors, logs, what editors see).

A platform that echoes a token rarely echoes it byte for byte: it may answer JSON
(`"tok\\"en"`), percent-encode it in a URL, or quote it in a Python `repr` (h11 names an
illegal header as `b'Bearer abc\\n'`), and it may cut its message short. So a `Redactor`
looks for every encoded form of every secret (and of each line of a multi-line one), for
any run of at least `RUN` characters of a token's form wherever it stands (a platform
may quote part of a token), and for a prefix of at least `PIECE` characters of any form
where a text was cut: at its end or before an ellipsis. Redaction must run before our own
truncation, since a cut there could leave a piece of a secret that no longer looks like one.

A URL that is a secret (a Slack or Discord webhook) shares its scheme, host and words such
as `services` with every other URL, so runs of it are not looked for; its path segments
that look like ids or tokens (a digit, or 16 characters and more) are, as tokens.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MARK = "<redacted>"
PIECE = 8  # shorter prefixes occur in ordinary text by chance
# A run found anywhere must be longer: a token made of words (`mastodon-test-token`) shares
# eight characters with ordinary text far more often than twelve.
RUN = 12
_ELLIPSIS = re.compile(r"…|\.\.\.")


def encoded_forms(secret: str) -> set[str]:
    """The ways `secret` can appear inside a message: raw, escaped, percent-encoded."""
    forms = {
        secret,
        " ".join(secret.split()),  # whitespace collapsed, as one-line messages do
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode("utf-8"))[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
        quote(secret, safe=""),
        quote(secret, safe="/:"),
        quote_plus(secret),
        html.escape(secret),
    }
    forms.discard("")
    return forms


class Redactor:
    """Replaces every form of the given secrets, whole or cut short, with `<redacted>`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        secrets = tuple(secrets)
        # A multi-line secret may be echoed one line at a time: each long line is one too.
        parts = {s for s in secrets if s} | {
            line for s in secrets for line in s.split() if len(line) >= PIECE
        }
        tokens = {p for p in parts if "://" not in p} | {
            segment for p in parts if "://" in p for segment in _secret_segments(p)
        }
        forms = {form for part in parts | tokens for form in encoded_forms(part)}
        self._forms = sorted(forms, key=len, reverse=True)
        # Every prefix a cut can leave, found by its last PIECE characters.
        self._prefixes: dict[str, list[str]] = {}
        for form in forms:
            for end in range(PIECE, len(form)):
                self._prefixes.setdefault(form[end - PIECE : end], []).append(form[:end])
        # Every run of RUN characters of a token's forms, with where it starts in the form.
        self._runs: dict[str, list[tuple[str, int]]] = {}
        for form in {form for token in tokens for form in encoded_forms(token)}:
            for start in range(len(form) - RUN + 1):
                self._runs.setdefault(form[start : start + RUN], []).append((form, start))

    def __call__(self, text: str) -> str:
        spans = self._whole_spans(text) + self._cut_spans(text) + self._run_spans(text)
        if not spans:
            return text
        out, position = [], 0
        for start, end in _merged(spans):
            out += [text[position:start], MARK]
            position = end
        out.append(text[position:])
        return "".join(out)

    def _whole_spans(self, text: str) -> list[tuple[int, int]]:
        spans = []
        for form in self._forms:
            start = text.find(form)
            while start != -1:
                spans.append((start, start + len(form)))
                start = text.find(form, start + len(form))
        return spans

    def _run_spans(self, text: str) -> list[tuple[int, int]]:
        """Each stretch of `text` that is a run of RUN or more characters of a token."""
        spans = []
        for start in range(len(text) - RUN + 1):
            for form, offset in self._runs.get(text[start : start + RUN], ()):
                length = RUN
                while (
                    offset + length < len(form)
                    and start + length < len(text)
                    and text[start + length] == form[offset + length]
                ):
                    length += 1
                spans.append((start, start + length))
        return spans

    def _cut_spans(self, text: str) -> list[tuple[int, int]]:
        """The longest prefix of a form that ends where `text` was cut short."""
        cuts = {len(text.rstrip()), *(m.start() for m in _ELLIPSIS.finditer(text))}
        spans = []
        for cut in cuts:
            candidates = self._prefixes.get(text[max(cut - PIECE, 0) : cut], [])
            matching = [p for p in candidates if text.endswith(p, 0, cut)]
            if matching:
                spans.append((cut - max(map(len, matching)), cut))
        return spans


def _secret_segments(url: str) -> set[str]:
    """The path segments of a secret URL that look like ids or tokens."""
    path = url.split("://", 1)[1].partition("/")[2]
    return {
        segment
        for segment in path.split("/")
        if len(segment) >= PIECE and (len(segment) >= 16 or any(c.isdigit() for c in segment))
    }


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans joined, in order."""
    result: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return result
