"""``Vocabulary.index``: the id-indexed table and the binary search agree everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.interactions import Vocabulary


@pytest.mark.parametrize("ids", [
    [3, 1, 7, 7, 100],                 # small, dense enough: the table
    [-5, 2, 9],                        # a negative id: the binary search
    [1, 10**12],                       # far sparser than the vocabulary: the binary search
    [],
])
def test_index_maps_known_ids_and_marks_the_rest(ids: list[int]) -> None:
    vocab = Vocabulary.from_ids(ids)
    assert vocab.ids.tolist() == sorted(set(ids))
    probe = np.array([*ids, -1, 0, 4, 101, 10**12 + 1, -5], dtype=np.int64)
    want = np.array([vocab.ids.tolist().index(v) if v in set(ids) else -1 for v in probe])
    np.testing.assert_array_equal(vocab.index(probe), want)


def test_the_table_is_used_only_where_it_is_small() -> None:
    assert Vocabulary.from_ids(np.arange(1, 200_000, 3))._table is not None
    assert Vocabulary.from_ids([1, 10**12])._table is None
    assert Vocabulary.from_ids([-1, 2])._table is None
