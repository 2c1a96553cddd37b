"""MLflow runs of the pipeline: where they go, what they record, how they are laid out.

One experiment per dataset (``movierec-<dataset>``); one parent run per pipeline run with a
nested run per variant holding its parameters, every metric of ``recsys.evaluation``, fit
and recommend time, the dataset's DVC hash and the git commit, plots, and the model as a
``RecommenderPyfunc``.

Embedded default: ``sqlite:///mlflow.db`` in the project root and artefacts under
``mlartifacts/``; ``MLFLOW_TRACKING_URI`` or an explicit URI (e.g. an ``mlflow server``
backed by PostgreSQL) overrides it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import yaml

from recsys.data.schema import ITEM_ID, USER_ID
from recsys.evaluation.search import SearchOutcome

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACT_ROOT = Path("mlartifacts")
EXPERIMENT_PREFIX = "movierec-"
#: The list lengths of the precision/recall-at-k curves.
CURVE_KS: tuple[int, ...] = (1, 3, 5, 10, 20)


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store."""
    chosen = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if chosen.startswith("sqlite:///") and not chosen.startswith("sqlite:////"):
        # a relative SQLite path means "in this project folder": pin it, because MLflow
        # caches stores by URI and would keep writing to the first folder it was used in
        chosen = f"sqlite:///{Path(chosen.removeprefix('sqlite:///')).resolve()}"
    return chosen


def store_exists(uri: str | None = None) -> bool:
    """Whether the store ``uri`` (as :func:`resolve_tracking_uri`) can hold a registered
    model yet: a server URI always, a SQLite URI only when its file exists and is not empty.

    Code that only reads the store (runs or registry) checks this first, because opening a
    missing (or empty) SQLite file creates the database's tables: reading would write, and
    two processes doing so at once race through MLflow's schema migration ("table
    _alembic_tmp_... already exists").
    """
    resolved = resolve_tracking_uri(uri)
    if resolved.startswith("sqlite:///"):
        database = Path(resolved.removeprefix("sqlite:///").split("?")[0])
        return database.is_file() and database.stat().st_size > 0
    return True


#: Query parameters of a URI that carry secrets.
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "token", "access_token",
                               "secret", "api_key", "apikey", "sslpassword"})


def redact_uri(uri: str) -> str:
    """``uri`` safe to print or log: an embedded password (``user:pw@host``) and secret
    query parameters become ``***``; the rest, the user name included, is kept.

    The one helper for every place that shows a tracking or database URI.
    """

    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs],
                          safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return uri  # nothing secret (and sqlite:////abs keeps its slashes)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_embedded(uri: str) -> bool:
    """True for a local store (SQLite or files) whose artefacts we place ourselves."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def use_tracking(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at ``uri`` (resolved); return it."""
    import mlflow

    resolved = resolve_tracking_uri(uri)
    mlflow.set_tracking_uri(resolved)
    mlflow.set_registry_uri(resolved)
    return resolved


def experiment_name(dataset: str) -> str:
    return f"{EXPERIMENT_PREFIX}{dataset}"


def ensure_experiment(
    dataset: str, tracking_uri: str | None = None, artifact_root: Path = DEFAULT_ARTIFACT_ROOT
) -> str:
    """The id of the dataset's experiment, created when missing.

    In embedded mode its artefacts go to ``artifact_root/<experiment>``; a tracking server
    uses its own ``--default-artifact-root``.
    """
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(uri, uri)
    name = experiment_name(dataset)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = (artifact_root.resolve() / name).as_uri() if is_embedded(uri) else None
    return str(client.create_experiment(name, artifact_location=location))


def digest_of(path: str | Path) -> str:
    """MD5 of a file's content, or of a folder's relative paths and contents (sorted)."""
    path = Path(path)
    digest = hashlib.md5()  # noqa: S324 - content fingerprint, as DVC does
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _dvc_md5(root: Path, target: str) -> str | None:
    """The md5 DVC recorded for ``target`` in ``dvc.lock`` or a ``.dvc`` file, if any."""
    candidates: list[dict[str, Any]] = []
    lock = root / "dvc.lock"
    if lock.is_file():
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
        for stage in stages.values():
            candidates.extend(stage.get("outs", []) or [])
    for dvc_file in (p for p in root.glob("*.dvc") if p.is_file()):  # not the .dvc/ folder
        candidates.extend((yaml.safe_load(dvc_file.read_text()) or {}).get("outs", []) or [])
    target = target.rstrip("/")
    for out in candidates:
        path = str(out.get("path", "")).rstrip("/")
        if path and (target == path or target.startswith(path + "/")) and out.get("md5"):
            return str(out["md5"])
    return None


def data_hash(ratings_path: str | Path, root: str | Path = ".") -> str:
    """The dataset's DVC hash when DVC tracks it, else the md5 of the ratings file."""
    root = Path(root).resolve()
    ratings_path = Path(ratings_path).resolve()
    try:
        relative = str(ratings_path.relative_to(root))
    except ValueError:
        relative = ""
    recorded = _dvc_md5(root, relative) if relative else None
    return recorded or digest_of(ratings_path)


def git_commit(root: str | Path = ".") -> str | None:
    """``git rev-parse HEAD`` of ``root``, or ``None`` outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def precision_recall_curve(
    lists: pd.DataFrame, test: pd.DataFrame, ks: Sequence[int] = CURVE_KS
) -> pd.DataFrame:
    """Precision and recall at each ``k`` of ``ks`` from one top-``max(ks)`` list per test user.

    ``lists``: ``user_id``, ``item_id``, ``rank`` rows, at least ``max(ks)`` deep where the
    catalogue allows (``recsys.evaluation.evaluate.evaluate_lists``). A relevant item is any
    test rating of the user (the convention of ``recsys.evaluation``); seen training items
    are excluded from the lists.
    """
    users = np.unique(test[USER_ID].to_numpy(dtype=np.int64))
    relevant = test.groupby(USER_ID)[ITEM_ID].nunique()
    merged = lists.merge(test[[USER_ID, ITEM_ID]].drop_duplicates(), on=[USER_ID, ITEM_ID],
                         how="left", indicator=True)
    merged["hit"] = merged["_merge"].eq("both")
    rows = []
    for k in ks:
        hits = merged[merged["rank"] <= k].groupby(USER_ID)["hit"].sum()
        hits = hits.reindex(users, fill_value=0)
        n_rel = relevant.reindex(users).to_numpy(dtype=np.float64)
        rows.append({
            "k": int(k),
            "precision": float(np.mean(hits.to_numpy() / k)),
            "recall": float(np.mean(hits.to_numpy() / np.maximum(n_rel, 1.0))),
        })
    return pd.DataFrame(rows)


def plot_metric_bars(leaderboard: pd.DataFrame, metrics: Sequence[str], path: Path) -> Path:
    """One horizontal bar chart per metric, variants sorted as in ``leaderboard``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [m for m in metrics if m in leaderboard.columns]
    fig, axes = plt.subplots(1, max(len(present), 1), figsize=(4 * max(len(present), 1), 0.4 * len(leaderboard) + 1.5),
                             squeeze=False)
    for ax, metric in zip(axes[0], present, strict=False):
        ax.barh(leaderboard["variant"].astype(str), leaderboard[metric].astype(float))
        ax.set_title(metric)
        ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_precision_recall(curves: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Precision at k and recall at k of each variant, two panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, curve in curves.items():
        left.plot(curve["k"], curve["precision"], marker="o", label=variant)
        right.plot(curve["k"], curve["recall"], marker="o", label=variant)
    left.set(title="precision at k", xlabel="k")
    right.set(title="recall at k", xlabel="k")
    right.legend(fontsize="small", loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class VariantResult:
    """What the pipeline learnt about one variant (the input of ``log_pipeline``)."""

    variant: str
    params: dict[str, Any]
    metrics: dict[str, float]
    model_dir: str
    curve: list[dict[str, float]] = field(default_factory=list)
    #: the hyperparameter search that chose ``params`` (``None``: the configured settings)
    search: SearchOutcome | None = None


@dataclass(frozen=True)
class TrackedVariant:
    variant: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrackedPipeline:
    """The MLflow side of one pipeline run."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    variants: dict[str, TrackedVariant]


def _flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_params(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return out


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(float(v))}


def _log_search(search: SearchOutcome) -> None:
    """On the active (variant) run: the chosen settings as ``search.chosen.*`` params, the
    trial count, the chosen trial's validation score, and the trial table
    ``search/trials.csv``."""
    import mlflow

    mlflow.log_params({"search.trials": len(search.trials),
                       **_flat_params(search.chosen.settings, "search.chosen.")})
    if search.chosen.score is not None:
        mlflow.log_metric(f"validation_{search.metric}", float(search.chosen.score))
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "trials.csv"
        search.table().to_csv(table, index=False)
        mlflow.log_artifact(str(table), artifact_path="search")


def log_pipeline(
    results: Iterable[VariantResult],
    *,
    dataset: str,
    data_digest: str,
    commit: str | None,
    pipeline_params: Mapping[str, Any],
    example_users: list[int],
    leaderboard: pd.DataFrame,
    plots: Sequence[Path] = (),
    reports: Sequence[Path] = (),
    tracking_uri: str | None = None,
    run_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> TrackedPipeline:
    """Log a pipeline run: a parent run and one nested run (with its pyfunc model) per variant
    (with its hyperparameter search, when one chose its settings).

    Args:
        results: the variants, each with params, metrics, saved model folder and curve.
        dataset: the dataset name (selects the experiment).
        data_digest: the dataset's DVC hash (``data_hash``).
        commit: the git commit, or ``None``.
        pipeline_params: the pipeline's parameters (flattened into the parent run).
        example_users: a few user ids for each model's input example.
        leaderboard: one row per variant (logged as a table on the parent run).
        plots, reports: files logged as artefacts of the parent run.
        tracking_uri: where to log (see ``resolve_tracking_uri``).
        run_name: the parent run's name.
        extra_tags: more tags on the parent run.
    """
    import mlflow

    from recsys.tracking.pyfunc import log_recommender

    uri = use_tracking(tracking_uri)
    experiment_id = ensure_experiment(dataset, uri)
    tags = {"dataset": dataset, "data_hash": data_digest, "git_commit": commit or "unknown",
            **(extra_tags or {})}
    tracked: dict[str, TrackedVariant] = {}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as parent:
        mlflow.log_params(_flat_params(pipeline_params))
        with tempfile.TemporaryDirectory() as tmp:
            board = Path(tmp) / "leaderboard.csv"
            leaderboard.to_csv(board, index=False)
            mlflow.log_artifact(str(board))
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")
        for report in reports:
            if Path(report).is_dir():
                mlflow.log_artifacts(str(report), artifact_path=f"reports/{Path(report).name}")
            elif Path(report).is_file():
                mlflow.log_artifact(str(report), artifact_path="reports")
        for result in results:
            with mlflow.start_run(experiment_id=experiment_id, run_name=result.variant,
                                  nested=True, tags={**tags, "variant": result.variant}) as child:
                mlflow.log_params({"variant": result.variant, **_flat_params(result.params)})
                mlflow.log_metrics(_finite(result.metrics))
                if result.search is not None:
                    _log_search(result.search)
                for point in result.curve:
                    step = int(point["k"])
                    mlflow.log_metric("precision_at_k", float(point["precision"]), step=step)
                    mlflow.log_metric("recall_at_k", float(point["recall"]), step=step)
                if result.curve:
                    with tempfile.TemporaryDirectory() as tmp:
                        curve_plot = plot_precision_recall(
                            {result.variant: pd.DataFrame(result.curve)},
                            Path(tmp) / "precision_recall_at_k.png",
                        )
                        mlflow.log_artifact(str(curve_plot), artifact_path="plots")
                info = log_recommender(result.model_dir, example_users=example_users)
                tracked[result.variant] = TrackedVariant(
                    result.variant, child.info.run_id, str(info.model_uri), dict(result.metrics)
                )
    return TrackedPipeline(uri, experiment_id, parent.info.run_id, tracked)


def run_exists(run_id: str, tracking_uri: str | None = None) -> bool:
    """True when ``run_id`` is an active run of the tracking store."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    try:
        run = MlflowClient(uri, uri).get_run(run_id)
    except MlflowException:
        return False
    return run.info.lifecycle_stage == "active"
