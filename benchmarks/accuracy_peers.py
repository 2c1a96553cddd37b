"""Peer libraries of the accuracy benchmark: Surprise SVD / SVD++ and implicit ALS / BPR,
fitted on the benchmark's split and scored by this project's metric code.

They come from the optional ``bench`` dependency group (`uv sync --group bench`) and are
imported only inside ``run_peer``, which runs in its own worker process.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.interactions import Interactions
from recsys.evaluation import metrics
from recsys.evaluation.evaluate import list_metrics
from recsys.models.protocol import top_k

#: Peer libraries: name -> (import name, description).
PEERS: dict[str, tuple[str, str]] = {
    "surprise_svd": ("surprise", "Surprise SVD"),
    "surprise_svdpp": ("surprise", "Surprise SVD++"),
    "implicit_als": ("implicit", "implicit ALS"),
    "implicit_bpr": ("implicit", "implicit BPR"),
}


def _ranked_frame(users: Any, scores: Any, exclude: Any, item_ids: Any, k: int) -> Any:
    """``user_id, item_id, score, rank`` rows of the top-``k`` of dense ``scores``."""
    idx, val = top_k(scores, k, exclude)
    keep = idx.ravel() >= 0
    return pd.DataFrame({
        "user_id": np.repeat(np.asarray(users), k)[keep],
        "item_id": np.asarray(item_ids)[idx.ravel()[keep]],
        "score": val.ravel()[keep],
        "rank": np.tile(np.arange(1, k + 1), len(users))[keep],
    })


def run_peer(name: str, train_ratings: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame,
             k: int, seed: int) -> dict[str, float]:
    """Fit peer ``name`` (a key of ``PEERS``) on ``train_ratings`` and score its top-``k``
    lists for the users of ``test`` with this project's metric code."""
    train = Interactions.from_frame(train_ratings, items)
    test_users = np.unique(test["user_id"].to_numpy())
    result: dict[str, float] = {}
    frames: list[pd.DataFrame] = []

    if name.startswith("surprise"):
        # optional baseline libraries, installed only for this benchmark
        from surprise import SVD, Dataset, Reader, SVDpp

        reader = Reader(rating_scale=(1, 5))
        data = Dataset.load_from_df(train_ratings[["user_id", "item_id", "rating"]], reader)
        trainset = data.build_full_trainset()
        if name == "surprise_svd":  # the MS Recommenders notebook's parameters
            algo = SVD(n_factors=150, n_epochs=15, lr_all=0.005, reg_all=0.02,
                       random_state=seed)
        else:  # Surprise's defaults (SVD++ is slow: O(|I_u|) per update)
            algo = SVDpp(random_state=seed)
        start = time.perf_counter()
        algo.fit(trainset)
        result["fit_seconds"] = time.perf_counter() - start
        preds = [algo.predict(u, i).est for u, i in zip(test["user_id"], test["item_id"],
                                                           strict=True)]
        result["rmse"] = metrics.rmse(test["rating"], preds)
        result["mae"] = metrics.mae(test["rating"], preds)
        start = time.perf_counter()
        inner_items = np.arange(trainset.n_items)
        raw_items = np.array([trainset.to_raw_iid(i) for i in inner_items])
        q = algo.qi
        inner_of = {trainset.to_raw_uid(u): u for u in trainset.all_users()}
        known = [u for u in test_users if u in inner_of]
        for batch in range(0, len(known), 512):
            users = known[batch: batch + 512]
            inner = [inner_of[u] for u in users]
            p = algo.pu[inner].copy()
            if name == "surprise_svdpp":
                for row, u in enumerate(inner):
                    rated = [j for j, _ in trainset.ur[u]]
                    p[row] += algo.yj[rated].sum(axis=0) / np.sqrt(len(rated))
            scores = trainset.global_mean + algo.bu[inner][:, None] + algo.bi[None, :] + p @ q.T
            exclude = np.zeros(scores.shape, dtype=bool)
            for row, u in enumerate(inner):
                exclude[row, [j for j, _ in trainset.ur[u]]] = True
            frames.append(_ranked_frame(users, scores, exclude, raw_items, k))
        result["recommend_seconds"] = time.perf_counter() - start
    else:
        # optional baseline libraries, installed only for this benchmark
        from implicit.als import AlternatingLeastSquares
        from implicit.bpr import BayesianPersonalizedRanking

        user_items = train.matrix("ones").astype(np.float32).tocsr()
        # the library's defaults, untuned (every rating is a positive interaction)
        if name == "implicit_als":
            model = AlternatingLeastSquares(random_state=seed)
        else:
            model = BayesianPersonalizedRanking(random_state=seed)
        start = time.perf_counter()
        model.fit(user_items, show_progress=False)
        result["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        uidx = train.users.index(test_users)
        known_users = test_users[uidx >= 0]
        rows = uidx[uidx >= 0]
        ids, scores = model.recommend(rows, user_items[rows], N=k,
                                      filter_already_liked_items=True)
        keep = ids.ravel() >= 0
        frames.append(pd.DataFrame({
            "user_id": np.repeat(known_users, k)[keep],
            "item_id": train.items.id_of(ids.ravel()[keep]),
            "score": scores.ravel()[keep],
            "rank": np.tile(np.arange(1, k + 1), len(known_users))[keep],
        }))
        result["recommend_seconds"] = time.perf_counter() - start
    frame = pd.concat(frames, ignore_index=True)
    result.update(list_metrics(frame, test, train, k=k))
    return result
