"""How pairs are drawn from the shards: the one settings object of the training loader
(``loader.make_loader``) and of the pair stage it runs (``pairs.PairStage``)."""

from __future__ import annotations

from dataclasses import dataclass

from exposure_models.training.config import AugmentConfig


@dataclass(frozen=True)
class LoaderConfig:
    """How pairs are drawn from the shards (checked at construction; ValueError otherwise).

    Attributes:
        batch_size: pairs per batch (must be 1 when ``crop`` is None: full images differ).
        crop: square crop side; None keeps full images (evaluation).
        train: shuffle shards and samples, random crop, ``augment``; drops partial batches.
            Otherwise: shard order, centre crop (or none), no augmentation, partial batches kept.
        shuffle_buffer: encoded samples held per worker for the sample shuffle.
        workers: DataLoader worker processes (0 loads in this process).
        seed: seeds shard order, sample shuffle, crops and flips with (rank, worker, epoch).
        augment: flips, rotations and input colour jitter for training.
        epoch_len: batches per iteration of an endless stream (training by steps); None
            makes each iteration one pass over the shards.
        resize: downscale both images so the short side is this (area filter, never up)
            before cropping, so a crop sees the scene at the scale the network will see it
            at inference; 0 keeps the stored size.
        crops_per_sample: training views (crop + flips) taken from each decoded pair, spread
            over batches by a small shuffle; decoding, the loader's main cost, is then paid
            once per this many training pairs.
        fresh_tau: training only: a (lo, hi) range; each visit to an overexposure recipe
            draws its tau uniformly from it (seed 002) instead of using the stored tau.
        square: with ``resize``, resize both images to ``resize`` x ``resize`` (aspect not
            kept; seed 000's ``A.Resize(256, 256)``) instead of shrinking the short side.
        pre_expose: re-expose each input by its estimated error in stops, read on the whole
            input before any crop (``exposure_core.stops_correction``), as the enhancer does
            before the network of a model trained with ``train.pre_exposure: stops``.
    """

    batch_size: int
    crop: int | None
    train: bool
    shuffle_buffer: int = 500
    workers: int = 0
    seed: int = 0
    augment: AugmentConfig | None = None
    epoch_len: int | None = None
    resize: int = 0
    crops_per_sample: int = 1
    fresh_tau: tuple[float, float] | None = None
    square: bool = False
    pre_expose: bool = False

    def __post_init__(self) -> None:
        if self.crops_per_sample < 1:
            raise ValueError(f"crops_per_sample must be >= 1, got {self.crops_per_sample}")
        if (
            self.batch_size < 1
            or self.workers < 0
            or (self.epoch_len is not None and self.epoch_len < 1)
        ):
            raise ValueError(
                f"need batch_size >= 1, workers >= 0, epoch_len >= 1 or None; got "
                f"{self.batch_size}, {self.workers}, {self.epoch_len}"
            )
        if self.crop is None and (self.train or self.batch_size != 1):
            raise ValueError("full-size images (crop=None) need train=False and batch_size=1")
        if self.crop is not None and self.crop < 1:
            raise ValueError(f"crop must be >= 1 or None, got {self.crop}")
