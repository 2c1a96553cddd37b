"""The registered models ``movie-recommender-<dataset>``: challenger, champion, promotion and rollback.

One registered model per dataset (``registered_name(base, dataset)``): a model is tied to the
dataset it was trained on by its name, so each dataset has its own versions, history and
``champion``, and a run on one dataset never compares with, replaces or serves another's
champion. Each version also records its ``dataset`` tag, which the loader checks.

After each pipeline run the best variant becomes a new version with alias ``challenger``,
registered from the run's own model folder: the logged files must equal that folder's by
sha256, and the version records their manifest (``recsys.tracking.artifacts``). It takes
``champion`` only if it beats the current champion (metric and direction from
``params.yaml``'s ``register`` section). With ``compare`` (what the pipeline passes) both
models are scored per test user on this run's split and a paired bootstrap over users gives
an interval of the difference; promotion needs its lower bound above ``min_improvement``,
so noise (0.48182 against 0.48175) is not an improvement. Without ``compare`` the recorded
or re-scored means are compared with ``min_improvement`` as the margin. The rule itself,
with its coverage and personalisation guards, is ``recsys.tracking.promotion_rule``; the
decision and both scores are written on the version as tags (``promotion.*``).

"Same evaluation data": every version carries an ``evaluation_key`` (the data hash plus the
split protocol, seed, test size and k). The champion's score on this run's data comes from
its configuration re-fitted on this run's training data and evaluated on its test data
(``recsys.evaluation.evaluate.refit_and_evaluate``). Evaluating the champion as fitted
would be unfair: its old training data holds most of a new split's test ratings.

Registration is idempotent and crash-safe: a model already registered under the same
identity (``model_identity``: its files without timings) and evaluation key is not
registered again, and a version whose registration was interrupted (``registration.state``
still ``pending``) is decided by the next run against the champion it was registered
against (``registration.champion_before``).

The registered model's tag ``champion_history`` lists the versions that held ``champion``,
oldest first. Promotion and rollback by hand live in ``recsys.tracking.manual``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recsys.tracking.mlflow_runs import resolve_tracking_uri
from recsys.tracking.promotion_rule import (
    MAX_COVERAGE_DROP,
    MAX_PERSONALISATION_DROP,
    Comparison,
    beats,
    guard_reasons,
)

MODEL_NAME = "movie-recommender"
CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
#: Registration progress on a version: ``pending`` until its decision is recorded.
STATE_TAG = "registration.state"
PENDING, DECIDED = "pending", "decided"
#: The champion a version was registered against (its decision is against that one).
CHAMPION_BEFORE_TAG = "registration.champion_before"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (no champion, unknown version...)."""


@dataclass(frozen=True)
class ChampionInfo:
    """A loaded registry model and what the registry knows about it."""

    recommender: Any
    version: str
    alias: str
    variant: str | None
    metrics: dict[str, float]
    data_hash: str | None
    run_id: str | None


@dataclass(frozen=True)
class PromotionDecision:
    """What happened to the best variant of a pipeline run."""

    model_name: str
    version: str
    variant: str
    metric: str
    direction: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None
    min_improvement: float
    promoted: bool
    reused: bool
    reason: str
    champion_after: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        head = f"{self.model_name} v{self.version} ({self.variant}) {self.metric}={self.challenger_score:.4f}"
        if self.reused:
            return f"{head}: {self.reason}; champion is v{self.champion_after or '-'}"
        prior = (f"champion v{self.champion_version} {self.metric}={self.champion_score:.4f}"
                 if self.champion_version and self.champion_score is not None
                 else f"champion v{self.champion_version}" if self.champion_version
                 else "no champion")
        return f"{head} vs {prior}: {self.reason}"


def _client(tracking_uri: str | None) -> Any:
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _history(client: Any, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    return [v for v in str(tags.get(HISTORY_TAG, "")).split(",") if v]


def _set_champion(client: Any, name: str, version: str, *, how: str) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    history = [v for v in _history(client, name) if v != version] + [version]
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    client.set_model_version_tag(name, version, "champion_since", time.strftime("%Y-%m-%dT%H:%M:%S"))
    client.set_model_version_tag(name, version, "champion_by", how)


def registered_name(base: str, dataset: str) -> str:
    """The registered model of ``dataset``: ``<base>-<dataset>`` (one champion per dataset)."""
    suffix = f"-{dataset}"
    return base if base.endswith(suffix) else f"{base}{suffix}"


def register_best(
    model_uri: str,
    *,
    run_id: str,
    variant: str,
    metrics: Mapping[str, float],
    evaluation_key: str,
    data_hash: str,
    model_dir: str | Path,
    dataset: str,
    metric: str = "ndcg_at_10",
    direction: Literal["maximize", "minimize"] | str = "maximize",
    min_improvement: float = 0.0,
    rescore: Callable[[Any], float | Mapping[str, float]] | None = None,
    compare: Callable[[Any], Comparison] | None = None,
    model_name: str = MODEL_NAME,
    tracking_uri: str | None = None,
    max_coverage_drop: float = MAX_COVERAGE_DROP,
    max_personalisation_drop: float = MAX_PERSONALISATION_DROP,
) -> PromotionDecision:
    """Register the run's best variant as ``challenger`` and promote it if it wins.

    A model already registered under the same identity (``model_identity`` of its folder:
    timings excluded) and ``evaluation_key`` is not registered again: its earlier decision
    stands (so re-running an unchanged pipeline keeps the champion, and a rollback is not
    undone by a rerun). A version whose registration was interrupted before its decision
    (``registration.state`` still ``pending``) is decided now, against the champion it
    was registered against.

    Args:
        model_uri: the logged pyfunc model (``models:/m-...`` or ``runs:/...``).
        run_id: the nested run that logged it.
        variant: the variant's name.
        metrics: the variant's metrics (must contain ``metric``).
        evaluation_key: identifies the evaluation data (see the module docstring).
        data_hash: the dataset's DVC hash.
        model_dir: this run's saved model folder, the one ``metrics`` describe; the logged
            model must hold exactly its files (checked by sha256), and its manifest is
            recorded on the version.
        dataset: the dataset the model was trained on (recorded; ``model_name`` should be
            ``registered_name(base, dataset)``).
        metric, direction, min_improvement: the promotion rule.
        rescore: the champion's ``metric`` on the current evaluation data, given its loaded
            (fitted) recommender (``refit_and_evaluate``); used without ``compare``. It may
            return all the metrics (a mapping), which the guard uses.
        compare: given the champion's loaded recommender, both models' scores on this run's
            test users with a paired-bootstrap interval of the difference (see the module
            docstring); when given, promotion needs the interval's lower bound above
            ``min_improvement``.
        model_name: the registered model.
        tracking_uri: the tracking/registry store.
        max_coverage_drop, max_personalisation_drop: the guard: a challenger that wins on
            ``metric`` but loses more than this share of the champion's catalogue coverage
            or personalisation is kept as challenger (``guard_reasons``).
    """
    from mlflow.exceptions import MlflowException

    # cycle: recsys.tracking.artifacts imports this module
    from recsys.tracking.artifacts import (
        DATASET_TAG,
        ArtifactIntegrityError,
        locate_logged,
        model_identity,
        verify_logged,
    )

    if metric not in metrics:
        raise RegistryError(f"metric {metric!r} not among the variant's metrics: {sorted(metrics)}")
    if direction not in ("maximize", "minimize"):
        raise RegistryError(f"direction must be maximize or minimize, got {direction!r}")
    client = _client(tracking_uri)
    score = float(metrics[metric])
    model_dir = Path(model_dir)
    identity = model_identity(model_dir)
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description=f"Best movierec variant per "
                                       f"pipeline run on {dataset}")
    existing = client.search_model_versions(
        f"name = '{model_name}' and tag.model_hash = '{identity}'"
    )
    same = [v for v in existing if (v.tags or {}).get("evaluation_key") == evaluation_key]
    champion = _alias_version(client, model_name, CHAMPION)
    if same:
        found = max(same, key=lambda v: int(v.version))
        tags = dict(found.tags or {})
        if tags.get(STATE_TAG, DECIDED) == DECIDED:
            return PromotionDecision(
                model_name, str(found.version), variant, metric, direction, score,
                str(champion.version) if champion else None,
                _float(tags.get("promotion.champion_score")), min_improvement,
                promoted=False, reused=True,
                reason=f"unchanged: this model is already version {found.version} "
                       f"(decided then: {tags.get('promotion.decision', 'unknown')})",
                champion_after=str(champion.version) if champion else None, tags=tags,
            )
        # an interrupted registration: decide it now, against the champion it met then
        version = str(found.version)
        before = tags.get(CHAMPION_BEFORE_TAG, "")
        version_tags = tags
    else:
        logged = locate_logged(model_uri, tracking_uri)
        try:
            facts = verify_logged(logged, model_dir, resolve_tracking_uri(tracking_uri))
        except ArtifactIntegrityError as exc:
            raise RegistryError(str(exc)) from None
        before = str(champion.version) if champion else ""
        version_tags = {
            **facts, DATASET_TAG: dataset,
            "model_hash": identity, "evaluation_key": evaluation_key,
            "data_hash": data_hash, "run_id": run_id, STATE_TAG: PENDING,
            CHAMPION_BEFORE_TAG: before,
            # full precision (repr round-trips): a rounded record would let a tie "beat" it
            **{f"metric.{k}": repr(float(v)) for k, v in metrics.items()},
        }
        mv = client.create_model_version(model_name, source=logged.location, run_id=run_id,
                                         tags=version_tags, model_id=logged.model_id)
        version = str(mv.version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return _decide(client, model_name, version, before, variant=variant, score=score,
                   metric=metric, direction=direction, min_improvement=min_improvement,
                   evaluation_key=evaluation_key, rescore=rescore, compare=compare,
                   version_tags=version_tags, tracking_uri=tracking_uri, metrics=metrics,
                   limits={"max_coverage_drop": max_coverage_drop,
                           "max_personalisation_drop": max_personalisation_drop})


def _decide(client: Any, model_name: str, version: str, before: str, *, variant: str,
            score: float, metric: str, direction: str, min_improvement: float,
            evaluation_key: str, rescore: Callable[[Any], float | Mapping[str, float]] | None,
            compare: Callable[[Any], Comparison] | None, version_tags: dict[str, str],
            tracking_uri: str | None, metrics: Mapping[str, float],
            limits: Mapping[str, float]) -> PromotionDecision:
    """Compare ``version`` with champion ``before`` (a version or ''), move the alias, and
    record the decision; the last tag written marks the registration ``decided``."""
    champion_score: float | None = None
    champion_metrics: dict[str, float] = {}
    guard: list[str] = []
    interval: Comparison | None = None
    if not before:
        promoted, reason = True, "promoted: no champion yet"
    else:
        ctags = dict(client.get_model_version(model_name, before).tags or {})
        if compare is not None:
            interval = compare(load_version(before, model_name, tracking_uri=tracking_uri).recommender)
            champion_score = interval.champion_score
            champion_metrics = {k: float(v) for k, v in interval.champion_metrics.items()}
            how = (f"champion's configuration re-fitted on this run's training data; "
                   f"{interval.confidence:.0%} paired-bootstrap bound of the difference over "
                   f"{interval.n_users} test users: [{interval.low:+.4f}, {interval.high:+.4f}]")
        elif ctags.get("evaluation_key") == evaluation_key and f"metric.{metric}" in ctags:
            champion_score = float(ctags[f"metric.{metric}"])
            champion_metrics = {k.removeprefix("metric."): float(v) for k, v in ctags.items()
                                if k.startswith("metric.") and _float(v) is not None}
            how = "recorded score on the same evaluation data"
        elif rescore is not None:
            loaded = load_version(before, model_name, tracking_uri=tracking_uri)
            rescored = rescore(loaded.recommender)
            if isinstance(rescored, Mapping):
                champion_metrics = {k: float(v) for k, v in rescored.items()}
                champion_score = champion_metrics[metric]
            else:
                champion_score = float(rescored)
            how = "champion's configuration re-fitted on this run's training data"
        else:
            how = "champion was evaluated on other data and cannot be re-scored"
        if interval is not None:
            wins = interval.low > min_improvement
            rule = f"the lower bound above {min_improvement}"
        else:
            wins = champion_score is not None and beats(score, champion_score, direction=direction,
                                                       margin=min_improvement)
            rule = f"better by more than {min_improvement}"
        if wins:
            guard = guard_reasons(metrics, champion_metrics, limits)
        if champion_score is None:
            promoted, reason = False, f"kept champion v{before}: {how}"
        elif wins and guard:
            promoted, reason = False, (f"kept champion v{before}: wins on {metric} but "
                                       f"{'; '.join(guard)} ({how})")
        elif wins:
            promoted, reason = True, f"promoted: beats champion v{before} with {rule} ({how})"
        else:
            promoted, reason = False, f"kept champion v{before}: not {rule} ({how})"
    decision_tags = {
        "promotion.decision": "promoted" if promoted else "kept",
        "promotion.metric": metric,
        "promotion.direction": direction,
        "promotion.min_improvement": str(min_improvement),
        "promotion.challenger_score": repr(score),
        "promotion.champion_version": before,
        "promotion.champion_score": "" if champion_score is None else repr(champion_score),
        "promotion.reason": reason,
        "promotion.guard": "; ".join(guard) if guard else "passed",
        **{f"promotion.{key}": str(value) for key, value in limits.items()},
    }
    if interval is not None:
        decision_tags.update({"promotion.difference_low": repr(interval.low),
                              "promotion.difference_high": repr(interval.high),
                              "promotion.confidence": repr(interval.confidence),
                              "promotion.test_users": str(interval.n_users)})
    for key, value in decision_tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if promoted:
        _set_champion(client, model_name, version, how="pipeline")
    client.set_model_version_tag(model_name, version, STATE_TAG, DECIDED)
    after = version if promoted else (before or None)
    return PromotionDecision(
        model_name, version, variant, metric, direction, score, before or None, champion_score,
        min_improvement, promoted=promoted, reused=False, reason=reason, champion_after=after,
        tags={**version_tags, **decision_tags, STATE_TAG: DECIDED},
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def list_versions(model_name: str = MODEL_NAME, tracking_uri: str | None = None, *,
                  dataset: str | None = None) -> list[dict[str, Any]]:
    """Every version, newest first: version, aliases, variant, scores and decision (of
    ``registered_name(model_name, dataset)``, or see ``_resolve_name`` without a dataset)."""
    client = _client(tracking_uri)
    from mlflow.exceptions import MlflowException

    try:
        model_name = _resolve_name(model_name, dataset, tracking_uri)
    except RegistryError as exc:
        if "several datasets" in str(exc):
            raise
        return []
    try:
        model = client.get_registered_model(model_name)
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        tags = dict(mv.tags or {})
        metric = tags.get("promotion.metric", "ndcg_at_10")
        rows.append({
            "version": str(mv.version),
            "aliases": sorted(aliases.get(str(mv.version), [])),
            "variant": tags.get("variant", ""),
            "metric": metric,
            "score": _float(tags.get(f"metric.{metric}")),
            "decision": tags.get("promotion.decision", ""),
            "reason": tags.get("promotion.reason", ""),
            "created": mv.creation_timestamp,
            "run_id": mv.run_id or tags.get("run_id"),
        })
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


def load_champion(
    model_name: str = MODEL_NAME, alias: str = CHAMPION, tracking_uri: str | None = None,
    *, dataset: str | None = None,
) -> ChampionInfo:
    """Load the version holding ``alias`` of ``model_name``, verified and without unpickling
    (``recsys.tracking.artifacts.load_registered``).

    Args:
        model_name: the registered model, or its base name when ``dataset`` is given.
        alias: the alias.
        tracking_uri: the registry store.
        dataset: the dataset the model must have been trained on; selects
            ``registered_name(model_name, dataset)``.

    Raises:
        RegistryError: when the alias does not exist.
        recsys.tracking.artifacts.ArtifactIntegrityError: tampered or mislabelled files.
    """
    # cycle: recsys.tracking.artifacts imports this module
    from recsys.tracking.artifacts import load_registered

    name = _resolve_name(model_name, dataset, tracking_uri)
    return _info(load_registered(name, alias=alias, dataset=dataset, tracking_uri=tracking_uri))


def load_version(
    version: str | int, model_name: str = MODEL_NAME, tracking_uri: str | None = None,
    *, dataset: str | None = None,
) -> ChampionInfo:
    """Load ``version`` of ``model_name`` (whatever aliases it holds now), verified and
    without unpickling; ``alias`` of the result is ``champion`` when the version holds it.

    Raises:
        RegistryError: when the version does not exist.
        recsys.tracking.artifacts.ArtifactIntegrityError: tampered or mislabelled files.
    """
    # cycle: recsys.tracking.artifacts imports this module
    from recsys.tracking.artifacts import load_registered

    name = _resolve_name(model_name, dataset, tracking_uri)
    return _info(load_registered(name, version=version, dataset=dataset, tracking_uri=tracking_uri))


def _resolve_name(model_name: str, dataset: str | None, tracking_uri: str | None) -> str:
    """The registered model to load: ``registered_name(model_name, dataset)`` with a dataset;
    without one, ``model_name`` itself when registered, else the one ``<model_name>-<dataset>``
    registered (callers that do not name their dataset yet). Several datasets and no
    ``dataset`` is an error rather than a guess."""
    from mlflow.exceptions import MlflowException

    if dataset:
        return registered_name(model_name, dataset)
    client = _client(tracking_uri)
    try:
        client.get_registered_model(model_name)
        return model_name
    except MlflowException:
        pass
    candidates = sorted(m.name for m in client.search_registered_models()
                        if str(m.name).startswith(f"{model_name}-"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise RegistryError(f"no registered model {model_name!r} (nor {model_name}-<dataset>): "
                            "run the pipeline first")
    raise RegistryError(f"{model_name!r} is registered for several datasets "
                        f"({', '.join(candidates)}): say which dataset")


def _info(loaded: Any) -> ChampionInfo:
    return ChampionInfo(recommender=loaded.recommender, version=loaded.version,
                        alias=loaded.alias, variant=loaded.variant, metrics=loaded.metrics,
                        data_hash=loaded.data_hash, run_id=loaded.run_id)
