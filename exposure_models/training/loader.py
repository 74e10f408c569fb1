"""Batches of (input, target) pairs from the WebDataset shards written by ``prep shard``.

Training: shards are shuffled per epoch, samples pass a shuffle buffer, and each pair gets one
random crop and one set of flips/rotations applied to input AND target alike (colour jitter
touches the input only); optionally downscaled first (``resize``), and optionally several
crops per decoded pair (``crops_per_sample``). Evaluation: no shuffle, no augmentation, full
images one at a time (or a centre crop when ``crop`` is given), with each sample's metadata.

Work is shared by shards (webdataset's ``split_by_node``/``split_by_worker``) when there are at
least as many shards as ranks x workers; otherwise every worker reads every shard and keeps
every n-th sample, so a small dataset in one shard still uses all workers (reading is cheap,
decoding is the cost). Images smaller than the crop are padded by reflection.

Every random choice comes from a generator seeded by (seed, rank, worker, epoch), so a run is
reproducible for a given worker count. Corrupt samples and unreadable shards are skipped with
a warning and counted: ``Batch.skipped`` (per worker) and ``PairLoader.stats.skipped`` (all).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, get_worker_info

from pipeline.core import imageio
from pipeline.core.exposure import LUMA_WEIGHTS
from pipeline.errors import UserError
from pipeline.params import AugmentParams


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


class _Skips:
    """Per-process count of skipped items; ``handler`` is a webdataset exception handler."""

    def __init__(self) -> None:
        self.count = 0

    def handler(self, exn: Exception) -> bool:
        self.count += 1
        warnings.warn(f"skipping a corrupt sample: {exn!r}", RuntimeWarning, stacklevel=2)
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
        """Decode each sample once; yield ``crops_per_sample`` augmented views of it."""
        for sample in src:
            try:
                inp, tgt, meta = self._decode(sample)
                for _ in range(self.cfg["crops_per_sample"] if self.cfg["train"] else 1):
                    yield self._view(inp, tgt, meta, rng)
            except Exception as exc:
                if not self.skips.handler(exc):
                    raise

    def _decode(self, sample: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        key, url = sample.get("__key__"), sample.get("__url__")
        names = {k.split(".", 1)[0]: k for k in sample if not k.startswith("__")}
        if "input" not in names or "target" not in names:
            raise ValueError(f"{url}:{key}: incomplete sample (members {sorted(names)})")
        meta = json.loads(sample["json"]) if "json" in names else {}
        meta |= {"__key__": key, "__url__": url}
        inp_codes = imageio.decode_codes(sample[names["input"]], f"{url}:{key}.input")
        tgt_codes = imageio.decode_codes(sample[names["target"]], f"{url}:{key}.target")
        resize = self.cfg["resize"]
        inp = imageio.shrink(inp_codes, resize).array
        tgt = imageio.shrink(tgt_codes, resize).array
        if inp.shape != tgt.shape:
            raise ValueError(f"{url}:{key}: input {inp.shape} and target {tgt.shape} differ")
        return inp, tgt, meta

    def _view(
        self, inp: np.ndarray, tgt: np.ndarray, meta: dict[str, Any], rng: np.random.Generator
    ) -> tuple:
        """One crop with flips/rotation applied to both images alike (views, no copies)."""
        train, crop, aug = self.cfg["train"], self.cfg["crop"], self.cfg["augment"]
        if crop is not None:
            (y, top, bottom), (x, left, right) = (
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
                inp = tgt  # a well-exposed photo: the model must leave it alone
            if aug.jitter > 0:
                jitter = rng.uniform(1 - aug.jitter, 1 + aug.jitter, 3).astype(np.float32)
        return inp, tgt, jitter, meta

    def collate(self, items: list[tuple]) -> Batch:
        inputs = _to_float([it[0] for it in items])
        targets = _to_float([it[1] for it in items])
        if any(it[2] is not None for it in items):
            ones = np.ones(3, np.float32)
            factors = np.stack([ones if it[2] is None else it[2] for it in items])
            inputs = color_jitter(inputs, torch.from_numpy(factors))
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

    def __init__(self, loader: DataLoader, epoch_len: int | None) -> None:
        self.loader = loader
        self.epoch_len = epoch_len
        self.stats = LoaderStats()
        self._stream: Iterator[Batch] | None = None

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
    """The tar paths of one split, in order, from ``<shards_dir>/index.json``."""
    shards_dir = Path(shards_dir)
    index_path = shards_dir / "index.json"
    if not index_path.is_file():
        raise UserError(f"{index_path}: no shard index; run `prep shard` first")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    urls = [str(shards_dir / s["name"]) for s in index["shards"] if s["split"] == split]
    if not urls:
        raise ValueError(f"{index_path}: no shards for split {split!r}")
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
    augment: AugmentParams | None = None,
    epoch_len: int | None = None,
    resize: int = 0,
    crops_per_sample: int = 1,
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
        "batch_size": batch_size,
        "split_samples": not split_shards,
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
    )
    return PairLoader(loader, epoch_len)
