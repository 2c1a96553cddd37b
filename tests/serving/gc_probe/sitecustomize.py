"""Test probe, loaded by the processes of a served app when this folder is on PYTHONPATH.

With ``MOVIEREC_GC_PROBE=<prefix>`` set, every process waits for a file ``<prefix>.go``,
then writes ``<prefix>.<pid>``: its command line, how many objects were frozen and how
many a full collection would have walked (``tests/serving/test_heap.py`` reads them).

It counts without holding references to objects (``gc.get_objects`` from another thread
can catch a tuple under construction and break it): the walked objects are the ones a
``gc.freeze`` moves, which leaves the process frozen at its end of life.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time


def _report(prefix: str) -> None:
    while not os.path.exists(f"{prefix}.go"):
        time.sleep(0.1)
    frozen = gc.get_freeze_count()
    gc.freeze()
    walked = gc.get_freeze_count() - frozen
    path = f"{prefix}.{os.getpid()}"
    with open(f"{path}.tmp", "w") as out:
        json.dump({"argv": " ".join(sys.argv), "frozen": frozen, "walked": walked}, out)
    os.replace(f"{path}.tmp", path)


if os.environ.get("MOVIEREC_GC_PROBE"):
    threading.Thread(target=_report, args=(os.environ["MOVIEREC_GC_PROBE"],), name="gc-probe",
                     daemon=True).start()
