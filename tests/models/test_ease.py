"""EASE: the contract plus Made-With-ML behaviour checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import split_ratings
from recsys.models import create, ease, sizing
from recsys.models.ease import (
    TIMELINE_DLAE,
    EASEConfig,
    mirror_upper,
    symmetric_inverse,
    timeline_gram,
)
from recsys.models.sizing import available_memory
from recsys.params import section
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestEASE(RecommenderContract):
    name = "ease"
    params = {"regularization": 1.0}
    quality_floor = 1.0
    history_floor = 1.0


class TestEASERatings(RecommenderContract):
    name = "ease"
    params = {"regularization": 5.0, "feedback": "rating", "dropout": 0.2}
    quality_floor = 0.8


class TestDLAE(RecommenderContract):
    name = "ease"
    params = {"regularization": 1.0, "dropout": 0.5, "diagonal": "free"}
    quality_floor = 1.0
    history_floor = 1.0


class TestTimelineEASE(RecommenderContract):
    name = "ease"
    params = {
        "regularization": 1.0, "dropout": 0.5, "diagonal": "free",
        "cooccurrence": "timeline", "timeline_decay": 2.0, "rating_tilt": 0.2,
        "tilt_cooccurrence": True,
    }
    quality_floor = 1.0
    history_floor = 1.0


def _brute_timeline_gram(
    frame: pd.DataFrame, items: list[int], decay: float, reach: int
) -> np.ndarray:
    """Every pair of every user's time-ordered ratings at most ``reach`` steps apart,
    weighted ``exp(-steps / decay)``."""
    where = {item: j for j, item in enumerate(items)}
    gram = np.zeros((len(items), len(items)))
    for _, history in frame.groupby("user_id"):
        ordered = [where[i] for i in history.sort_values(["timestamp", "item_id"])["item_id"]]
        for a, i in enumerate(ordered):
            for b, j in enumerate(ordered):
                if abs(a - b) <= reach:
                    gram[i, j] += np.exp(-abs(a - b) / decay)
    return gram


def test_timeline_gram_weighs_pairs_by_their_distance_in_time_order() -> None:
    """Against a brute-force double loop, on shuffled rows with timestamp ties (broken by
    item id) and with pairs beyond the kernel's reach."""
    rng = np.random.default_rng(3)
    rows = [(u, i, int(rng.integers(0, 5))) for u in range(6) for i in rng.choice(12, 9, replace=False)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).sample(frac=1, random_state=1)
    decay = 0.8  # reach ceil(7 * 0.8) = 6 steps < 8: far pairs get nothing
    got = ease.timeline_gram(
        frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), frame["timestamp"].to_numpy(), 12, decay
    )
    expected = _brute_timeline_gram(frame, list(range(12)), decay, reach=6)
    np.testing.assert_allclose(got, expected)
    # chunked accumulation gives the same matrix
    small = ease.timeline_gram(
        frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), frame["timestamp"].to_numpy(),
        12, decay, chunk=5,
    )
    np.testing.assert_allclose(small, got)


def test_timeline_ease_prefers_movies_rated_close_together() -> None:
    """Each user rates 0 and 1 next to each other and 2 much later in their history: the
    timeline model relates 0 with 1 more than with 2, whole-history EASE cannot tell."""
    rows = []
    for user in range(8):
        order = [0, 1, *range(10 + user * 6, 16 + user * 6), 2] if user % 2 else [2, *range(10 + user * 6, 16 + user * 6), 0, 1]
        rows += [(user, item, step) for step, item in enumerate(order)]
    rows += [(99, 0, 0)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))
    params = {"regularization": 1.0, "dropout": 0.5, "diagonal": "free"}
    timeline = create("ease", cooccurrence="timeline", timeline_decay=2.0, timeline_share=0.0, **params).fit(data)
    whole = create("ease", **params).fit(data)
    near, far = timeline.score(99, [1, 2])
    assert near > far
    np.testing.assert_allclose(*whole.score(99, [1, 2]))
    # a share of 1 keeps every pair at full weight: whole-history EASE exactly
    same = create("ease", cooccurrence="timeline", timeline_share=1.0, **params).fit(data)
    np.testing.assert_allclose(same.weights_, whole.weights_)


def test_timeline_without_timestamps_falls_back_to_whole_histories(
    checkerboard: Checkerboard, caplog: pytest.LogCaptureFixture
) -> None:
    frame = checkerboard.ratings.drop(columns="timestamp")
    data = Interactions.from_frame(frame, checkerboard.items)
    params = {"regularization": 1.0, "dropout": 0.5, "diagonal": "free"}
    timeline = create("ease", cooccurrence="timeline", **params).fit(data)
    np.testing.assert_allclose(timeline.weights_, create("ease", **params).fit(data).weights_)
    assert "no timestamps" in caplog.text


@pytest.mark.slow
def test_timeline_dlae_beats_ease_on_ml100k(ml100k: tuple[pd.DataFrame, ...]) -> None:
    """The shipped timeline configuration against EASE^R on the published protocol."""
    ratings, items, _ = ml100k
    split = split_ratings(ratings, "ms-stratified", seed=42)
    train = Interactions.from_frame(split.train, items)
    ease = evaluate_model(create("ease").fit(train), train, split.test)["ndcg_at_10"]
    timeline = evaluate_model(create("ease", **TIMELINE_DLAE).fit(train), train, split.test)
    # measured 0.5005 vs 0.4795 (0.4982 learning from untilted rows, 0.4933 without the tilt)
    assert timeline["ndcg_at_10"] >= ease + 0.01


def test_rating_tilt_steers_scores_toward_what_the_user_liked() -> None:
    """Users who rated 0 with 1 and 2 with 3; the probe user loved 0 and disliked 2. The
    binary history cannot tell 1 from 3; with a tilt, 1 (next to the loved movie) wins.
    The tilt changes only how users are scored: the weights are the binary model's."""
    rows = [(u, i, 4.0) for u in range(6) for i in ((0, 1) if u % 2 else (2, 3))]
    rows += [(99, 0, 5.0), (99, 2, 1.0)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]))
    binary = create("ease", regularization=1.0).fit(data)
    tilted = create("ease", regularization=1.0, rating_tilt=0.2).fit(data)
    np.testing.assert_allclose(tilted.weights_, binary.weights_)
    np.testing.assert_allclose(*binary.score(99, [1, 3]))
    liked, disliked = tilted.score(99, [1, 3])
    assert liked > disliked
    # the row is 1 + tilt * (rating - training mean) per rated movie
    mean = np.mean([r for *_, r in rows])
    row = tilted.user_matrix_[tilted.users_.index(np.array([99]))[0]].toarray().ravel()
    np.testing.assert_allclose(row[tilted.items_.index(np.array([0, 2]))], 1 + 0.2 * (np.array([5.0, 1.0]) - mean))
    # a visitor described by the same ratings is scored the same way
    visitor = tilted.recommend_for_history([0, 2], [5.0, 1.0], k=2).frame
    assert visitor["item_id"].tolist() == [1, 3]
    np.testing.assert_allclose(visitor["score"], [liked, disliked])


def test_rating_tilt_that_would_weigh_a_rating_below_zero_is_refused(
    checkerboard: Checkerboard,
) -> None:
    with pytest.raises(ValueError, match="rating_tilt=5.0 gives the lowest rating a weight"):
        create("ease", rating_tilt=5.0).fit(checkerboard.interactions)


def test_tilt_cooccurrence_fits_the_weights_to_the_tilted_rows(checkerboard: Checkerboard) -> None:
    """``tilt_cooccurrence``: the Gram matrix is ``T^T T`` for the tilted rows ``T`` the
    users are scored from, not the binary ``X^T X``."""
    lam, p, tilt = 2.0, 0.4, 0.2
    params = {"regularization": lam, "dropout": p, "diagonal": "free", "rating_tilt": tilt}
    model = create("ease", tilt_cooccurrence=True, **params).fit(checkerboard.interactions)
    rows = model.user_matrix_.toarray()
    gram = rows.T @ rows
    expected = np.linalg.solve(gram + np.diag(lam + p / (1 - p) * np.diag(gram)), gram)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights_, expected, atol=1e-10)
    binary = create("ease", **params).fit(checkerboard.interactions)
    assert not np.allclose(binary.weights_, model.weights_)


def test_tilt_cooccurrence_weighs_the_timeline_pairs_by_their_tilts(checkerboard: Checkerboard) -> None:
    data = checkerboard.interactions
    params = {"cooccurrence": "timeline", "timeline_decay": 2.0, "timeline_share": 0.3}
    model = create("ease", rating_tilt=0.2, tilt_cooccurrence=True, **params).fit(data)
    rows = model.user_matrix_
    values = np.asarray(rows[data.user_index, data.item_index]).ravel()
    when = data.frame["timestamp"].to_numpy(dtype=np.int64)
    near = timeline_gram(data.user_index, data.item_index, when, data.n_items, 2.0, values)
    expected = 0.3 * (rows.T @ rows).toarray() + 0.7 * near
    np.testing.assert_allclose(model._gram(data, model.seen_), expected)


def test_tilt_cooccurrence_links_movies_liked_together_more_tightly() -> None:
    """Movies 0 and 1 were rated together as often as 2 and 3, but 0 and 1 were loved and
    2 and 3 disliked: learning from the tilted rows makes 0 -> 1 the stronger link."""
    rows = [(u, i, 5.0) for u in range(6) for i in (0, 1)]
    rows += [(u, i, 1.0) for u in range(6, 12) for i in (2, 3)]
    rows += [(u, 4, 3.0) for u in range(12)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]))
    links = {}
    for learn in (False, True):
        model = create("ease", regularization=1.0, rating_tilt=0.2, tilt_cooccurrence=learn).fit(data)
        (a, b, c, d), weights = model.items_.index(np.array([0, 1, 2, 3])), model.weights_
        links[learn] = (weights[a, b], weights[c, d])
    assert links[False][0] == pytest.approx(links[False][1])
    assert links[True][0] > links[True][1]


def test_tilt_cooccurrence_without_a_tilt_is_refused() -> None:
    with pytest.raises(ValueError, match="tilt_cooccurrence=True needs"):
        create("ease", tilt_cooccurrence=True)
    with pytest.raises(ValueError, match="tilt_cooccurrence=True needs"):
        create("ease", tilt_cooccurrence=True, rating_tilt=0.2, feedback="rating")


def test_dlae_is_the_dropout_ridge_regression(checkerboard: Checkerboard) -> None:
    """``diagonal='free'``: the off-diagonal weights solve ``(G + Lambda) B = G`` with
    ``Lambda = lambda I + p/(1-p) diag(G)``; the diagonal is zeroed afterwards."""
    lam, p = 2.0, 0.4
    model = create("ease", regularization=lam, dropout=p, diagonal="free")
    model.fit(checkerboard.interactions)
    x = model.seen_.toarray()
    gram = x.T @ x
    expected = np.linalg.solve(gram + np.diag(lam + p / (1 - p) * np.diag(gram)), gram)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights_, expected, atol=1e-10)
    # and it is not EASE^R: the zero-diagonal constraint changes the off-diagonal weights
    constrained = create("ease", regularization=lam, dropout=p).fit(checkerboard.interactions)
    assert not np.allclose(constrained.weights_, model.weights_)


def test_free_diagonal_without_dropout_is_refused() -> None:
    with pytest.raises(ValueError, match="dropout > 0"):
        create("ease", diagonal="free")


def test_relabelling_users_changes_nothing(checkerboard: Checkerboard) -> None:
    """Invariance: renaming users (ids are labels) leaves every recommendation unchanged."""
    relabelled = checkerboard.ratings.assign(user_id=checkerboard.ratings["user_id"] + 1000)
    a = create("ease", regularization=1.0).fit(checkerboard.interactions)
    b = create("ease", regularization=1.0).fit(Interactions.from_frame(relabelled, checkerboard.items))
    for user in checkerboard.rated_users:
        assert a.recommend(user, k=5).items_of(user) == b.recommend(user + 1000, k=5).items_of(user + 1000)


def test_adding_a_block_item_pulls_that_block_up(checkerboard: Checkerboard) -> None:
    """Directional: a history gaining items of block 2 scores block 2 higher."""
    model = create("ease", regularization=1.0).fit(checkerboard.interactions)
    block0, block2 = checkerboard.block_items[0], checkerboard.block_items[2]
    before = model.recommend_for_history(block0[:3], k=model.n_items).frame
    after = model.recommend_for_history([*block0[:3], *block2[:2]], k=model.n_items).frame
    score = lambda frame, item: float(frame.loc[frame["item_id"] == item, "score"].iloc[0])  # noqa: E731
    assert score(after, block2[3]) > score(before, block2[3])


def test_block_history_gets_its_block(checkerboard: Checkerboard) -> None:
    """Minimum functionality: a visitor who liked part of a block gets the rest of it first."""
    model = create("ease", regularization=1.0).fit(checkerboard.interactions)
    for block, items in checkerboard.block_items.items():
        recs = model.recommend_for_history(items[:3], k=2)
        assert set(recs.items_of(-1)) == set(items[3:]), f"block {block}"


def test_weights_have_zero_diagonal(checkerboard: Checkerboard) -> None:
    model = create("ease", regularization=1.0).fit(checkerboard.interactions)
    np.testing.assert_array_equal(np.diag(model.weights_), 0.0)
    assert isinstance(model.recommend(1).frame, pd.DataFrame)


def test_a_catalogue_too_big_for_memory_fails_before_allocating(
    checkerboard: Checkerboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EASE's dense item x item matrices are checked against the available memory first:
    a clear MemoryError with the arithmetic instead of an out-of-memory kill."""
    n = checkerboard.interactions.n_items
    need = 3 * n * n * 8
    monkeypatch.setattr(sizing, "available_memory", lambda: need - 1)
    with pytest.raises(MemoryError, match=rf"ease on {n} items needs 3 dense {n} x {n}"):
        create("ease").fit(checkerboard.interactions)
    monkeypatch.setattr(sizing, "available_memory", lambda: need)
    create("ease").fit(checkerboard.interactions)
    # the timeline Gram needs two more matrices to build
    with pytest.raises(MemoryError, match=rf"needs 5 dense {n} x {n}"):
        create("ease", cooccurrence="timeline").fit(checkerboard.interactions)


def test_available_memory_reads_the_machine() -> None:
    have = available_memory()
    assert have is None or have > 2**20


def test_the_pipeline_trains_the_timeline_dlae() -> None:
    """``params.yaml`` ships ``TIMELINE_DLAE`` as the ``ease`` configuration (the figures in
    the docs and benchmark refer to it), and it is a valid configuration."""
    shipped = section("train", Path(__file__).parents[2] / "params.yaml")["ease"]
    assert shipped == TIMELINE_DLAE
    assert EASEConfig(**shipped).model_dump(include=set(shipped)) == TIMELINE_DLAE


@pytest.mark.parametrize("diagonal", ["zero", "free"])
def test_weights_equal_the_closed_forms(checkerboard: Checkerboard, diagonal: str) -> None:
    """The Cholesky inverse (one inverse for both diagonals) gives the weights of the
    textbook forms: ``P / -diag(P)`` and ``(G + L)^-1 G``, each with a zero diagonal."""
    data = checkerboard.interactions
    params: dict[str, Any] = {"regularization": 3.0, "diagonal": diagonal}
    if diagonal == "free":
        params["dropout"] = 0.3
    model = create("ease", **params).fit(data)
    x = data.matrix("ones").toarray()
    x[x != 0] = 1.0
    gram = x.T @ x
    p = params.get("dropout", 0.0)
    regularised = gram + np.diag(3.0 + p / (1 - p) * np.diag(gram))
    if diagonal == "free":
        expected = np.linalg.solve(regularised, gram)
    else:
        precision = np.linalg.inv(regularised)
        expected = precision / -np.diag(precision)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights_, expected, rtol=1e-9, atol=1e-12)


def test_symmetric_inverse_mirrors_blocks_and_falls_back() -> None:
    """Blocks of rows smaller than the matrix are mirrored whole; a matrix that is not
    positive definite is inverted by LU instead of failing."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 50))
    spd = a @ a.T + 50 * np.eye(50)
    inverse = symmetric_inverse(spd.copy())
    np.testing.assert_allclose(inverse, np.linalg.inv(spd), rtol=1e-10, atol=1e-12)
    square = np.triu(rng.normal(size=(7, 7)))
    mirror_upper(square, block=3)
    np.testing.assert_array_equal(square, square.T)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    np.testing.assert_allclose(symmetric_inverse(indefinite.copy()), np.linalg.inv(indefinite))


def test_saved_arrays_are_stored_not_deflated(checkerboard: Checkerboard, tmp_path: Path) -> None:
    """A saved model's arrays are written without compression: a dense EASE at 9k items is
    650 MB of float64 that zlib barely shrinks, and every load (tracking, registry, the
    service) would inflate it again."""
    import zipfile

    from recsys.models.storage import ARRAYS_FILE

    folder = create("ease").fit(checkerboard.interactions).save(tmp_path / "ease")
    with zipfile.ZipFile(folder / ARRAYS_FILE) as archive:
        kinds = {info.compress_type for info in archive.infolist()}
    assert kinds == {zipfile.ZIP_STORED}
