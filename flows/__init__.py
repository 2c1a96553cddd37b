"""Prefect flows of the movierec pipeline: thin orchestration around ``recsys``.

``flows.pipeline.pipeline`` composes the step flows of ``flows.steps`` (ingest, validate,
filter, train, evaluate, register, package, monitor). Call ``flows.runtime.configure``
before importing Prefect so runs stay in the project-local ephemeral mode
(``.movierec/prefect``).
"""
