"""The availability provider a service starts with, from its configuration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from recsys.availability.catalogue import CatalogueProvider
from recsys.availability.provider import AvailabilityError, AvailabilityProvider
from recsys.availability.tmdb import TMDBClient, TMDBProvider
from recsys.serving.config import ServeConfig
from recsys.serving.platforms import NO_AVAILABILITY_HINT

logger = logging.getLogger("movierec.serving")

#: Settings that mean "no availability data".
OFF = ("none", "off", "false")


@dataclass(frozen=True)
class Availability:
    """The provider (``None``: none configured, with ``hint`` saying how to configure one)
    and whether it calls out over the network."""

    provider: AvailabilityProvider | None
    hint: str | None
    networked: bool = False


def load_availability(setting: str | None, items: pd.DataFrame | None,
                      config: ServeConfig) -> Availability:
    """The configured provider; no setting means none (with a hint).

    A configured source that does not load is an error: serving on would silently switch
    the platform filter off.

    Raises:
        AvailabilityError: the catalogue or TMDB client could not be set up, or there is no
            items table to match it against.
    """
    if not setting or setting.lower() in OFF:
        return Availability(None, NO_AVAILABILITY_HINT)
    if items is None:
        raise AvailabilityError(
            f"availability {setting!r} is configured but there is no items table (titles) "
            "to match it against: set MOVIEREC_ITEMS or serve.items"
        )
    if setting.lower() == "tmdb":

        client = TMDBClient(cache_dir=config.tmdb_cache_dir, max_age_days=config.tmdb_max_age_days)
        return Availability(TMDBProvider(client, items), None, networked=True)

    try:
        provider = CatalogueProvider.from_path(setting, items, year_tolerance=config.year_tolerance)
    except OSError as exc:
        raise AvailabilityError(f"catalogue {setting}: {exc}") from exc
    except (ValueError, KeyError) as exc:
        raise AvailabilityError(f"catalogue {setting} is not readable: {exc}") from exc
    for report in provider.reports:
        logger.info("availability %s: %d of %d movies matched (%.1f%%)", report.catalogue,
                    report.matched, report.n_items, 100 * report.rate)
    return Availability(provider, None)
