"""A progress bar on stderr for commands that can take longer than a couple of seconds (a
long `simulate` or `report` window, a large `queue import`).

It is drawn only when stderr is a terminal, so piped or captured stderr holds nothing but
real messages, at most ten times a second, and erased when the work is done so the
command's own output starts on a clean line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


class ProgressBar:
    """`label [#####.....] done/total` on one line of `stream` (default: stderr)."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = sys.stderr if stream is None else stream
        self._clock = clock
        self._enabled = total > 0 and _is_terminal(self._stream)
        self._drawn = 0  # length of the line on screen, 0 when none
        self._last_draw: float | None = None

    def advance(self, step: int = 1) -> None:
        self.done = min(self.total, self.done + step)
        if not self._enabled:
            return
        now = self._clock()
        if self._last_draw is None or now - self._last_draw >= REDRAW_SECONDS:
            self._last_draw = now
            self._draw()

    def close(self) -> None:
        """Erase the bar (the line is left empty for what the command prints next)."""
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0

    def _draw(self) -> None:
        filled = BAR_WIDTH * self.done // self.total
        line = f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total}"
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = max(self._drawn, len(line))

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False
