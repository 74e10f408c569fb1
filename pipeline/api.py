"""The public Python API: train on the shards in your own loop, correct photos in your own code.

Import it as ``from pipeline import ShardPairs, enhance`` (``pipeline`` loads this module, and
with it torch, on first use of a name). docs/api.md shows each name at work.

* ``ShardPairs``: a ``torch.utils.data.IterableDataset`` of ``(input, target, meta)`` over the
  shards ``prep shard`` writes, built from ``pair_pipeline``, the webdataset pipeline of the
  training loader (``exposure_models.training.loader``): the same rendering, crops and optional
  augmentation; ``collate_pairs`` batches it.
* ``exported_pairs``: a webdataset pipeline over the plain pair shards ``prep export`` writes,
  decoded with this project's decoder (16-bit PNGs at full depth).
* ``enhance``: the enhancer of ``prep enhance`` as a function of an array or a path;
  ``load_enhancer`` loads a model once for many calls.

Images are float32 RGB in [0, 1], gamma-encoded (sRGB): tensors (3, H, W) from the datasets,
arrays (H, W, 3) in and out of ``enhance``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import IterableDataset

from exposure_core import imageio, pairexport
from exposure_core.shardfmt import ShardFormatError
from exposure_models.inference.enhancer import Enhancer
from exposure_models.inference.settings import EnhanceSettings
from exposure_models.pretrained import resolve_model
from exposure_models.training.config import AugmentConfig
from exposure_models.training.loader import expand_urls, pair_pipeline, shard_urls
from exposure_models.training.loader_config import LoaderConfig

Pair = tuple[torch.Tensor, torch.Tensor, dict[str, Any]]
Shards = str | Path | Sequence[str | Path]

__all__ = [
    "AugmentConfig",
    "EnhanceSettings",
    "Enhancer",
    "ShardFormatError",
    "ShardPairs",
    "collate_pairs",
    "enhance",
    "exported_pairs",
    "load_enhancer",
    "pair_pipeline",
]


def _urls(shards: Shards, split: str) -> list[str]:
    """A shard folder's tars of ``split`` (from its index.json), or the tars/URLs given."""
    if isinstance(shards, str | Path) and Path(shards).is_dir():
        return shard_urls(Path(shards), split)
    return expand_urls([str(shards)] if isinstance(shards, str | Path) else list(map(str, shards)))


class ShardPairs(IterableDataset):
    """``(input, target, meta)`` pairs from ``prep shard``'s shards, as ``prep train`` sees them.

    Each photo sample of the shards gives its pairs: the input rendered from the target by its
    recipe (or its stored input), then cropped and augmented like the training loader does.

    Args:
        shards: a shard folder (``data/shards``: the ``split``'s tars come from its
            index.json), or tar paths or URLs (a brace pattern ``"train-{000000..000003}.tar"``,
            ``pipe:`` and ``http(s)://`` as webdataset opens them).
        split: ``train``, ``val`` or ``test`` (with a shard folder).
        crop: square crop side; None gives full images (needs ``train=False``; batch them
            one at a time, since their sizes differ).
        train: one random variant, random crop and ``augment`` per visit to a photo, samples
            shuffled; False: every variant of every photo once, in order, centre crop.
        augment: True for the training default (``AugmentConfig()``: horizontal flips), an
            ``AugmentConfig`` of your own (flips, rotations, colour jitter of the input), or
            False for none. Used only when ``train``.
        seed: seeds the shard order, shuffle, crops and flips (with the epoch and worker).
        shuffle_buffer: photo samples held for the shuffle.
        resize: shrink both images to this short side before cropping (0: stored size).
        repeat: an endless stream (train by steps) instead of one pass per iteration.

    Yields:
        input, target: (3, H, W) float32 RGB tensors in [0, 1], gamma-encoded (sRGB);
        meta: the pair's recipe (``id``, ``kind``, ``tau``, ``ev``, ...), the photo's
        ``scene``, ``split``, ``source``, ``__key__`` and ``__url__``.

    Every DataLoader worker reads every shard and keeps its own share of the samples, so any
    worker count sees each sample once per pass; give the DataLoader
    ``collate_fn=collate_pairs`` (the metadata differ between kinds) and
    ``persistent_workers=True`` for a new order each epoch.
    """

    def __init__(
        self,
        shards: Shards,
        split: str = "train",
        *,
        crop: int | None = 256,
        train: bool = True,
        augment: bool | AugmentConfig = True,
        seed: int = 0,
        shuffle_buffer: int = 500,
        resize: int = 0,
        repeat: bool = False,
    ) -> None:
        super().__init__()
        aug = AugmentConfig() if augment is True else (augment or None)
        self.config = LoaderConfig(
            batch_size=1, crop=crop, train=train, shuffle_buffer=shuffle_buffer, seed=seed,
            augment=aug, resize=resize,
        )  # fmt: skip
        self.urls = _urls(shards, split)
        self.pipeline = pair_pipeline(self.urls, self.config, repeat=repeat)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pipeline)


def collate_pairs(items: list[Pair]) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """Batch ``ShardPairs`` items: (B, 3, H, W) inputs and targets, and the list of metas."""
    inputs, targets, metas = zip(*items, strict=True)
    return torch.stack(inputs), torch.stack(targets), list(metas)


def _read_exported(sample: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    return pairexport.read_pair(sample, f"{sample.get('__url__')}:{sample.get('__key__')}")


def exported_pairs(
    urls: str | Path | Sequence[str | Path], split: str = "train"
) -> wds.DataPipeline:
    """The plain pairs ``prep export`` writes, in order.

    Args:
        urls: an export folder (the ``split``'s tars come from its index.json), or tar paths
            or URLs (a list or a brace pattern).
        split: ``train``, ``val`` or ``test`` (with a folder).
    Yields:
        ``(input, target, meta)``: float32 (H, W, 3) RGB arrays in [0, 1], gamma-encoded
        (16-bit PNGs at full depth, where webdataset's ``decode("rgb")`` reads their top 8
        bits), and the pair's JSON.
    Raises:
        ShardFormatError: shards of ``prep shard`` (named, folder or tar).
    """
    if isinstance(urls, str | Path) and Path(urls).is_dir():
        url_list = pairexport.plain_shard_urls(Path(urls), split)
    else:
        url_list = expand_urls(
            [str(urls)] if isinstance(urls, str | Path) else list(map(str, urls))
        )
    return wds.DataPipeline(
        wds.SimpleShardList(url_list), wds.tarfile_to_samples(), wds.map(_read_exported)
    )


def load_enhancer(
    model: str | Path | None = None,
    settings: EnhanceSettings | None = None,
    always_correct: bool = False,
) -> Enhancer:
    """Load a model for ``enhance``: ``model`` (a checkpoint of ``prep train``, or a shipped
    model's name: ``stops``, ``real``, ``synthetic``) or, when None, the default (``stops``: the
    stops re-exposure alone, no network). ``settings``: ``prep enhance``'s defaults
    (params.yaml's ``enhance``) unless given; ``always_correct`` turns off the gate that
    returns well-exposed photos unchanged. Raises ``CheckpointError`` for a bad checkpoint."""
    settings = settings or EnhanceSettings()
    if always_correct:
        settings = dataclasses.replace(settings, leave_well_exposed=False)
    return Enhancer.load(resolve_model(None if model is None else Path(model)), settings)


def enhance(
    image: np.ndarray | str | Path, model: str | Path | Enhancer | None = None
) -> np.ndarray:
    """Correct the exposure of one photo at full resolution, as ``prep enhance`` does.

    Args:
        image: float32/float64 (H, W, 3) RGB in [0, 1], gamma-encoded (sRGB), or the path
            of a photo (JPEG, PNG, TIFF, WebP, camera RAW; EXIF orientation applied).
        model: a checkpoint path, an ``Enhancer`` from ``load_enhancer`` (load once, correct
            many), or None for the default (``stops``).
    Returns:
        float32 (H, W, 3) RGB in [0, 1], gamma-encoded (sRGB), the input's size. A photo the
        well-exposed gate leaves alone comes back unchanged, to 16-bit precision
        (``load_enhancer(always_correct=True)`` corrects every photo).
    Raises:
        ValueError: an array of another shape or dtype. ImageError: an unreadable photo.
    """
    enhancer = model if isinstance(model, Enhancer) else load_enhancer(model)
    if isinstance(image, str | Path):
        corrected = enhancer.correct_codes(imageio.read_codes(image), 16)
        return imageio.codes_to_float(corrected)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"expected a float (H, W, 3) RGB array in [0, 1], got {array.dtype} {array.shape}"
        )
    return enhancer.correct(np.ascontiguousarray(array, np.float32))
