"""Registry and promotion against a real (SQLite-backed) MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def _log_and_register(name: str, fitted: dict[str, dict], uri: str, model_name: str, *, evaluation_key: str = "eval-1",
                      min_improvement: float = 0.0, rescore: Any = None, compare: Any = None) -> Any:
    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline
    from recsys.tracking.registry import register_best

    entry = fitted[name]
    board = pd.DataFrame([{"variant": name, **entry["metrics"]}])
    tracked = log_pipeline(
        [VariantResult(name, {}, entry["metrics"], str(entry["dir"]))],
        dataset="ml-100k", data_digest="d1", commit=None, pipeline_params={"k": 10},
        example_users=[1, 2], leaderboard=board, tracking_uri=uri,
    )
    variant = tracked.variants[name]
    return register_best(
        variant.model_uri, run_id=variant.run_id, variant=name, metrics=entry["metrics"],
        evaluation_key=evaluation_key, data_hash="d1", model_dir=entry["dir"], dataset="ml-100k",
        min_improvement=min_improvement, rescore=rescore, compare=compare, tracking_uri=uri,
        model_name=model_name,
    )


def _aliases(uri: str, model_name: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    aliases = MlflowClient(uri, uri).get_registered_model(model_name).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def test_better_challenger_becomes_champion(fitted: dict[str, dict], tracking_uri: str, model_name: str) -> None:
    from recsys.tracking.registry import list_versions, load_champion

    first = _log_and_register("popularity", fitted, tracking_uri, model_name)
    assert first.promoted and first.version == "1" and first.reason.startswith("promoted: no champion")
    second = _log_and_register("ease", fitted, tracking_uri, model_name)
    assert second.promoted and second.version == "2"
    assert second.champion_version == "1"
    assert second.champion_score == pytest.approx(fitted["popularity"]["metrics"]["ndcg_at_10"], rel=1e-4)
    assert _aliases(tracking_uri, model_name) == {"champion": "2", "challenger": "2"}
    rows = {r["version"]: r for r in list_versions(model_name, tracking_uri=tracking_uri)}
    assert rows["2"]["decision"] == "promoted" and rows["2"]["aliases"] == ["challenger", "champion"]
    champion = load_champion(model_name, tracking_uri=tracking_uri)
    assert champion.version == "2" and champion.variant == "ease"
    assert type(champion.recommender).__name__ == "EASE"
    assert champion.metrics["ndcg_at_10"] == pytest.approx(second.challenger_score, rel=1e-4)


def test_worse_challenger_keeps_champion_and_records_both_scores(
    fitted: dict[str, dict], tracking_uri: str, model_name: str
) -> None:
    from mlflow.tracking import MlflowClient

    _log_and_register("ease", fitted, tracking_uri, model_name)
    worse = _log_and_register("popularity", fitted, tracking_uri, model_name)
    assert not worse.promoted and worse.version == "2"
    assert worse.reason.startswith("kept champion v1")
    assert _aliases(tracking_uri, model_name) == {"champion": "1", "challenger": "2"}
    tags = MlflowClient(tracking_uri, tracking_uri).get_model_version(model_name, "2").tags
    assert tags["promotion.decision"] == "kept"
    assert float(tags["promotion.champion_score"]) == pytest.approx(
        fitted["ease"]["metrics"]["ndcg_at_10"], rel=1e-4)
    assert float(tags["promotion.challenger_score"]) == pytest.approx(
        fitted["popularity"]["metrics"]["ndcg_at_10"], rel=1e-4)


def test_margin_blocks_a_small_win(fitted: dict[str, dict], tracking_uri: str, model_name: str) -> None:
    _log_and_register("popularity", fitted, tracking_uri, model_name)
    decision = _log_and_register("ease", fitted, tracking_uri, model_name, min_improvement=1.0)
    assert not decision.promoted
    assert _aliases(tracking_uri, model_name)["champion"] == "1"


def test_a_tie_keeps_the_champion(fitted: dict[str, dict], tracking_uri: str, model_name: str,
                                  tmp_path: Path) -> None:
    """A retrained model with exactly the champion's score does not beat it. The recorded
    score used to be rounded to 6 digits, so 0.50049007 "beat" the champion's 0.50049."""
    import shutil

    metrics = {**fitted["ease"]["metrics"], "ndcg_at_10": 0.50049007083178}
    twin = tmp_path / "ease-retrained"
    shutil.copytree(fitted["ease"]["dir"], twin)
    (twin / "retrained.txt").write_text("other bytes, same score")
    first = _log_and_register("ease", {"ease": {**fitted["ease"], "metrics": metrics}},
                              tracking_uri, model_name)
    again = _log_and_register("ease", {"ease": {"dir": twin, "metrics": metrics}},
                              tracking_uri, model_name)
    assert first.promoted and not again.reused and again.version == "2"
    assert not again.promoted and again.reason.startswith("kept champion v1: not better")
    assert again.champion_score == again.challenger_score == 0.50049007083178
    assert _aliases(tracking_uri, model_name)["champion"] == "1"


def test_champion_from_other_data_is_rescored(fitted: dict[str, dict], tracking_uri: str, model_name: str) -> None:
    seen: list[str] = []

    def rescore(recommender: Any) -> float:
        seen.append(type(recommender).__name__)
        return 0.99  # the champion is (said to be) excellent on the new evaluation data

    _log_and_register("popularity", fitted, tracking_uri, model_name, evaluation_key="old-data")
    decision = _log_and_register("ease", fitted, tracking_uri, model_name, evaluation_key="new-data",
                                 rescore=rescore)
    assert seen == ["Popularity"]
    assert not decision.promoted and decision.champion_score == pytest.approx(0.99)
    assert "re-fitted on this run's training data" in decision.reason


def test_same_model_again_is_not_registered_twice(fitted: dict[str, dict], tracking_uri: str, model_name: str) -> None:
    from recsys.tracking.registry import list_versions

    _log_and_register("ease", fitted, tracking_uri, model_name)
    again = _log_and_register("ease", fitted, tracking_uri, model_name)
    assert again.reused and not again.promoted and again.version == "1"
    assert len(list_versions(model_name, tracking_uri=tracking_uri)) == 1


def test_promote_and_rollback(fitted: dict[str, dict], tracking_uri: str, model_name: str) -> None:
    from recsys.tracking.manual import promote, rollback
    from recsys.tracking.registry import RegistryError

    _log_and_register("popularity", fitted, tracking_uri, model_name)        # v1 champion
    _log_and_register("ease", fitted, tracking_uri, model_name)              # v2 champion
    assert rollback(model_name, tracking_uri=tracking_uri) == ("2", "1")
    assert _aliases(tracking_uri, model_name)["champion"] == "1"
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(model_name, tracking_uri=tracking_uri)
    assert promote("2", model_name, tracking_uri=tracking_uri) == "1"
    assert _aliases(tracking_uri, model_name)["champion"] == "2"
    with pytest.raises(RegistryError, match="no version 9"):
        promote("9", model_name, tracking_uri=tracking_uri)


def test_pyfunc_serves_any_variant_uniformly(fitted: dict[str, dict], tracking_uri: str, model_name: str,
                                             small_split: dict[str, pd.DataFrame]) -> None:
    import mlflow.pyfunc

    _log_and_register("ease", fitted, tracking_uri, model_name)
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    assert model.metadata.signature is not None
    users = [1, 2, 99999]  # 99999 is unknown: served by the fallback
    out = model.predict(pd.DataFrame({"user_id": users, "k": [5, 5, 5]}))
    assert list(out.columns) == ["user_id", "item_id", "score", "rank"]
    assert out.groupby("user_id").size().to_dict() == {1: 5, 2: 5, 99999: 5}
    direct = fitted["ease"]["model"].recommend([1], k=5).frame
    assert out[out["user_id"] == 1]["item_id"].tolist() == direct["item_id"].tolist()


def test_data_hash_reads_dvc_records_beside_the_dvc_folder(tmp_path: Path) -> None:
    """A real checkout has a `.dvc/` folder next to `data.dvc`: only files are read."""
    from recsys.tracking.mlflow_runs import data_hash, digest_of

    (tmp_path / ".dvc").mkdir()
    ratings = tmp_path / "data" / "processed" / "ml-100k" / "ratings.parquet"
    ratings.parent.mkdir(parents=True)
    ratings.write_bytes(b"ratings")
    assert data_hash(ratings, root=tmp_path) == digest_of(ratings)
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    outs:\n    - path: data/processed/ml-100k\n"
        "      md5: 0123456789abcdef.dir\n")
    assert data_hash(ratings, root=tmp_path) == "0123456789abcdef.dir"


def test_registry_list_prints_its_table_on_stdout(fitted: dict[str, dict], tracking_uri: str,
                                                  model_name: str) -> None:
    """`movierec registry list > file` keeps the listing (it is the output, not a message)."""
    from typer.testing import CliRunner

    from movierec.cli import app
    from recsys.tracking.registry import registered_name

    _log_and_register("popularity", fitted, tracking_uri, registered_name(model_name, "ml-100k"))
    result = CliRunner().invoke(app, ["registry", "list", "--tracking-uri", tracking_uri,
                                      "--model-name", model_name, "--dataset", "ml-100k"])
    assert result.exit_code == 0, result.output
    assert f"{model_name}-ml-100k" in result.stdout and "popularity" in result.stdout
    assert "champion" in result.stdout


def test_promote_needs_force_and_a_reason_for_a_worse_version(
    fitted: dict[str, dict], tracking_uri: str, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from movierec.cli import app
    from recsys.tracking.registry import registered_name

    name = registered_name(model_name, "ml-100k")
    _log_and_register("ease", fitted, tracking_uri, name)                 # v1 champion
    _log_and_register("popularity", fitted, tracking_uri, name)           # v2 kept (worse)
    base = ["registry", "promote", "2", "--tracking-uri", tracking_uri, "--model-name",
            model_name, "--dataset", "ml-100k"]
    refused = CliRunner().invoke(app, base)
    assert refused.exit_code != 0
    assert "lost its comparison" in refused.output and "worse than champion v1" in refused.output
    assert "--force" in refused.output
    no_reason = CliRunner().invoke(app, [*base, "--force"])
    assert no_reason.exit_code != 0 and "--force needs --reason" in no_reason.output
    assert _aliases(tracking_uri, name)["champion"] == "1"

    monkeypatch.setenv("MOVIEREC_USER", "alice")
    forced = CliRunner().invoke(app, [*base, "--force", "--reason", "A/B test of popularity"])
    assert forced.exit_code == 0, forced.output
    assert _aliases(tracking_uri, name)["champion"] == "2"
    tags = MlflowClient(tracking_uri, tracking_uri).get_model_version(name, "2").tags
    assert tags["promoted_by"] == "alice" and tags["promoted_reason"] == "A/B test of popularity"
    assert tags["champion_by"] == "manual (forced)" and "lost its comparison" in tags["promoted_over"]


def test_promote_refuses_an_undecided_version(fitted: dict[str, dict], tracking_uri: str,
                                              model_name: str) -> None:
    from mlflow.tracking import MlflowClient

    from recsys.tracking.manual import promote
    from recsys.tracking.registry import RegistryError

    _log_and_register("popularity", fitted, tracking_uri, model_name)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.delete_model_version_tag(model_name, "1", "promotion.decision")
    client.set_model_version_tag(model_name, "1", "registration.state", "pending")
    with pytest.raises(RegistryError, match="never decided"):
        promote("1", model_name, tracking_uri=tracking_uri)


def test_noise_is_not_an_improvement(fitted: dict[str, dict], tracking_uri: str,
                                     model_name: str) -> None:
    """0.48182 against 0.48175 with the default margin 0.0: the paired bootstrap over users
    says the gap is noise, so the champion stays; a real gap still promotes."""
    import numpy as np

    from recsys.evaluation.paired import paired_bootstrap
    from recsys.tracking.promotion_rule import Comparison

    rng = np.random.default_rng(3)
    champion_users = rng.uniform(0.0, 1.0, 900)
    champion_users += 0.48175 - champion_users.mean()
    noisy = champion_users + rng.normal(0.0, 0.05, 900)
    noisy += 0.48182 - noisy.mean()

    def compare_with(challenger_users: Any) -> Any:
        def compare(champion: Any) -> Comparison:
            interval = paired_bootstrap(challenger_users, champion_users)
            return Comparison(interval.mean_a, interval.mean_b, interval.low, interval.high,
                              interval.n_users, interval.confidence)
        return compare

    _log_and_register("popularity", fitted, tracking_uri, model_name)
    kept = _log_and_register("ease", fitted, tracking_uri, model_name,
                             compare=compare_with(noisy))
    assert not kept.promoted and kept.champion_score == pytest.approx(0.48175)
    assert "paired-bootstrap bound" in kept.reason and kept.reason.startswith("kept champion v1")
    assert float(kept.tags["promotion.difference_low"]) < 0 < float(kept.tags["promotion.difference_high"])
    better = champion_users + 0.02 + rng.normal(0.0, 0.05, 900)
    promoted = _log_and_register("ease", fitted, tracking_uri, model_name,
                                 evaluation_key="eval-2", compare=compare_with(better))
    assert promoted.promoted and float(promoted.tags["promotion.difference_low"]) > 0


def test_a_logged_model_that_is_not_the_runs_folder_is_not_registered(
    fitted: dict[str, dict], tracking_uri: str, model_name: str
) -> None:
    """What two runs side by side did: one run's metrics with the other run's model. The
    logged files must be the run's own model folder (sha256), else nothing is registered."""
    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline
    from recsys.tracking.registry import RegistryError, list_versions, register_best

    logged = log_pipeline(
        [VariantResult("ease", {}, fitted["ease"]["metrics"], str(fitted["ease"]["dir"]))],
        dataset="ml-100k", data_digest="d1", commit=None, pipeline_params={},
        example_users=[1, 2], leaderboard=pd.DataFrame([{"variant": "ease"}]),
        tracking_uri=tracking_uri,
    ).variants["ease"]
    with pytest.raises(RegistryError, match="is not this run's model folder"):
        register_best(logged.model_uri, run_id=logged.run_id, variant="popularity",
                      metrics=fitted["popularity"]["metrics"], evaluation_key="eval-1",
                      data_hash="d1", model_dir=fitted["popularity"]["dir"], dataset="ml-100k",
                      model_name=model_name, tracking_uri=tracking_uri)
    assert list_versions(model_name, tracking_uri=tracking_uri) == []
