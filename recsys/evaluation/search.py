"""Hyperparameter search: a declared grid per variant, trials scored on a validation split
carved out of the training ratings, and the choice of the best trial.

The ``train.search`` section of ``params.yaml`` is a :class:`SearchConfig`. For each
variant it names a grid (config field -> candidate values) and a bound on the trials; the
values are checked against that model's own config class before any work
(:func:`plan_trials`), and a grid larger than the bound is cut to a seeded random subset of
its points. Each trial fits on the inner training part of :func:`validation_split` (the
training split split again by a protocol of ``recsys.evaluation.splits``) and is scored by
NDCG@k on the inner validation part (:func:`run_trial`); the test split is never an input.
:func:`choose_best` picks the highest finite score (the earlier grid point on a tie).

The inner protocol should be the test's: on ML-100K (``ms-stratified`` test split), nine
iALS settings scored on an ``ms-stratified`` validation split ranked the best test setting
first, while ``sampled-last-out`` (each sampled user's last rating) chose the worst (test
NDCG@10 0.338 against 0.481): next-item and random hold-out reward different models.

Nothing here knows how trials are scheduled: the train flow submits one task per trial.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recsys.evaluation.evaluate import fit_and_evaluate
from recsys.evaluation.splits import Protocol, Split, split_ratings
from recsys.models import MODELS, ModelConfig, model_class
from recsys.models.registry import check_names

STRICT = ConfigDict(extra="forbid", frozen=True)


class SearchError(ValueError):
    """A search that cannot run: an unknown field or value, or no successful trial."""


class VariantSearch(BaseModel):
    """One variant's search: ``grid`` maps a field of the model's config to the values to
    try (their product is the grid); at most ``max_trials`` of its points are fitted."""

    model_config = STRICT

    grid: dict[str, list[Any]] = Field(min_length=1)
    max_trials: int = Field(4, ge=1, le=1000)

    @field_validator("grid")
    @classmethod
    def _values_listed(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [name for name, values in grid.items() if not values]
        if empty:
            raise ValueError(f"no values to try for {', '.join(empty)}")
        return grid


class SearchConfig(BaseModel):
    """The ``train.search`` section.

    Attributes:
        enabled: run the searches (a profile switches them off with ``enabled: false``).
        protocol: how the training split is split again into inner training and validation
            parts (``recsys.evaluation.splits``); best the protocol of the test split.
        validation_size: the protocol's ``test_size`` for the inner split (for
            ``ms-stratified`` the share of each item's ratings held out; for
            ``sampled-last-out`` the share of users holding out their last rating).
        seed: the inner split's and the grid subset's randomness.
        variants: variant -> its grid and bound on trials.
    """

    model_config = STRICT

    enabled: bool = True
    protocol: Protocol = "ms-stratified"
    validation_size: float = Field(0.25, gt=0.0, lt=1.0)
    seed: int = 0
    variants: dict[str, VariantSearch] = Field(default_factory=dict)

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, variants: dict[str, VariantSearch]) -> dict[str, VariantSearch]:
        check_names(variants)
        return variants

    def searched(self, variant: str) -> VariantSearch | None:
        """``variant``'s search, or ``None`` when it is not searched (or searches are off)."""
        return self.variants.get(variant) if self.enabled else None


@dataclass(frozen=True)
class Trial:
    """One grid point of one variant.

    Attributes:
        variant: the model name.
        number: the point's position in the full grid (row-major over the fields in the
            order the grid declares them): a stable name and the tie-break.
        settings: the grid point (field -> value, as the config dumps it to JSON).
        params: the variant's configured settings with the grid point over them: what the
            trial fits.
    """

    variant: str
    number: int
    settings: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class TrialResult:
    """A trial's outcome: its validation score (``None`` when it failed, with ``error``)."""

    variant: str
    number: int
    settings: dict[str, Any]
    params: dict[str, Any]
    score: float | None
    seconds: float
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.score is not None and math.isfinite(self.score)


@dataclass(frozen=True)
class SearchOutcome:
    """A variant's finished search: every trial and the one chosen."""

    variant: str
    metric: str
    chosen: TrialResult
    trials: list[TrialResult] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The trial table: one row per trial, its settings, validation score and seconds."""
        return trial_table(self.trials, self.metric, chosen=self.chosen.number)


def _config_class(variant: str) -> type[ModelConfig]:
    return model_class(variant).config_class()


def _problem(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: "
                     f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())


def _checked(config_class: type[ModelConfig], params: Mapping[str, Any]) -> ModelConfig:
    try:
        return config_class.model_validate(dict(params))
    except ValidationError as exc:
        raise SearchError(_problem(exc)) from None


def _canonical_values(variant: str, config_class: type[ModelConfig], base: Mapping[str, Any],
                      name: str, values: Sequence[Any]) -> list[Any]:
    """``values`` as the config holds them (``10`` for a float field becomes ``10.0``),
    each checked alone over ``base``."""
    if name not in config_class.model_fields:
        raise SearchError(f"{variant}.grid.{name}: not a field of {config_class.__name__} "
                          f"(fields: {', '.join(config_class.model_fields)})")
    out: list[Any] = []
    for value in values:
        try:
            config = _checked(config_class, {**base, name: value})
        except SearchError as exc:
            raise SearchError(f"{variant}.grid.{name}: {value!r}: {exc}") from None
        canonical = config.model_dump(mode="json")[name]
        if not _same_kind(value, canonical):
            raise SearchError(f"{variant}.grid.{name}: {value!r} is a "
                              f"{type(value).__name__}, the field holds "
                              f"{type(canonical).__name__} values")
        if canonical in out:
            raise SearchError(f"{variant}.grid.{name}: {value!r} is listed twice")
        out.append(canonical)
    return out


def _same_kind(given: Any, held: Any) -> bool:
    """False when the config coerced a value of another kind (``"32"`` or ``true`` into an
    int, ``1`` into a bool): a quoted number in a grid is a mistake, not a value to guess."""
    if isinstance(given, bool) or isinstance(held, bool):
        return isinstance(given, bool) and isinstance(held, bool)
    if isinstance(given, str) or isinstance(held, str):
        return isinstance(given, str) and isinstance(held, str)
    return True


def _point(axes: Sequence[tuple[str, list[Any]]], number: int) -> dict[str, Any]:
    """Grid point ``number`` (row-major: the last field varies fastest)."""
    point: dict[str, Any] = {}
    for name, values in reversed(axes):
        number, position = divmod(number, len(values))
        point[name] = values[position]
    return {name: point[name] for name, _ in axes}


def subset_seed(seed: int, variant: str) -> np.random.Generator:
    """The generator of ``variant``'s grid subset: one stream per variant, so adding a
    variant's search does not change another's points."""
    return np.random.default_rng([seed, zlib.crc32(variant.encode())])


def plan_trials(variant: str, search: VariantSearch, base: Mapping[str, Any],
                seed: int = 0) -> list[Trial]:
    """The trials of ``variant``: every point of its grid, or a seeded random subset of
    ``search.max_trials`` points when the grid is larger, in grid order.

    Args:
        variant: a model name.
        search: its grid and bound.
        base: the variant's configured settings (``train.<variant>``); grid values replace
            theirs.
        seed: the subset's randomness (see :func:`subset_seed`).

    Raises:
        SearchError: a grid field that is not a field of the model's config, a value its
            type or bounds refuse (alone or combined with the other values of a point), or a
            value listed twice.
    """
    if variant not in MODELS:
        raise SearchError(f"{variant}: unknown model; choose from: {', '.join(MODELS)}")
    config_class = _config_class(variant)
    axes = [(name, _canonical_values(variant, config_class, base, name, values))
            for name, values in search.grid.items()]
    size = math.prod(len(values) for _, values in axes)
    if size <= search.max_trials:
        numbers = list(range(size))
    else:
        drawn = subset_seed(seed, variant).choice(size, size=search.max_trials, replace=False)
        numbers = sorted(int(n) for n in drawn)
    trials = []
    for number in numbers:
        point = _point(axes, number)
        try:
            config = _checked(config_class, {**base, **point})
        except SearchError as exc:
            raise SearchError(f"{variant}: grid point {point}: {exc}") from None
        # the fitted params: the file's settings plus the point, as the config dumps them
        dumped = config.model_dump(mode="json")
        params = {name: dumped[name] for name in (*base, *point)}
        trials.append(Trial(variant, number, point, params))
    return trials


def grid_size(search: VariantSearch) -> int:
    """How many points ``search``'s grid has (before the ``max_trials`` bound)."""
    return math.prod(len(values) for values in search.grid.values())


def plan_all(config: SearchConfig, settings: Mapping[str, Mapping[str, Any]],
             variants: Sequence[str] | None = None) -> dict[str, list[Trial]]:
    """The trials of every searched variant among ``variants`` (default: every variant the
    section names), each over its configured ``settings``."""
    chosen = list(config.variants) if variants is None else list(variants)
    plans: dict[str, list[Trial]] = {}
    for variant in chosen:
        search = config.searched(variant)
        if search is not None:
            plans[variant] = plan_trials(variant, search, settings.get(variant, {}), config.seed)
    return plans


def validation_split(train: pd.DataFrame, config: SearchConfig) -> Split:
    """The training ratings split again into inner training and validation parts.

    Raises:
        SearchError: when the protocol leaves no validation rating (too few users or
            ratings for ``config.validation_size``).
    """
    split = split_ratings(train, config.protocol, seed=config.seed,
                          test_size=config.validation_size)
    if split.test.empty or split.train.empty:
        raise SearchError(f"the {config.protocol} split of {len(train):,} training ratings "
                          f"(validation_size {config.validation_size}) leaves an empty part")
    return split


def score_key(k: int) -> str:
    """The metric trials are chosen by: NDCG at the run's list length."""
    return f"ndcg_at_{k}"


def run_trial(trial: Trial, train: pd.DataFrame, validation: pd.DataFrame,
              items: pd.DataFrame | None, *, k: int = 10, seed: int | None = 42) -> TrialResult:
    """Fit ``trial``'s params on ``train`` and score NDCG@``k`` on ``validation``.

    ``seconds`` is the whole trial's wall time (fit and scoring). An error in the fit
    propagates: the caller records it as the trial's failure.
    """
    start = time.perf_counter()
    _, metrics = fit_and_evaluate(trial.variant, trial.params, train, validation, items,
                                  k=k, seed=seed)
    return TrialResult(trial.variant, trial.number, trial.settings, trial.params,
                       float(metrics[score_key(k)]), time.perf_counter() - start)


def failed_trial(trial: Trial, error: str, seconds: float = float("nan")) -> TrialResult:
    """The record of a trial that did not finish."""
    return TrialResult(trial.variant, trial.number, trial.settings, trial.params, None,
                       seconds, error or "failed")


def choose_best(results: Sequence[TrialResult], metric: str = "ndcg_at_10") -> SearchOutcome:
    """The search outcome of one variant's trials: the highest finite validation score,
    the earlier grid point on a tie.

    Raises:
        SearchError: when no trial succeeded (the message lists each trial's failure).
    """
    if not results:
        raise SearchError("no trial to choose from")
    variants = {r.variant for r in results}
    if len(variants) != 1:
        raise SearchError(f"trials of several variants: {', '.join(sorted(variants))}")
    ordered = sorted(results, key=lambda r: r.number)
    ok = [r for r in ordered if r.succeeded]
    if not ok:
        reasons = "; ".join(f"trial {r.number} {r.settings}: "
                            f"{r.error or f'validation {metric} is {r.score}'}" for r in ordered)
        raise SearchError(f"all {len(ordered)} trial(s) failed: {reasons}")
    best = max(ok, key=lambda r: (r.score, -r.number))
    return SearchOutcome(ordered[0].variant, metric, best, ordered)


def trial_table(results: Sequence[TrialResult], metric: str = "ndcg_at_10",
                chosen: int | None = None) -> pd.DataFrame:
    """Trials as a table: ``trial``, one column per grid field, ``validation_<metric>``,
    ``seconds``, ``chosen`` and ``error``."""
    rows = [{"trial": r.number, **r.settings, f"validation_{metric}": r.score,
             "seconds": r.seconds, "chosen": r.number == chosen, "error": r.error or ""}
            for r in sorted(results, key=lambda r: r.number)]
    return pd.DataFrame(rows)


def describe(outcome: SearchOutcome) -> str:
    """One line: the chosen settings, their validation score and the trial count."""
    settings = ", ".join(f"{name}={value}" for name, value in outcome.chosen.settings.items())
    failed = sum(not r.succeeded for r in outcome.trials)
    extra = f", {failed} failed" if failed else ""
    return (f"{settings} (validation {outcome.metric} {outcome.chosen.score:.4f}; "
            f"{len(outcome.trials)} trial(s){extra})")


__all__ = [
    "SearchConfig",
    "SearchError",
    "SearchOutcome",
    "Trial",
    "TrialResult",
    "VariantSearch",
    "choose_best",
    "describe",
    "failed_trial",
    "grid_size",
    "plan_all",
    "plan_trials",
    "run_trial",
    "score_key",
    "subset_seed",
    "trial_table",
    "validation_split",
]
