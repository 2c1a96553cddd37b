"""The BentoML floor of the serving benchmark: BentoML plus the same engine call, nothing else.

It builds the same engine as the real service (same model source, items, availability and
inference log, from the same environment) and answers ``POST /recommend`` with
``engine.recommend(user_id, k)`` through a plain ``@bentoml.api``: BentoML's own request
parsing, pydantic IO and thread dispatch, no mounted app, no guard, no OpenAPI. The gap to
the real service is what the service adds; its gap to the bare ASGI floor
(``benchmarks/bare_asgi.py``) is what BentoML's API layer costs.

``bentoml serve bentos.minimal_service:MinimalRecommender``
"""

from __future__ import annotations

from typing import Any

import bentoml

from bentos.service import CONFIG, DATA, build_engine
from recsys.serving.heap import settle


@bentoml.service(name="movierec-floor", workers=CONFIG.workers, traffic={"timeout": 30},
                 metrics={"enabled": False}, logging={"access": {"enabled": False}})
class MinimalRecommender:
    """Same engine call as the real service, through BentoML's plain API layer."""

    def __init__(self) -> None:
        self.engine = build_engine(CONFIG, DATA)
        settle()  # the same heap as the real service, so the floor differs only by the API

    @bentoml.api
    def recommend(self, user_id: int, k: int = 10) -> dict[str, Any]:
        return self.engine.recommend(user_id, k)
