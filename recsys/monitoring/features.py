"""Monitored columns for ratings batches and for served recommendations.

Ratings are compared row by row on columns whose distribution does not depend on how large
a batch is: the rating itself, hour of day, day of week, the rated item's popularity and the
rating user's activity in the reference, the item's first genre, and whether the user and
the item are new. Batch-level figures (ratings per user and per item, new-user and new-item
shares) go into the summary beside the drift report.

Served recommendations are compared like with like: ``serving_reference`` asks the model for
the lists it would serve to a sample of training users, so only served lists of the same kind
(``comparable_served_lists``: ``/recommend`` answers, with no platform filter and seen
movies excluded) are set against it, and the reference lists get the served lists' lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.data.schema import ITEM_ID, LIST_SEPARATOR, RATING, TIMESTAMP, USER_ID

if TYPE_CHECKING:
    from recsys.models.protocol import Recommender

RATING_NUMERIC = ["rating", "hour", "item_popularity", "user_activity"]
RATING_CATEGORICAL = ["weekday", "genre", "new_user", "new_item"]
SERVING_NUMERIC = ["top_score", "mean_item_popularity", "genre_diversity"]
SERVING_CATEGORICAL = ["cold_start"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
#: Inference-log endpoints whose lists ``serving_reference`` models. ``recommend_new_user``
#: is left out on purpose: its lists are folded in from a few liked movies (or are the
#: popularity fallback), always cold start, on another score scale than a known user's, so
#: a change in the share of anonymous visitors would read as prediction drift.
#: ``similar_items`` (cosine similarities) and ``predict_rating`` (one rating) are not
#: recommendation lists at all.
SERVED_ENDPOINTS = ("recommend",)
SERVING_REFERENCE_USERS = 1000


def first_genre(items: pd.DataFrame | None) -> pd.Series:
    """item_id -> first listed genre (``unknown`` when none)."""
    if items is None or "genres" not in items:
        return pd.Series(dtype=object)
    genres = items["genres"].fillna("").astype(str).str.split(LIST_SEPARATOR).str[0]
    genres = genres.where(genres != "", "unknown")
    return pd.Series(genres.to_numpy(), index=items[ITEM_ID].to_numpy())


def _features(
    ratings: pd.DataFrame,
    item_counts: pd.Series,
    user_counts: pd.Series,
    genre: pd.Series,
) -> pd.DataFrame:
    stamps = pd.to_datetime(ratings[TIMESTAMP].to_numpy(), unit="s", utc=True)
    users = ratings[USER_ID].to_numpy()
    items = ratings[ITEM_ID].to_numpy()
    item_n = item_counts.reindex(items).fillna(0).to_numpy(dtype=float)
    user_n = user_counts.reindex(users).fillna(0).to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "rating": ratings[RATING].to_numpy(dtype=float),
            "hour": stamps.hour.to_numpy(dtype=float),
            "weekday": np.asarray(WEEKDAYS, dtype=object)[stamps.weekday.to_numpy()],
            "item_popularity": np.log1p(item_n),
            "user_activity": np.log1p(user_n),
            "genre": genre.reindex(items).fillna("unknown").to_numpy(dtype=object)
            if len(genre) else np.full(len(ratings), "unknown", dtype=object),
            "new_user": np.where(user_n > 0, "no", "yes").astype(object),
            "new_item": np.where(item_n > 0, "no", "yes").astype(object),
        }
    )


def rating_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    items: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monitored columns of the reference and of the current batch, row by row.

    ``item_popularity`` and ``user_activity`` are the log rating counts of the rated item and
    of the rating user *in the reference* (0 for new ones), so a batch sampled from the
    reference has the same distribution whatever its size, while a batch of new users,
    niche items or shifted ratings does not.
    """
    item_counts = reference.groupby(ITEM_ID).size()
    user_counts = reference.groupby(USER_ID).size()
    genre = first_genre(items)
    return (
        _features(reference, item_counts, user_counts, genre),
        _features(current, item_counts, user_counts, genre),
    )


def batch_stats(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Batch-level figures for the summary: volumes, ratings per user/item, new shares."""
    known_users = current[USER_ID].isin(reference[USER_ID].unique())
    known_items = current[ITEM_ID].isin(reference[ITEM_ID].unique())
    n_users = max(int(current[USER_ID].nunique()), 1)
    n_items = max(int(current[ITEM_ID].nunique()), 1)
    return {
        "rows": float(len(current)),
        "users": float(current[USER_ID].nunique()),
        "items": float(current[ITEM_ID].nunique()),
        "ratings_per_user": len(current) / n_users,
        "ratings_per_item": len(current) / n_items,
        "new_user_share": float(current.loc[~known_users, USER_ID].nunique() / n_users),
        "new_item_share": float(current.loc[~known_items, ITEM_ID].nunique() / n_items),
        "mean_rating": float(current[RATING].mean()) if len(current) else float("nan"),
        "reference_mean_rating": float(reference[RATING].mean()),
    }


def serving_features(
    log: pd.DataFrame, reference: pd.DataFrame, items: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per served recommendation list: what was recommended, not what was asked.

    Args:
        log: inference-log rows with ``items`` (list of item ids), ``scores`` (list of floats)
            and ``cold_start`` (bool).
        reference: the training ratings (for item popularity).
        items: the items table (for genres).
    """
    popularity = pd.Series(np.log1p(reference.groupby(ITEM_ID).size()))
    genre = first_genre(items)
    rows = []
    for entry in log.itertuples(index=False):
        recs = list(getattr(entry, "items", None) or [])
        scores = [s for s in (getattr(entry, "scores", None) or []) if s is not None]
        if not recs:
            continue
        genres = genre.reindex(recs).fillna("unknown") if len(genre) else pd.Series(["unknown"])
        rows.append(
            {
                "top_score": float(scores[0]) if scores else np.nan,
                "mean_item_popularity": float(popularity.reindex(recs).fillna(0).mean()),
                "genre_diversity": float(genres.nunique() / len(recs)),
                "cold_start": "yes" if bool(getattr(entry, "cold_start", False)) else "no",
            }
        )
    return pd.DataFrame(rows, columns=SERVING_NUMERIC + SERVING_CATEGORICAL)


def comparable_served_lists(log: pd.DataFrame) -> pd.DataFrame:
    """The inference-log rows that ``serving_reference`` models, and only those.

    Kept: answered ``/recommend`` requests (``SERVED_ENDPOINTS``) that excluded seen movies
    and named no platform (a platform filter restricts the list to one catalogue, which the
    reference knows nothing of). Rows without an ``endpoint`` or ``request`` field pass
    on that field.
    """
    keep = pd.Series(True, index=log.index)
    if "endpoint" in log:
        keep &= log["endpoint"].isin(SERVED_ENDPOINTS)
    if "request" in log:
        keep &= log["request"].map(_unfiltered_request)
    return log[keep].reset_index(drop=True)


def _unfiltered_request(request: Any) -> bool:
    if not isinstance(request, dict):
        return True
    return not request.get("platforms") and request.get("exclude_seen", True) is not False


def serving_reference(
    recommender: Recommender,
    ratings: pd.DataFrame,
    *,
    list_lengths: Sequence[int] = (),
    n_users: int = SERVING_REFERENCE_USERS,
    seed: int = 0,
) -> pd.DataFrame:
    """Inference-log-shaped rows: what ``recommender`` recommends to a sample of its users.

    Args:
        recommender: the model being served (e.g. the registry's champion).
        ratings: the training ratings; ``n_users`` of their users are sampled.
        list_lengths: lengths of the served lists it is compared with; each reference list
            is cut to one of them (drawn at random), since popularity and genre diversity
            depend on how long a list is. Empty: lists of 10.
        n_users: how many users to sample.
        seed: the sampling seed.

    Returns:
        One row per user with ``items``, ``scores`` and ``cold_start`` (always False),
        ready for ``serving_features``.
    """
    rng = np.random.default_rng(seed)
    known = np.unique(ratings[USER_ID].to_numpy())
    users = rng.choice(known, size=min(n_users, len(known)), replace=False)
    lengths = np.asarray([n for n in list_lengths if n > 0] or [10], dtype=np.int64)
    cuts = rng.choice(lengths, size=len(users))
    recs = recommender.recommend(users, k=int(lengths.max())).frame
    grouped = {user: frame for user, frame in recs.groupby(USER_ID)}
    rows = []
    for user, cut in zip(users, cuts, strict=True):
        top = grouped.get(user)
        if top is None:
            continue
        top = top.sort_values("rank").head(int(cut))
        rows.append({"items": top[ITEM_ID].tolist(), "scores": top["score"].tolist(),
                     "cold_start": False})
    return pd.DataFrame(rows, columns=["items", "scores", "cold_start"])
