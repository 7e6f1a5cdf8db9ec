"""The `scheduler` command: Typer commands that only parse, call the library, and print.

Library modules are imported inside the commands that need them: the database layer alone
costs a few hundred milliseconds to import, and `--help` or `check` should not pay for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError, InputError
from ..planning.collector import cycle_collection_paused
from .context import AppContext, context, plan_wait
from .root import RootGroup, internal_error

if TYPE_CHECKING:
    from ..config import Config
    from ..domain import PostDraft

app = typer.Typer(
    name="scheduler",
    cls=RootGroup,
    help="Content scheduling daemon: queue posts, preview the calendar, run the publisher.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
queue_app = typer.Typer(
    help="Queue, inspect and change posts.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(queue_app, name="queue")
metrics_app = typer.Typer(
    help="Counts measured outside the daemon (§11).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(metrics_app, name="metrics")


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class ShowFormat(StrEnum):
    text = "text"
    json = "json"


def print_json(value: Any) -> None:
    from ..render.terminal import json_text

    sys.stdout.write(json_text(value))
    sys.stdout.write("\n")  # not `+ "\n"`: a copy of a simulation's 29 MB


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"content-scheduler {version('content-scheduler')}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (default: $SCHEDULER_CONFIG, else ./config.toml).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the installed version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    # A caller may hand in its own context (tests: a fixed clock); `--config` still applies.
    app_ctx = ctx.ensure_object(AppContext)
    if config is not None:
        app_ctx.config_path = config
    ctx.call_on_close(app_ctx.close)


# --- check ---------------------------------------------------------------------------------


@app.command()
def check(
    ctx: typer.Context,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also prove each channel's credentials with one read-only call to its platform.",
        ),
    ] = False,
) -> None:
    """Validate the config, reach the database and resolve every secret reference."""
    from ..render.terminal import clean
    from ..runtime.checks import run_checks

    app_ctx = context(ctx)
    report, problems = run_checks(app_ctx.config_path, online=online)
    for line in report:
        print(clean(line))  # may quote what a platform answered
    if problems:
        raise ConfigError(problems)


# --- queue ---------------------------------------------------------------------------------

ChannelOption = Annotated[
    list[str] | None,
    typer.Option("--channel", "-c", help="Target channel; repeat for several.", show_default=False),
]
KindOption = Annotated[
    str | None, typer.Option("--kind", help="core or entertaining.", show_default=False)
]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="Pinned time (WHEN); without it the planner picks slots."),
]
ExpiresOption = Annotated[
    str | None, typer.Option("--expires", help="Nothing airs after this time (WHEN).")
]
FileOption = Annotated[
    str | None, typer.Option("--file", help="Read the body from PATH, or - for standard input.")
]
MediaOption = Annotated[
    list[str] | None, typer.Option("--media", help="Attach a file; repeat for several.")
]
AltOption = Annotated[
    list[str] | None,
    typer.Option(
        "--alt",
        help="Alt text of the --media given in the same position; repeat for several.",
        show_default=False,
    ),
]
EditorOption = Annotated[
    str | None,
    typer.Option("--editor", help="Who queued it (default: $SCHEDULER_EDITOR, else your login)."),
]
JsonFlag = Annotated[ShowFormat, typer.Option("--format", help="text or json.")]


def default_editor() -> str:
    import getpass
    import os

    return os.environ.get("SCHEDULER_EDITOR") or getpass.getuser()


def _stdin_if(file: str | None) -> str | None:
    from .queue_commands import read_stdin_body

    return read_stdin_body(sys.stdin.buffer) if file == "-" else None


def parse_id(text: str, what: str, not_found: Callable[[int], Exception]) -> int:
    """An id as typed. Ids are positive 64-bit integers on every backend, so a number
    outside that range names nothing (and must not reach a driver that can't bind it)."""
    try:
        value = int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not {what}; give a whole number") from None
    if not 0 < value < 2**63:
        raise not_found(value)
    return value


def _post_id(text: str) -> int:
    from ..errors import PostNotFound

    return parse_id(text, "a post id", PostNotFound)


PostIdArgument = Annotated[
    int, typer.Argument(metavar="ID", help="The post's id.", parser=_post_id)
]


@queue_app.command("add")
def queue_add(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="The post's body.", show_default=False)] = None,
    channel: ChannelOption = None,
    kind: KindOption = None,
    at: AtOption = None,
    expires: ExpiresOption = None,
    evergreen: Annotated[
        bool, typer.Option("--evergreen/--no-evergreen", help="May be re-aired later.")
    ] = True,
    file: FileOption = None,
    media: MediaOption = None,
    alt: AltOption = None,
    editor: EditorOption = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            help="A tag for `report` (repeatable), e.g. an experiment's arm.",
            show_default=False,
        ),
    ] = None,
    output: JsonFlag = ShowFormat.text,
) -> None:
    """Queue a post: validated against every target channel, stored, its id printed."""
    from .queue_commands import RawPost, draft_post, read_body

    app_ctx = context(ctx)
    now = app_ctx.now()
    raw = RawPost(
        body=read_body(text, file, _stdin_if(file)),
        channels=channel or [],
        kind=kind,
        at=at,
        expires=expires,
        evergreen=evergreen,
        media=media or [],
        editor=editor or default_editor(),
        alt=alt or [],
        tags=tag or [],
    )
    wait = plan_wait()
    draft = draft_post(raw, app_ctx.config, now=now)
    (post_id,) = app_ctx.add_posts([draft], now)
    if output is ShowFormat.json:
        _print_post(app_ctx, post_id, now)
        return
    if draft.at is not None:
        print(_queued(post_id, draft, app_ctx.config, draft.at))
        return
    planned = app_ctx.wait_for_plan(post_id, now, wait=wait)
    if planned.at is not None:
        print(_queued(post_id, draft, app_ctx.config, planned.at))
    elif planned.daemon_running:
        print(
            f"queued post {post_id} on {', '.join(draft.channels)}; floating: not planned yet "
            f"(`scheduler queue show {post_id}` shows its first airing once the daemon plans it)"
        )
    else:
        print(
            f"queued post {post_id} on {', '.join(draft.channels)}; floating: the planner gives "
            "it the next free slot (see `scheduler calendar`)"
        )


def _queued(post_id: int, draft: PostDraft, config: Config, first: datetime) -> str:
    """`queued post 5 on main; first airing Sun 29 Nov 02:00 +01:00`: what `queue add` did."""
    from ..timeutil import local_label

    zone = config.zone(draft.channels[0] if len(draft.channels) == 1 else None)
    where = ", ".join(draft.channels)
    return f"queued post {post_id} on {where}; first airing {local_label(first, zone)}"


@queue_app.command("import")
def queue_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl file of posts.")],
    editor: EditorOption = None,
    output: JsonFlag = ShowFormat.text,
) -> None:
    """Queue every row of a .csv or .jsonl file (columns as the add flags): all or none."""
    from .queue_commands import read_import

    app_ctx = context(ctx)
    now = app_ctx.now()
    drafts = read_import(file, app_ctx.config, now=now, editor=editor or default_editor())
    ids = app_ctx.add_posts(drafts, now)
    if output is ShowFormat.json:
        from ..render.present import post_json

        records = [app_ctx.store.get_post(post_id) for post_id in ids]
        print_json({"posts": [post_json(r, app_ctx.config, now=now) for r in records]})
    else:
        print(f"imported {len(ids)} posts (ids {ids[0]}–{ids[-1]})")


@queue_app.command("list")
def queue_list(
    ctx: typer.Context,
    channel: Annotated[
        str | None, typer.Option("--channel", "-c", help="Only this channel.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="queued, published, failed, missed, unconfirmed, cancelled or expired.",
        ),
    ] = None,
    output: Annotated[
        ListFormat, typer.Option("--format", help="table or json.")
    ] = ListFormat.table,
) -> None:
    """List posts with their airings, oldest first."""
    from ..domain import POST_STATUSES
    from ..errors import InputError
    from ..render.present import post_json, posts_table

    app_ctx = context(ctx)
    now = app_ctx.now()
    if channel is not None:
        app_ctx.config.channel(channel)
    if status is not None and status not in POST_STATUSES:
        raise InputError(
            f"--status {status!r} is not accepted; use one of: {', '.join(POST_STATUSES)}"
        )
    with cycle_collection_paused():  # one light record per post; see collector
        records = app_ctx.views.list_posts(channel=channel, status=status, now=now)
        if output is ListFormat.json:
            from ..render.terminal import write_json_listing

            config = app_ctx.config
            posts = (post_json(r, config, now=now) for r in records)
            write_json_listing("posts", posts, sys.stdout)
        elif records:
            print(posts_table(records, app_ctx.config, now=now))
        else:
            print("no posts", file=sys.stderr)


@queue_app.command("show")
def queue_show(
    ctx: typer.Context,
    post_id: PostIdArgument,
    output: JsonFlag = ShowFormat.text,
) -> None:
    """Show one post with its airings."""
    app_ctx = context(ctx)
    _print_post(app_ctx, post_id, app_ctx.now(), as_json=output is ShowFormat.json)


@queue_app.command("edit")
def queue_edit(
    ctx: typer.Context,
    post_id: PostIdArgument,
    text: Annotated[str | None, typer.Argument(help="New body.", show_default=False)] = None,
    channel: ChannelOption = None,
    kind: KindOption = None,
    at: Annotated[
        str | None, typer.Option("--at", help="New pinned time (WHEN), or 'none' to float it.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="New expiry (WHEN), or 'none' to remove it.")
    ] = None,
    evergreen: Annotated[
        bool | None,
        typer.Option(
            "--evergreen/--no-evergreen", help="May be re-aired later.", show_default=False
        ),
    ] = None,
    file: FileOption = None,
    media: Annotated[
        list[str] | None,
        typer.Option("--media", help="Replace the media (repeat for several), or 'none'."),
    ] = None,
    alt: Annotated[
        list[str] | None,
        typer.Option(
            "--alt",
            help="Alt text of the new --media in order, or without --media of the kept ones.",
            show_default=False,
        ),
    ] = None,
    output: JsonFlag = ShowFormat.text,
) -> None:
    """Change a post; its airings not yet sent are planned again (sent ones keep their text)."""
    from .queue_commands import edit_changes, spacing_by_channel

    app_ctx = context(ctx)
    now = app_ctx.now()
    current = app_ctx.store.get_post(post_id)
    changes = edit_changes(
        current,
        app_ctx.config,
        now=now,
        body_text=text,
        file=file,
        stdin_text=_stdin_if(file),
        channels=channel,
        kind=kind,
        at=at,
        expires=expires,
        evergreen=evergreen,
        media=media,
        alt=alt,
    )
    with app_ctx.local_refusals():
        record = app_ctx.store.edit_post(
            post_id, changes, now=now, spacing=spacing_by_channel(app_ctx.config)
        )
    _print_post(app_ctx, post_id, now, as_json=output is ShowFormat.json)
    kept = [a.id for a in record.airings if a.body is not None]  # claimed once: text as sent
    if kept and "body" in changes and output is not ShowFormat.json:
        print(f"airing {_id_list(kept)} keeps the text it was sent with", file=sys.stderr)


@queue_app.command("cancel")
def queue_cancel(
    ctx: typer.Context,
    post_id: PostIdArgument,
) -> None:
    """Cancel a post: its airings not yet sent never go out; published ones stay in history."""
    app_ctx = context(ctx)
    done = app_ctx.store.cancel_post(post_id, now=app_ctx.now())
    parts = [
        f"{len(done.cancelled)} planned airing{'' if len(done.cancelled) == 1 else 's'} cancelled"
    ]
    if done.in_flight:
        parts.append(
            f"airing {_id_list(done.in_flight)} was already being sent and may still appear"
        )
    if done.maybe_out:
        parts.append(
            f"airing {_id_list(done.maybe_out)} may be out from an earlier attempt "
            "and is now unconfirmed"
        )
    if done.aired:
        parts.append(f"airing {_id_list(done.aired)} already aired and stays published")
    print(f"cancelled post {post_id}: " + "; ".join(parts))


@queue_app.command("retry")
def queue_retry(
    ctx: typer.Context,
    post_id: PostIdArgument,
) -> None:
    """Send a post's failed, missed or unconfirmed airings again, each as the same airing."""
    app_ctx = context(ctx)
    ids = app_ctx.store.retry_post(post_id, now=app_ctx.now())
    print(
        f"post {post_id}: airing {_id_list(ids)} put back in the plan, "
        "to be sent again under the same idempotency key"
    )


def _id_list(ids: Sequence[int | None]) -> str:
    return ", ".join(str(i) for i in ids)


def _print_post(app_ctx: AppContext, post_id: int, now: datetime, *, as_json: bool = True) -> None:
    from ..render.present import post_details, post_json

    record = app_ctx.store.get_post(post_id)
    if as_json:
        print_json(post_json(record, app_ctx.config, now=now))
    else:
        print(post_details(record, app_ctx.config, now=now))


# --- plan views ----------------------------------------------------------------------------


@app.command()
def simulate(
    ctx: typer.Context,
    channel: Annotated[
        str | None, typer.Option("--channel", "-c", help="Only this channel.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start of the projection (WHEN; default now).")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="How many days.")] = 7,
    output: Annotated[ShowFormat, typer.Option("--format", help="text or json.")] = ShowFormat.text,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit",
            help="Also judge the plan by the independent rule audit and list its violations.",
        ),
    ] = False,
) -> None:
    """Project the plan forward N days, counting simulated airings as history, and report the
    rules: airings per kind, worst gap, gaps over max_gap, when fresh content runs out."""
    from ..planning.forecast import simulate as project
    from ..render.progress import ProgressBar
    from ..render.status import simulate_text

    app_ctx = context(ctx)
    now = app_ctx.now()
    begin = _when(app_ctx, start, "--from", channel) if start else now
    channels = 1 if channel else len(app_ctx.config.channels)
    # The collector stays paused while the result is written, not only while it is made
    # (the 72,000 airings' JSON at 100,000 posts): see collector.
    with cycle_collection_paused():
        with ProgressBar("simulate: planning channels", channels) as bar:
            result = project(
                app_ctx.config,
                app_ctx.views,
                start=begin,
                days=days,
                channel=channel,
                audit=audit,
                planned=bar.advance,
            )
        if output is ShowFormat.json:
            print_json(result)
        else:
            print(simulate_text(result, app_ctx.config))


@app.command()
def status(
    ctx: typer.Context,
    output: Annotated[ShowFormat, typer.Option("--format", help="text or json.")] = ShowFormat.text,
) -> None:
    """Daemon heartbeat and, per channel: next airing, queued posts, failures, the first
    forecast breach of max_gap and when fresh content runs out."""
    from ..queries.status import status_report
    from ..render.status import status_text

    app_ctx = context(ctx)
    with cycle_collection_paused():  # a window's rows and plans; see collector
        report = status_report(app_ctx.config, app_ctx.views, now=app_ctx.now())
    if output is ShowFormat.json:
        print_json(report)
    else:
        print(status_text(report, app_ctx.config))


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the daemon in the foreground (what systemd starts); SIGTERM stops it cleanly."""
    from ..runtime.service import run_daemon

    app_ctx = context(ctx)
    raise typer.Exit(run_daemon(app_ctx.config, app_ctx.store))


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


class ReportLang(StrEnum):
    en = "en"
    ar = "ar"


@app.command()
def report(
    ctx: typer.Context,
    channel: Annotated[
        str | None, typer.Option("--channel", "-c", help="Only this channel.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start of the window (WHEN; default: --days ago).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="End of the window (WHEN).")] = None,
    days: Annotated[
        int, typer.Option("--days", min=1, max=366, help="Window length when --to is not given.")
    ] = 30,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option("--compare", help="Two tags to set side by side.", show_default=False),
    ] = None,
    output: Annotated[
        ReportFormat,
        typer.Option("--format", help="text, json, or html (one self-contained page)."),
    ] = ReportFormat.text,
    output_file: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
    lang: Annotated[
        ReportLang | None,
        typer.Option("--lang", help="Language of the HTML page (en, ar).", show_default=False),
    ] = None,
) -> None:
    """What worked: engagement by kind, hour of day, reruns against first airings, tags,
    top and bottom posts, the inbox, followers, and each goal with its pace (§11)."""
    from ..queries.report import build_report
    from ..render.progress import ProgressBar
    from ..render.report_text import report_text
    from ..render.terminal import json_text
    from .calendar_commands import write_output

    if lang is not None and output is not ReportFormat.html:
        raise typer.BadParameter("--lang applies to --format html only", param_hint="--lang")
    app_ctx = context(ctx)
    now = app_ctx.now()
    if channel is not None:
        app_ctx.config.channel(channel)
    if start and end:
        first, last = _when(app_ctx, start, "--from", channel), _when(app_ctx, end, "--to", channel)
    elif start:
        first = _when(app_ctx, start, "--from", channel)
        last = first + timedelta(days=days)
    else:
        last = _when(app_ctx, end, "--to", channel) if end else now
        first = last - timedelta(days=days)
    if last <= first:
        raise InputError(f"--to {end!r} is not after --from {start!r}")
    channels = 1 if channel else len(app_ctx.config.channels)
    with ProgressBar("report: reading channels", channels) as bar:
        result = build_report(
            app_ctx.config,
            app_ctx.views,
            start=first,
            end=last,
            now=now,
            channel=channel,
            compare_tags=compare,
            reported=bar.advance,
        )
    if output is ReportFormat.html:
        from ..render.report_html import render_report_html

        config = app_ctx.config
        zones = {name: settings.timezone for name, settings in config.channels.items()}
        text = render_report_html(
            result,
            zones=zones,
            page_zone=config.zone(channel),
            now=now,
            lang=(lang or ReportLang.en).value,
        )
    elif output is ReportFormat.json:
        text = json_text(result) + "\n"
    else:
        text = report_text(result) + "\n"
    write_output(text, output_file)
    if output_file is not None:  # said on stderr, so the command is not silent
        from ..render.terminal import clean
        from ..timeutil import local_label

        zone = app_ctx.config.zone(channel)
        count = len(result["channels"])
        typer.echo(
            f"wrote the report of {count} channel{'' if count == 1 else 's'}, "
            f"{local_label(first, zone)} – {local_label(last, zone)}, to {clean(str(output_file))}",
            err=True,
        )


@metrics_app.command("import")
def metrics_import(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="A .csv or .jsonl file: airing or url, at, likes, shares, replies."),
    ],
) -> None:
    """Store counts measured elsewhere (channels whose platform can't be read): all or none."""
    from .metrics_commands import import_metrics

    app_ctx = context(ctx)
    count = import_metrics(file, app_ctx.store, now=app_ctx.now())
    print(f"imported {count} snapshots")


def _when(app_ctx: AppContext, text: str, what: str, channel: str | None) -> datetime:
    from .queue_commands import parse_time

    channels = [channel] if channel else list(app_ctx.config.channels)
    return parse_time(text, what=what, config=app_ctx.config, channels=channels, now=app_ctx.now())


def _register_calendar() -> None:
    from .calendar_commands import register

    register(app)


_register_calendar()


def _register_inbox() -> None:
    from .inbox_commands import register

    register(app)


_register_inbox()


# --- entry point ---------------------------------------------------------------------------


def main() -> None:
    """The console script. Commands end their own errors (cli/root.py); what is left here
    is a bug, which gets one line and exit status 1 instead of a traceback."""
    try:
        app(prog_name="scheduler")
    except Exception as exc:
        print(internal_error(exc), file=sys.stderr)
        sys.exit(1)
