"""Serve the flows as scheduled deployments on a running ``prefect server``.

``python -m flows.serve`` (with ``PREFECT_API_URL`` pointing at the server) registers
``pipeline/nightly-train`` (every night at 02:00) and ``monitor/hourly-monitor`` (every
hour: the ``flows.monitor`` flow on ``data/new/<dataset>/ratings.parquet``, the newest
batch) and executes their runs in this process until interrupted. ``movierec server``
prints or starts the whole setup.
"""

from __future__ import annotations

from typing import Any

from recsys.monitoring.incoming import new_batch_path

NIGHTLY_CRON = "0 2 * * *"
HOURLY_CRON = "0 * * * *"


def deployments(dataset: str = "ml-100k", tracking_uri: str | None = None,
                params_path: str = "params.yaml") -> list[Any]:
    """The nightly retraining and hourly monitoring deployments (both read ``params_path``)."""
    # Prefect reads its settings on import: `python -m flows.serve` calls configure() first
    from flows.monitor import monitor
    from flows.pipeline import pipeline

    nightly = pipeline.to_deployment(
        name="nightly-train", cron=NIGHTLY_CRON,
        parameters={"dataset": dataset, "tracking_uri": tracking_uri, "params_path": params_path},
        description="Retrain every variant, register the best, promote it if it wins.",
    )
    hourly = monitor.to_deployment(
        name="hourly-monitor", cron=HOURLY_CRON,
        parameters={"current_path": str(new_batch_path(dataset)), "dataset": dataset,
                    "name": "hourly", "params_path": params_path,
                    "tracking_uri": tracking_uri},
        description="Validate the newest batch, check drift and the champion's quality on it, "
                    "retrain through the pipeline when it pays (the flow `movierec monitor` "
                    "runs).",
    )
    return [nightly, hourly]


def main(dataset: str = "ml-100k", tracking_uri: str | None = None) -> None:
    from prefect import serve

    serve(*deployments(dataset, tracking_uri))


if __name__ == "__main__":  # pragma: no cover
    import argparse

    from flows.runtime import configure

    parser = argparse.ArgumentParser(description="Serve the nightly-train and hourly-monitor deployments.")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    configure()
    main(args.dataset, args.tracking_uri)
