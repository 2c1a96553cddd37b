"""The contract every recommender honours, as a mixin its test class inherits.

LensKit's ``BasicComponentTests`` and implicit's ``RecommenderBaseTestMixin`` in one: a
model's test module only says which model and how to make it small and fast::

    from recsys.testing import RecommenderContract

    class TestEASE(RecommenderContract):
        name = "ease"
        params = {"regularization": 10.0}
        quality_floor = 1.0

A model outside the registry (a third-party one) sets ``model_class`` as well::

    class TestMyModel(RecommenderContract):
        name = "my_model"
        model_class = MyModel

The data is the checkerboard of ``recsys.testing.checkerboard`` (ratings plus an items
table with ``genres``, ``actors`` and ``directors``, so content models fit too), given by
the mixin's class-scoped ``checkerboard`` fixture. Override ``make_model`` or ``fit_data``
when a model needs something else. Needs the ``testing`` extra (pytest, Hypothesis).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from recsys.data.interactions import Interactions
from recsys.errors import NotFittedError
from recsys.models import MODELS, BaseRecommender, load_model, top_k
from recsys.models import model_class as registered_class
from recsys.testing.checkerboard import (
    SILENT_USER,
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNRATED_ITEM,
    Checkerboard,
    make_checkerboard,
)
from recsys.testing.fresh_fits import SEED, fresh_process_fits, spec_of

#: Hypothesis settings for tests that reuse a class-scoped fitted model.
PROPERTY_SETTINGS = settings(
    max_examples=10,
    deadline=None,
    # the mixin's methods run on one instance per model class: intended, not flaky
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ],
)


@functools.cache
def _checkerboard() -> Checkerboard:
    return make_checkerboard()


def assert_well_formed(frame: pd.DataFrame, k: int) -> None:
    """One user's recommendations: sorted scores, no NaN, ranks 1..n, n <= k, unique items."""
    assert len(frame) <= k
    scores = frame["score"].to_numpy()
    assert not np.isnan(scores).any(), "NaN score in recommendations"
    assert np.all(np.diff(scores) <= 0), "scores not sorted descending"
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    assert frame["item_id"].is_unique


class RecommenderContract:
    """Mixin of contract tests; subclasses set ``name`` and (optionally) the rest.

    Attributes:
        name: registry name of the model under test.
        params: small, fast parameters for the checkerboard.
        quality_floor: minimal share of checkerboard users whose top-1 is their held-out
            item (``0.0`` for non-personalised models).
        history_floor: the same share when each user's history is folded in through
            ``recommend_for_history``; ``None`` skips the check (no fold-in support).
        k: list length used by the tests.
        fresh_process_fits: fit in a new Python process (as `movierec fit` does) both the
            reproducibility check's two seeded fits and the model the other tests use
            (loaded from where that process saved it), for frameworks with process-global
            state (TensorFlow, see ``recsys.testing.fresh_fits``); registered models only.
        model_class: the class under test when it is not in the registry (a third-party
            model); ``None`` looks ``name`` up in ``recsys.models.MODELS``.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.model]

    name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    quality_floor: ClassVar[float] = 1.0
    history_floor: ClassVar[float | None] = None
    k: ClassVar[int] = 5
    fresh_process_fits: ClassVar[bool] = False
    model_class: ClassVar[type[BaseRecommender] | None] = None

    # -- hooks a subclass may override ----------------------------------------------------
    def model_type(self) -> type[BaseRecommender]:
        """The class under test: ``model_class``, else the one registered as ``name``."""
        return self.model_class or registered_class(self.name)

    def make_model(self, **overrides: Any) -> BaseRecommender:
        return self.model_type()(**{**self.params, **overrides})

    def fit_data(self, checkerboard: Checkerboard) -> Interactions:
        return checkerboard.interactions

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    def checkerboard(self) -> Checkerboard:
        return _checkerboard()

    @pytest.fixture(scope="class")
    def fitted(self, checkerboard: Checkerboard) -> BaseRecommender:
        if self.fresh_process_fits:
            assert self.model_class is None, "fresh_process_fits needs a registered model"
            return load_model(fresh_process_fits(RecommenderContract)[spec_of(self)].saved)
        return self.make_model().fit(self.fit_data(checkerboard))

    # -- construction and configuration ----------------------------------------------------
    def test_registered_and_default_construction(self) -> None:
        if self.model_class is None:
            assert self.name in MODELS
        cls = self.model_type()
        model = cls()
        assert isinstance(model, BaseRecommender)
        assert cls.name == self.name
        assert not model.is_fitted
        assert cls.__doc__ and len(cls.__doc__.strip()) > 20, "class docstring must cite a paper"
        assert self.name in repr(model).lower() or cls.__name__ in repr(model)

    def test_config_json_round_trip(self) -> None:
        model = self.make_model()
        text = model.config.model_dump_json()
        restored = type(model.config).model_validate_json(text)
        assert restored == model.config
        assert json.loads(text) == model.config.model_dump(mode="json")
        again = self.model_type()(**json.loads(text))
        assert again.config == model.config

    def test_unknown_config_key_rejected(self) -> None:
        with pytest.raises(ValidationError):
            self.model_type()(no_such_parameter=1)

    def test_not_fitted_error(self, tmp_path: Path) -> None:
        model = self.make_model()
        with pytest.raises(NotFittedError):
            model.recommend(1)
        with pytest.raises(NotFittedError):
            model.score(1)
        with pytest.raises(NotFittedError):
            model.similar_items(100)
        with pytest.raises(NotFittedError):
            model.save(tmp_path / "model")

    def test_fit_rejects_empty(self, checkerboard: Checkerboard) -> None:
        empty = Interactions.from_frame(checkerboard.ratings.iloc[:0], checkerboard.items)
        with pytest.raises(ValueError):
            self.make_model().fit(empty)

    def test_fit_leaves_input_untouched(self, checkerboard: Checkerboard) -> None:
        data = self.fit_data(checkerboard)
        before = data.frame.copy()
        self.make_model().fit(data)
        pd.testing.assert_frame_equal(data.frame, before)

    # -- recommending ---------------------------------------------------------------------
    def test_fit_then_recommend(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        assert fitted.is_fitted
        assert fitted.fit_seconds_ >= 0
        users = checkerboard.rated_users
        recs = fitted.recommend(users, k=self.k)
        assert set(recs.frame.columns) >= {"user_id", "item_id", "score", "rank"}
        assert not recs.cold_start
        seen = checkerboard.ratings.groupby("user_id")["item_id"].apply(set).to_dict()
        for user in users:
            frame = recs.for_user(user)
            assert len(frame) >= 1, f"user {user} got nothing"
            assert_well_formed(frame, self.k)
            assert not set(frame["item_id"]) & seen[user], "seen item recommended"

    def test_recommend_without_exclusion_may_return_seen(self, fitted: BaseRecommender) -> None:
        recs = fitted.recommend(1, k=fitted.n_items, exclude_seen=False)
        assert_well_formed(recs.frame, fitted.n_items)
        assert len(recs.frame) >= 1

    def test_batch_equals_single(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        users = checkerboard.rated_users[::-1]
        batch = fitted.recommend(users, k=self.k)
        assert batch.frame["user_id"].drop_duplicates().tolist() == users
        for user in users:
            single = fitted.recommend(user, k=self.k).frame
            together = batch.for_user(user)
            assert together["item_id"].tolist() == single["item_id"].tolist()
            np.testing.assert_allclose(together["score"], single["score"], rtol=1e-6)

    def test_unknown_user_gets_fallback(self, fitted: BaseRecommender) -> None:
        recs = fitted.recommend([1, UNKNOWN_USER], k=self.k)
        assert recs.cold_start == frozenset({UNKNOWN_USER})
        frame = recs.for_user(UNKNOWN_USER)
        assert len(frame) == self.k
        assert_well_formed(frame, self.k)
        assert np.isfinite(fitted.score(UNKNOWN_USER)).any()

    def test_unknown_item_scores_nan(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        rated_item = int(checkerboard.ratings["item_id"].iloc[0])
        scores = fitted.score(1, [rated_item, UNKNOWN_ITEM])
        assert scores.shape == (2,)
        assert np.isfinite(scores[0])
        assert np.isnan(scores[1])
        full = fitted.score(1)
        assert full.shape == (fitted.n_items,)
        assert not np.isinf(full).any()

    def test_user_without_history(self, fitted: BaseRecommender) -> None:
        assert SILENT_USER in fitted.users_
        recs = fitted.recommend(SILENT_USER, k=self.k)
        assert SILENT_USER not in recs.cold_start
        assert_well_formed(recs.frame, self.k)
        assert not np.isinf(fitted.score(SILENT_USER)).any()

    def test_unrated_catalogue_item_is_handled(self, fitted: BaseRecommender) -> None:
        assert UNRATED_ITEM in fitted.items_
        score = fitted.score(1, [UNRATED_ITEM])
        assert score.shape == (1,)
        assert not np.isinf(score).any()

    def test_candidates_restrict_results(
        self, fitted: BaseRecommender, checkerboard: Checkerboard
    ) -> None:
        candidates = [*checkerboard.block_items[1], UNKNOWN_ITEM]
        recs = fitted.recommend(checkerboard.rated_users, k=self.k, candidates=candidates)
        assert set(recs.frame["item_id"]) <= set(candidates)
        cold = fitted.recommend(UNKNOWN_USER, k=self.k, candidates=candidates)
        assert set(cold.frame["item_id"]) <= set(candidates)

    def test_predict_pairs(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        rated = checkerboard.ratings.head(10)
        known = fitted.predict(rated["user_id"], rated["item_id"])
        assert known.shape == (10,)
        assert np.isfinite(known).all()
        first = fitted.score(int(rated["user_id"].iloc[0]), rated["item_id"].iloc[:1])
        if fitted.predicts_ratings:
            # ranking scores may differ from rating predictions; predictions stay on scale
            assert ((known > -1.0) & (known < 7.0)).all()
        else:
            np.testing.assert_allclose(known[:1], first, rtol=1e-6)
        unknown = fitted.predict([UNKNOWN_USER, 1], [int(rated["item_id"].iloc[0]), UNKNOWN_ITEM])
        if fitted.predicts_ratings:
            np.testing.assert_allclose(unknown, fitted.global_mean_)
        else:
            assert np.isnan(unknown).all()
        with pytest.raises(ValueError):
            fitted.predict([1, 2], [101])

    def test_recommend_for_history(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        history = checkerboard.ratings[checkerboard.ratings["user_id"] == 1]
        recs = fitted.recommend_for_history(
            history["item_id"], history["rating"], k=self.k, user_id=-7
        )
        frame = recs.frame
        assert_well_formed(frame, self.k)
        assert len(frame) >= 1
        assert not set(frame["item_id"]) & set(history["item_id"])
        assert set(frame["user_id"]) == {-7}
        unknown_only = fitted.recommend_for_history([UNKNOWN_ITEM], k=self.k, user_id=-8)
        assert unknown_only.cold_start == frozenset({-8})
        assert_well_formed(unknown_only.frame, self.k)
        # the index form the service ranks recent users with: the same list, or None exactly
        # when the history is not folded in
        ranked = fitted.rank_history(history["item_id"], history["rating"], k=self.k)
        if recs.cold_start:
            assert ranked is None
        else:
            assert ranked is not None
            listed = ranked[0][ranked[0] >= 0]
            assert fitted.items_.id_of(listed).tolist() == recs.items_of(-7)
        assert fitted.rank_history([UNKNOWN_ITEM], k=self.k) is None

    def test_history_quality(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        if self.history_floor is None:
            pytest.skip(f"{self.name} has no history floor")
        hits = 0
        for user in checkerboard.rated_users:
            history = checkerboard.ratings[checkerboard.ratings["user_id"] == user]
            recs = fitted.recommend_for_history(history["item_id"], history["rating"], k=1)
            assert not recs.cold_start, f"{self.name} did not fold the history in"
            hits += recs.items_of(-1)[:1] == [checkerboard.held_out[user]]
        assert hits / len(checkerboard.rated_users) >= self.history_floor

    def test_similar_items(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        query = checkerboard.block_items[0][0]
        similar = fitted.similar_items(query, k=self.k)
        assert query not in similar["item_id"].tolist()
        assert set(similar["query_item_id"]) == {query}
        assert 1 <= len(similar) <= self.k
        assert_well_formed(similar, self.k)
        with pytest.raises(KeyError):
            fitted.similar_items(UNKNOWN_ITEM)

    # -- persistence ------------------------------------------------------------------------
    def test_save_load_round_trip(
        self, fitted: BaseRecommender, checkerboard: Checkerboard, tmp_path: Path
    ) -> None:
        if self.fresh_process_fits:  # ``fitted`` was itself loaded: against the fit itself
            np.testing.assert_allclose(
                fitted.score(1), fresh_process_fits(RecommenderContract)[spec_of(self)].saved_scores,
                rtol=1e-6, equal_nan=True,
            )
        folder = fitted.save(tmp_path / "model")
        assert (folder / "model.json").is_file()
        loaders = [type(fitted).load] + ([load_model] if self.model_class is None else [])
        for loaded in (load(folder) for load in loaders):
            assert type(loaded) is type(fitted)
            assert loaded.config == fitted.config
            assert loaded.fit_seconds_ == fitted.fit_seconds_
            for user in [*checkerboard.rated_users[:4], SILENT_USER, UNKNOWN_USER]:
                np.testing.assert_allclose(
                    loaded.score(user), fitted.score(user), rtol=1e-6, equal_nan=True
                )
            users = checkerboard.rated_users
            pd.testing.assert_frame_equal(
                loaded.recommend(users, k=self.k).frame, fitted.recommend(users, k=self.k).frame,
                rtol=1e-6,
            )
            rated = checkerboard.ratings.head(20)
            np.testing.assert_allclose(
                loaded.predict(rated["user_id"], rated["item_id"]),
                fitted.predict(rated["user_id"], rated["item_id"]),
                rtol=1e-6, equal_nan=True,
            )

    def test_load_rejects_other_model(self, fitted: BaseRecommender, tmp_path: Path) -> None:
        folder = fitted.save(tmp_path / "model")
        meta = json.loads((folder / "model.json").read_text())
        meta["model"] = "popularity" if self.name != "popularity" else "baseline"
        (folder / "model.json").write_text(json.dumps(meta))
        with pytest.raises(ValueError):
            type(fitted).load(folder)

    def test_seeded_fit_is_reproducible(self, checkerboard: Checkerboard) -> None:
        if "seed" not in self.model_type().config_class().model_fields:
            pytest.skip(f"{self.name} has no seed")
        if self.fresh_process_fits:
            first, second = fresh_process_fits(RecommenderContract)[spec_of(self)].refits
        else:
            data = self.fit_data(checkerboard)
            first = self.make_model(seed=SEED).fit(data).score(1)
            second = self.make_model(seed=SEED).fit(data).score(1)
        np.testing.assert_allclose(first, second, rtol=1e-6, equal_nan=True)

    # -- quality -----------------------------------------------------------------------------
    def test_quality_floor(self, fitted: BaseRecommender, checkerboard: Checkerboard) -> None:
        users = checkerboard.rated_users
        recs = fitted.recommend(users, k=1)
        hits = sum(recs.items_of(u) == [checkerboard.held_out[u]] for u in users)
        share = hits / len(users)
        assert share >= self.quality_floor, f"{self.name}: top-1 hit share {share:.2f}"

    # -- properties --------------------------------------------------------------------------
    @PROPERTY_SETTINGS
    @given(data=st.data())
    def test_top_k_properties(self, fitted: BaseRecommender, data: st.DataObject) -> None:
        n_users = len(fitted.users_)
        rows = data.draw(
            st.lists(st.integers(0, n_users - 1), min_size=1, max_size=4), label="user rows"
        )
        k = data.draw(st.integers(1, fitted.n_items + 2), label="k")
        scores = fitted._score_users(np.asarray(rows, dtype=np.int64))
        exclude = np.asarray(
            data.draw(
                st.lists(
                    st.lists(st.booleans(), min_size=fitted.n_items, max_size=fitted.n_items),
                    min_size=len(rows), max_size=len(rows),
                ),
                label="exclude",
            ),
            dtype=bool,
        )
        idx, val = top_k(scores, k, exclude)
        assert idx.shape == val.shape == (len(rows), k)
        for r in range(len(rows)):
            valid = idx[r] >= 0
            n_valid = int(valid.sum())
            assert valid[:n_valid].all(), "padding must come last"
            chosen = idx[r, :n_valid]
            assert not exclude[r, chosen].any()
            assert not np.isnan(val[r, :n_valid]).any()
            assert np.all(np.diff(val[r, :n_valid]) <= 0)
            eligible = int((~exclude[r] & ~np.isnan(scores[r])).sum())
            assert n_valid == min(k, eligible)

    @PROPERTY_SETTINGS
    @given(data=st.data())
    def test_recommend_properties(
        self, fitted: BaseRecommender, checkerboard: Checkerboard, data: st.DataObject
    ) -> None:
        users = [*checkerboard.rated_users, SILENT_USER, UNKNOWN_USER]
        user = data.draw(st.sampled_from(users), label="user")
        k = data.draw(st.integers(1, 12), label="k")
        all_items = [*fitted.items_.ids.tolist(), UNKNOWN_ITEM]
        candidates = data.draw(
            st.none() | st.lists(st.sampled_from(all_items), min_size=1, unique=True),
            label="candidates",
        )
        frame = fitted.recommend(user, k=k, candidates=candidates).frame
        assert_well_formed(frame, k)
        if candidates is not None:
            assert set(frame["item_id"]) <= set(candidates)
        if user in checkerboard.held_out:
            seen = set(checkerboard.ratings.loc[checkerboard.ratings["user_id"] == user, "item_id"])
            assert not set(frame["item_id"]) & seen
