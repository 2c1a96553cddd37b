"""Synthetic MovieLens-like data in ML-25M's file format, for scale tests and benchmarks.

The generator is vectorised numpy with compact dtypes (memory O(ratings)) and writes the CSV
files in chunks with pyarrow. Structure, chosen so that collaborative filtering has something
to find that popularity alone does not:

- items have a power-law popularity (``(rank + offset) ** -alpha``) and belong to one of
  ``n_tastes`` latent tastes, each with a genre label;
- users rate a log-normal number of movies (at least ``min_per_user``); each pick comes from one
  of the user's preferred tastes (a sparse Dirichlet mix) with probability ``1 - explore`` and
  from the whole catalogue otherwise, popularity-weighted either way;
- ratings come from a low-rank model (global mean + user and item biases + user factors .
  item factors, items' factors centred on their taste) plus noise, rounded to half stars for
  half of the users and to whole stars for the others (as on MovieLens);
- timestamps come in sittings: each user has an active period (log-normal length, start
  uniform over the years covered) split into sittings of a few to a few dozen ratings, one
  rating a minute or so within a sitting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray

#: ML-25M's shape: the defaults of ``movierec data synth``.
ML25M_RATINGS = 25_000_095
ML25M_USERS = 162_541
ML25M_ITEMS = 62_423
#: ML-25M's period (first and last rating).
FIRST_TIMESTAMP = 789_652_009
LAST_TIMESTAMP = 1_574_327_703
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
HALF_STAR_LABELS = pa.array([f"{0.5 * k:.1f}" for k in range(11)])
CHUNK_ROWS = 1 << 20


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator (the defaults give MovieLens-like marginals)."""

    n_ratings: int = ML25M_RATINGS
    n_users: int | None = None
    n_items: int | None = None
    seed: int = 0
    min_per_user: int = 20
    activity_sigma: float = 1.1
    popularity_alpha: float = 1.3
    popularity_offset: float = 10.0
    n_tastes: int = 20
    tastes_per_user: float = 0.15
    explore: float = 0.1
    factors: int = 8
    noise: float = 0.55

    def users(self) -> int:
        """``n_users``, or ML-25M's users per rating times ``n_ratings``."""
        if self.n_users is not None:
            return self.n_users
        return max(1, round(self.n_ratings * ML25M_USERS / ML25M_RATINGS))

    def items(self) -> int:
        """``n_items``, or a catalogue growing as ``n_ratings ** 0.6`` up to ML-25M's 62,423."""
        if self.n_items is not None:
            return self.n_items
        return max(50, round(ML25M_ITEMS * (self.n_ratings / ML25M_RATINGS) ** 0.6))


@dataclass(frozen=True)
class SynthResult:
    """What ``write_synthetic`` wrote."""

    folder: Path
    n_ratings: int
    n_users: int
    n_items: int
    n_tags: int
    rating_mean: float


class SynthConfigError(ValueError):
    """The requested shape cannot be generated (e.g. too few ratings for the users)."""


def _activity(rng: np.random.Generator, n_ratings: int, n_users: int, n_items: int,
              config: SynthConfig) -> NDArray[np.int32]:
    """Ratings per user: ``min_per_user`` plus a log-normal share of the rest, summing to N."""
    cap = max(config.min_per_user, int(n_items * 0.6))
    extra_total = n_ratings - config.min_per_user * n_users
    weights = rng.lognormal(0.0, config.activity_sigma, n_users)
    extra = np.floor(weights / weights.sum() * extra_total).astype(np.int64)
    extra = np.minimum(extra, cap - config.min_per_user)
    # hand out what rounding and the cap left, one rating at a time to users with room
    missing = extra_total - int(extra.sum())
    while missing > 0:
        room = np.flatnonzero(extra < cap - config.min_per_user)
        if room.size == 0:
            raise SynthConfigError(f"{n_ratings:,} ratings do not fit {n_users:,} users x "
                                   f"{n_items:,} items")
        take = rng.choice(room, size=min(missing, room.size), replace=False)
        extra[take] += 1
        missing -= take.size
    return (extra + config.min_per_user).astype(np.int32)


def _pick(rng: np.random.Generator, cumulative: NDArray[np.float64], rows: NDArray[np.int32],
          ) -> NDArray[np.int32]:
    """For each entry of ``rows``, draw a column of that row of the row-wise ``cumulative``
    distribution (rows normalised to end at 1), all at once with one search."""
    n_cols = cumulative.shape[1]
    flat = (cumulative + np.arange(cumulative.shape[0])[:, None]).ravel()
    draws = rows.astype(np.float64) + rng.random(rows.size) * 0.999999
    index = np.searchsorted(flat, draws, side="right")
    return (index - rows.astype(np.int64) * n_cols).clip(0, n_cols - 1).astype(np.int32)


class _Catalogue:
    """Item popularity and tastes, with per-taste sampling tables."""

    def __init__(self, rng: np.random.Generator, n_items: int, config: SynthConfig) -> None:
        rank = rng.permutation(n_items)
        self.popularity = (rank + config.popularity_offset) ** -config.popularity_alpha
        self.taste = rng.integers(0, config.n_tastes, n_items).astype(np.int32)
        order = np.argsort(self.taste, kind="stable")
        self.by_taste = order.astype(np.int32)
        counts = np.bincount(self.taste, minlength=config.n_tastes)
        self.taste_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # one cumulative popularity per taste, laid end to end (taste t spans [t, t+1))
        pop_sorted = self.popularity[order]
        totals = np.zeros(config.n_tastes)
        np.add.at(totals, self.taste, self.popularity)
        self.taste_mass = totals / totals.sum()
        within = np.cumsum(pop_sorted) - np.repeat(np.cumsum(totals) - totals, counts)
        self.taste_cum = np.repeat(np.arange(config.n_tastes), counts) + within / np.repeat(
            np.maximum(totals, 1e-300), counts)
        self.global_cum = np.cumsum(self.popularity) / self.popularity.sum()
        flat = np.sqrt(self.popularity)
        self.flat_cum = np.cumsum(flat) / flat.sum()

    def draw(self, rng: np.random.Generator, tastes: NDArray[np.int32],
             explore: NDArray[np.bool_]) -> NDArray[np.int32]:
        items = np.empty(tastes.size, dtype=np.int32)
        local = ~explore
        draws = tastes[local] + rng.random(int(local.sum())) * 0.999999
        pos = np.searchsorted(self.taste_cum, draws, side="right")
        items[local] = self.by_taste[np.minimum(pos, self.by_taste.size - 1)]
        pos = np.searchsorted(self.global_cum, rng.random(int(explore.sum())), side="right")
        items[explore] = np.minimum(pos, self.popularity.size - 1)
        return items


def _sorted_unique(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """``np.unique`` by sorting in place (numpy 2's hash-based unique is several times slower
    on tens of millions of int64 keys)."""
    values.sort()
    keep = np.empty(values.size, dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _pairs(rng: np.random.Generator, activity: NDArray[np.int32], catalogue: _Catalogue,
           config: SynthConfig) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Distinct (user, item) pairs, ``activity[u]`` per user, sorted by user then item."""
    n_users, n_items = activity.size, catalogue.popularity.size
    # P(item | user) ~ user's taste weight x item popularity: a taste is drawn by the user's
    # weight times the taste's share of all popularity, then a movie of it by popularity
    mix = rng.dirichlet(np.full(config.n_tastes, config.tastes_per_user), n_users)
    mix *= catalogue.taste_mass[None, :]
    taste_cum = np.cumsum(mix, axis=1)
    taste_cum /= taste_cum[:, -1:]
    keys = np.empty(0, dtype=np.int64)
    need = activity.astype(np.int64)
    for attempt in range(1000):
        # draw a little more than needed: repeats of popular movies are dropped below
        want = np.ceil(need * 1.15).astype(np.int64) + (need > 0)
        users = np.repeat(np.arange(n_users, dtype=np.int32), want)
        if attempt < 2:
            tastes = _pick(rng, taste_cum, users)
            items = catalogue.draw(rng, tastes, rng.random(users.size) < config.explore)
            del tastes
        else:
            # heavy users have used up their tastes' popular movies: they fill the rest of
            # their profile across the catalogue, from a flatter popularity (the full one
            # would repeat itself)
            items = np.minimum(np.searchsorted(catalogue.flat_cum, rng.random(users.size)),
                               n_items - 1).astype(np.int32)
        fresh = users.astype(np.int64) * n_items + items
        del users, items
        keys = _sorted_unique(np.concatenate([keys, fresh]))
        del fresh
        have = np.bincount((keys // n_items).astype(np.int64), minlength=n_users)
        over = have - activity
        if (over >= 0).all():
            break
        need = np.maximum(-over, 0)
    else:
        raise SynthConfigError("could not draw enough distinct movies per user")
    # keep a random ``activity[u]`` of each user's distinct picks
    user_of = (keys // n_items).astype(np.int32)
    shuffled = rng.permutation(keys.size)
    order = np.lexsort((shuffled, user_of))
    starts = np.concatenate([[0], np.cumsum(have)[:-1]])
    rank = np.arange(keys.size) - np.repeat(starts, have)
    chosen = np.sort(keys[order[rank < np.repeat(activity, have)]])
    return (chosen // n_items).astype(np.int32), (chosen % n_items).astype(np.int32)


def _ratings(rng: np.random.Generator, users: NDArray[np.int32], items: NDArray[np.int32],
             catalogue: _Catalogue, n_users: int, config: SynthConfig) -> NDArray[np.int8]:
    """Half-star codes (rating * 2, 1..10) from a low-rank model plus noise."""
    n_items = catalogue.popularity.size
    d = config.factors
    taste_centres = rng.normal(0.0, 0.55, (config.n_tastes, d)).astype(np.float32)
    item_f = taste_centres[catalogue.taste] + rng.normal(0.0, 0.25, (n_items, d)).astype(np.float32)
    user_f = rng.normal(0.0, 0.45, (n_users, d)).astype(np.float32)
    # popular movies are rated a little higher, as on MovieLens
    pop_z = np.log(catalogue.popularity)
    item_b = (0.15 * (pop_z - pop_z.mean()) / pop_z.std() + rng.normal(0, 0.3, n_items)).astype(np.float32)
    user_b = rng.normal(0.0, 0.4, n_users).astype(np.float32)
    score = np.empty(users.size, dtype=np.float32)
    for lo in range(0, users.size, CHUNK_ROWS):
        u, i = users[lo:lo + CHUNK_ROWS], items[lo:lo + CHUNK_ROWS]
        score[lo:lo + CHUNK_ROWS] = (
            3.30 + user_b[u] + item_b[i] + np.einsum("ij,ij->i", user_f[u], item_f[i])
            + rng.normal(0.0, config.noise, u.size).astype(np.float32)
        )
    half = rng.random(n_users) < 0.5
    step = np.where(half[users], np.float32(1.0), np.float32(2.0))  # in half-star units
    codes = np.rint(score * 2 / step) * step
    return np.clip(codes, np.where(half[users], 1, 2), 10).astype(np.int8)


def _timestamps(rng: np.random.Generator, activity: NDArray[np.int32], n_ratings: int,
                ) -> NDArray[np.int64]:
    """Per rating (in user order), a time within the user's sittings, increasing per user."""
    n_users = activity.size
    period = LAST_TIMESTAMP - FIRST_TIMESTAMP
    span = np.minimum(rng.lognormal(np.log(200 * 86_400), 1.6, n_users), period * 0.9)
    start = FIRST_TIMESTAMP + rng.random(n_users) * (period - span)
    per_sitting = np.maximum(3, rng.geometric(1 / 15, n_users)).astype(np.int64)
    n_sittings = np.maximum(1, -(-activity // per_sitting))
    starts = np.concatenate([[0], np.cumsum(activity, dtype=np.int64)[:-1]])
    user = np.repeat(np.arange(n_users), activity)
    pos = np.arange(n_ratings, dtype=np.int64) - starts[user]
    sitting = pos // per_sitting[user]
    when = start[user] + span[user] * sitting / n_sittings[user]
    gap = rng.exponential(60.0, n_ratings) + 5
    within = pos % per_sitting[user]
    return (when + within * 75 + gap).astype(np.int64)


def _write_csv(path: Path, header: str, table: pa.Table) -> None:
    """CSV like GroupLens writes it: a bare header line, no quotes, chunked."""
    with path.open("wb") as fh:
        fh.write((header + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none",
                                     batch_size=CHUNK_ROWS)
        with pacsv.CSVWriter(fh, table.schema, write_options=options) as writer:
            for batch in table.to_batches(max_chunksize=CHUNK_ROWS):
                writer.write_batch(batch)


README = """Synthetic MovieLens-like data (NOT real MovieLens ratings)
=========================================================

Generated by `movierec data synth` (recsys.data.synth) with seed {seed}: {n_ratings} ratings
by {n_users} users of {n_items} movies, and {n_tags} tags, in the file format of MovieLens
25M (ratings.csv, movies.csv, links.csv, tags.csv). Every user has at least {min_per_user}
ratings. Popularity is power-law, user activity log-normal, ratings come from a low-rank
model plus noise (half stars), timestamps come in sittings over {first} to {last}.

Titles, genres and tags are made up; links.csv has no IMDb or TMDB ids. Use it to test and
measure the pipeline at scale, never to judge recommendation quality on real people.
"""


def write_synthetic(out: Path, config: SynthConfig) -> SynthResult:
    """Generate a synthetic set with ``config`` and write it to ``out`` (created if needed).

    Raises:
        SynthConfigError: for a shape that cannot be generated.
    """
    n_users, n_items, n_ratings = config.users(), config.items(), config.n_ratings
    if n_users < 1 or n_items < config.min_per_user:
        raise SynthConfigError(f"need at least 1 user and {config.min_per_user} items")
    if n_ratings < config.min_per_user * n_users:
        raise SynthConfigError(f"{n_ratings:,} ratings cannot give {n_users:,} users "
                               f"{config.min_per_user} ratings each")
    if n_ratings > int(n_items * 0.6) * n_users:
        raise SynthConfigError(f"{n_ratings:,} ratings do not fit {n_users:,} users x "
                               f"{n_items:,} items")
    rng = np.random.default_rng(config.seed)
    activity = _activity(rng, n_ratings, n_users, n_items, config)
    catalogue = _Catalogue(rng, n_items, config)
    users, items = _pairs(rng, activity, catalogue, config)
    codes = _ratings(rng, users, items, catalogue, n_users, config)
    # sittings run in user order; shuffle them within each user so that time is not tied
    # to the item index
    stamps = _timestamps(rng, activity, n_ratings)[np.lexsort((rng.random(n_ratings), users))]
    movie_ids = np.sort(rng.choice(np.arange(1, 3 * n_items + 1), n_items, replace=False)).astype(np.int32)
    out.mkdir(parents=True, exist_ok=True)
    ratings = pa.table({
        "userId": pa.array(users + 1, pa.int32()),
        "movieId": pa.array(movie_ids[items], pa.int32()),
        "rating": HALF_STAR_LABELS.take(pa.array(codes.astype(np.int32))),
        "timestamp": pa.array(stamps, pa.int64()),
    })
    rating_mean = float(codes.astype(np.float64).mean() / 2)
    del codes
    _write_csv(out / "ratings.csv", "userId,movieId,rating,timestamp", ratings)
    del ratings
    years = rng.integers(1920, 2019, n_items)
    first_genre = catalogue.taste % len(GENRES)
    second = rng.integers(0, len(GENRES), n_items)
    genres = [GENRES[a] if a == b else "|".join(sorted((GENRES[a], GENRES[b])))
              for a, b in zip(first_genre.tolist(), second.tolist(), strict=True)]
    _write_csv(out / "movies.csv", "movieId,title,genres", pa.table({
        "movieId": pa.array(movie_ids),
        "title": [f"Synthetic Movie {m} ({y})" for m, y in zip(movie_ids.tolist(), years.tolist(), strict=True)],
        "genres": genres,
    }))
    _write_csv(out / "links.csv", "movieId,imdbId,tmdbId", pa.table({
        "movieId": pa.array(movie_ids),
        "imdbId": pa.nulls(n_items, pa.string()),
        "tmdbId": pa.nulls(n_items, pa.int64()),
    }))
    # tags: about one per 25 ratings, on rated pairs, a genre word of the movie's taste
    n_tags = max(1, n_ratings // 25)
    picks = np.sort(rng.choice(n_ratings, n_tags, replace=False))
    tag_words = pa.array([g.lower() for g in GENRES])
    _write_csv(out / "tags.csv", "userId,movieId,tag,timestamp", pa.table({
        "userId": pa.array(users[picks] + 1, pa.int32()),
        "movieId": pa.array(movie_ids[items[picks]], pa.int32()),
        "tag": tag_words.take(pa.array(rng.integers(0, len(GENRES), n_tags))),
        "timestamp": pa.array(stamps[picks] + 30, pa.int64()),
    }))
    (out / "README.txt").write_text(README.format(
        seed=config.seed, n_ratings=f"{n_ratings:,}", n_users=f"{n_users:,}",
        n_items=f"{n_items:,}", n_tags=f"{n_tags:,}", min_per_user=config.min_per_user,
        first="1995", last="2019",
    ))
    return SynthResult(out, n_ratings, n_users, n_items, n_tags, rating_mean)
