"""The one model registry and the config class read from each model's annotation."""

from __future__ import annotations

import typing

import pytest

from recsys.models import COMPONENTS, MODELS, VARIANTS, BaseRecommender, ModelConfig, model_class
from recsys.models.ease import EASE, EASEConfig
from recsys.models.hybrid_config import ComponentSpec

pytestmark = pytest.mark.unit

LIGHT = [name for name in MODELS if name not in ("autoencoder", "ncf")]  # no TensorFlow


@pytest.mark.parametrize("name", LIGHT)
def test_config_class_is_the_config_annotation(name: str) -> None:
    cls = model_class(name)
    declared = typing.get_type_hints(cls)["config"]
    assert cls.config_class() is declared
    assert "Config" not in vars(cls), "declare the config once, as the `config` annotation"
    assert isinstance(cls().config, declared)


class SmallConfig(EASEConfig):
    regularization: float = 1.0


class Inherits(EASE):
    """EASE under another name."""

    name = "inherits"


class Overrides(EASE):
    """EASE with another config."""

    name = "overrides"
    config: SmallConfig


def test_subclass_inherits_or_overrides_the_config_class() -> None:
    assert Inherits.config_class() is EASEConfig
    assert Overrides.config_class() is SmallConfig
    assert Overrides().config.regularization == 1.0
    with pytest.raises(TypeError, match="takes a SmallConfig"):
        Overrides(EASEConfig())


def test_config_annotation_must_be_a_model_config() -> None:
    with pytest.raises(TypeError, match="must be annotated with a ModelConfig subclass"):

        class Broken(BaseRecommender):
            """Not a model."""

            name = "broken"
            config: dict  # type: ignore[assignment]


def test_hybrid_components_come_from_the_one_registry() -> None:
    assert set(MODELS) >= COMPONENTS
    assert set(VARIANTS) == set(MODELS) - COMPONENTS
    for name in COMPONENTS:
        assert ComponentSpec(model=name).model == name
        assert issubclass(model_class(name).config_class(), ModelConfig)
    with pytest.raises(ValueError, match="CF component model must be one of"):
        ComponentSpec(model="content_tfidf")
