"""The hybrid's typed configuration: its CF components (any registered CF model), the
content model and the blend-weight search."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from recsys.models.base import ModelConfig
from recsys.models.ease import TIMELINE_DLAE
from recsys.models.registry import MODELS

#: The non-CF blend components (their weight keys); CF components are named by the config.
CONTENT = "content"
POPULARITY = "popularity"
CONTENT_MODELS = ("content_tfidf", "content_svm")


class ComponentSpec(ModelConfig):
    """Attributes:
    model: a registered CF model name (any but the content models and the hybrid).
    params: its configuration.
    """

    model: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        allowed = [m for m in MODELS if m != "hybrid" and m not in CONTENT_MODELS]
        if value not in allowed:
            raise ValueError(
                f"CF component model must be one of {', '.join(allowed)}, got {value!r}"
            )
        return value


def default_cf_components() -> dict[str, ComponentSpec]:
    """The default CF blend (each model's own defaults unless noted).

    Chosen on validation splits carved from the training data of ML-100K ``ms-stratified``
    splits (seeds 1 and 7; seed 42 confirmed): item EASE, iALS and user EASE each score
    about 0.48 NDCG@10 alone and make different mistakes; user kNN, the truncated SVD and
    RP3beta add smaller, consistent gains. ``timeline_ease`` is EASE's timeline DLAE
    (``TIMELINE_DLAE``: item co-occurrence weighted by how close together a user rated the
    two movies and by the users' ratings), which generalises session EASE; adding session
    EASE beside it is no better. Test NDCG@10 on split seeds 42 / 1 / 7 / 3 (the accuracy
    benchmark's seed table): 0.4991 / 0.4985 / 0.5073 / 0.5047, below the timeline
    component alone (0.5005 / 0.5039 / 0.5114 / 0.5020) on three of the four seeds: the
    weights fitted on validation draws do not give that component enough room.
    """
    return {
        "ease": ComponentSpec(model="ease"),
        "ials": ComponentSpec(model="ials"),
        "user_ease": ComponentSpec(model="user_ease"),
        "user_knn": ComponentSpec(model="user_knn"),
        "svd": ComponentSpec(model="svd"),
        "rp3beta": ComponentSpec(model="rp3beta"),
        "timeline_ease": ComponentSpec(model="ease", params=dict(TIMELINE_DLAE)),
    }


class HybridConfig(ModelConfig):
    """Attributes:
    cf_components: the CF components by label (the label is its weight key and sub-folder).
    content_model: ``content_tfidf`` or ``content_svm``.
    content_params: its configuration.
    weights: fixed blend weights by label (CF labels, ``content``, ``popularity``; missing
        labels weigh 0); ``None`` fits them on validation splits carved from the training
        data.
    validation_share: share of each movie's training ratings held out for the weight search
        (the same per-item stratified draw as the ``ms-stratified`` evaluation protocol, so
        that the weights transfer).
    validation_folds: independent validation draws; the weights maximise the mean NDCG
        over all of them (each refits the components once). The blend's test NDCG moves
        by up to 0.005 with the weights picked, so the search needs many validation users:
        see ``weight_steps`` for the measurements behind 6.
    max_validation_users: at most this many (random) users per validation draw are scored
        in the search; bounds the dense ``users x items`` blocks.
    weight_steps: the values each weight may take in the coordinate-ascent search (which
        starts from equal weights). A strong component needs room to outweigh the others:
        on ML-100K ``ms-stratified`` (split seeds 42 / 1 / 7 / 3; three blends: the
        default components and timeline EASE with a rating tilt of 0.1 or 0.2), these
        steps, 5 rounds and 6 folds gave a mean test NDCG@10 of 0.5007 / 0.5016 / 0.5015
        over the seeds against 0.4999 / 0.5007 / 0.5003 for steps 0-2 by 0.5, 2 rounds and
        3 folds, better in 9 of the 12 blend-seed pairs (seed 42: 0.4975 / 0.4971 / 0.4990
        against 0.4940 / 0.4950 / 0.4960). Bagging the search (weights averaged over 5
        bootstrap samples of the validation users) gave means of 0.5007 to 0.5022 with 3
        folds and 0.4985 to 0.5008 with 6, but 0.4949 to 0.4961 on seed 42, for five
        times the search time.
    search_rounds: passes of coordinate ascent over the components (it stops early when a
        pass changes nothing).
    k: list length of the NDCG the weights maximise.
    normalisation: per-user score normalisation before blending: ``zscore`` (mean 0, sd 1
        over the catalogue) or ``minmax`` (to ``[0, 1]``).
    refit: after the search, refit the components on all training data (else keep the
        components fitted without the validation ratings; faster).
    seed: randomness of the validation split (also given to components that take a seed
        and were not given one).
    """

    cf_components: dict[str, ComponentSpec] = Field(default_factory=default_cf_components)
    content_model: str = "content_tfidf"
    content_params: dict[str, Any] = Field(default_factory=dict)
    weights: dict[str, float] | None = None
    validation_share: float = Field(default=0.25, gt=0.0, lt=1.0)
    validation_folds: int = Field(default=6, ge=1)
    max_validation_users: int = Field(default=2000, ge=1)
    weight_steps: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    search_rounds: int = Field(default=5, ge=1)
    k: int = Field(default=10, ge=1)
    normalisation: Literal["zscore", "minmax"] = "zscore"
    refit: bool = True
    seed: int = 42

    @field_validator("content_model")
    @classmethod
    def _known_content(cls, value: str) -> str:
        if value not in CONTENT_MODELS:
            raise ValueError(f"content_model must be one of {', '.join(CONTENT_MODELS)}")
        return value

    @field_validator("cf_components")
    @classmethod
    def _valid_labels(cls, value: dict[str, ComponentSpec]) -> dict[str, ComponentSpec]:
        if not value:
            raise ValueError("cf_components must name at least one CF component")
        clash = {CONTENT, POPULARITY} & set(value)
        if clash:
            raise ValueError(f"CF component labels {sorted(clash)} are reserved")
        return value

    @field_validator("weight_steps")
    @classmethod
    def _valid_steps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(v < 0 for v in value) or max(value) <= 0:
            raise ValueError("weight_steps must be non-negative with at least one positive")
        return value

    @model_validator(mode="after")
    def _valid_weights(self) -> HybridConfig:
        if self.weights is None:
            return self
        labels = self.labels
        unknown = set(self.weights) - set(labels)
        if unknown:
            raise ValueError(f"unknown weight key(s) {sorted(unknown)}; use {labels}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return self

    @property
    def labels(self) -> list[str]:
        """Weight keys in blend order: the CF labels, ``content``, ``popularity``."""
        return [*self.cf_components, CONTENT, POPULARITY]
