"""The training run's config (``train`` in params.yaml, less the choice of preset): run
length, optimiser, data feeding, augmentation and the task, with the networks' own configs.

Torch-free, so the params loader builds it without loading torch. Ranges are declared beside
each field (``exposure_core.schema``); the rules between fields (a task and the networks that
fit it) are checked here too, so a run that cannot start is refused when params load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from exposure_core.schema import AtLeast, Between, ConfigError, check_fields
from exposure_models.config import (
    SR_ARCHS,
    DiscriminatorConfig,
    GeneratorConfig,
    LossWeights,
    PatchConfig,
    UNetConfig,
)
from exposure_models.inference.settings import Device

# task sr: input and output sizes differ, so only an unconditional discriminator fits.
SR_DISCRIMINATORS = ("seed003",)

Fraction = Annotated[float, Between(0.0, 1.0)]
Positive = Annotated[int, AtLeast(1)]


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation: the same geometry on input and target, colour on the input."""

    hflip: bool = True  # the same flip on input and target
    vflip: bool = False
    rot90: bool = False
    jitter: Fraction = 0.0  # colour jitter strength on the input only (0 disables)
    jitter_p: Fraction = 1.0  # probability a sample is jittered (albumentations' ColorJitter p)
    hue: Fraction = 0.0  # hue jitter: shift up to +-hue of the hue circle (albumentations: 0.2)
    identity: Fraction = 0.0  # chance a view's input is its target (a pair to leave alone)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SRConfig:
    """``task: sr``: pairs made from the clean photos by ``degradation`` at ``scale``."""

    scale: Annotated[int, AtLeast(2)] = 4
    degradation: Literal["bicubic", "avgpool"] = "bicubic"  # avgpool: seed 003's own

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``steps`` is the run length unless ``epochs > 0``."""

    steps: Positive = 2000
    batch_size: Positive = 4
    crop: Positive = 256
    resize: Annotated[int, AtLeast(0)] = 0  # short side images are downscaled to before
    # cropping (0: stored size)
    crops_per_sample: Positive = 1  # training crops from each decoded pair (decoding is the cost)
    fresh_tau: bool = False  # a new tau from synthesize.tau at each visit (seed 002), not stored
    max_corrupt: Fraction = 0.1  # fraction of train shards that may fail verification (skipped)
    lr: Annotated[float, AtLeast(0, strict=True)] = 2e-4
    beta1: Annotated[float, Between(0.0, 1.0, open_high=True)] = 0.5
    beta2: Annotated[float, Between(0.0, 1.0, open_high=True)] = 0.999
    decay_from: Fraction = 0.5  # fraction of steps at constant lr before the linear decay to 0
    device: Device = "auto"  # auto = cuda > mps > cpu
    amp: bool = True  # bf16/fp16 autocast on GPUs
    channels_last: bool = True
    compile: bool = False
    workers: Annotated[int, AtLeast(0)] = 2
    shuffle_buffer: Annotated[int, AtLeast(0)] = 500
    log_every: Positive = 50
    val_every: Positive = 500
    val_images: Annotated[int, AtLeast(0)] = 8
    checkpoint_every: Positive = 500
    seed: Annotated[int, AtLeast(0)] = 0
    # resume on the uninterrupted run's data stream (the batches already trained on are read
    # again and dropped); false starts a new stream at once (faster, another model)
    exact_resume: bool = True
    generator: GeneratorConfig = field(default_factory=UNetConfig)
    discriminator: DiscriminatorConfig = field(default_factory=PatchConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # --- the seeds as written (docs/presets.md) ---
    epochs: Annotated[float, AtLeast(0)] = 0.0  # > 0: steps = ceil(epochs * samples / batch)
    resize_mode: Literal["short_side", "square"] = "short_side"  # square: resize x resize
    init: Literal["native", "pytorch"] = "native"  # pytorch: PyTorch's default init everywhere
    task: Literal["exposure", "sr"] = "exposure"
    sr: SRConfig = field(default_factory=SRConfig)
    # stops: each input is first re-exposed by its estimated error in stops along the camera
    # curve (exposure_core.stops_correction), in training and in the enhancer alike
    pre_exposure: Literal["none", "stops"] = "none"
    # a generator file (prep train's --model output) whose weights start the run (same network)
    init_from: str = ""

    def __post_init__(self) -> None:
        check_fields(self)
        arch = self.generator.arch
        if (arch in SR_ARCHS) != (self.task == "sr"):
            raise ConfigError(
                "generator.arch",
                f"{arch!r} does not fit task {self.task!r}: task sr needs one of "
                f"{SR_ARCHS}, task exposure one of the others",
            )
        nets = (self.generator, self.discriminator)
        spectral = (getattr(net, "spectral_norm", False) for net in nets)
        if self.init == "pytorch" and any(spectral):
            raise ConfigError(
                "init",
                "pytorch is not available with spectral norm (the weights are parametrised); "
                "use init: native",
            )
        if self.task != "sr":
            return
        if self.generator.scale != self.sr.scale:
            raise ConfigError(
                "generator.scale",
                f"must equal train.sr.scale ({self.sr.scale}), got {self.generator.scale}",
            )
        if self.crop % self.sr.scale:
            raise ConfigError(
                "crop", f"must be a multiple of sr.scale ({self.sr.scale}), got {self.crop}"
            )
        if self.discriminator.arch not in SR_DISCRIMINATORS:
            raise ConfigError(
                "discriminator.arch",
                "task sr needs an unconditional discriminator (seed003): input and output "
                f"sizes differ; got {self.discriminator.arch!r}",
            )
