"""Command groups of the ``movierec`` CLI; each module exposes ``register(app)``."""
