"""What it takes for a challenger to replace the champion: the comparison and the guards.

A challenger wins on the registry's metric either by a paired-bootstrap interval over the
same test users (``Comparison``: its lower bound must clear ``register.min_improvement``) or,
without one, by its mean beating the champion's by more than that margin (``beats``). A
winner can still be held back by the guards (``guard_reasons``): recommending a much smaller
share of the catalogue, or much more alike lists for everyone, is a loss the metric does not
see. ``recsys.tracking.registry`` applies this rule and records its decision on the version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def beats(challenger: float, champion: float, *, direction: str, margin: float) -> bool:
    """True when ``challenger`` is better than ``champion`` by more than ``margin``."""
    if direction == "minimize":
        return challenger < champion - margin
    return challenger > champion + margin


@dataclass(frozen=True)
class Comparison:
    """Challenger against champion on the same test users (``compare``'s result).

    ``low``/``high`` bound the challenger-minus-champion difference of the metric's mean
    (sign-adjusted so that positive is better) from a paired bootstrap over test users.
    """

    challenger_score: float
    champion_score: float
    low: float
    high: float
    n_users: int
    confidence: float
    #: every metric of the re-fitted champion (the coverage/personalisation guard reads them)
    champion_metrics: Mapping[str, float] = field(default_factory=dict)


#: Defaults of ``register.max_coverage_drop`` / ``register.max_personalisation_drop``:
#: the largest relative loss of catalogue coverage / personalisation a challenger may show
#: against the champion and still take ``champion`` by winning on the metric.
MAX_COVERAGE_DROP = 0.25
MAX_PERSONALISATION_DROP = 0.10
GUARDED = {"coverage": "max_coverage_drop", "personalisation": "max_personalisation_drop"}


def guard_reasons(challenger: Mapping[str, float], champion: Mapping[str, float],
                  limits: Mapping[str, float]) -> list[str]:
    """Why a challenger that wins on the metric must still not become champion: each guarded
    metric (``GUARDED``) it loses by more than its limit, relative to the champion's value.
    A metric either side lacks is not judged."""
    reasons = []
    for name, key in GUARDED.items():
        if name not in challenger or name not in champion or key not in limits:
            continue
        before, after = float(champion[name]), float(challenger[name])
        if before > 0 and (before - after) / before > float(limits[key]):
            reasons.append(f"{name} {after:.4f} is {(before - after) / before:.0%} below the "
                           f"champion's {before:.4f} (register.{key} {float(limits[key]):.0%})")
    return reasons
