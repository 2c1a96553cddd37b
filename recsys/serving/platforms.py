"""Which movies a platform filter leaves, and in which regions the availability data says
anything at all.

A region the provider has no data for is *unknown*, not empty: a filter there is not
applied and the answer says why, rather than returning no movies. A catalogue provider
knows every platform name, so an unknown one is a bad request; its candidate sets never
change and are cached per (platforms, region). A networked provider's sets grow as it
answers, so they are asked for each time.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recsys.availability.provider import AvailabilityProvider, canonical_platform

NO_AVAILABILITY_HINT = (
    "no streaming availability configured: set MOVIEREC_AVAILABILITY to a catalogue CSV or "
    "folder (or 'tmdb' with TMDB_API_KEY), or serve.availability in params.yaml"
)


class InvalidRequest(ValueError):
    """Input that is well-formed JSON but makes no sense (answered with 400)."""


class PlatformFilter:
    """Regions and platform candidates of one availability provider (``None``: none).

    Args:
        availability: the provider, or ``None``.
        default_region: region used when a request names none.
    """

    def __init__(self, availability: AvailabilityProvider | None, default_region: str) -> None:
        self.availability = availability
        self.default_region = default_region
        self._known = set(availability.platforms()) if availability is not None else set()
        regions = availability.regions() if availability is not None else None
        self._regions: frozenset[str] | None = None if regions is None else frozenset(regions)
        self._candidate_ids: dict[tuple[frozenset[str], str], NDArray[np.int64]] = {}

    def known_platforms(self) -> list[str] | None:
        """The platform names a filter accepts, when they are all known (a catalogue)."""
        if self.availability is None or self.availability.name != "catalogue":
            return None
        return sorted(self._known)

    def region(self, region: str | None) -> str:
        """The request's region, or the default, in upper case."""
        return (region or self.default_region).upper()

    def covers(self, region: str) -> bool:
        """Whether the provider has data for ``region`` (else its movies are unknown there,
        not unavailable)."""
        return self.availability is not None and (self._regions is None or region in self._regions)

    def region_gap(self, region: str) -> str | None:
        """Why availability says nothing in ``region`` (``None`` when it does, or when
        there is no provider: the hint says that)."""
        if self.availability is None or self.covers(region):
            return None
        return (f"no streaming data for region {region}: the catalogues cover "
                f"{', '.join(sorted(self._regions or ())) or 'no region'}")

    def candidates(self, platforms: list[str] | None, region: str
                   ) -> tuple[NDArray[np.int64] | None, str | None]:
        """Item ids streamable on ``platforms`` (``None`` = no filter) and a note.

        Raises:
            InvalidRequest: a platform a catalogue does not know.
        """
        if not platforms:
            return None, None
        if self.availability is None:
            return None, "platform filter not applied: " + NO_AVAILABILITY_HINT
        gap = self.region_gap(region)
        if gap is not None:
            return None, "platform filter not applied: " + gap
        wanted = sorted({canonical_platform(p) for p in platforms})
        if self.availability.name == "catalogue":
            unknown = [p for p in wanted if p not in self._known]
            if unknown:
                raise InvalidRequest(
                    f"unknown platform(s): {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(self._known))}"
                )
        key = (frozenset(wanted), region)
        ids = self._candidate_ids.get(key)
        if ids is None:
            ids = np.fromiter(sorted(self.availability.items_on(wanted, region)), dtype=np.int64)
            if self.availability.name == "catalogue":  # a networked provider's set grows
                self._candidate_ids[key] = ids
        if ids.size == 0:
            return ids, f"no movie is available on {', '.join(wanted)} in {region}"
        return ids, None
