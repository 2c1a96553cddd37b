"""The pipeline's stages, one module each: ingest, validate, filter, train, evaluate,
register, package, and combine (new ratings joined to the data for a drift retrain); the
monitoring flow is ``flows.monitor``.

Each module holds the stage's Prefect tasks and flow, thin wrappers around one ``recsys``
(or ``bentos``) call, and the typed result the stage hands to the next. Large objects
(tables, models) pass between stages as file paths; cached tasks are keyed by
``flows.caching`` and persist under ``$PREFECT_HOME/storage``, so caching survives across
runs in ephemeral mode.
"""

#: I/O steps retry: a flaky download or a locked file deserves another go.
IO_RETRIES = 2
IO_RETRY_DELAY = 3
