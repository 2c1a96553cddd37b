"""``recsys.testing`` checks a model that no registry lists, as a third party would."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import Field

from recsys.data.interactions import Interactions
from recsys.models import MODELS, BaseRecommender, ModelConfig
from recsys.testing import RecommenderContract

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class CoCountConfig(ModelConfig):
    """Attributes:
    shrink: added to each item's rater count before dividing the co-counts.
    """

    shrink: float = Field(default=1.0, ge=0.0)


class CoCount(BaseRecommender):
    """Item co-occurrence counts normalised by popularity (Sarwar et al., "Item-based
    collaborative filtering recommendation algorithms", WWW 2001, with counts for cosine)."""

    name = "third_party_cocount"
    config: CoCountConfig

    def _fit(self, data: Interactions) -> None:
        counts = np.asarray((self.seen_.T @ self.seen_).toarray(), dtype=np.float64)
        raters = counts.diagonal().copy()
        np.fill_diagonal(counts, 0.0)
        self.weights_ = counts / (raters[None, :] + self.config.shrink)

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.asarray(self.seen_[user_index] @ self.weights_)

    def _state(self) -> dict[str, NDArray[np.float64]]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, NDArray[np.float64]], folder: Path) -> None:
        self.weights_ = arrays["weights"]


class TestThirdPartyModel(RecommenderContract):
    name = "third_party_cocount"
    model_class = CoCount
    quality_floor = 1.0


def test_the_model_is_not_registered() -> None:
    assert CoCount.name not in MODELS


def test_recsys_testing_imports_only_what_the_package_declares() -> None:
    """``recsys.testing`` needs the package's dependencies plus the ``testing`` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["testing"]]
    declared = {canonical(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements}
    providers = metadata.packages_distributions()
    undeclared = {}
    for path in (ROOT / "recsys" / "testing").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top in ("recsys", "__future__"):
                    continue
                if not {canonical(d) for d in providers.get(top, [])} & declared:
                    undeclared[top] = path.name
    assert not undeclared, f"imported but not declared: {undeclared}"
    assert {"pytest", "hypothesis"} <= declared
