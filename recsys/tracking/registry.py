"""The registered model ``movie-recommender``: challenger, champion, promotion and rollback.

After each pipeline run the best variant becomes a new version with alias ``challenger``.
It takes ``champion`` only if it beats the current champion on the same evaluation data by
``min_improvement`` (metric and direction from ``params.yaml``'s ``register`` section). The
decision and both scores are written on the version as tags (``promotion.*``).

"Same evaluation data": every version carries an ``evaluation_key`` (the data hash plus the
split protocol, seed, test size and k). When the champion was evaluated under another key,
its score is recomputed through a caller-supplied ``rescore`` function before comparing:
the champion's configuration re-fitted on this run's training data and evaluated on its
test data (``recsys.evaluation.evaluate.refit_and_evaluate``). Evaluating the champion as
fitted would be unfair: its old training data holds most of a new split's test ratings.

The registered model's tag ``champion_history`` lists the versions that held ``champion``,
oldest first; ``rollback`` moves the alias back to the previous one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from recsys.tracking.mlflow_runs import resolve_tracking_uri

MODEL_NAME = "movie-recommender"
CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"


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


def beats(challenger: float, champion: float, *, direction: str, margin: float) -> bool:
    """True when ``challenger`` is better than ``champion`` by more than ``margin``."""
    if direction == "minimize":
        return challenger < champion - margin
    return challenger > champion + margin


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


def register_best(
    model_uri: str,
    *,
    run_id: str,
    variant: str,
    metrics: Mapping[str, float],
    evaluation_key: str,
    data_hash: str,
    model_hash: str,
    metric: str = "ndcg_at_10",
    direction: Literal["maximize", "minimize"] | str = "maximize",
    min_improvement: float = 0.0,
    rescore: Callable[[Any], float | Mapping[str, float]] | None = None,
    model_name: str = MODEL_NAME,
    tracking_uri: str | None = None,
    max_coverage_drop: float = MAX_COVERAGE_DROP,
    max_personalisation_drop: float = MAX_PERSONALISATION_DROP,
) -> PromotionDecision:
    """Register the run's best variant as ``challenger`` and promote it if it wins.

    A model already registered under the same ``model_hash`` and ``evaluation_key`` is not
    registered again: its earlier decision stands (so re-running an unchanged pipeline
    keeps the champion, and a rollback is not undone by a rerun).

    Args:
        model_uri: the logged pyfunc model (``models:/m-...`` or ``runs:/...``).
        run_id: the nested run that logged it.
        variant: the variant's name.
        metrics: the variant's metrics (must contain ``metric``).
        evaluation_key: identifies the evaluation data (see the module docstring).
        data_hash: the dataset's DVC hash.
        model_hash: content hash of the saved model folder.
        metric, direction, min_improvement: the promotion rule.
        rescore: the champion's ``metric`` on the current evaluation data, given its loaded
            (fitted) recommender: re-fit its configuration on the current training data,
            then evaluate (``refit_and_evaluate``); needed when the champion was evaluated
            on other data. It may return all the metrics (a mapping), which the guard uses.
        model_name: the registered model.
        tracking_uri: the tracking/registry store.
        max_coverage_drop, max_personalisation_drop: the promotion guard
            (``guard_reasons``): a challenger that wins on ``metric`` but loses more than
            this share of the champion's coverage / personalisation is kept out.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if metric not in metrics:
        raise RegistryError(f"metric {metric!r} not among the variant's metrics: {sorted(metrics)}")
    if direction not in ("maximize", "minimize"):
        raise RegistryError(f"direction must be maximize or minimize, got {direction!r}")
    client = _client(tracking_uri)
    score = float(metrics[metric])
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description="Best movierec variant per pipeline run")
    existing = client.search_model_versions(
        f"name = '{model_name}' and tag.model_hash = '{model_hash}'"
    )
    same = [v for v in existing if (v.tags or {}).get("evaluation_key") == evaluation_key]
    champion = _alias_version(client, model_name, CHAMPION)
    if same:
        version = max(same, key=lambda v: int(v.version))
        tags = dict(version.tags or {})
        return PromotionDecision(
            model_name, str(version.version), variant, metric, direction, score,
            str(champion.version) if champion else None,
            _float(tags.get("promotion.champion_score")), min_improvement,
            promoted=False, reused=True,
            reason=f"unchanged: this model is already version {version.version} "
                   f"(decided then: {tags.get('promotion.decision', 'unknown')})",
            champion_after=str(champion.version) if champion else None, tags=tags,
        )

    version_tags = {
        "variant": variant, "model_hash": model_hash, "evaluation_key": evaluation_key,
        "data_hash": data_hash, "run_id": run_id,
        # full precision (repr round-trips): a rounded record would let a tie "beat" it
        **{f"metric.{k}": repr(float(v)) for k, v in metrics.items()},
    }
    mv = mlflow.register_model(model_uri, model_name, tags=version_tags)
    # A logged model (models:/m-...) registers without its run: link it for `load_champion`.
    version = str(mv.version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)

    champion_score: float | None = None
    champion_metrics: dict[str, float] = {}
    guard: list[str] = []
    if champion is None:
        promoted, reason = True, "promoted: no champion yet"
    else:
        ctags = dict(champion.tags or {})
        if ctags.get("evaluation_key") == evaluation_key and f"metric.{metric}" in ctags:
            champion_score = float(ctags[f"metric.{metric}"])
            champion_metrics = {k.removeprefix("metric."): float(v) for k, v in ctags.items()
                                if k.startswith("metric.") and _float(v) is not None}
            how = "recorded score on the same evaluation data"
        elif rescore is not None:
            loaded = load_champion(model_name, CHAMPION, tracking_uri=tracking_uri)
            rescored = rescore(loaded.recommender)
            if isinstance(rescored, Mapping):
                champion_metrics = {k: float(v) for k, v in rescored.items()}
                champion_score = champion_metrics[metric]
            else:
                champion_score = float(rescored)
            how = "champion's configuration re-fitted on this run's training data"
        else:
            champion_score = None
            how = "champion was evaluated on other data and cannot be re-scored"
        if champion_score is None:
            promoted, reason = False, f"kept champion v{str(champion.version)}: {how}"
        elif beats(score, champion_score, direction=direction, margin=min_improvement) and (
                guard := guard_reasons(metrics, champion_metrics, {
                    "max_coverage_drop": max_coverage_drop,
                    "max_personalisation_drop": max_personalisation_drop})):
            promoted = False
            reason = (f"kept champion v{str(champion.version)}: wins on {metric} but "
                      f"{'; '.join(guard)} ({how})")
        elif beats(score, champion_score, direction=direction, margin=min_improvement):
            promoted = True
            reason = (f"promoted: beats champion v{str(champion.version)} by more than "
                      f"{min_improvement} ({how})")
        else:
            promoted = False
            reason = (f"kept champion v{str(champion.version)}: not better by more than "
                      f"{min_improvement} ({how})")
    if promoted:
        _set_champion(client, model_name, version, how="pipeline")
    decision_tags = {
        "promotion.decision": "promoted" if promoted else "kept",
        "promotion.metric": metric,
        "promotion.direction": direction,
        "promotion.min_improvement": str(min_improvement),
        "promotion.challenger_score": repr(score),
        "promotion.champion_version": str(champion.version) if champion else "",
        "promotion.champion_score": "" if champion_score is None else repr(champion_score),
        "promotion.reason": reason,
        "promotion.guard": "; ".join(guard) if guard else "passed",
        "promotion.max_coverage_drop": str(max_coverage_drop),
        "promotion.max_personalisation_drop": str(max_personalisation_drop),
    }
    for key, value in decision_tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    after = version if promoted else (str(champion.version) if champion else None)
    return PromotionDecision(
        model_name, version, variant, metric, direction, score,
        str(champion.version) if champion else None, champion_score, min_improvement,
        promoted=promoted, reused=False, reason=reason, champion_after=after,
        tags={**version_tags, **decision_tags},
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def list_versions(model_name: str = MODEL_NAME, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    """Every version, newest first: version, aliases, variant, scores and decision."""
    client = _client(tracking_uri)
    from mlflow.exceptions import MlflowException

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


def promote(version: str | int, model_name: str = MODEL_NAME, tracking_uri: str | None = None) -> str:
    """Give ``champion`` to ``version`` by hand; return the previous champion (or '')."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        client.get_model_version(model_name, str(version))
    except MlflowException:
        raise RegistryError(f"{model_name} has no version {version}") from None
    previous = _alias_version(client, model_name, CHAMPION)
    _set_champion(client, model_name, str(version), how="manual")
    return str(previous.version) if previous else ""


def rollback(model_name: str = MODEL_NAME, tracking_uri: str | None = None) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion; return (from_version, to_version)."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        history = _history(client, model_name)
    except MlflowException:
        raise RegistryError(f"no registered model {model_name!r}") from None
    current = _alias_version(client, model_name, CHAMPION)
    if current is None:
        raise RegistryError(f"{model_name} has no champion to roll back")
    history = [v for v in history if v != str(current.version)]
    if not history:
        raise RegistryError(f"{model_name} v{str(current.version)} is the first champion: "
                            "there is no previous champion to roll back to")
    target = history[-1]
    client.set_registered_model_alias(model_name, CHAMPION, target)
    client.set_registered_model_tag(model_name, HISTORY_TAG, ",".join(history))
    client.set_model_version_tag(model_name, str(current.version), "rolled_back_at",
                                 time.strftime("%Y-%m-%dT%H:%M:%S"))
    return str(current.version), target


def load_champion(
    model_name: str = MODEL_NAME, alias: str = CHAMPION, tracking_uri: str | None = None
) -> ChampionInfo:
    """Load ``models:/<model_name>@<alias>`` and what the registry records about it.

    Raises:
        RegistryError: when the alias does not exist.
    """
    client = _client(tracking_uri)
    mv = _alias_version(client, model_name, alias)
    if mv is None:
        raise RegistryError(f"{model_name} has no version with alias {alias!r}: run the pipeline first")
    return _load(mv, f"models:/{model_name}@{alias}", alias, tracking_uri)


def load_version(
    version: str | int, model_name: str = MODEL_NAME, tracking_uri: str | None = None
) -> ChampionInfo:
    """Load ``models:/<model_name>/<version>`` (whatever aliases it holds now).

    ``alias`` of the result is ``champion`` when the version holds it, else empty.

    Raises:
        RegistryError: when the version does not exist.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        mv = client.get_model_version(model_name, str(version))
    except MlflowException:
        raise RegistryError(f"{model_name} has no version {version}") from None
    alias = CHAMPION if CHAMPION in (mv.aliases or []) else ""
    return _load(mv, f"models:/{model_name}/{version}", alias, tracking_uri)


def _load(mv: Any, model_uri: str, alias: str, tracking_uri: str | None) -> ChampionInfo:
    import mlflow.pyfunc

    from recsys.tracking.pyfunc import quiet_mlflow_notices

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with quiet_mlflow_notices():
        loaded = mlflow.pyfunc.load_model(model_uri)
    wrapper = loaded.unwrap_python_model()
    tags = dict(mv.tags or {})
    metrics = {k.removeprefix("metric."): float(v) for k, v in tags.items() if k.startswith("metric.")}
    return ChampionInfo(
        recommender=wrapper.recommender,
        version=str(mv.version),
        alias=alias,
        variant=tags.get("variant"),
        metrics=metrics,
        data_hash=tags.get("data_hash"),
        run_id=mv.run_id or tags.get("run_id"),
    )
