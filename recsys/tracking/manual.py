"""Promotion and rollback by hand (``movierec registry promote | rollback``).

A person can give ``champion`` to any version, but one that was never decided, lost its
comparison, or scores worse than the champion on the same data needs ``force`` and a
reason. Who acted (from the environment), why, and what was overridden are recorded on the
version, next to the pipeline's own ``promotion.*`` tags.
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from recsys.tracking.registry import (
    CHAMPION,
    HISTORY_TAG,
    MODEL_NAME,
    PENDING,
    STATE_TAG,
    RegistryError,
    _alias_version,
    _client,
    _float,
    _history,
    _set_champion,
    beats,
)


def current_user() -> str:
    """Who is acting, from the environment (``$MOVIEREC_USER``, ``$USER``...)."""

    for key in ("MOVIEREC_USER", "USER", "LOGNAME"):
        if os.environ.get(key):
            return os.environ[key]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def promotion_concerns(client: Any, model_name: str, mv: Any) -> list[str]:
    """Why giving ``champion`` to version ``mv`` by hand needs ``force`` (empty: it does not):
    a version never decided, one that lost its comparison, or one scoring worse than the
    champion on the same evaluation data."""
    tags = dict(mv.tags or {})
    concerns = []
    decision = tags.get("promotion.decision")
    if tags.get(STATE_TAG) == PENDING or not decision:
        concerns.append(f"v{mv.version} was never decided (its registration did not finish)")
    elif decision == "kept":
        concerns.append(f"v{mv.version} lost its comparison: {tags.get('promotion.reason', '')}")
    champion = _alias_version(client, model_name, CHAMPION)
    if champion is not None and str(champion.version) != str(mv.version):
        ctags = dict(champion.tags or {})
        metric = tags.get("promotion.metric") or ctags.get("promotion.metric") or "ndcg_at_10"
        mine, theirs = _float(tags.get(f"metric.{metric}")), _float(ctags.get(f"metric.{metric}"))
        same_data = tags.get("evaluation_key") == ctags.get("evaluation_key")
        direction = tags.get("promotion.direction", "maximize")
        if same_data and mine is not None and theirs is not None and \
                beats(theirs, mine, direction=direction, margin=0.0):
            concerns.append(f"v{mv.version} {metric}={mine:.4f} is worse than champion "
                            f"v{champion.version} {metric}={theirs:.4f} on the same data")
    return concerns


def promote(version: str | int, model_name: str = MODEL_NAME, tracking_uri: str | None = None,
            *, force: bool = False, reason: str | None = None, user: str | None = None) -> str:
    """Give ``champion`` to ``version`` by hand; return the previous champion (or '').

    A version with ``promotion_concerns`` (undecided, lost, or worse than the champion)
    needs ``force`` and a ``reason``. Who promoted it (``user``, default
    ``current_user()``), why and when are recorded on the version.

    Raises:
        RegistryError: unknown version, or concerns without ``force`` and ``reason``.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        mv = client.get_model_version(model_name, str(version))
    except MlflowException:
        raise RegistryError(f"{model_name} has no version {version}") from None
    concerns = promotion_concerns(client, model_name, mv)
    if concerns and not force:
        raise RegistryError("; ".join(concerns) + ": promote it anyway with --force "
                            "--reason '...'")
    if concerns and not (reason and reason.strip()):
        raise RegistryError("--force needs --reason: say why this version should serve")
    previous = _alias_version(client, model_name, CHAMPION)
    _set_champion(client, model_name, str(version), how="manual (forced)" if concerns else "manual")
    record = {"promoted_by": user or current_user(), "promoted_reason": (reason or "").strip(),
              "promoted_over": "; ".join(concerns)}
    for key, value in record.items():
        client.set_model_version_tag(model_name, str(version), key, value)
    return str(previous.version) if previous else ""


def rollback(model_name: str = MODEL_NAME, tracking_uri: str | None = None, *,
             reason: str | None = None, user: str | None = None) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion; return (from_version, to_version).

    The target held ``champion`` before, so no ``force`` is needed; who rolled back (``user``,
    default ``current_user()``) and why are recorded on the version rolled back from.
    """
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
    client.set_model_version_tag(model_name, str(current.version), "rolled_back_by",
                                 user or current_user())
    client.set_model_version_tag(model_name, str(current.version), "rolled_back_reason",
                                 (reason or "").strip())
    return str(current.version), target
