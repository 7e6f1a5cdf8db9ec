"""What a readable platform hands the listener (DESIGN §10): replies, mentions and quotes.

Everything here comes from outside. It is kept as received (the text, the author, the URL)
and cleaned only where it is shown; what a later reply needs (`target`) is checked here,
since it goes back to the platform.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Protocol, runtime_checkable

from ..domain import NoticePage

MAX_AUTHOR = 500
MAX_PLATFORM_ID = 500


@runtime_checkable
class Readable(Protocol):
    """A publisher whose platform can be read. `notices(cursor)` yields the pages newer than
    the stored `cursor` (None: never read), each to be stored, with its cursor, before the
    next is fetched; it raises PublishError as publishing does (429 with `retry_after`)."""

    def notices(self, cursor: str | None) -> Iterator[NoticePage]: ...


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time from a platform as aware UTC, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def short(value: object, limit: int) -> str | None:
    """A platform's string if it fits the column, else None (the notice is skipped)."""
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def html_to_text(html: str) -> str:
    """Mastodon's status HTML as plain text: paragraphs and line breaks kept, a link as its
    URL (Mastodon shortens the shown text), a mention or hashtag as its own text."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._link_depth = 0  # inside an <a> whose text is replaced by its URL

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")
        elif tag == "a":
            classes = (values.get("class") or "").split()
            href = values.get("href")
            if self._link_depth:
                self._link_depth += 1
            elif href and "mention" not in classes and "hashtag" not in classes:
                self.parts.append(href)
                self._link_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link_depth:
            self._link_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._link_depth:
            self.parts.append(data)
