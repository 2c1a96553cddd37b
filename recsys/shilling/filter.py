"""The pipeline's ``filter`` step: move flagged users' ratings into a quarantine table.

The input is never modified: ``filter_ratings`` returns a filtered copy (``kept``), the
removed rows (``quarantined``), every user's score and a JSON-ready report, and refuses
(``ImplausibleFilterError``) when it would remove more than ``max_removed_share`` of the
users: a detector that flags that many is more likely broken than the data that poisoned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.schema import USER_ID
from recsys.shilling.calibration import calibrated_scores
from recsys.shilling.detectors import create_detector

logger = logging.getLogger(__name__)


class FilterConfig(BaseModel):
    """The ``filter:`` section of ``params.yaml``.

    Attributes:
        enabled: run the filter at all (the pipeline passes data through when false).
        detector: detector name (``ensemble``, ``supervised``, ``pca_varselect``,
            ``target_item_analysis``).
        threshold: users scoring at least this are removed.
        max_removed_share: the largest plausible share of users to remove.
        seed: randomness of the detector's training attacks.
        calibration: ``reference`` scores with the shipped classifier (trained on
            ML-100K); ``dataset`` fits the ensemble on the screened data's own users plus
            injected attacks, cross-fitted (``recsys.shilling.calibration``; ensemble only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    detector: str = "ensemble"
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    max_removed_share: float = Field(0.05, gt=0.0, le=1.0)
    seed: int = 0
    calibration: Literal["reference", "dataset"] = "reference"


class ImplausibleFilterError(RuntimeError):
    """The filter would remove an implausible share of users; ``report`` says how many."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class FilterResult:
    """What the filter did.

    Attributes:
        kept: the ratings of unflagged users (a copy; same columns as the input).
        quarantined: the removed ratings.
        scores: one row per user: ``user_id``, ``score``, ``flagged``.
        report: counts, threshold, share removed, detector and timing (JSON-ready).
    """

    kept: pd.DataFrame
    quarantined: pd.DataFrame
    scores: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def quarantine(ratings: pd.DataFrame, flagged_users: np.ndarray | list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``ratings`` into (kept, quarantined) rows by user; the input is not modified."""
    mask = ratings[USER_ID].isin(np.asarray(flagged_users)).to_numpy()
    return ratings.loc[~mask].copy(), ratings.loc[mask].copy()


def score_users(
    ratings: pd.DataFrame, *, detector: str = "ensemble", threshold: float = 0.5, seed: int = 0,
    calibration: str = "reference",
) -> pd.DataFrame:
    """``user_id, score, flagged`` for every user of ``ratings``."""
    if calibration == "dataset":
        if detector != "ensemble":
            raise ValueError(f"calibration 'dataset' needs the ensemble detector, not {detector!r}")
        scores = calibrated_scores(ratings, seed=seed)
    else:
        scores = create_detector(detector, seed=seed).fit(ratings).scores()
    return pd.DataFrame({
        USER_ID: scores.index.to_numpy(dtype=np.int64),
        "score": scores.to_numpy(dtype=np.float64),
        "flagged": (scores >= threshold).to_numpy(),
    })


def filter_ratings(
    ratings: pd.DataFrame,
    *,
    threshold: float = 0.5,
    max_removed_share: float = 0.05,
    seed: int = 0,
    detector: str = "ensemble",
    calibration: str = "reference",
) -> FilterResult:
    """Remove the ratings of users the detector flags.

    Args:
        ratings: the ratings table (contract columns; extra columns are kept).
        threshold: users with a score of at least this are flagged.
        max_removed_share: raise instead of removing more than this share of users.
        seed: randomness of the detector.
        detector: detector name (default: the ensemble).
        calibration: ``reference`` or ``dataset`` (see ``FilterConfig``).

    Returns:
        The kept rows, the quarantined rows, the scores and a report.

    Raises:
        ImplausibleFilterError: when the flagged share of users exceeds ``max_removed_share``.
    """
    start = time.perf_counter()
    config = FilterConfig(threshold=threshold, max_removed_share=max_removed_share, seed=seed,
                          detector=detector, calibration=calibration)  # type: ignore[arg-type]
    scores = score_users(ratings, detector=config.detector, threshold=config.threshold,
                         seed=config.seed, calibration=config.calibration)
    flagged = scores.loc[scores["flagged"], USER_ID].to_numpy()
    n_users = len(scores)
    share = len(flagged) / n_users if n_users else 0.0
    report: dict[str, Any] = {
        "detector": config.detector,
        "calibration": config.calibration,
        "threshold": config.threshold,
        "max_removed_share": config.max_removed_share,
        "seed": config.seed,
        "n_users": n_users,
        "n_ratings": len(ratings),
        "n_flagged_users": len(flagged),
        "flagged_share": round(share, 6),
        "flagged_users": [int(x) for x in flagged],
        "seconds": round(time.perf_counter() - start, 3),
    }
    if share > config.max_removed_share:
        message = (
            f"the shilling filter would remove {len(flagged)} of {n_users} users "
            f"({share:.1%}), more than the plausible {config.max_removed_share:.1%} "
            f"(threshold {config.threshold}); refusing: check the detector or raise "
            "max_removed_share (filter.max_removed_share in params.yaml, "
            "--max-removed-share on the command line)"
        )
        raise ImplausibleFilterError(message, report)
    kept, quarantined = quarantine(ratings, flagged)
    report["n_quarantined_ratings"] = len(quarantined)
    report["n_kept_ratings"] = len(kept)
    logger.info(
        "shilling filter: %d of %d users flagged (threshold %.2f), %d ratings quarantined",
        len(flagged), n_users, config.threshold, len(quarantined),
    )
    return FilterResult(kept=kept, quarantined=quarantined, scores=scores, report=report)
