"""Tiny data with known answers for the recommender contract suite.

``checkerboard``: users fall into blocks; every user rates (highly) all the items of their
own block but one, plus one item of the next block (lowly). The one unrated item of their
own block is therefore the correct top-1 for each user, whatever the model family:
co-occurrence, neighbourhood, factorisation, or content (each block's items share genres,
actors and directors that no other block has).

The item table also lists a catalogue item nobody rated, and the user vocabulary holds a
user with no ratings, so every model meets both edge cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.data.interactions import Interactions, Vocabulary

N_BLOCKS = 3
USERS_PER_BLOCK = 6
ITEMS_PER_BLOCK = 5
#: A user in the vocabulary without a single rating.
SILENT_USER = 500
#: A catalogue item (in the items table) that nobody rated.
UNRATED_ITEM = 999
#: Ids no model has seen.
UNKNOWN_USER = 10_000
UNKNOWN_ITEM = 77_777


@dataclass(frozen=True)
class Checkerboard:
    """The block dataset and its answers.

    Attributes:
        ratings: the ratings frame (contract columns).
        items: the items table (``item_id``, ``title``, ``year``, ``genres``, ``actors``,
            ``directors``).
        interactions: ``ratings`` + ``items`` with ``SILENT_USER`` in the user vocabulary.
        held_out: user id -> the item the user should get first.
        block_of_user: user id -> block number.
        block_items: block number -> the block's item ids.
    """

    ratings: pd.DataFrame
    items: pd.DataFrame
    interactions: Interactions
    held_out: dict[int, int]
    block_of_user: dict[int, int]
    block_items: dict[int, list[int]]

    @property
    def rated_users(self) -> list[int]:
        return sorted(self.held_out)


def block_item_id(block: int, position: int) -> int:
    return 100 + 10 * block + position


def make_checkerboard(seed: int = 0) -> Checkerboard:
    """Build the checkerboard (deterministic; ``seed`` only shuffles the row order)."""
    rows: list[tuple[int, int, float, int]] = []
    held_out: dict[int, int] = {}
    block_of_user: dict[int, int] = {}
    block_items = {
        b: [block_item_id(b, p) for p in range(ITEMS_PER_BLOCK)] for b in range(N_BLOCKS)
    }
    timestamp = 1_000_000
    for block in range(N_BLOCKS):
        for j in range(USERS_PER_BLOCK):
            user = 1 + block * USERS_PER_BLOCK + j
            block_of_user[user] = block
            missing = j % ITEMS_PER_BLOCK
            held_out[user] = block_item_id(block, missing)
            for p in range(ITEMS_PER_BLOCK):
                if p != missing:
                    rating = 5.0 if (j + p) % 2 == 0 else 4.0
                    rows.append((user, block_item_id(block, p), rating, timestamp))
                    timestamp += 1
            other = (block + 1) % N_BLOCKS
            rows.append((user, block_item_id(other, (j + 2) % ITEMS_PER_BLOCK), 1.0, timestamp))
            timestamp += 1
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    ratings = ratings.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    genre_names = ["Action", "Comedy", "Drama"]
    item_rows = []
    for block, ids in block_items.items():
        for p, item in enumerate(ids):
            item_rows.append(
                {
                    "item_id": item,
                    "title": f"{genre_names[block]} movie {p}",
                    "year": 1990 + p,
                    "genres": f"{genre_names[block]}|Block{block}",
                    "actors": f"actor_{block}_a|actor_{block}_b|actor_{block}_{p}",
                    "directors": f"director_{block}",
                }
            )
    item_rows.append(
        {
            "item_id": UNRATED_ITEM,
            "title": "Nobody saw this",
            "year": 2000,
            "genres": "Documentary",
            "actors": "actor_x",
            "directors": "director_x",
        }
    )
    items = pd.DataFrame(item_rows)
    items["year"] = items["year"].astype("Int64")
    users = Vocabulary.from_ids([*block_of_user, SILENT_USER])
    interactions = Interactions.from_frame(ratings, items, users=users)
    return Checkerboard(ratings, items, interactions, held_out, block_of_user, block_items)
