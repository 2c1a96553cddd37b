"""Shared Keras plumbing for the neural models: lazy import, seeding, native save/load.

TensorFlow takes seconds to import and prints C++ log lines on the way, so nothing here
imports it at module level: ``import_keras()`` is called inside ``fit``/``load`` only, and
quietens TensorFlow's logging the first time. Models are written in Keras's native
``.keras`` format (a zip of config + weights, no pickle) and read back for inference
without their training loss, so no custom objects are needed to load them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recsys.sampling import as_rng

#: File name of the native Keras model inside a saved model folder.
KERAS_FILE = "network.keras"
#: What ``import_keras`` sets unless the user chose values. oneDNN kernels make float results
#: vary with thread scheduling (TensorFlow says so in a log line that ignores the log
#: level); the models here are too small to gain from them, and reproducible scores matter
#: more.
TENSORFLOW_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
                  "KERAS_BACKEND": "tensorflow"}


def import_keras() -> ModuleType:
    """Import Keras (TensorFlow backend) with TensorFlow's logging turned down.

    The environment variables only take effect before TensorFlow's first import, so they
    are set here (unless the user chose values) rather than at module import.
    """
    for name, value in TENSORFLOW_ENV.items():
        os.environ.setdefault(name, value)
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:  # absl is a TensorFlow dependency; its warnings otherwise go to stderr
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl always ships with TensorFlow
        pass
    return keras


def seed_everything(seed: int | None) -> int:
    """Seed Python, NumPy and TensorFlow for a reproducible ``fit``; returns the seed used.

    ``None`` draws a fresh seed (through ``as_rng``), so runs differ but stay replayable
    from the returned value.
    """
    value = int(as_rng(seed).integers(2**30)) if seed is None else int(seed)
    import_keras().utils.set_random_seed(value)
    if seed is not None:
        # a fixed seed promises the same model: multi-threaded CPU kernels (e.g. the
        # scatter-add of embedding gradients) otherwise sum in a varying order
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return value


def save_network(network: Any, folder: Path) -> Path:
    """Write ``network`` as ``folder/network.keras`` (native Keras format)."""
    path = Path(folder) / KERAS_FILE
    network.save(path)
    return path


def load_network(folder: Path, custom_objects: dict[str, Any] | None = None) -> Any:
    """Read the network ``save_network`` wrote, for inference (no optimizer, no loss)."""
    path = Path(folder) / KERAS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the saved model lacks its Keras network")
    keras = import_keras()
    return keras.saving.load_model(path, custom_objects=custom_objects, compile=False)


def predict_batches(
    network: Any,
    inputs: Sequence[NDArray[Any]],
    batch_size: int = 65_536,
    transform: Callable[[NDArray[Any]], NDArray[Any]] | None = None,
) -> NDArray[np.float64]:
    """Run ``network`` on aligned input arrays in chunks, without Keras's progress bar.

    ``predict_on_batch`` reuses one compiled function, which is much faster than
    ``predict`` for the many mid-sized calls scoring makes.
    """
    n_rows = len(inputs[0])
    outputs: list[NDArray[Any]] = []
    for start in range(0, n_rows, batch_size):
        chunk = [np.asarray(a[start : start + batch_size]) for a in inputs]
        out = np.asarray(network.predict_on_batch(chunk if len(chunk) > 1 else chunk[0]))
        outputs.append(transform(out) if transform is not None else out)
    if not outputs:
        return np.empty(0, dtype=np.float64)
    return np.concatenate(outputs).astype(np.float64)
