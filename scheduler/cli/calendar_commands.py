"""`scheduler calendar` (docs/design.md §4, §8): parse the options, build the window,
print or serve.

All rendering lives in `preview.py`; this module only turns flags into a window and a
format. The calendar itself comes from a `CalendarSource` held by the `AppContext`, so tests
can hand in their own; by default it is the planner's forecast over the configured store.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

import typer

from ..calendar_data import CalendarData
from ..config import Config
from ..errors import InputError
from ..planning.collector import cycle_collection_paused
from ..render.terminal import clean
from ..timeutil import local_label, parse_when
from .context import context


class CalendarSource(Protocol):
    def zone(self, channel: str | None) -> ZoneInfo:
        """The zone a `WHEN` without offset is read in and days are cut in."""

    def calendar(
        self, *, start: datetime, end: datetime, channel: str | None, now: datetime
    ) -> CalendarData:
        """History and plan of `[start, end)`; raises SchedulerError (e.g. unknown channel)."""


@dataclass(frozen=True)
class ForecastSource:
    """The real calendar: `forecast.build_calendar` over the configured store."""

    config: Config
    store: Any

    def zone(self, channel: str | None) -> ZoneInfo:
        return self.config.zone(channel)

    def calendar(
        self, *, start: datetime, end: datetime, channel: str | None, now: datetime
    ) -> CalendarData:
        from ..planning.forecast import build_calendar

        return build_calendar(
            self.config, self.store, start=start, end=end, channel=channel, now=now
        )


class Format(StrEnum):
    text = "text"
    html = "html"
    ics = "ics"
    json = "json"


class View(StrEnum):
    week = "week"
    month = "month"
    inbox = "inbox"


class Lang(StrEnum):
    en = "en"
    ar = "ar"


def register(app: typer.Typer) -> None:
    """Add the `calendar` command to `app`. Its data and clock come from the `AppContext`
    (cli/context.py), where tests hand in a stub source and a fixed clock."""

    @app.command("calendar")
    def calendar_command(
        ctx: typer.Context,
        channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
        start: Annotated[
            str,
            typer.Option(
                "--from",
                help="Start of the window: ISO 8601, now, today (its start), or +2h/-1h/+3d.",
            ),
        ] = "today",
        end: Annotated[
            str | None, typer.Option("--to", help="End of the window (exclusive).")
        ] = None,
        days: Annotated[
            int | None,
            typer.Option(
                "--days", min=1, max=366, help="Length of the window in days (default 7)."
            ),
        ] = None,
        format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
        view: Annotated[
            View,
            typer.Option(
                "--view",
                help="HTML layout; month shows the month containing --from, inbox the open items.",
            ),
        ] = View.week,
        lang: Annotated[Lang, typer.Option("--lang", help="Language of the labels.")] = Lang.en,
        output: Annotated[
            Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
        ] = None,
        serve: Annotated[
            bool,
            typer.Option("--serve", help="Serve a live read-only page on 127.0.0.1 instead."),
        ] = False,
        port: Annotated[
            int,
            typer.Option("--port", min=0, max=65535, help="Port for --serve (0: any free one)."),
        ] = 8765,
    ) -> None:
        """Show the published history and the plan of a window, as the planner makes it now."""
        if end is not None and days is not None:
            raise typer.BadParameter("give --to or --days, not both", param_hint="--to")
        app_ctx = context(ctx)
        src = app_ctx.calendar()
        zone = src.zone(channel)

        def build(chosen_view: str) -> CalendarData:
            from ..render import preview  # Jinja2 and icalendar load only for HTML and ICS

            now = app_ctx.now()  # read again for every page `--serve` renders
            try:
                first = parse_when(start, now=now, tz=zone)
            except ValueError as exc:
                raise InputError(f"--from: {exc}") from None
            try:
                last = None if end is None else parse_when(end, now=now, tz=zone)
            except ValueError as exc:
                raise InputError(f"--to: {exc}") from None
            first, last = preview.calendar_window(
                first, tz=zone, view=chosen_view, end=last, days=days
            )
            if last <= first:
                raise InputError(f"--to {end!r} is not after --from {start!r}")
            return src.calendar(start=first, end=last, channel=channel, now=now)

        if serve:
            build(view.value)  # checks every option before a server starts
            _serve(build, zone, port=port, view=view.value, lang=lang.value)
            return
        # A one-off view: no cyclic collection over its rows and airings while they are
        # read, planned and rendered (see planning/collector). `--serve` lives on and keeps it.
        with cycle_collection_paused():
            data = build(view.value)
            text = _render(data, format, view=view.value, lang=lang.value, zone=zone)
        write_output(text, output)
        if output is not None:
            typer.echo(_written(data, output, zone), err=True)


def write_output(text: str, output: Path | None) -> None:
    """To stdout, or whole to `output` (never half-written)."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        _write_atomically(output, text)
    except OSError as exc:
        raise InputError(f"can't write --output {str(output)!r}: {exc.strerror}") from None


def _written(data: CalendarData, output: Path, zone: ZoneInfo) -> str:
    """What `--output` wrote, so the command is not silent (on stderr: stdout stays free)."""
    airings = len(data.airings)
    gaps = len(data.gaps)
    what = f"{airings} airing{'' if airings == 1 else 's'}"
    if gaps:
        what += f" and {gaps} gap{'' if gaps == 1 else 's'}"
    window = f"{local_label(data.start, zone)} – {local_label(data.end, zone)}"
    return f"wrote {what}, {window}, to {clean(str(output))}"


def _render(data: CalendarData, format: Format, *, view: str, lang: str, zone: ZoneInfo) -> str:
    from ..render import preview
    from ..render.terminal import json_text

    if format is Format.html:
        return preview.render_html(data, view=view, lang=lang, tz=zone)
    if format is Format.ics:
        return preview.render_ics(data)
    if format is Format.json:
        return json_text(data.to_json()) + "\n"
    # As wide as the terminal (or $COLUMNS), so nothing is cut that would have fitted.
    width = shutil.get_terminal_size((100, 24)).columns
    return preview.render_text(data, lang=lang, tz=zone, width=width)


def _serve(
    build: Callable[[str], CalendarData], zone: ZoneInfo, *, port: int, view: str, lang: str
) -> None:
    from ..render import preview

    def render(chosen_view: str, chosen_lang: str) -> str:
        data = build(chosen_view)
        return preview.render_html(data, view=chosen_view, lang=chosen_lang, tz=zone, switch=True)

    try:
        server = preview.make_server(render, port=port, view=view, lang=lang)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"--port {port}: the port is already in use (another `calendar --serve`?); "
                "give another --port, or --port 0 for any free one"
            ) from None
        raise InputError(f"--port {port}: can't serve on it: {exc.strerror}") from None
    typer.echo(f"Serving the calendar on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _write_atomically(path: Path, text: str) -> None:
    """Write a temporary file beside `path` and rename it over, so a failure leaves nothing
    half-written. `newline=""` keeps the CRLF line ends iCalendar requires; the file is
    created normally, so it gets the usual permissions (umask), unlike a mkstemp file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
