"""Batches of (input, target) pairs from the WebDataset shards written by ``prep shard``.

``make_loader`` assembles the DataLoader from a ``LoaderConfig``: shards are shuffled per
epoch when training, and each sample becomes pairs in ``pairs.PairStage`` (rendering,
crops, augmentation; see ``exposure_models.training.pairs``).

Work is shared by shards (webdataset's ``split_by_node``/``split_by_worker``) when there are at
least as many shards as ranks x workers; otherwise every worker reads every shard and keeps
every n-th sample, so a small dataset in one shard still uses all workers (reading is cheap,
decoding is the cost).

Every random choice comes from a generator seeded by (seed, rank, worker, epoch), so a run is
reproducible for a given worker count. Corrupt samples and unreadable shards are skipped with
a warning and counted: ``Batch.skipped`` (per worker) and ``PairLoader.stats.skipped`` (all).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader
from webdataset.cache import StreamingOpen

from exposure_core import shardfmt, storage
from exposure_core.readahead import ReadAhead
from exposure_models.training.loader_config import LoaderConfig
from exposure_models.training.pairs import Batch, PairStage, Skips

READ_AHEAD = 4  # tars of a worker downloaded ahead of the one it reads (fsspec URLs)
# downloaded tars a worker keeps for its later passes (fsspec URLs); beyond it, each pass streams
KEEP_BYTES = 4 << 30


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


class PairLoader:
    """Iterable of ``Batch``; ``stats`` counts batches, samples and skipped corrupt samples.

    With ``epoch_len`` each iteration yields exactly that many batches from an endless stream
    that continues across iterations; without it each iteration is one pass over the shards.
    """

    def __init__(
        self, loader: DataLoader, epoch_len: int | None, skips: Skips | None = None
    ) -> None:
        self.loader = loader
        self.epoch_len = epoch_len
        self.stats = LoaderStats()
        self._stream: Iterator[Batch] | None = None
        self._skips = skips or Skips()

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
    urls: list[str] | str, config: LoaderConfig, expected: dict[str, str] | None = None
) -> PairLoader:
    """A loader of (input, target) batches from WebDataset shards.

    Args:
        urls: tar paths or URLs, a brace pattern (``"train-{000000..000003}.tar"``), or
            ``pipe:``/``http(s)://`` URLs (webdataset opens them), or fsspec URLs
            (``s3://...``), each read through a local file fetched ahead
            (``exposure_core.readahead.ReadAhead``).
        config: batch size, crop, training or evaluation, and the rest (``LoaderConfig``).
        expected: fsspec URL -> sha256, checked as each tar arrives (a mismatch is skipped
            and counted, as a corrupt sample).
    Returns:
        A ``PairLoader`` yielding ``Batch`` (tensors (B, 3, H, W) float32 RGB in [0, 1]).
    """
    url_list = expand_urls(urls)
    _, world, _, _ = wds.utils.pytorch_worker_info()
    split_shards = len(url_list) >= world * max(config.workers, 1)
    skips = Skips()
    shards, pairs = _sources(url_list, config, skips, split_shards)
    _read_ahead(shards, url_list, expected, skips, repeat=config.epoch_len is not None)
    if config.epoch_len is not None:
        shards = shards.repeat()  # endless sample stream: no partial batch at pass ends
    pipeline = wds.DataPipeline(
        shards,
        pairs,
        wds.batched(config.batch_size, collation_fn=pairs.collate, partial=not config.train),
    )
    loader = DataLoader(
        pipeline,
        batch_size=None,
        num_workers=config.workers,
        persistent_workers=config.workers > 0,
        pin_memory=torch.cuda.is_available(),
        # the workers' torch seeds come from this generator, not from the global one, so
        # making or starting a loader never shifts the training's random stream
        generator=torch.Generator().manual_seed(config.seed),
        worker_init_fn=_seed_worker,
    )
    return PairLoader(loader, config.epoch_len, skips)


def expand_urls(urls: list[str] | str) -> list[str]:
    """Tar paths or URLs, brace patterns expanded; ValueError when there are none."""
    parts = [urls] if isinstance(urls, str) else [str(u) for u in urls]
    url_list = [u for part in parts for u in wds.shardlists.expand_urls(part)]
    if not url_list:
        raise ValueError(f"no shard urls in {urls!r}")
    return url_list


def _sources(
    url_list: list[str], config: LoaderConfig, skips: Skips, split_shards: bool
) -> tuple[wds.WebDataset, PairStage]:
    """The shard reader and the pair stage after it (``split_shards``: ranks and workers
    share the shards; otherwise each reads them all and keeps its share of the samples)."""
    shards = wds.WebDataset(
        url_list,
        handler=skips.handler,
        shardshuffle=len(url_list) if config.train else False,
        detshuffle=True,
        seed=config.seed,
        nodesplitter=wds.split_by_node if split_shards else None,
        workersplitter=wds.split_by_worker if split_shards else None,
        empty_check=False,
    )
    return shards, PairStage(config, not split_shards, skips)


def pair_pipeline(
    urls: list[str] | str, config: LoaderConfig, repeat: bool = False
) -> wds.DataPipeline:
    """The loader's pipeline one pair at a time, an ``IterableDataset`` for any DataLoader.

    Yields ``(input, target, meta)``: (3, H, W) float32 RGB tensors in [0, 1], gamma-encoded,
    rendered, cropped and augmented exactly as ``make_loader`` does (``config.batch_size`` and
    ``config.workers`` are not used: batch with the DataLoader), and the pair's metadata. Every
    DataLoader worker and rank reads every shard and keeps its own share of the samples, so
    any worker count sees each sample once per pass. ``repeat``: an endless stream.
    """
    shards, pairs = _sources(expand_urls(urls), config, Skips(), split_shards=False)
    if repeat:
        shards = shards.repeat()
    return wds.DataPipeline(shards, pairs, wds.map(partial(_one_pair, pairs)))


def _one_pair(pairs: PairStage, item: tuple) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """One rendered item as (input, target, meta), colour jitter applied (``collate``)."""
    batch = pairs.collate([item])
    return batch.input[0], batch.target[0], batch.meta[0]


def _read_ahead(
    shards: wds.WebDataset,
    urls: list[str],
    expected: dict[str, str] | None,
    skips: Skips,
    repeat: bool,
) -> None:
    """Shards at fsspec URLs (all of them): webdataset's opener replaced by the read-ahead
    (``repeat``: an endless stream, whose next pass is fetched while one ends)."""
    if all(_fsspec_url(u) for u in urls):
        opener = next(i for i, f in enumerate(shards.pipeline) if isinstance(f, StreamingOpen))
        shards.pipeline[opener] = ReadAhead(
            READ_AHEAD, expected, skips.handler, KEEP_BYTES, repeat=repeat
        )


def _fsspec_url(url: str) -> bool:
    """A URL webdataset cannot open itself (``s3://``, ``gs://``...): fsspec opens it."""
    return storage.is_url(url) and storage.protocol(url) not in ("pipe", "http", "https", "file")


def _seed_worker(worker: int) -> None:
    """Seed numpy's and Python's global generators in a worker from its torch seed (which the
    DataLoader derives from the loader's seed and the worker id)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
