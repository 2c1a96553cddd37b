"""Errors shared by the whole library (a low module: it imports nothing from ``recsys``)."""

from __future__ import annotations


class NotFittedError(RuntimeError):
    """A model or detector was used before ``fit`` (or ``load`` / ``train``)."""
