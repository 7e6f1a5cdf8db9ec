"""`scheduler inbox`, `inbox done` and `reply` (DESIGN §4, §10): parse, call, print."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from .app import (
    FileOption,
    ShowFormat,
    _stdin_if,
    default_editor,
    parse_id,
    print_json,
)
from .context import context

if TYPE_CHECKING:
    from ..store.inbox import InboxEntry

SNIPPET = 60  # terminal cells of the answered post's text shown


def _item_id(text: str) -> int:
    from ..errors import InboxItemNotFound

    return parse_id(text, "an inbox item id", InboxItemNotFound)


ItemArgument = Annotated[
    int, typer.Argument(metavar="ITEM", help="The inbox item's id.", parser=_item_id)
]

inbox_app = typer.Typer(
    help="Replies, mentions and quotes of our posts; open ones oldest first.",
    rich_markup_mode=None,
)


@inbox_app.callback(invoke_without_command=True)
def inbox(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Answered and done items too, not only open ones.")
    ] = False,
    output: Annotated[ShowFormat, typer.Option("--format", help="text or json.")] = ShowFormat.text,
) -> None:
    """List inbox items: open ones oldest first, with age, author, text and what they answer."""
    if ctx.invoked_subcommand is not None:
        return
    from ..store.inbox import InboxStore

    app_ctx = context(ctx)
    if channel is not None:
        app_ctx.config.channel(channel)  # an unknown channel is an error, not an empty list
    entries = InboxStore(app_ctx.store).entries(channel=channel, include_closed=everything)
    if output is ShowFormat.json:
        print_json({"items": [entry.as_json() for entry in entries]})
        return
    if not entries:
        print("inbox: nothing open" if not everything else "inbox: empty")
        return
    now = app_ctx.now()
    print("\n\n".join(_entry_text(entry, now) for entry in entries))


def _entry_text(entry: InboxEntry, now: datetime) -> str:
    from ..render.terminal import cell, clean, isolate
    from ..timeutil import format_duration

    item = entry.item
    minutes = max(int((now - item.at).total_seconds() // 60), 0)
    age = f"{format_duration(timedelta(minutes=minutes))} ago" if minutes else "just now"
    lines = [f"#{item.id}  {item.channel}  {item.kind}  {item.status}  {age}  {cell(item.author)}"]
    lines += [f"    {isolate(line)}" for line in clean(item.text, keep_newlines=True).split("\n")]
    if item.airing_id is not None:
        snippet = cell(entry.answers_body or "", SNIPPET)
        lines.append(
            f"    answers post {item.post_id} ({entry.answers_kind}, airing {item.airing_id}): "
            + snippet
        )
    if item.url:
        lines.append(f"    {cell(item.url)}")
    if item.reply_airing_id is not None:
        lines.append(f"    reply: airing {item.reply_airing_id} ({entry.reply_status})")
    return "\n".join(lines)


@inbox_app.command("done")
def inbox_done(ctx: typer.Context, item_id: ItemArgument) -> None:
    """Close an item that needs no answer."""
    from ..store.inbox import InboxStore

    item = InboxStore(context(ctx).store).done(item_id)
    print(f"inbox item {item.id}: {item.status}")


def reply(
    ctx: typer.Context,
    item_id: ItemArgument,
    text: Annotated[
        str | None, typer.Argument(help="The reply's text.", show_default=False)
    ] = None,
    file: FileOption = None,
) -> None:
    """Answer an inbox item in its thread: queued now, sent once by the daemon."""
    from ..store.inbox import InboxStore
    from .queue_commands import read_body
    from .replies import reply_text

    app_ctx = context(ctx)
    inbox = InboxStore(app_ctx.store)
    item = inbox.get(item_id)
    body = reply_text(app_ctx.config, item, read_body(text, file, _stdin_if(file)))
    airing_id = inbox.queue_reply(item_id, body, editor=default_editor(), now=app_ctx.now())
    print(f"reply to inbox item {item_id} queued as airing {airing_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(inbox_app, name="inbox")
    app.command("reply")(reply)
