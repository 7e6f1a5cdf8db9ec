"""SIGTERM and SIGINT, heard on a thread of their own rather than inside the main thread."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_CLOSING = 0  # no signal has the number 0: the byte `close` sends to end the thread


class StopSignals:
    """While entered, SIGTERM and SIGINT call `on_stop` on a thread of their own.

    Python runs a signal handler on the main thread between two bytecodes, wherever that
    thread is: also inside `threading.Event.wait()` while it holds the event's lock, which is
    where the daemon's main thread spends its life. A handler that set that event took the
    lock again and hung the process for good, deaf to every later SIGTERM (py-spy found the
    main thread in `Event.set`, called by the handler from inside `Condition._release_save`).
    So the Python handler does nothing: the interpreter's C-level handler writes the signal's
    number to a socket (`signal.set_wakeup_fd`), and the thread reading it calls `on_stop`.
    """

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self._on_stop = on_stop
        self._reader, self._writer = socket.socketpair()
        self._thread = threading.Thread(target=self._listen, name="signals", daemon=True)
        self._previous_fd = -1
        self._previous_handlers: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._thread.start()
        self._writer.setblocking(False)  # set_wakeup_fd's demand: a handler never blocks
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for number in STOP_SIGNALS:
            self._previous_handlers[number] = signal.signal(number, _do_nothing)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._writer.setblocking(True)
        self._writer.send(bytes([_CLOSING]))
        self._thread.join()
        self._reader.close()
        self._writer.close()

    def _listen(self) -> None:
        while True:
            numbers = self._reader.recv(64)
            if _CLOSING in numbers:
                return
            if any(number in STOP_SIGNALS for number in numbers):
                self._on_stop()


def _do_nothing(_signum: int, _frame: FrameType | None) -> None:
    """Installed so that the signal is caught (and written to the wakeup socket) rather than
    ending the process; see StopSignals."""
