"""Fits in a new Python process, for models whose framework keeps process-global state.

TensorFlow's seeded fits repeat exactly in a fresh interpreter and in isolation, but late in
a long pytest process a fit may differ; contract classes with ``fresh_process_fits`` get
their fits from one new interpreter (one process, one TensorFlow import, for all).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Where ``recsys`` lives, so the child interpreter imports the same code.
_LIBRARY_ROOT = Path(__file__).resolve().parents[2]

SEED = 7
_REFIT_SCRIPT = """
import json, sys
from pathlib import Path
from recsys.models import create
from recsys.testing.checkerboard import make_checkerboard

data = make_checkerboard().interactions
out = {}
for number, spec in enumerate(json.loads(sys.argv[1])):
    name, params = json.loads(spec)
    runs = [create(name, **params, seed=int(sys.argv[2])).fit(data).score(1) for _ in range(2)]
    model = create(name, **params).fit(data)
    runs.append(model.score(1))
    saved = model.save(Path(sys.argv[3]) / f"model{number}")
    out[spec] = {
        "scores": [[None if v != v else float(v) for v in run] for run in runs],
        "saved": str(saved),
    }
print(json.dumps(out))
"""


def spec_of(case: Any) -> str:
    return json.dumps([case.name, case.params], sort_keys=True)


@dataclass(frozen=True)
class FreshFit:
    """What one new interpreter produced for a contract class with ``fresh_process_fits``.

    Attributes:
        refits: user 1's scores after two fits with the same explicit seed.
        saved: the folder of the model fitted with the class's own parameters.
        saved_scores: user 1's scores from that model before it was saved.
    """

    refits: tuple[NDArray[np.float64], NDArray[np.float64]]
    saved: Path
    saved_scores: NDArray[np.float64]


@functools.cache
def fresh_process_fits(contract: type) -> dict[str, FreshFit]:
    """For every subclass of ``contract`` with ``fresh_process_fits``, by spec: its fits in
    one new interpreter (one process, one TensorFlow import, for all); models saved in a
    temporary folder removed at exit."""

    def cases(cls: type) -> list[Any]:
        found: list[Any] = []
        subclasses: list[type] = type.__subclasses__(cls)
        for sub in subclasses:
            found += [sub, *cases(sub)]
        return found

    specs = sorted({spec_of(c) for c in cases(contract) if c.fresh_process_fits})
    folder = Path(tempfile.mkdtemp(prefix="movierec-contract-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-c", _REFIT_SCRIPT, json.dumps(specs), str(SEED), str(folder)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_LIBRARY_ROOT), os.environ.get("PYTHONPATH")]))},
        capture_output=True, text=True,
        timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    fits = {}
    for spec, fit in result.items():
        first, second, saved_scores = (np.asarray(s, dtype=np.float64) for s in fit["scores"])
        fits[spec] = FreshFit((first, second), Path(fit["saved"]), saved_scores)
    return fits


