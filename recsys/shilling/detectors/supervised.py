"""The supervised detector: gradient boosting over profile attributes, trained on attacks
generated from clean data (or on the data being screened, ``training="self"``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from recsys.data.interactions import Interactions
from recsys.data.schema import RATING_COLUMNS
from recsys.errors import NotFittedError
from recsys.sampling import as_rng
from recsys.shilling.attacks import RatingStats, generate_attack
from recsys.shilling.detectors.base import ShillingDetector, _frame
from recsys.shilling.detectors.group_evidence import target_item_scores
from recsys.shilling.detectors.pca_varselect import pca_contribution
from recsys.shilling.detectors.tree_ensemble import TreeEnsemble, positive_proba
from recsys.shilling.features import profile_attributes
from recsys.shilling.shards import SHARD_USERS, describe_in_shards, shard_frames

#: Where the shipped reference classifiers live (``<detector>.npz`` + ``<detector>.json``).
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
#: Attack kinds the supervised detectors train on by default (every kind).
TRAINING_KINDS: tuple[str, ...] = (
    "random", "average", "bandwagon", "segment", "reverse_bandwagon", "love_hate",
    "popular_filler", "noise", "target_shift", "mixed",
)
#: Ranges training attack sizes and filler sizes are drawn from (log-uniformly). Drawn, not
#: picked from a list: fake profiles all have the same length, and a classifier trained on a
#: few lengths learns "a length never seen among the positives is genuine".
TRAINING_SIZES: tuple[float, float] = (0.01, 0.15)
TRAINING_FILLERS: tuple[float, float] = (0.005, 0.15)



def detection_features(frame: pd.DataFrame, *, with_members: bool, seed: int = 0) -> pd.DataFrame:
    """Profile attributes, plus the unsupervised detectors' evidence when ``with_members``."""
    attributes = profile_attributes(frame)
    if with_members:
        contribution = pca_contribution(frame, seed=seed)
        attributes["pca_log_contribution"] = np.log(contribution.reindex(attributes.index) + 1e-6)
        attributes["target_item_analysis"] = target_item_scores(
            frame, -np.log(contribution + 1e-12)
        ).reindex(attributes.index)
    return attributes


@dataclass(frozen=True)
class TrainingAttack:
    """One attack injected to build the classifier's training set."""

    kind: str
    size: float
    filler: float
    target: int
    seed: int


class SupervisedDetector(ShillingDetector):
    """A gradient-boosted classifier over profile attributes (Williams, Mobasher and Burke
    2007; Burke et al. 2006 used kNN/C4.5 over the same attributes).

    Two ways to get the classifier, neither needs a pickle:

    ``training="reference"`` (default)
        the reference model shipped in ``recsys/shilling/reference/`` as ``.npz`` + JSON,
        trained by ``train`` on attacks injected into clean ML-100K (every kind, sizes
        and filler sizes drawn from ``TRAINING_SIZES`` / ``TRAINING_FILLERS``) and saved
        by ``save_reference``. ``fit`` only computes attributes and predicts (fast).
    ``training="self"``
        ``fit`` trains on attacks generated from the very data it screens, against that
        data's own users. Fine on clean data (the benchmark uses it with held-out kinds),
        but an attack already in the data then sits among the negatives and the classifier
        learns to call it genuine: measured, this hides whole attacks, so the pipeline uses
        the reference model.

    Training draws, per kind, ``attacks_per_kind`` attacks (sizes and filler sizes
    log-uniform in the given ranges, targets among items with two or more ratings), injects
    ``kinds_per_injection`` of them at a time, and learns the injected users' attributes
    (computed in the poisoned data) against the genuine users' (computed in the data as
    it is: exactly what is scored later).

    Args:
        training: ``reference`` or ``self``.
        training_kinds: attack kinds to train on.
        training_sizes, training_fillers: ``(low, high)`` ranges of attack and filler sizes.
        attacks_per_kind: training attacks per kind.
        kinds_per_injection: attacks injected into the data together (cost vs realism).
        exclude_targets: items never used as training targets.
        exclude_negatives: user ids never used as negatives (for cross-fitting).
        reference: path (without suffix) of the reference model; default: the shipped one.
        shard_users: users are described in random shards of at most this many
            (``recsys.shilling.shards``); training attacks are injected into the first shard.
        seed: randomness of the training attacks, the shards and the classifier.
    """

    name = "supervised"
    with_members: ClassVar[bool] = False

    def __init__(
        self,
        *,
        training: str = "reference",
        training_kinds: Sequence[str] = TRAINING_KINDS,
        training_sizes: tuple[float, float] = TRAINING_SIZES,
        training_fillers: tuple[float, float] = TRAINING_FILLERS,
        attacks_per_kind: int = 3,
        kinds_per_injection: int = 3,
        exclude_targets: Sequence[int] = (),
        exclude_negatives: Sequence[int] = (),
        reference: str | Path | None = None,
        shard_users: int = SHARD_USERS,
        seed: int = 0,
    ) -> None:
        if training not in ("reference", "self"):
            raise ValueError(f"training must be 'reference' or 'self', got {training!r}")
        if not training_kinds:
            raise ValueError("training_kinds must name at least one attack kind")
        self.training = training
        self.training_kinds = tuple(training_kinds)
        self.training_sizes = (float(training_sizes[0]), float(training_sizes[1]))
        self.training_fillers = (float(training_fillers[0]), float(training_fillers[1]))
        self.attacks_per_kind = attacks_per_kind
        self.kinds_per_injection = max(1, kinds_per_injection)
        self.exclude_targets = tuple(int(t) for t in exclude_targets)
        self.exclude_negatives = tuple(int(u) for u in exclude_negatives)
        self.reference = Path(reference) if reference is not None else REFERENCE_DIR / self.name
        self.shard_users = shard_users
        self.seed = seed
        self.classifier_: Any = None

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every user's attributes, described inside their shard."""
        return describe_in_shards(frame, self._describe, self.shard_users, self.seed)

    def _describe(self, frame: pd.DataFrame) -> pd.DataFrame:
        return detection_features(frame, with_members=self.with_members, seed=self.seed)

    def _plan(self, stats: RatingStats) -> list[TrainingAttack]:
        rng = as_rng(self.seed)
        eligible = stats.item_ids[(stats.item_count >= 2) & ~np.isin(stats.item_ids, self.exclude_targets)]
        plan = []
        for repeat in range(self.attacks_per_kind):
            for n, kind in enumerate(self.training_kinds):
                plan.append(TrainingAttack(
                    kind=kind,
                    size=float(np.exp(rng.uniform(*np.log(self.training_sizes)))),
                    filler=float(np.exp(rng.uniform(*np.log(self.training_fillers)))),
                    target=int(rng.choice(eligible)),
                    seed=self.seed * 1000 + repeat * 100 + n,
                ))
        order = rng.permutation(len(plan))
        return [plan[j] for j in order]

    def _positives(self, frame: pd.DataFrame, stats: RatingStats) -> pd.DataFrame:
        """Attributes of injected fake users, a few attacks per poisoned copy of the data."""
        plan = self._plan(stats)
        blocks: list[pd.DataFrame] = []
        for start in range(0, len(plan), self.kinds_per_injection):
            next_id = stats.max_user_id + 1
            fakes: list[pd.DataFrame] = []
            fake_ids: list[NDArray[np.int64]] = []
            for spec in plan[start : start + self.kinds_per_injection]:
                attack = generate_attack(
                    frame, spec.kind, size=spec.size, filler=spec.filler, targets=spec.target,
                    seed=spec.seed, stats=stats, first_user_id=next_id,
                )
                next_id += len(attack.truth)
                fakes.append(attack.fake_ratings.loc[:, list(RATING_COLUMNS)])
                fake_ids.append(attack.fake_users)
            poisoned = pd.concat([frame, *fakes], ignore_index=True)
            feats = self._describe(poisoned)
            blocks.append(feats.loc[np.concatenate(fake_ids)])
        return pd.concat(blocks, ignore_index=True)

    def training_set(self, ratings: Interactions | pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(own, positives)``: the attributes of every user of ``ratings`` as it is, and of
        the fake users of the training attacks injected into its first shard (what a shard
        looks like under attack: the shards are alike)."""
        frame = _frame(ratings).loc[:, list(RATING_COLUMNS)]
        first = next(shard_frames(frame, self.shard_users, self.seed))
        return self._features(frame), self._positives(first, RatingStats.from_ratings(first))

    def train(self, ratings: Interactions | pd.DataFrame) -> Self:
        """Train a classifier on attacks injected into ``ratings`` against its own users."""
        return self.fit_classifier(*self.training_set(ratings))

    def fit_classifier(self, own: pd.DataFrame, positives: pd.DataFrame) -> Self:
        """Train the classifier: ``positives`` against ``own`` less ``exclude_negatives``."""
        negatives = own.loc[~own.index.isin(self.exclude_negatives)]
        self.feature_names_: list[str] = list(own.columns)
        x = np.vstack([negatives.loc[:, self.feature_names_].to_numpy(),
                       positives.loc[:, self.feature_names_].to_numpy()])
        y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
        model = HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=40,
            l2_regularization=1.0, random_state=self.seed,
        )
        # One thread: OpenMP over a few thousand rows costs more than it saves.
        with threadpool_limits(limits=1):
            model.fit(x, y)
        self.classifier_ = TreeEnsemble.from_sklearn(model, self.feature_names_)
        self.n_positives_: int = len(positives)
        self.n_negatives_: int = len(negatives)
        return self

    def predict(self, feats: pd.DataFrame) -> pd.Series:
        """The trained classifier's probabilities for users described by ``feats``."""
        return pd.Series(self._predict(feats), index=feats.index, name="score")

    def save_reference(self, path: str | Path | None = None, *, dataset: str = "ml-100k") -> Path:
        """Persist the trained classifier as the reference model (``.npz`` + ``.json``)."""
        if not isinstance(self.classifier_, TreeEnsemble):
            raise NotFittedError(f"{type(self).__name__} is not trained: call train() first")
        target = Path(path) if path is not None else self.reference
        self.classifier_.save(target, {
            "detector": self.name,
            "dataset": dataset,
            "training_kinds": list(self.training_kinds),
            "training_sizes": list(self.training_sizes),
            "training_fillers": list(self.training_fillers),
            "attacks_per_kind": self.attacks_per_kind,
            "n_positives": self.n_positives_,
            "n_negatives": self.n_negatives_,
            "seed": self.seed,
        })
        return target

    def _load_reference(self) -> None:
        if not self.reference.with_suffix(".npz").is_file():
            raise FileNotFoundError(
                f"{self.reference}.npz not found: train it with `movierec shilling train-reference`"
            )
        self.classifier_ = TreeEnsemble.load(self.reference)
        self.feature_names_ = self.classifier_.feature_names

    def _predict(self, feats: pd.DataFrame) -> NDArray[np.float64]:
        if self.classifier_ is None:
            raise NotFittedError(f"{type(self).__name__} is not trained: call train() or fit()")
        return positive_proba(self.classifier_, feats.loc[:, self.feature_names_])

    def score_ratings(self, ratings: Interactions | pd.DataFrame) -> pd.Series:
        """Scores of the users of ``ratings`` with the already trained classifier."""
        return self.predict(self._features(_frame(ratings)))

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        if self.classifier_ is None:
            if self.training == "reference":
                self._load_reference()
            else:
                self.train(frame)
        return self.score_ratings(frame)
