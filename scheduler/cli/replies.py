"""Answering an inbox item (DESIGN §10): the reply's text, checked like a post's."""

from __future__ import annotations

import json

from ..config import Config
from ..errors import InputError
from ..store.models import InboxItem
from ..text import length_problem
from .queue_commands import unstorable_text_problem


def reply_text(config: Config, item: InboxItem, text: str | None) -> str:
    """The text a reply to `item` sends, as its platform writes a reply (on Mastodon it starts
    with the author's @handle, added when missing); it must fit the channel's limits.
    Leading and trailing whitespace goes, as from a post's body (`echo … > file` ends in a
    newline). Raises InputError naming what is wrong."""
    text = (text or "").strip()
    if not text:
        raise InputError("give the reply's text as TEXT, --file PATH or --file - (it is empty)")
    problem = unstorable_text_problem(text, "the reply")
    if problem:
        raise InputError(problem)
    channel = config.channel(item.channel)
    text = channel.platform.reply_text(text, json.loads(item.target))
    problem = length_problem(text, channel)
    if problem:
        raise InputError(f"reply to inbox item {item.id}: {problem.replace('body', 'reply', 1)}")
    return text
