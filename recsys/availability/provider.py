"""The availability provider interface: where a movie can be watched, by platform and region.

A provider answers two questions cheaply, at request time:

* ``offers(item_id, region)``: the offers of one MovieLens movie (``None`` when the provider
  has no information about it, an empty list when it knows the movie is on no platform);
* ``items_on(platforms, region)``: the MovieLens ids available on any of ``platforms``
  (to restrict a top-k to what a user can watch).

Platform names are normalised once by ``canonical_platform`` so that ``"Prime Video"``,
``"Amazon Prime Video"`` and ``"prime_video"`` name the same thing everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

#: The offer kinds of TMDB/JustWatch (``flatrate`` = subscription streaming).
OFFER_TYPES: tuple[str, ...] = ("flatrate", "free", "ads", "rent", "buy")
DEFAULT_REGION = "US"

#: Aliases (lowercase, letters and digits only) -> canonical platform name.
_PLATFORM_ALIASES: dict[str, str] = {
    "netflix": "netflix",
    "hulu": "hulu",
    "primevideo": "prime_video",
    "amazonprimevideo": "prime_video",
    "amazonprime": "prime_video",
    "amazon": "prime_video",
    "prime": "prime_video",
    "disney": "disney_plus",
    "disneyplus": "disney_plus",
}


def canonical_platform(name: str) -> str:
    """A platform's canonical name: ``"Disney+"`` -> ``"disney_plus"``, ``"Apple TV"`` -> ``"apple_tv"``.

    The four platforms of the Kaggle tables have fixed names; any other provider name is
    lower-cased with runs of non-alphanumerics turned into ``_``.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    squashed = re.sub(r"[^a-z0-9]", "", ascii_name.lower())
    if squashed in _PLATFORM_ALIASES:
        return _PLATFORM_ALIASES[squashed]
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


@dataclass(frozen=True)
class Offer:
    """One way to watch a movie.

    Attributes:
        platform: canonical platform name (see ``canonical_platform``).
        region: ISO-3166-1 alpha-2 country code.
        offer_type: one of ``OFFER_TYPES``.
        source: the catalogue or API the offer comes from.
        link: a watch page (TMDB gives one per country), when known.
    """

    platform: str
    region: str
    offer_type: str = "flatrate"
    source: str = ""
    link: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set. They are strings, so ``dataclasses.asdict``'s deep copy
        is not needed (it cost about 0.1 ms of the engine's 1.1 ms per request)."""
        return {key: value for key, value in vars(self).items() if value is not None}


class AvailabilityError(RuntimeError):
    """Availability data could not be read or fetched."""


@runtime_checkable
class AvailabilityProvider(Protocol):
    """What the service needs from any source of streaming availability."""

    #: Short name shown in responses (``catalogue``, ``tmdb``).
    name: str
    #: Attribution text the data's licence requires, or ``None``.
    attribution: str | None

    def platforms(self) -> list[str]:
        """Canonical names of the platforms this provider knows."""
        ...

    def regions(self) -> list[str] | None:
        """The regions this provider has data for; ``None``: any region (looked up per
        request)."""
        ...

    def offers(self, item_id: int, region: str = DEFAULT_REGION) -> list[Offer] | None:
        """Offers of one MovieLens movie in ``region``; ``None`` = no information."""
        ...

    def items_on(self, platforms: Iterable[str], region: str = DEFAULT_REGION) -> set[int]:
        """MovieLens ids available on any of ``platforms`` in ``region``."""
        ...
