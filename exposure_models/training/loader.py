"""Batches of (input, target) pairs from the WebDataset shards written by ``prep shard``.

A shard sample is one photo (``exposure_core.shardfmt``): its target is decoded once per visit
and the input of the variant drawn is rendered from it with the lookup tables ``prep
synthesize`` uses (bit-identical to the synthesized file), or decoded when it is stored (native
pairs). Training draws one variant per view (with ``fresh_tau``, a new tau per visit);
evaluation yields every variant of every photo, in order.

Training: shards are shuffled per epoch, samples pass a shuffle buffer, and each pair gets one
random crop and one set of flips/rotations applied to input AND target alike (colour jitter
touches the input only); optionally downscaled first (``resize``), and optionally several
crops per decoded pair (``crops_per_sample``). When every variant of a photo is rendered, nothing
is resized and the target is an 8-bit RGB PNG (``imageio.top_rows_size``), the crop windows are
drawn from its header before decoding and only the rows down to the lowest window are decoded
(``imageio.decode_top_rows``; for the Up-filtered PNGs ``prep shard`` writes, about 2.6 ms
for two thirds of a 1024 px photo, against 10 ms for a full decode with OpenCV). The windows
are then drawn before the variants, an order that differs from other images' but is just as
reproducible.

Evaluation: no shuffle, no augmentation, full images one at a time (or a centre crop when
``crop`` is given), with each sample's metadata.

Work is shared by shards (webdataset's ``split_by_node``/``split_by_worker``) when there are at
least as many shards as ranks x workers; otherwise every worker reads every shard and keeps
every n-th sample, so a small dataset in one shard still uses all workers (reading is cheap,
decoding is the cost). Images smaller than the crop are padded by reflection.

Every random choice comes from a generator seeded by (seed, rank, worker, epoch), so a run is
reproducible for a given worker count. Corrupt samples and unreadable shards are skipped with
a warning and counted: ``Batch.skipped`` (per worker) and ``PairLoader.stats.skipped`` (all).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, get_worker_info

from exposure_core import imageio, shardfmt
from exposure_core.errors import UserError
from exposure_core.exposure import LUMA_WEIGHTS
from exposure_models.training.augment import shift_hue, square_resize
from exposure_models.training.config import AugmentConfig


class Batch(NamedTuple):
    """One batch. Tensors: (B, 3, H, W) float32, RGB, gamma-encoded, range [0, 1]."""

    input: torch.Tensor
    target: torch.Tensor
    meta: list[dict[str, Any]]  # the samples' JSON rows plus __key__ and __url__
    worker: int  # DataLoader worker that built it (0 without workers)
    skipped: int  # corrupt samples that worker has skipped so far


@dataclass
class LoaderStats:
    """Counts seen by the consumer: ``skipped`` sums the latest count of every worker."""

    batches: int = 0
    samples: int = 0
    by_worker: dict[int, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return sum(self.by_worker.values())

    def record(self, batch: Batch) -> None:
        self.batches += 1
        self.samples += int(batch.input.shape[0])
        self.by_worker[batch.worker] = max(self.by_worker.get(batch.worker, 0), batch.skipped)


class CorruptSampleWarning(RuntimeWarning):
    """Warned for each sample the loader skips (it is also counted, with its reason)."""


# Skipped items in a row, with no pair in between, after which the data is declared unreadable
# (an endless stream over corrupt shards would otherwise spin forever).
MAX_SKIPS_IN_ROW = 1000


class UnreadableShardsError(UserError):
    """``MAX_SKIPS_IN_ROW`` items skipped in a row: the shards give no readable pair."""


class _Skips:
    """Per-process count and reasons of skipped items; ``handler`` is a webdataset exception
    handler."""

    def __init__(self) -> None:
        self.count = 0
        self.reasons: list[str] = []  # "<ExceptionType>: <message>", in order
        self.in_row = 0

    def handler(self, exn: Exception) -> bool:
        self.count += 1
        self.in_row += 1
        self.reasons.append(f"{type(exn).__name__}: {exn}")
        warnings.warn(f"skipping a corrupt sample: {exn!r}", CorruptSampleWarning, stacklevel=2)
        if self.in_row >= MAX_SKIPS_IN_ROW:
            raise UnreadableShardsError(
                f"{self.in_row} corrupt samples in a row and no readable pair (last: {exn}); "
                "check the shards (run without --no-verify to check their sha256)"
            )
        return True


def color_jitter(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation jitter, as torchvision's adjust_* in that order.

    Args:
        images: (B, 3, H, W) float RGB in [0, 1].
        factors: (B, 3) multipliers (brightness, contrast, saturation); 1 leaves an image as is.
    Returns:
        (B, 3, H, W) in [0, 1].
    """
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"images must be float (B, 3, H, W), got {images.dtype} {images.shape}")
    if factors.shape != (images.shape[0], 3):
        raise ValueError(f"factors must be ({images.shape[0]}, 3), got {tuple(factors.shape)}")
    f = factors.to(images.dtype).view(-1, 3, 1, 1)
    out = (images * f[:, 0:1]).clamp_(0, 1)
    mean = _luma(out).mean((1, 2)).view(-1, 1, 1, 1)
    out.mul_(f[:, 1:2]).add_(mean * (1 - f[:, 1:2])).clamp_(0, 1)  # (x - m) * c + m
    gray = _luma(out).unsqueeze(1).mul_(1 - f[:, 2:3])
    return out.mul_(f[:, 2:3]).add_(gray).clamp_(0, 1)  # (x - g) * s + g


def _luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H, W) luma, one plane at a time (no (B, 3, H, W) temporary)."""
    w0, w1, w2 = (float(w) for w in LUMA_WEIGHTS)
    return (images[:, 0] * w0).add_(images[:, 1], alpha=w1).add_(images[:, 2], alpha=w2)


def _to_float(arrays: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8/uint16 RGB codes -> (B, 3, H, W) float32 in [0, 1], one conversion."""
    if all(a.dtype == arrays[0].dtype for a in arrays):
        codes = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (B, 3, H, W) view
        out = _empty(tuple(codes.shape))
        out.copy_(codes)
        return out.div_(255.0 if arrays[0].dtype == np.uint8 else 65535.0)
    return torch.cat([_to_float([a]) for a in arrays])  # mixed 8/16-bit: rare


def _empty(shape: tuple[int, ...]) -> torch.Tensor:
    """A float32 tensor; in a worker, allocated in shared memory as default_collate does,
    which spares the copy into shared memory when the batch is sent to the main process."""
    if get_worker_info() is None:
        return torch.empty(shape)
    storage = torch.empty(0)._typed_storage()._new_shared(int(np.prod(shape)))
    return torch.empty(0).new(storage).view(shape)


def _window(size: int, crop: int, rng: np.random.Generator | None) -> tuple[int, int, int]:
    """(start, pad_before, pad_after) along one axis: random when ``rng``, else centred."""
    if size >= crop:
        start = int(rng.integers(0, size - crop + 1)) if rng is not None else (size - crop) // 2
        return start, 0, 0
    return 0, (crop - size) // 2, crop - size - (crop - size) // 2


class _Pairs:
    """Pipeline stage: samples -> (input codes, target codes, jitter, meta), augmented alike."""

    def __init__(self, cfg: dict[str, Any], skips: _Skips) -> None:
        self.cfg = cfg
        self.skips = skips
        self.epoch = -1

    def __call__(self, src: Iterator[dict[str, Any]]) -> Iterator[tuple]:
        self.epoch += 1
        rank, world, worker, workers = wds.utils.pytorch_worker_info()
        rng = np.random.default_rng([self.cfg["seed"], rank, worker, self.epoch])
        if self.cfg["split_samples"]:
            src = islice(src, rank * workers + worker, None, world * workers)
        if self.cfg["train"] and self.cfg["shuffle_buffer"] > 1:
            src = _shuffle(src, self.cfg["shuffle_buffer"], rng)
        views = self._views(src, rng)
        per_sample = self.cfg["crops_per_sample"]
        if self.cfg["train"] and per_sample > 1:
            # crops of one decoded pair are spread over several batches
            views = _shuffle(views, per_sample * self.cfg["batch_size"], rng)
        yield from views

    def _views(self, src: Iterator[dict[str, Any]], rng: np.random.Generator) -> Iterator[tuple]:
        """Decode each photo once. Training: ``crops_per_sample`` views, each of a variant drawn
        at random; evaluation: every variant once, in the sample's order."""
        for sample in src:
            try:
                photo = self._parse(sample)
                windows = self._windows(photo, rng)
                if windows:  # decode the rows the crops need only
                    bottom = max(y for (y, _, _), _ in windows) + self.cfg["crop"]
                    target = imageio.decode_top_rows(photo.target, bottom, photo.target_name)
                else:
                    target = imageio.decode_codes(photo.target, photo.target_name)
                stored: dict[str, imageio.Codes] = {}  # stored inputs, decoded once per visit
                stored[""] = imageio.shrink(target, self.cfg["resize"])  # the target, resized
                for problem in photo.bad:
                    self.skips.handler(ValueError(f"bad recipe {problem}"))
                if not photo.variants:
                    raise ValueError(f"{photo.target_name}: no usable variant")
                if self.cfg["train"]:
                    for k in range(self.cfg["crops_per_sample"]):
                        v = photo.variants[int(rng.integers(len(photo.variants)))]
                        pair = self._pair(photo, target, v, rng, stored)
                        yield self._view(*pair, rng, windows[k] if windows else None)
                        self.skips.in_row = 0
                else:
                    for v in photo.variants:
                        yield self._view(*self._pair(photo, target, v, None, stored), rng)
                        self.skips.in_row = 0
            except (shardfmt.ShardFormatError, UnreadableShardsError):
                raise
            except Exception as exc:
                if not self.skips.handler(exc):
                    raise

    def _parse(self, sample: dict[str, Any]) -> shardfmt.PhotoSample:
        """The photo sample, its metadata completed with ``__key__`` and ``__url__``."""
        key, url = sample.get("__key__"), sample.get("__url__")
        photo = shardfmt.parse_sample(sample, f"{url}:{key}")
        photo.meta |= {"__key__": key, "__url__": url}
        return photo

    def _windows(self, photo: shardfmt.PhotoSample, rng: np.random.Generator) -> list[tuple]:
        """Training crop windows ((y, 0, 0), (x, 0, 0)), one per view, drawn before decoding
        when the target's top rows can be decoded alone (``imageio.top_rows_size``), every
        variant is rendered from it, nothing is resized and the photo is at least the crop;
        otherwise [] (the windows are then drawn per view from the decoded image)."""
        crop = self.cfg["crop"]
        if not self.cfg["train"] or crop is None or self.cfg["resize"] > 0:
            return []
        if not photo.variants or any(v.input is not None for v in photo.variants):
            return []
        size = imageio.top_rows_size(photo.target)
        if size is None or min(size) < crop:
            return []
        return [
            tuple(_window(n, crop, rng) for n in size)  # type: ignore[misc]
            for _ in range(self.cfg["crops_per_sample"])
        ]

    def _pair(
        self,
        photo: shardfmt.PhotoSample,
        target: imageio.Codes,
        v: shardfmt.Variant,
        rng: np.random.Generator | None,
        stored: dict[str, imageio.Codes],
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], Callable | None]:
        """(input, target) codes of one variant, meta, and the rendering still to apply.

        A recipe is a pointwise lookup table, so with a crop and no resize the input is the
        target and the table is applied to the crop only (``render``: the same codes as
        cropping the full rendered image, at a fraction of the cost); with a resize the
        variant is rendered at full size, then resized. With ``fresh_tau`` and an ``rng``
        (training), an overexposure recipe gets a new tau drawn uniformly from the range at
        each visit instead of its stored one.
        """
        tau = None
        fresh = self.cfg["fresh_tau"]
        if rng is not None and fresh is not None and v.kind == "overexpose" and v.input is None:
            lo, hi = fresh
            tau = float(lo + (hi - lo) * rng.random())
        resize = self.cfg["resize"]
        meta = photo.meta | v.meta()
        if tau is not None:
            meta["tau"] = tau
        square = self.cfg["square"] and resize > 0  # seed 000: both images to resize x resize
        tgt = square_resize(target.array, resize) if square else stored[""].array
        if v.input is None and resize <= 0 and self.cfg["crop"] is not None:

            def render(window: np.ndarray) -> np.ndarray:
                codes = imageio.Codes(np.ascontiguousarray(window))
                return photo.input_codes(v, codes, tau).array

            return tgt, tgt, meta, render
        if v.input is None:
            codes = photo.input_codes(v, target, tau)
        else:
            codes = stored.get(v.input) or photo.input_codes(v, target)
            stored[v.input] = codes
        inp = square_resize(codes.array, resize) if square else imageio.shrink(codes, resize).array
        if inp.shape != tgt.shape:
            raise ValueError(
                f"{photo.target_name}: input {inp.shape} and target {tgt.shape} differ"
            )
        return inp, tgt, meta, None

    def _view(
        self,
        inp: np.ndarray,
        tgt: np.ndarray,
        meta: dict[str, Any],
        render: Callable | None,
        rng: np.random.Generator,
        window: tuple | None = None,
    ) -> tuple:
        """One crop with flips/rotation applied to both images alike (views, no copies);
        ``render`` then maps the input window (a lookup table commutes with all of them).
        ``window``: the crop's ((y, 0, 0), (x, 0, 0)) when drawn before decoding."""
        train, crop, aug = self.cfg["train"], self.cfg["crop"], self.cfg["augment"]
        if crop is not None:
            (y, top, bottom), (x, left, right) = window or (
                _window(n, crop, rng if train else None) for n in inp.shape[:2]
            )
            inp, tgt = inp[y : y + crop, x : x + crop], tgt[y : y + crop, x : x + crop]
            if top or bottom or left or right:
                pad = ((top, bottom), (left, right), (0, 0))
                inp, tgt = np.pad(inp, pad, mode="reflect"), np.pad(tgt, pad, mode="reflect")
        jitter = None
        if train and aug is not None:
            if aug.hflip and rng.random() < 0.5:
                inp, tgt = inp[:, ::-1], tgt[:, ::-1]
            if aug.vflip and rng.random() < 0.5:
                inp, tgt = inp[::-1], tgt[::-1]
            if aug.rot90:
                k = int(rng.integers(0, 4))
                inp, tgt = np.rot90(inp, k), np.rot90(tgt, k)
            if aug.identity > 0 and rng.random() < aug.identity:
                inp, render = tgt, None  # a well-exposed photo: the model must leave it alone
            if (aug.jitter > 0 or aug.hue > 0) and (
                aug.jitter_p >= 1 or rng.random() < aug.jitter_p
            ):
                factors = (
                    rng.uniform(1 - aug.jitter, 1 + aug.jitter, 3) if aug.jitter > 0 else np.ones(3)
                )
                hue = [rng.uniform(-aug.hue, aug.hue)] if aug.hue > 0 else []
                jitter = np.concatenate([factors, hue]).astype(np.float32)
        if render is not None:
            inp = render(inp)
        return inp, tgt, jitter, meta

    def collate(self, items: list[tuple]) -> Batch:
        inputs = _to_float([it[0] for it in items])
        targets = _to_float([it[1] for it in items])
        if any(it[2] is not None for it in items):
            ones = np.array([1, 1, 1, 0], np.float32)  # brightness, contrast, saturation, hue
            factors = np.stack(
                [ones if it[2] is None else np.r_[it[2], ones[len(it[2]) :]] for it in items]
            )
            inputs = color_jitter(inputs, torch.from_numpy(factors[:, :3]))
            if factors[:, 3].any():
                inputs = shift_hue(inputs, torch.from_numpy(factors[:, 3]))
        info = get_worker_info()
        worker = info.id if info is not None else 0
        return Batch(inputs, targets, [it[3] for it in items], worker, self.skips.count)


def _shuffle(src: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Buffer shuffle: keep ``size`` items, emit a random one as each new item arrives."""
    buffer: list[Any] = []
    for item in src:
        if len(buffer) < size:
            buffer.append(item)
            continue
        k = int(rng.integers(len(buffer)))
        buffer[k], item = item, buffer[k]
        yield item
    for k in rng.permutation(len(buffer)):
        yield buffer[k]


class PairLoader:
    """Iterable of ``Batch``; ``stats`` counts batches, samples and skipped corrupt samples.

    With ``epoch_len`` each iteration yields exactly that many batches from an endless stream
    that continues across iterations; without it each iteration is one pass over the shards.
    """

    def __init__(
        self, loader: DataLoader, epoch_len: int | None, skips: _Skips | None = None
    ) -> None:
        self.loader = loader
        self.epoch_len = epoch_len
        self.stats = LoaderStats()
        self._stream: Iterator[Batch] | None = None
        self._skips = skips or _Skips()

    @property
    def skipped_here(self) -> list[str]:
        """Reasons of the samples skipped in this process, in order: all of them when the
        loader has no workers (worker processes report counts only, ``stats.skipped``)."""
        return list(self._skips.reasons)

    def __len__(self) -> int:
        if self.epoch_len is None:
            raise TypeError("a one-pass loader has no known length; pass epoch_len")
        return self.epoch_len

    def __iter__(self) -> Iterator[Batch]:
        if self.epoch_len is None:
            batches: Iterator[Batch] = iter(self.loader)
        else:
            if self._stream is None:
                self._stream = iter(self.loader)
            batches = islice(self._stream, self.epoch_len)
        produced = 0
        for batch in batches:
            self.stats.record(batch)
            produced += 1
            yield batch
        if produced == 0:
            raise RuntimeError(
                f"the shards gave no complete batch ({self.stats.skipped} corrupt sample(s) "
                "skipped): check the shard list, or lower the batch size"
            )


def shard_urls(shards_dir: str | Path, split: str) -> list[str]:
    """The tar paths of one split, in order, from ``<shards_dir>/index.json`` (format checked)."""
    shards_dir = Path(shards_dir)
    index = shardfmt.read_index(shards_dir)
    urls = [str(shards_dir / s["name"]) for s in index["shards"] if s["split"] == split]
    if not urls:
        raise ValueError(f"{shards_dir / shardfmt.INDEX_NAME}: no shards for split {split!r}")
    return urls


def make_loader(
    urls: list[str] | str,
    *,
    batch_size: int,
    crop: int | None,
    train: bool,
    shuffle_buffer: int = 500,
    workers: int = 0,
    seed: int = 0,
    augment: AugmentConfig | None = None,
    epoch_len: int | None = None,
    resize: int = 0,
    crops_per_sample: int = 1,
    fresh_tau: tuple[float, float] | None = None,
    square: bool = False,
) -> PairLoader:
    """A loader of (input, target) batches from WebDataset shards.

    Args:
        urls: tar paths or URLs, a brace pattern (``"train-{000000..000003}.tar"``), or
            ``pipe:``/``http(s)://`` URLs (webdataset opens them).
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
    Returns:
        A ``PairLoader`` yielding ``Batch`` (tensors (B, 3, H, W) float32 RGB in [0, 1]).
    """
    if crops_per_sample < 1:
        raise ValueError(f"crops_per_sample must be >= 1, got {crops_per_sample}")
    if batch_size < 1 or workers < 0 or (epoch_len is not None and epoch_len < 1):
        raise ValueError(
            f"need batch_size >= 1, workers >= 0, epoch_len >= 1 or None; got "
            f"{batch_size}, {workers}, {epoch_len}"
        )
    if crop is None and (train or batch_size != 1):
        raise ValueError("full-size images (crop=None) need train=False and batch_size=1")
    if crop is not None and crop < 1:
        raise ValueError(f"crop must be >= 1 or None, got {crop}")
    parts = [urls] if isinstance(urls, str) else [str(u) for u in urls]
    url_list = [u for part in parts for u in wds.shardlists.expand_urls(part)]
    if not url_list:
        raise ValueError(f"no shard urls in {urls!r}")
    _, world, _, _ = wds.utils.pytorch_worker_info()
    split_shards = len(url_list) >= world * max(workers, 1)
    skips = _Skips()
    shards = wds.WebDataset(
        url_list,
        handler=skips.handler,
        shardshuffle=len(url_list) if train else False,
        detshuffle=True,
        seed=seed,
        nodesplitter=wds.split_by_node if split_shards else None,
        workersplitter=wds.split_by_worker if split_shards else None,
        empty_check=False,
    )
    if epoch_len is not None:
        shards = shards.repeat()  # endless sample stream: no partial batch at pass ends
    cfg = {
        "seed": seed,
        "train": train,
        "crop": crop,
        "augment": augment if train else None,
        "shuffle_buffer": shuffle_buffer,
        "resize": resize,
        "crops_per_sample": crops_per_sample,
        "square": square,
        "batch_size": batch_size,
        "split_samples": not split_shards,
        "fresh_tau": fresh_tau if train else None,
    }
    pairs = _Pairs(cfg, skips)
    pipeline = wds.DataPipeline(
        shards, pairs, wds.batched(batch_size, collation_fn=pairs.collate, partial=not train)
    )
    loader = DataLoader(
        pipeline,
        batch_size=None,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        # the workers' torch seeds come from this generator, not from the global one, so
        # making or starting a loader never shifts the training's random stream
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=_seed_worker,
    )
    return PairLoader(loader, epoch_len, skips)


def _seed_worker(worker: int) -> None:
    """Seed numpy's and Python's global generators in a worker from its torch seed (which the
    DataLoader derives from the loader's seed and the worker id)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
