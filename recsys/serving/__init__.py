"""Serving logic without a web framework: the engine (model, titles, availability,
explanations), the inference log, and the serve configuration.

``bentos/`` maps HTTP onto these; everything here is testable in process.
"""
