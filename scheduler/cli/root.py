"""The root `scheduler` command: what holds for every subcommand.

- `--config PATH` is accepted before or after the subcommand.
- A project error (`SchedulerError`) raised anywhere below, while parsing a subcommand's
  arguments or running it, ends the command the Click way: its message on stderr, cleaned
  of control characters, and exit status 1 (`typer.Exit`). Usage errors stay Click's own
  (exit status 2). So the console script and an in-process `CliRunner` behave alike, byte
  for byte, and `main()` is left with only the last resort for bugs.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from ..errors import ConfigError, SchedulerError

if TYPE_CHECKING:  # Typer's own copy of Click, named for the types only
    from typer._click.core import Context


class RootGroup(TyperGroup):
    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, config_first(args))

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except SchedulerError as exc:
            show_error(exc)
            raise typer.Exit(1) from None


def show_error(exc: SchedulerError) -> None:
    """Each line of a project error on stderr: a config error's every problem as it is,
    anything else as `error: …`. Messages may quote outside text (a platform's answer, a
    name from a file), so they pass through the terminal renderer, imported only here: off
    the fast path of a `queue add` that succeeds."""
    from ..render.terminal import clean

    problems = exc.problems if isinstance(exc, ConfigError) else [f"error: {exc}"]
    for problem in problems:
        print(clean(problem, keep_newlines=True), file=sys.stderr)


def internal_error(exc: BaseException) -> str:
    """The one line a bug gets: its type and where it was raised, never its message (which
    may quote a secret), nor a traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"internal error: unexpected {type(exc).__name__}{where} (a bug; please report it)"


def config_first(args: Sequence[str]) -> list[str]:
    """`--config PATH` moved in front of the subcommand, where Click reads it, so it is
    accepted after the subcommand too (`scheduler check --config x.toml`)."""
    args = list(args)
    moved: list[str] = []
    index = 0
    while index < len(args) and args[index] != "--":
        if args[index] == "--config" and index + 1 < len(args):
            moved += args[index : index + 2]
            del args[index : index + 2]
        elif args[index].startswith("--config="):
            moved.append(args.pop(index))
        else:
            index += 1
    return moved + args
