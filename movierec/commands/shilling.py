"""``movierec shilling attack|detect|filter``: inject, detect and filter shilling profiles."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from movierec.commands.common import check_output, console, fail, user_errors, working

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

shilling_app = typer.Typer(help="Shilling attacks: generate, detect, filter.", no_args_is_help=True)

RatingsOpt = Annotated[Path, typer.Option("--ratings", help="Ratings table (CSV or Parquet).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]


def _fake_users_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.fake_users.csv")


def _check_outputs(ratings: Path, outputs: dict[str, Path]) -> None:
    """Before any work: every output is writable, none is the input (raw data is never
    overwritten) and no two share a path (the second write would lose the first)."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        where = path.resolve()
        if where == ratings.resolve():
            fail(f"{option} must differ from --ratings: raw data is never overwritten")
        if where in seen:
            fail(f"{seen[where]} and {option} are the same file ({path}): "
                 "the second write would lose the first")
        seen[where] = option
        check_output(path, option)


@shilling_app.command("attack")
def attack_cmd(
    ratings: RatingsOpt,
    out: Annotated[Path, typer.Option("--out", help="Poisoned ratings (CSV or Parquet).")],
    target: Annotated[list[int], typer.Option("--target", help="Target item id (repeat for several).")],
    kind: Annotated[str, typer.Option(help="Attack kind: random, average, bandwagon, segment, "
                                      "reverse_bandwagon, love_hate, popular_filler, noise, "
                                      "target_shift, mixed.")] = "average",
    size: Annotated[float, typer.Option(help="Fake profiles as a share of genuine users.")] = 0.05,
    filler: Annotated[float, typer.Option(help="Filler items as a share of rated items.")] = 0.05,
    selected: Annotated[list[int] | None, typer.Option(
        "--selected", help="Selected item id for bandwagon/segment attacks (repeatable).")] = None,
    fake_users: Annotated[Path | None, typer.Option(
        help="Where to write the fake user ids (default: <out stem>.fake_users.csv).")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Inject a shilling attack; write the poisoned ratings and the list of fake user ids."""
    from recsys.data.interactions import read_ratings
    from recsys.data.tables import write_table_file
    from recsys.shilling.attacks import generate_attack

    truth_path = fake_users or _fake_users_path(out)
    _check_outputs(ratings, {"--out": out, "--fake-users": truth_path})
    with user_errors():
        frame = read_ratings(ratings)
        attack = generate_attack(frame, kind, size=size, filler=filler, targets=target,
                                 selected=selected, seed=seed)
    write_table_file(attack.ratings, out)
    write_table_file(attack.truth, truth_path)
    console.print(
        f"[green]attack[/] {kind} on item(s) {', '.join(map(str, target))}: "
        f"{len(attack.truth)} fake users, {len(attack.fake_ratings):,} fake ratings -> {out}; "
        f"fake user ids -> {truth_path}"
    )


@shilling_app.command("detect")
def detect_cmd(
    ratings: RatingsOpt,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Where to write user_id,score,flagged (default: stdout).")] = None,
    detector: Annotated[str, typer.Option(help="ensemble, supervised, pca_varselect or "
                                          "target_item_analysis.")] = "ensemble",
    threshold: Annotated[float, typer.Option(help="Flag users scoring at least this.")] = 0.5,
    seed: SeedOpt = 0,
) -> None:
    """Score every user's suspicion in [0, 1] and flag the likely fakes."""
    from recsys.data.interactions import read_ratings
    from recsys.data.tables import write_table_file
    from recsys.shilling.filter import score_users

    if not 0.0 <= threshold <= 1.0:
        fail(f"--threshold must be in [0, 1], got {threshold}")
    if out is not None:
        _check_outputs(ratings, {"--out": out})
    with user_errors():
        frame = read_ratings(ratings)
        with working(f"scoring {frame['user_id'].nunique():,} users with {detector}"):
            scores = score_users(frame, detector=detector, threshold=threshold, seed=seed)
    n_flagged = int(scores["flagged"].sum())
    if out is None:
        scores.to_csv(sys.stdout, index=False)
        where = "stdout"
    else:
        write_table_file(scores, out)
        where = str(out)
    console.print(f"[green]detect[/] {detector}: {n_flagged} of {len(scores)} users flagged "
                  f"(threshold {threshold}) -> {where}")


@shilling_app.command("filter")
def filter_cmd(
    ratings: RatingsOpt,
    out: Annotated[Path, typer.Option("--out", help="Filtered ratings (CSV or Parquet).")],
    quarantine: Annotated[Path, typer.Option("--quarantine", help="Removed ratings.")],
    report: Annotated[Path | None, typer.Option("--report", help="JSON report.")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Flag users scoring at least this (default: filter.threshold).")] = None,
    max_removed_share: Annotated[float | None, typer.Option(
        help="Fail if more than this share of users would be removed "
             "(default: filter.max_removed_share).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: filter.seed).")] = None,
    params: Annotated[Path, typer.Option(help="Parameter file (filter: section).")] = Path(
        "params.yaml"),
    profile: Annotated[str | None, typer.Option(
        "--profile", help="A profile of the parameter file's profiles: section.")] = None,
) -> None:
    """Move flagged users' ratings to a quarantine table; the input file is not touched."""
    from recsys.data.interactions import read_ratings
    from recsys.data.tables import write_table_file
    from recsys.params import load
    from recsys.shilling.filter import ImplausibleFilterError, filter_ratings

    with user_errors():  # the whole file, strictly, before any work
        settings = load(params, profile).filter
    threshold = settings.threshold if threshold is None else threshold
    max_removed_share = (settings.max_removed_share if max_removed_share is None
                         else max_removed_share)
    seed = settings.seed if seed is None else seed
    outputs = {"--out": out, "--quarantine": quarantine}
    if report is not None:
        outputs["--report"] = report
    _check_outputs(ratings, outputs)
    with user_errors():
        frame = read_ratings(ratings)
        with working(f"screening {frame['user_id'].nunique():,} users"):
            try:
                result = filter_ratings(frame, threshold=threshold,
                                        max_removed_share=max_removed_share, seed=seed,
                                        detector=settings.detector)
            except ImplausibleFilterError as exc:
                if report is not None:
                    report.parent.mkdir(parents=True, exist_ok=True)
                    report.write_text(json.dumps({**exc.report, "failed": str(exc)}, indent=2))
                fail(str(exc))
    write_table_file(result.kept, out)
    write_table_file(result.quarantined, quarantine)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.report, indent=2))
    rep = result.report
    console.print(
        f"[green]filter[/] {rep['n_flagged_users']} of {rep['n_users']} users flagged "
        f"(threshold {rep['threshold']}): {rep['n_kept_ratings']:,} ratings -> {out}, "
        f"{rep['n_quarantined_ratings']:,} quarantined -> {quarantine}"
        + (f", report -> {report}" if report else "")
    )


@shilling_app.command("train-reference")
def train_reference_cmd(
    ratings: RatingsOpt,
    out_dir: Annotated[Path | None, typer.Option(
        help="Folder for <detector>.npz/.json (default: the package's reference folder).")] = None,
    attacks_per_kind: Annotated[int, typer.Option(help="Training attacks per kind.")] = 5,
    seed: SeedOpt = 0,
    dataset: Annotated[str | None, typer.Option(
        help="Dataset name recorded in the models' JSON (default: the folder of a "
             "ratings.* file, e.g. ml-100k, else the file's stem).")] = None,
) -> None:
    """Retrain the shipped supervised and ensemble classifiers on CLEAN ratings (.npz + JSON)."""
    from recsys.data.interactions import read_ratings
    from recsys.shilling.detectors import EnsembleDetector, SupervisedDetector

    with user_errors():
        frame = read_ratings(ratings)
    if dataset is None:
        dataset = ratings.parent.name if ratings.stem == "ratings" else ratings.stem
    written = []
    for cls in (SupervisedDetector, EnsembleDetector):
        with working(f"training the {cls.name} reference model"):
            detector = cls(training="self", attacks_per_kind=attacks_per_kind, seed=seed).train(frame)
        target = (out_dir / cls.name) if out_dir is not None else None
        written.append(detector.save_reference(target, dataset=dataset))
    console.print("[green]trained[/] reference models -> "
                  + ", ".join(f"{p}.npz" for p in written))


def register(app: typer.Typer) -> None:
    """Add ``movierec shilling ...`` to ``app``."""
    app.add_typer(shilling_app, name="shilling")
