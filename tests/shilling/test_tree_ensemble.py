"""The pickle-free tree ensemble predicts exactly what scikit-learn predicts, after a round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

import recsys.shilling
from recsys.errors import NotFittedError
from recsys.models import NotFittedError as ModelNotFittedError
from recsys.shilling import detectors
from recsys.shilling.detectors import REFERENCE_DIR, SupervisedDetector, TreeEnsemble

pytestmark = pytest.mark.unit


def test_arrays_reproduce_sklearn_after_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) + x[:, 1] ** 2 > 1).astype(int)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    TreeEnsemble.from_sklearn(model, ["a", "b", "c", "d"]).save(tmp_path / "m", {"note": "test"})
    loaded = TreeEnsemble.load(tmp_path / "m")
    assert loaded.feature_names == ["a", "b", "c", "d"]
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x)[:, 1], atol=1e-12)


def test_the_shipped_reference_models_load_without_pickle() -> None:
    for name in ("ensemble", "supervised"):
        model = TreeEnsemble.load(REFERENCE_DIR / name)
        proba = model.predict_proba(np.zeros((3, len(model.feature_names))))
        assert proba.shape == (3,) and np.all((proba >= 0) & (proba <= 1))


def test_detectors_default_to_the_shipped_reference() -> None:
    assert Path(recsys.shilling.__file__).resolve().parent / "reference" == REFERENCE_DIR
    for name in ("ensemble", "supervised"):
        detector = detectors.create_detector(name)
        assert detector.reference == REFERENCE_DIR / name
        detector._load_reference()
        assert detector.feature_names_ == TreeEnsemble.load(REFERENCE_DIR / name).feature_names


def test_one_not_fitted_error_for_the_library() -> None:
    assert detectors.NotFittedError is ModelNotFittedError is NotFittedError
    with pytest.raises(NotFittedError):
        SupervisedDetector().scores()
    with pytest.raises(NotFittedError):
        SupervisedDetector()._predict(None)  # type: ignore[arg-type]
