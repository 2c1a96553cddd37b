"""Prefect flows of the movierec pipeline: thin orchestration around ``recsys``.

``flows.pipeline.pipeline`` composes the stage flows of ``flows.stages`` (ingest, validate,
filter, train, evaluate, register, package, combine) and the monitoring flow of
``flows.monitor`` (validate batch -> drift -> decide -> retrain -> record).
Callers outside Prefect get the flow from ``flows.launch.configured_pipeline``, which points
Prefect at the project-local ephemeral mode (``.movierec/prefect``) before importing it.
"""
