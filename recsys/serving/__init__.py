"""Serving logic without a web framework (``bentos/`` maps HTTP onto it)."""
