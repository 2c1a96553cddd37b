"""BentoML packaging of movierec: ``service`` (the API), ``build`` (the Bento) and
``minimal_service`` (the framework floor the serving benchmark compares against).

Nothing is imported here, so ``import bentos.build`` does not start BentoML.
"""
