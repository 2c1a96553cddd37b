"""Availability look-ups of one request: a time budget shared by its movies, the
provider's circuit breaker, and the stale cache when either says no."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from recsys.availability.provider import AvailabilityError

if TYPE_CHECKING:
    from recsys.serving.engine import RecommendationEngine

logger = logging.getLogger("movierec.serving")


class AvailabilityLookup:
    """Availability look-ups of one request: a time budget shared by its movies, the
    provider's breaker, and the stale cache when either says no."""

    def __init__(self, engine: RecommendationEngine, region: str) -> None:
        self.engine = engine
        self.region = region
        self.covered = engine.platforms.covers(region)
        self.deadline = time.monotonic() + engine.budget_seconds
        self.degraded: str | None = None

    def offers(self, item_id: int) -> list[dict[str, Any]] | None:
        provider = self.engine.availability
        if provider is None or not self.covered:
            return None
        if not self.engine.networked:
            found = provider.offers(item_id, self.region)
            return None if found is None else [_offer(o) for o in found]
        breaker = self.engine.breaker
        if self.degraded is None and not breaker.allow():
            self.degraded = "availability source unavailable (circuit open)"
        if self.degraded is None and time.monotonic() >= self.deadline:
            self.degraded = "availability look-up ran out of time"
        if self.degraded is None:
            try:
                found = provider.offers(item_id, self.region,  # type: ignore[call-arg]
                                        deadline=self.deadline)
            except AvailabilityError as exc:
                breaker.failure()
                logger.warning("availability of item %s failed: %s", item_id, exc)
                self.degraded = ("availability look-up ran out of time"
                                 if time.monotonic() >= self.deadline
                                 else "availability source failed")
            else:
                breaker.success()
                return None if found is None else [_offer(o) for o in found]
        stale = getattr(provider, "stale_offers", None)
        found = stale(item_id, self.region) if stale is not None else None
        return None if found is None else [_offer(o) for o in found]

    def note(self) -> str | None:
        if self.degraded is None:
            return None
        return f"{self.degraded}: showing cached availability where known, else null"


def _offer(offer: Any) -> dict[str, Any]:
    return {"platform": offer.platform, "region": offer.region, "offer_type": offer.offer_type,
            "source": offer.source, "link": offer.link}
