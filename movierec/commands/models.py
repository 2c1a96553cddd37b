"""``movierec fit|recommend|predict|evaluate``: train, query and evaluate recommenders.

The contract other tools rely on (names, flags and output formats):

* ``fit --dataset D --train PATH --model NAME [--param k=v ...] --out DIR`` saves a model
  folder (``BaseRecommender.save``) and ends with one summary line on stderr;
* ``recommend --model-dir DIR (--user ID | --users FILE) -k 10`` prints one JSON object per
  user on stdout: ``{"user_id": ..., "items": [{"item_id": ..., "score": ...}, ...]}`` with
  ``"cold_start": true`` added only for users the model does not know;
* ``predict --model-dir DIR --pairs PATH [--out PATH]`` writes ``user_id,item_id,prediction``;
* ``evaluate --dataset D --model NAME [--param ...] [--protocol P] [-k 10] [--out PATH]``
  prints a table on stderr and writes the flat metrics JSON object (the keys of
  ``recsys.evaluation.evaluate.evaluate_model``) to ``--out`` (stdout when absent).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from movierec.commands.common import (
    check_output,
    console,
    fail,
    print_json_line,
    user_errors,
    working,
)

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

if TYPE_CHECKING:
    import pandas as pd

    from recsys.models import BaseRecommender

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Registry name, e.g. ml-100k.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model variant, e.g. popularity.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Model config value key=value (JSON values: 5, 0.1, "
                 "true, [64,32]); repeat for several."),
]
ProcessedOpt = Annotated[
    Path, typer.Option("--processed-dir", help="Root of the prepared tables.")
]
ModelDirOpt = Annotated[Path, typer.Option("--model-dir", help="A folder written by `movierec fit`.")]


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``["k=5", "name=x"]`` -> ``{"k": 5, "name": "x"}`` (JSON when it parses, else a string).

    Raises:
        ValueError: for an item without ``=`` or with an empty key.
    """
    params: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--param {item!r}: expected key=value")
        try:
            params[key] = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
        except json.JSONDecodeError:
            params[key] = raw
        except ValueError as exc:
            raise ValueError(f"--param {item!r}: {exc}") from None
    return params


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed: give a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _problem(err: Any) -> str:
    """One pydantic error as ``field: message`` (or just the message for a rule that spans
    several fields), without pydantic's "Value error, " prefix."""
    message = str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {message}" if where else message


def make_model(name: str, params: dict[str, Any]) -> BaseRecommender:
    """A new model ``name`` configured by ``params``, with readable errors for bad input."""

    from recsys.models import create, model_class

    cls = model_class(name)  # UnknownModelError (a ValueError) lists the choices
    try:
        return create(name, **params)
    except ValidationError as exc:
        valid = ", ".join(cls.config_class().model_fields) or "(none)"
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ValueError(f"bad --param for model {name!r}: {problems}. Valid keys: {valid}") from None
    except ImportError as exc:
        raise ValueError(f"model {name!r} cannot be loaded: {exc}") from None


def load_items(dataset: str, processed_dir: Path) -> pd.DataFrame:
    """The prepared items table of ``dataset``, or a clear error saying how to create it."""
    import pandas as pd

    from recsys.data.registry import get_spec

    get_spec(dataset)
    path = processed_dir / dataset / "items.parquet"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: create it with `movierec data fetch --dataset {dataset} && "
            f"movierec data prepare --dataset {dataset}`"
        )
    return pd.read_parquet(path)


def fit_cmd(
    train: Annotated[Path, typer.Option("--train", help="Ratings CSV or Parquet "
                                        "(user_id,item_id,rating,timestamp).")],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to save the fitted model in.")],
    dataset: DatasetOpt = "ml-100k",
    param: ParamOpt = None,
    processed_dir: ProcessedOpt = Path("data/processed"),
) -> None:
    """Train a model on a ratings file and save it to OUT."""
    from recsys.data.interactions import Interactions, check_known_items, read_ratings
    from recsys.data.registry import get_spec

    check_output(out, folder=True)
    with user_errors():
        params = parse_params(param)
        recommender = make_model(model, params)
        ratings = read_ratings(train, scale=get_spec(dataset).scale)
        items = load_items(dataset, processed_dir)
        check_known_items(ratings, items, train, dataset)
        data = Interactions.from_frame(ratings, items)
    with working(f"fitting {model} on {len(ratings):,} ratings"), \
            user_errors(FloatingPointError):
        try:
            recommender.fit(data)
        except MemoryError as exc:
            # numpy says how much it asked for ("Unable to allocate 74.5 GiB for an array ...")
            fail(f"not enough memory to fit {model} with these parameters: "
                 f"{exc or 'allocation failed'}; lower the sizes in --param")
        recommender.save(out)
    console.print(
        f"[green]fitted[/] {model} on {len(ratings):,} ratings of {data.n_users:,} users in "
        f"{recommender.fit_seconds_:.2f} s -> {out}", highlight=False,
    )


def _load(model_dir: Path) -> BaseRecommender:
    from recsys.models import load_model

    return load_model(model_dir)  # ModelLoadError (a ValueError) names the folder


def recommend_cmd(
    model_dir: ModelDirOpt,
    user: Annotated[int | None, typer.Option("--user", help="One user id.")] = None,
    users: Annotated[Path | None, typer.Option("--users", help="File of user ids: one per "
                                               "line, or a CSV with a user_id column.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Items per user.")] = 10,
) -> None:
    """Print the top-k recommendations of each user as JSON lines (seen items excluded)."""
    from recsys.data.interactions import check_id, read_user_ids

    if (user is None) == (users is None):
        fail("give exactly one of --user ID or --users FILE")
    with user_errors():
        user_list = ([check_id(user, "--user")] if user is not None
                     else read_user_ids(users))  # type: ignore[arg-type]
        recommender = _load(model_dir)
        recs = recommender.recommend(user_list, k=k, exclude_seen=True)
    grouped = {u: g for u, g in recs.frame.groupby("user_id", sort=False)}
    for uid in user_list:  # distinct ids in first-seen order
        group = grouped.get(uid)
        items = [] if group is None else [
            # JSON has no Infinity/NaN: a non-finite score is printed as null
            {"item_id": int(i), "score": float(s) if math.isfinite(s) else None}
            for i, s in zip(group["item_id"], group["score"], strict=True)
        ]
        payload: dict[str, Any] = {"user_id": int(uid), "items": items}
        if uid in recs.cold_start:
            payload["cold_start"] = True
        print_json_line(payload)


def predict_cmd(
    model_dir: ModelDirOpt,
    pairs: Annotated[Path, typer.Option("--pairs", help="CSV with user_id,item_id columns.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output CSV (default: "
                                             "stdout).")] = None,
) -> None:
    """Predict a score (a rating for rating models) for each user-item pair."""
    from recsys.data.interactions import read_pairs

    if out is not None:
        check_output(out)
    with user_errors():
        result = read_pairs(pairs)
        recommender = _load(model_dir)
        result["prediction"] = recommender.predict(result["user_id"], result["item_id"])
    if out is None:
        result.to_csv(sys.stdout, index=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(out, index=False)
        console.print(f"[green]predicted[/] {len(result):,} pairs -> {out}", highlight=False)


def evaluate_cmd(
    model: ModelOpt,
    dataset: DatasetOpt = "ml-100k",
    param: ParamOpt = None,
    protocol: Annotated[str, typer.Option(help="ms-stratified | temporal | leave-last-out | "
                                          "cold-start.")] = "ms-stratified",
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="List length.")] = 10,
    seed: Annotated[int, typer.Option(help="Split (and model) seed.")] = 42,
    test_size: Annotated[float, typer.Option(help="Test share of the protocol.")] = 0.25,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Metrics JSON file "
                                             "(default: stdout).")] = None,
    processed_dir: ProcessedOpt = Path("data/processed"),
) -> None:
    """Split the prepared dataset, fit the model on the training part and evaluate it."""

    from recsys.data.interactions import load_processed
    from recsys.evaluation.evaluate import fit_and_evaluate
    from recsys.evaluation.splits import split_ratings

    if out is not None:
        check_output(out)
    with user_errors():
        params = parse_params(param)
        make_model(model, params)  # validate before the work
        ratings, items, _ = load_processed(dataset, processed_dir)
        split = split_ratings(ratings, protocol, seed=seed, test_size=test_size)
    with working(f"fitting and evaluating {model} ({protocol})"), user_errors():
        _, result = fit_and_evaluate(model, params, split.train, split.test, items, k=k, seed=seed)
    table = Table(title=f"{model} on {dataset} ({protocol}, k={k}, seed={seed})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    # a flat {metric: value} object, as DVC metrics files and MLflow expect
    payload = result
    if out is None:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
    key = f"ndcg_at_{k}"
    console.print(f"[green]evaluated[/] {model}: {key} {result[key]:.4f} on {len(split.test):,} "
                  f"test ratings -> {out or 'stdout'}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``fit``, ``recommend``, ``predict`` and ``evaluate`` as top-level commands."""
    app.command("fit")(fit_cmd)
    app.command("recommend")(recommend_cmd)
    app.command("predict")(predict_cmd)
    app.command("evaluate")(evaluate_cmd)
