"""The recommender contract suite, shipped so that any model can be checked against it.

As ``lenskit.testing`` does for LensKit components: a test class inherits
``RecommenderContract`` and names the model; the mixin fits it on the checkerboard (tiny
data with known answers) and runs the contract (construction, config round-trip, fit then
recommend, batch equals single, unknown users and items, save/load, not-fitted error,
Hypothesis properties of ``top_k`` and ``recommend``, a quality floor).

Importing this package needs pytest and Hypothesis: install the ``testing`` extra
(``pip install movierec[testing]``).
"""

from __future__ import annotations

from recsys.testing.checkerboard import (
    SILENT_USER,
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNRATED_ITEM,
    Checkerboard,
    make_checkerboard,
)
from recsys.testing.contract import PROPERTY_SETTINGS, RecommenderContract, assert_well_formed

__all__ = [
    "PROPERTY_SETTINGS",
    "SILENT_USER",
    "UNKNOWN_ITEM",
    "UNKNOWN_USER",
    "UNRATED_ITEM",
    "Checkerboard",
    "RecommenderContract",
    "assert_well_formed",
    "make_checkerboard",
]
