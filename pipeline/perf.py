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


@contextmanager
def heap_frozen():
    """Keep the garbage collector off every object that exists now, for the duration (``gc.freeze``):
    a collection walks only what was made since. A run that holds a large heap from before it
    started (the vocabulary and the matcher's index: millions of objects) otherwise pays for
    walking all of it at every full collection (0.1-0.2 s each; the incremental plan's went from
    0.33-0.37 s to 0.10-0.11 s in the benchmark's process); and forked
    workers, whose collections would walk (and so copy, page by page) the inherited heap, leave
    it alone. A heap the caller had frozen already stays frozen."""
    already = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not already:
            gc.unfreeze()
