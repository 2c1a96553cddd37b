"""Offline evaluation: train/test protocols (``splits``), metrics, and model evaluation."""

from __future__ import annotations

from recsys.evaluation.evaluate import evaluate_model, fit_and_evaluate, list_metrics, metric_keys
from recsys.evaluation.splits import PROTOCOLS, Split, UnknownProtocolError, split_ratings

__all__ = [
    "PROTOCOLS",
    "Split",
    "UnknownProtocolError",
    "evaluate_model",
    "fit_and_evaluate",
    "list_metrics",
    "metric_keys",
    "split_ratings",
]
