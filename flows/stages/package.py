"""Package: build the BentoML service around the champion the register stage left."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task

import bentos.build
from flows.caching import key_with
from flows.stages import IO_RETRY_DELAY
from recsys.params import PARAMS_ENV, PROFILE_ENV

#: The service's code, bentofile and static files: editing them builds a new Bento.
BENTOS = Path(bentos.build.__file__).resolve().parent


@dataclass(frozen=True)
class Packaged:
    """The Bento tag (``None`` when nothing was built)."""

    bento: str | None


# keyed on the bentos/ package and on the variables that choose the serve: section read
@task(cache_key_fn=key_with(sources=(BENTOS,), env=(PROFILE_ENV, PARAMS_ENV)),
      persist_result=True, retries=1, retry_delay_seconds=IO_RETRY_DELAY)
def build_bento_task(champion_version: str, tracking_uri: str, params_path: str,
                     items_path: str, dataset: str) -> str:
    """Build the Bento around version ``champion_version`` of ``dataset``'s registered model
    (``bentos.build.build_bento``) with the ``serve:`` section of ``params_path``;
    ``items_path`` is the items table it captures (in the key by content)."""
    return bentos.build.build_bento(model_version=champion_version, tracking_uri=tracking_uri,
                                    params_path=params_path, dataset=dataset)


@flow(name="package")
def package(champion_version: str | None, tracking_uri: str, params_path: str,
            items_path: str, dataset: str) -> Packaged:
    """Build the BentoML service around version ``champion_version`` of ``dataset``'s
    registered model; the Bento tag."""
    logger = get_run_logger()
    if champion_version is None:
        logger.warning("no champion in the registry: nothing to package")
        return Packaged(None)
    inputs = (champion_version, tracking_uri, params_path, items_path, dataset)
    tag = build_bento_task(*inputs)
    if not bentos.build.bento_exists(tag):  # a cached tag whose Bento was deleted since
        logger.warning("cached Bento %s is no longer in the BentoML store: rebuilding", tag)
        tag = build_bento_task.with_options(refresh_cache=True)(*inputs)
    logger.info("built Bento %s (serve: bentoml serve %s --host 127.0.0.1)", tag, tag)
    return Packaged(tag)
