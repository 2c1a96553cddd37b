"""Keep a serving process's long-lived objects out of the garbage collector's full passes.

A served process holds a few hundred thousand long-lived objects (the web framework, the
model, its ranked lists and explainer). CPython's collector walks all of them on every
full (oldest-generation) collection, which requests trigger as they allocate: on two
cores that is a 100-300 ms stop of the whole process every few seconds under load, the
whole p99 of the service. ``settle`` collects once and then freezes what is alive
(``gc.freeze``), so later collections walk only what requests create.

Frozen objects are still freed by reference counting, so a model swapped out is released
as soon as no request holds it (``tests/serving/test_heap.py`` checks this); only garbage
in reference cycles among frozen objects would stay, and the served objects have none.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()


def settle() -> int:
    """Collect, then freeze every object alive now; how many objects are frozen.

    Call it once the long-lived state is built: after the engine is loaded and after each
    model swap (the new model's objects join the frozen set).
    """
    with _lock:  # a swap in the reload thread and a start-up call never interleave
        gc.collect()
        gc.freeze()
        return gc.get_freeze_count()
