"""``train``: the run's config (``exposure_models.training.config``, networks included) and
the name of the preset it was resolved from (``pipeline.params.presets``)."""

from __future__ import annotations

from dataclasses import dataclass

from exposure_models.config import DiscriminatorConfig, GeneratorConfig, LossWeights
from exposure_models.training.config import AugmentConfig, SRConfig, TrainConfig

# One schema per learning component, defined beside the models (torch-free) and built here by
# keyword like every section: train.generator, train.discriminator, train.loss, train.augment.
GeneratorParams = GeneratorConfig
DiscriminatorParams = DiscriminatorConfig
LossParams = LossWeights
AugmentParams = AugmentConfig
SRParams = SRConfig


@dataclass(frozen=True)
class TrainParams(TrainConfig):
    """``train`` in params.yaml: a preset's values under the keys set beside it."""

    preset: str = "demo"
