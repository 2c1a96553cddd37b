"""``params.yaml`` as one strict, frozen configuration tree, parsed once per command.

Every section is the typed config of the code that uses it: ``validate`` is
``recsys.validation.suites.ValidateConfig``, ``filter`` ``recsys.shilling.filter.FilterConfig``,
``monitor`` ``recsys.monitoring.drift.MonitorConfig``, ``serve``
``recsys.serving.config.ServeConfig`` and ``train.<model>`` the config class of that model
in the model registry; ``data``, ``evaluate``, ``train`` and ``register`` are declared here.
An unknown key, a wrong type, a bad value or an unknown model name is a :class:`ParamsError`
naming the file and the key path, raised before any work starts.

``profiles:`` maps a profile name to a partial document with the same sections; the chosen
profile is deep-merged over the top level before validation (``movierec run --profile
NAME``). Every profile is validated whenever the file is, so a typo in one that is not in
use is found too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from recsys.evaluation.evaluate import metric_keys
from recsys.evaluation.search import SearchConfig, SearchError, Trial, plan_all
from recsys.evaluation.splits import Protocol
from recsys.models import MODELS, ModelConfig, model_class
from recsys.models.registry import check_names
from recsys.monitoring.drift import MonitorConfig
from recsys.serving.config import ServeConfig
from recsys.shilling.detectors import DETECTORS
from recsys.shilling.filter import FilterConfig
from recsys.tracking.promotion_rule import MAX_COVERAGE_DROP, MAX_PERSONALISATION_DROP
from recsys.tracking.registry import MODEL_NAME
from recsys.validation.suites import ValidateConfig

DEFAULT_PARAMS = Path("params.yaml")
PROFILES = "profiles"
#: The profile every reader of the file applies when none is passed: ``movierec run
#: --profile NAME`` sets it, so the steps and processes it starts (the Bento build, a
#: served Bento) read the same document.
PROFILE_ENV = "MOVIEREC_PROFILE"
#: The parameter file the service reads (``bentos.service``).
PARAMS_ENV = "MOVIEREC_PARAMS"

STRICT = ConfigDict(extra="forbid", frozen=True)
#: Sections whose name is taken by pydantic (``BaseModel.validate``, ``ABCMeta.register``):
#: their fields carry a trailing underscore and the section name as alias.
SHADOWED = {"validate": "validate_", "register": "register_"}


class ParamsError(ValueError):
    """A parameter file that cannot be used: not YAML, or not valid against the tree."""


class KeyProblem(ValueError):
    """A problem a section's validator finds below the section: ``path`` (dotted, relative
    to the section) is added to the key path the error names."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path, self.detail = path, detail


class DataConfig(BaseModel):
    """The ``data:`` section: which dataset, and where its raw and processed tables live."""

    model_config = STRICT

    dataset: str = "ml-100k"
    raw_dir: str = "data/raw"
    processed_dir: str = "data/processed"


class EvaluateConfig(BaseModel):
    """The ``evaluate:`` section: the split protocol and the list length ``k``."""

    model_config = STRICT

    protocol: Protocol = "ms-stratified"
    k: int = Field(10, ge=1, le=1000)
    seed: int = 42
    test_size: float = Field(0.25, gt=0.0, lt=1.0)


class RegisterConfig(BaseModel):
    """The ``register:`` section: what wins and what takes ``champion``.

    Attributes:
        model_name: the registered model (the service serves it too).
        metric: the metric that ranks variants and decides promotion; ``None`` in a bare
            ``RegisterConfig``, ``ndcg_at_<evaluate.k>`` once part of :class:`Params`.
        direction: whether a larger or a smaller ``metric`` is better.
        min_improvement: the margin a challenger must beat the champion by.
        max_coverage_drop, max_personalisation_drop: the promotion guard: the largest
            relative loss of catalogue coverage / personalisation a winning challenger may
            show against the champion (``recsys.tracking.promotion_rule.guard_reasons``).
    """

    model_config = STRICT

    model_name: str = Field(MODEL_NAME, min_length=1)
    metric: str | None = None
    direction: Literal["maximize", "minimize"] = "maximize"
    min_improvement: float = Field(0.0, ge=0.0)
    max_coverage_drop: float = Field(MAX_COVERAGE_DROP, ge=0.0, le=1.0)
    max_personalisation_drop: float = Field(MAX_PERSONALISATION_DROP, ge=0.0, le=1.0)

    def metric_for(self, k: int) -> str:
        """``metric``, or the default metric for list length ``k`` when it is unset."""
        return self.metric or default_metric(k)


def default_metric(k: int) -> str:
    """The metric that ranks variants when ``register.metric`` is unset: NDCG at ``k``."""
    return f"ndcg_at_{k}"


class TrainConfig(BaseModel):
    """The ``train:`` section: the variants a run trains, how many at once, and one field
    per registered model holding its config (see :func:`params_model`)."""

    model_config = STRICT

    parallelism: int = Field(2, ge=1, le=256)
    models: tuple[str, ...] = ("popularity",)
    #: the training step's memory (GB); a variant whose estimated fit needs more than its
    #: share is skipped with the estimate as its reason (``recsys.models.budget``); unset:
    #: a share of the memory available when the step starts
    memory_budget_gb: float | None = Field(None, gt=0.0)
    #: a variant that scores more pairs all against all (every user with every user, say)
    #: is skipped with the count as its reason; unset: no cap
    max_fit_pairs: int | None = Field(None, gt=0)
    #: variant -> why a run must not train it (e.g. a measured fit time a profile cannot
    #: afford); the reason is shown in the leaderboard
    skip: dict[str, str] = Field(default_factory=dict)
    #: hyperparameter search: per variant a grid over its config's fields, trials scored on
    #: a validation split of the training ratings (``recsys.evaluation.search``)
    search: SearchConfig = Field(default_factory=SearchConfig)

    @field_validator("models")
    @classmethod
    def _known_models(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        check_names(models)
        if not models:
            raise ValueError("name at least one model")
        if len(set(models)) != len(models):
            raise ValueError("a model is named twice")
        return models

    @field_validator("skip")
    @classmethod
    def _known_skips(cls, skip: dict[str, str]) -> dict[str, str]:
        check_names(skip)
        return skip

    @model_validator(mode="after")
    def _grids_fit_the_models(self) -> TrainConfig:
        # every grid is expanded and checked against its model's config now, before any
        # work, switched off or not (a typo in a search not in use is found too)
        self.trials(enabled_or_not=True)
        return self

    def trials(self, variants: Sequence[str] | None = None, *,
               enabled_or_not: bool = False) -> dict[str, list[Trial]]:
        """The planned trials of each searched variant among ``variants`` (default: every
        variant the search names), over that variant's settings in this section; none
        when ``search.enabled`` is false (unless ``enabled_or_not``).

        Raises:
            ValueError: naming the grid field or value its model's config refuses.
        """
        search = self.search.model_copy(update={"enabled": True}) if enabled_or_not \
            else self.search
        chosen = list(search.variants) if variants is None else list(variants)
        settings = {name: self.model_settings(name) for name in chosen
                    if isinstance(getattr(self, name, None), ModelConfig)}
        try:
            return plan_all(search, settings, chosen)
        except SearchError as exc:
            path, _, detail = str(exc).partition(": ")
            raise KeyProblem(f"search.variants.{path}", detail) from None

    def model_params(self, name: str) -> ModelConfig:
        """The config of model ``name`` (its defaults when the file does not set it)."""
        config = getattr(self, name, None)
        if not isinstance(config, ModelConfig):
            raise KeyError(f"train.{name}: unknown model; choose from: {', '.join(MODELS)}")
        return config

    def model_settings(self, name: str) -> dict[str, Any]:
        """Model ``name``'s parameters as the file sets them (JSON-ready): what a run logs
        and what its training cache key sees."""
        return self.model_params(name).model_dump(mode="json", exclude_unset=True)


class Params(BaseModel):
    """The whole parameter file (see the module docstring)."""

    model_config = STRICT

    data: DataConfig = DataConfig()
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    filter: FilterConfig = FilterConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    train: TrainConfig = TrainConfig()
    register_: RegisterConfig = Field(default_factory=RegisterConfig, alias="register")
    monitor: MonitorConfig = MonitorConfig()
    serve: ServeConfig = ServeConfig()
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """The defaults that follow other keys: the metric follows ``evaluate.k``, the
        served model is the registered one."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        register = data.get("register")
        register = dict(register) if isinstance(register, Mapping) else register
        serve = data.get("serve")
        serve = dict(serve) if isinstance(serve, Mapping) else serve
        evaluate = data.get("evaluate")
        k = evaluate.get("k", 10) if isinstance(evaluate, Mapping) else 10
        if register is None or isinstance(register, dict):
            register = register or {}
            if register.get("metric") is None and isinstance(k, int):
                register["metric"] = default_metric(k)
            data["register"] = register
        if serve is None or isinstance(serve, dict):
            serve = serve or {}
            if "model_name" not in serve and isinstance(register, dict):
                serve["model_name"] = register.get("model_name", MODEL_NAME)
            data["serve"] = serve
        return data

    @model_validator(mode="after")
    def _names_exist(self) -> Params:
        if self.filter.detector not in DETECTORS:
            raise ValueError(f"filter.detector: unknown detector {self.filter.detector!r}; "
                             f"choose from: {', '.join(DETECTORS)}")
        metric = self.register_.metric
        known = [m for m in metric_keys(self.evaluate.k) if not m.endswith("_seconds")]
        if metric not in known:
            raise ValueError(f"register.metric: {metric!r} is not a metric the evaluation "
                             f"computes with k={self.evaluate.k}; choose from: {', '.join(known)}")
        return self

    def section(self, name: str) -> dict[str, Any]:
        """Section ``name`` as the file sets it (JSON-ready; unset keys left out)."""
        value = getattr(self, SHADOWED.get(name, name))
        if isinstance(value, BaseModel):
            dumped: dict[str, Any] = value.model_dump(mode="json", exclude_unset=True)
            return dumped
        return dict(value)


def _model_config_class(name: str) -> type[ModelConfig]:
    cls: Any = model_class(name)
    # the config class is read from the model's one declaration (its ``config`` annotation
    # once models declare it there, the ``Config`` attribute until then)
    config_class = cls.config_class() if hasattr(cls, "config_class") else cls.Config
    return config_class  # type: ignore[no-any-return]


@functools.cache
def params_model() -> type[Params]:
    """:class:`Params` whose ``train`` section has one strict field per registered model
    (built once: it imports every model module, none of which imports TensorFlow)."""
    fields: dict[str, Any] = {
        name: (_model_config_class(name), Field(default_factory=_model_config_class(name)))
        for name in MODELS
    }
    train = create_model("TrainConfig", __base__=TrainConfig, **fields)
    model: type[Params] = create_model(
        "Params", __base__=Params, train=(train, Field(default_factory=train)))
    return model


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_document(path: str | Path) -> dict[str, Any]:
    """The file's YAML mapping, unvalidated (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(loaded, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return loaded


def _problems(exc: ValidationError, prefix: str = "") -> list[str]:
    found = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problem = (error.get("ctx") or {}).get("error")
        if isinstance(problem, KeyProblem):
            where, message = ".".join(p for p in (where, problem.path) if p), problem.detail
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "tuple_type":
            message = "expected a list"
        found.append(f"{prefix}{where}: {message}" if where else message)
    return found


def _validate(document: Mapping[str, Any], where: str, prefix: str = "") -> Params:
    try:
        return params_model().model_validate(document)
    except ValidationError as exc:
        raise ParamsError(f"{where}: " + "; ".join(_problems(exc, prefix))) from None


def parse(document: Mapping[str, Any], where: str | Path = "parameters",
          profile: str | None = None) -> Params:
    """Validate a parameter document (every profile too), with ``profile`` merged over it.

    Raises:
        ParamsError: naming ``where`` (the file) and every bad key path.
    """
    where = str(where)
    profiles = document.get(PROFILES) or {}
    if not isinstance(profiles, Mapping) or not all(
            isinstance(v, Mapping) for v in profiles.values()):
        raise ParamsError(f"{where}: {PROFILES} must map profile names to parameter sections")
    base = _validate(document, where)
    for name, overlay in profiles.items():
        if PROFILES in overlay:
            raise ParamsError(f"{where}: {PROFILES}.{name}.{PROFILES}: profiles do not nest")
        _validate(deep_merge(document, overlay), where, f"{PROFILES}.{name}.")
    if profile is None:
        return base
    if profile not in profiles:
        choices = ", ".join(map(str, profiles)) or "none are defined"
        raise ParamsError(f"{where}: unknown profile {profile!r} (profiles: {choices})")
    return _validate(deep_merge(document, profiles[profile]), where, f"{PROFILES}.{profile}.")


def load(path: str | Path = DEFAULT_PARAMS, profile: str | None = None) -> Params:
    """Parse and validate the parameter file ``path`` (defaults when it does not exist),
    with ``profile`` (default ``$MOVIEREC_PROFILE``) deep-merged over the top level.

    Raises:
        ParamsError: naming ``path`` and every bad key path.
    """
    return parse(read_document(path), path, profile or os.environ.get(PROFILE_ENV) or None)


def load_params(path: str | Path = DEFAULT_PARAMS, profile: str | None = None) -> dict[str, Any]:
    """The validated file as a plain mapping of sections (keys the file sets, plus the
    derived defaults), for code that takes a section as a dict."""
    params = load(path, profile)
    return {name: params.section(name) for name in
            ("data", "validate", "filter", "evaluate", "train", "register", "monitor", "serve")}


def section(name: str, path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """One section of the validated file as a mapping (the whole file is validated)."""
    return load(path).section(name)
