"""BentoML packaging of movierec: ``service`` (thin wiring), ``api`` (the JSON API app),
``guard`` (413/415), ``schemas`` (bodies and OpenAPI), ``model_source`` (which model),
``reload`` (hot swaps), ``probes`` (``/readyz``), ``build`` (the Bento) and
``minimal_service`` (the BentoML floor the serving benchmark compares against).

Nothing is imported here, so ``import bentos.build`` does not start BentoML.
"""
