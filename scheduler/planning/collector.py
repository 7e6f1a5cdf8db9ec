"""Pausing Python's cyclic garbage collector while a plan is made and reported.

Planning makes no reference cycles (its garbage goes by reference counting), but it
allocates a few small objects per slot and per post, and every run of the cyclic collector
walks every object alive, a big library's rows included. At 100,000 posts those runs were
a fifth of planning and of `simulate`. Paused for one piece of work, the collector then
sees only what that work left behind.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block; nested or concurrent uses are safe (only the
    one that paused it resumes it, and the collector is never left paused)."""
    if not gc.isenabled():  # paused already, by a caller or another thread
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
