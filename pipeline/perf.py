"""Small helpers for the batch stages' speed (no effect on any result)."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from functools import wraps


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for a batch stage. A stage that builds hundreds
    of thousands of small rows triggers collections that each walk every live object (the
    whole corpus's tables in a long-running process); reference counting still frees what it
    can, and the collector resumes at the end of the stage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def gc_paused_call(fn):
    """Decorator: run ``fn`` with the garbage collector paused (see ``gc_paused``)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        with gc_paused():
            return fn(*args, **kwargs)

    return wrapper
