"""Streaming availability: which platforms carry a MovieLens movie, by region.

``AvailabilityProvider`` is the interface; ``CatalogueProvider`` reads catalogue CSVs
(the long format or the Kaggle platform tables) and ``TMDBProvider`` asks TMDB's watch
providers (JustWatch data). ``recsys.availability.matching`` maps MovieLens ids to
catalogue entries. Heavy or networked parts are imported from their modules on use.
"""

from __future__ import annotations

from recsys.availability.provider import (
    DEFAULT_REGION,
    OFFER_TYPES,
    AvailabilityError,
    AvailabilityProvider,
    Offer,
    canonical_platform,
)

__all__ = [
    "DEFAULT_REGION",
    "OFFER_TYPES",
    "AvailabilityError",
    "AvailabilityProvider",
    "Offer",
    "canonical_platform",
]
