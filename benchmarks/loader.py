"""Throughput of the shard loader against a seed-000-style loader and the decode floor.

    python benchmarks/loader.py --photos PHOTOS --workers 2 --batch 8 --crop 256 --repeat 5
    python benchmarks/loader.py --pairs data/pairs --shards data/shards ...

``--photos`` builds both inputs from a photo folder in a temporary folder: the pair images
(``prep synthesize``) for the seed-style loader, and photo shards from the recipes
(``prep synthesize --recipes-only`` + ``prep shard``, all in the train split) for ours. With
``--pairs``/``--shards`` the pairs folder must hold the images of the shards' variant ids.
All three report pairs per second on the same pairs:
  (a) ours: ``training.loader.make_loader`` over every shard (train mode: each photo decoded
      once per visit, only down to the lowest crop window since ``prep shard`` stores PNG
      targets Up-filtered, and the variant drawn rendered from it; random crop, hflip and
      input colour jitter on every pair, endless stream, ``--workers`` workers);
  (b) seed-000 style: a map-style torch Dataset reading the PNG files with PIL
      (``Image.open`` + ``np.array``), both images resized to crop x crop (cv2.resize,
      INTER_LINEAR, as albumentations' Resize), HorizontalFlip p=0.5 and ColorJitter p=0.2 on
      the input, Normalize(0.5, 0.5) and to-tensor, in a DataLoader with the same batch size,
      workers and a sampler that streams ``passes`` shuffled passes (no epoch-end stalls);
  (c) the decode floor: ``cv2.imdecode`` of each pair's photo (the shards' target bytes,
      held in memory: the re-encoded PNG) once in full, nothing else, in one process and in
      ``--workers`` processes. Ours can beat it: it inflates fewer rows, with ISA-L.
Each of ``--repeat`` rounds runs every method once, interleaved so that changes in machine
load hit all of them alike. A loader run starts fresh workers, skips one pass (worker start,
buffer fill) and then times ``--passes`` passes: wall clock (pairs/s) and the CPU seconds of
the process and all its children (CPU ms/pair, psutil), which stays meaningful on a shared
machine where wall clock does not. Medians are reported. ``--profile`` prints where our
loader spends its time in one process (cProfile).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import gc
import json
import math
import multiprocessing
import pstats
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import exposure_core.imageio  # noqa: F401  (sets cv2 to one thread, for every method alike)
from exposure_models.training.loader import LoaderConfig, make_loader
from pipeline.params import AugmentParams

_DECODE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH  # what imageio.decode_codes uses


def shard_ids(shards: Path) -> tuple[list[str], set[str], list[bytes]]:
    """All shard paths (every split), the variant ids they hold and each photo's target bytes."""
    index = json.loads((shards / "index.json").read_text(encoding="utf-8"))
    urls = [str(shards / s["name"]) for s in index["shards"]]
    ids: set[str] = set()
    targets = []
    for url in urls:
        with tarfile.open(url) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if member.name.endswith(".json"):
                    ids.update(v["id"] for v in json.loads(data)["variants"])
                elif ".target." in member.name:
                    targets.append(data)
    return urls, ids, targets


def read_pairs(pairs: Path, ids: set[str]) -> list[tuple[Path, Path]]:
    """(input, target) paths of the manifest rows whose ids are in the shards."""
    manifest = pairs / "manifest.jsonl" if pairs.is_dir() else pairs
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line]
    kept = [
        (manifest.parent / r["input"], manifest.parent / r["target"])
        for r in rows
        if r["id"] in ids and r["input"] is not None
    ]
    if len(kept) != len(ids):
        raise SystemExit(
            f"{len(ids)} ids in the shards but {len(kept)} with images in the manifest "
            "(the pairs must come from `prep synthesize` without --recipes-only)"
        )
    return kept


def build(photos: Path, tmp: Path) -> tuple[Path, Path]:
    """Pair images and recipe shards (train split only) of a photo folder, in ``tmp``."""
    from pipeline.params import SplitFractions, load_params
    from pipeline.stages import shard, synthesize

    base = load_params(None)
    params = dataclasses.replace(
        base, shard=dataclasses.replace(base.shard, split=SplitFractions(1.0, 0.0, 0.0))
    )
    synthesize.run(params, photos, tmp / "pairs")
    recipes = dataclasses.replace(
        params, synthesize=dataclasses.replace(params.synthesize, write_images=False)
    )
    synthesize.run(recipes, photos, tmp / "recipes")
    shard.run(recipes, tmp / "recipes", tmp / "shards")
    return tmp / "pairs", tmp / "shards"


# --- (b) seed-000 style -----------------------------------------------------------------------


def _seed_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """albumentations ColorJitter defaults on uint8: brightness, contrast, saturation 0.2, hue."""
    b, c, s = rng.uniform(0.8, 1.2, 3)
    hue = rng.uniform(-0.2, 0.2)
    image = cv2.LUT(image, np.clip(np.arange(256) * b, 0, 255).astype(np.uint8))
    mean = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean()
    image = cv2.LUT(image, np.clip((np.arange(256) - mean) * c + mean, 0, 255).astype(np.uint8))
    gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    image = cv2.addWeighted(image, s, gray, 1 - s, 0)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + int(hue * 180)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _normalize_to_tensor(image: np.ndarray) -> torch.Tensor:
    """A.Normalize(mean=0.5, std=0.5, max_pixel_value=255) then ToTensorV2."""
    scaled = (image.astype(np.float32) / 255.0 - 0.5) / 0.5
    return torch.from_numpy(scaled.transpose(2, 0, 1))


class SeedStyleDataset(Dataset):
    """Seed 000's MyDataset and transforms, reading our pairs instead of its folder layout."""

    def __init__(self, pairs: list[tuple[Path, Path]], crop: int) -> None:
        self.pairs = pairs
        self.crop = crop
        self.rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        input_path, target_path = self.pairs[index]
        input_image = np.array(Image.open(input_path))
        target_image = np.array(Image.open(target_path))
        size = (self.crop, self.crop)
        input_image = cv2.resize(input_image, size, interpolation=cv2.INTER_LINEAR)
        target_image = cv2.resize(target_image, size, interpolation=cv2.INTER_LINEAR)
        if self.rng.random() < 0.5:
            input_image = cv2.flip(input_image, 1)
        if self.rng.random() < 0.2:
            input_image = _seed_jitter(input_image, self.rng)
        return _normalize_to_tensor(input_image), _normalize_to_tensor(target_image)


# --- (c) decode floor -------------------------------------------------------------------------

_BLOBS: list[bytes] = []


def _load_blobs(blobs: list[bytes]) -> None:
    _BLOBS[:] = blobs


def _decode_range(bounds: tuple[int, int]) -> int:
    for k in range(*bounds):
        blob = _BLOBS[k % len(_BLOBS)]
        if cv2.imdecode(np.frombuffer(blob, np.uint8), _DECODE_FLAGS) is None:
            raise RuntimeError("undecodable image in the floor benchmark")
    return bounds[1] - bounds[0]


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One timed window: pairs delivered, wall seconds, CPU seconds of every process."""

    pairs: int
    wall: float
    cpu: float


def _cpu() -> float:
    """CPU seconds used so far by this process and all its live child processes."""
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _window(sizes: Iterator[int], warmup: int, measure: int) -> Run:
    """Skip ``warmup`` batches (worker start, buffer fill), then time ``measure`` batches."""
    for _ in range(warmup):
        next(sizes)
    cpu, start, count = _cpu(), time.perf_counter(), 0
    for _ in range(measure):
        count += next(sizes)
    return Run(count, time.perf_counter() - start, _cpu() - cpu)


def _batches(args, n_pairs: int) -> tuple[int, int]:
    """(warm-up, measured) batch counts: one pass to warm up, ``passes`` passes measured."""
    return math.ceil(n_pairs / args.batch), math.ceil(args.passes * n_pairs / args.batch)


def run_ours(urls, args, n_pairs, crops_per_sample: int = 1) -> Run:
    """A fresh loader; times ``passes`` passes of its endless stream after a warm-up pass."""
    warmup, measure = _batches(args, n_pairs)
    loader = make_loader(
        urls,
        LoaderConfig(
            batch_size=args.batch,
            crop=args.crop,
            train=True,
            shuffle_buffer=args.shuffle_buffer,
            workers=args.workers,
            seed=0,
            augment=AugmentParams(hflip=True, jitter=0.2),
            epoch_len=warmup + measure,
            crops_per_sample=crops_per_sample,
        ),
    )
    run = _window((batch.input.shape[0] for batch in loader), warmup, measure)
    del loader  # stops its workers before the next method runs
    gc.collect()
    return run


def run_seed_style(pairs, args) -> Run:
    """The seed-style loader, started, warmed up and timed the same way as ours."""
    warmup, measure = _batches(args, len(pairs))
    dataset = SeedStyleDataset(pairs, args.crop)
    loader = DataLoader(
        dataset,
        batch_size=args.batch,
        sampler=RandomSampler(dataset, num_samples=(warmup + measure) * args.batch),
        num_workers=args.workers,
        pin_memory=torch.cuda.is_available(),
    )
    run = _window((x.shape[0] for x, _y in loader), warmup, measure)
    del loader
    gc.collect()
    return run


def run_floor(pairs, args, pool) -> Run:
    """Decode each pair's photo once, ``passes`` passes, in this process or in ``pool``."""
    images = args.passes * len(pairs)
    cpu, start = _cpu(), time.perf_counter()
    if pool is None:
        done = _decode_range((0, images))
    else:
        step = math.ceil(images / args.workers)
        chunks = [(k, min(k + step, images)) for k in range(0, images, step)]
        done = sum(pool.map(_decode_range, chunks, chunksize=1))
    return Run(done, time.perf_counter() - start, _cpu() - cpu)


def profile_ours(urls, args, n_pairs) -> None:
    loader = make_loader(
        urls,
        LoaderConfig(
            batch_size=args.batch,
            crop=args.crop,
            train=True,
            workers=0,
            shuffle_buffer=args.shuffle_buffer,
            augment=AugmentParams(hflip=True, jitter=0.2),
            epoch_len=math.ceil(args.passes * n_pairs / args.batch),
        ),
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in loader:
        pass
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, help="build pairs and shards from these photos")
    parser.add_argument("--pairs", type=Path, default=Path("data/pairs"))
    parser.add_argument("--shards", type=Path, default=Path("data/shards"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--passes", type=int, default=4, help="passes over the pairs per run")
    parser.add_argument("--shuffle-buffer", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="cProfile our loader in-process")
    parser.add_argument(
        "--crops-per-sample", type=int, default=1,
        help="also time ours with this many training crops per decoded pair (a separate row)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        if args.photos is not None:
            args.pairs, args.shards = build(args.photos, Path(tmp))
        measure(args)


def measure(args: argparse.Namespace) -> None:
    urls, ids, targets = shard_ids(args.shards)
    pairs = read_pairs(args.pairs, ids)
    n = len(pairs)
    print(
        f"{n} pairs, batch {args.batch}, crop {args.crop}, workers {args.workers}, "
        f"{args.passes} passes per run, median of {args.repeat} runs; "
        f"{torch.get_num_threads()} torch thread(s), cv2 threads {cv2.getNumThreads()}"
    )
    if args.profile:
        profile_ours(urls, args, n)
        return
    # one photo per pair: each target's bytes as often as it has pairs in the shards
    blobs = [targets[k % len(targets)] for k in range(n)]
    _load_blobs(blobs)
    names = ["ours (photo shards, rendered)", "seed-000 style (PIL, folders)"]
    names += [f"decode floor, {args.workers} processes", "decode floor, 1 process"]
    runs: dict[str, list[Run]] = {name: [] for name in names}
    multi = f"ours, {args.crops_per_sample} crops per decode"
    with multiprocessing.get_context("fork").Pool(args.workers, _load_blobs, (blobs,)) as pool:
        pool.map(_decode_range, [(0, 1)] * args.workers)  # the floor's workers start untimed
        run_ours(urls, args, n)  # warm the page cache
        run_seed_style(pairs, args)
        for _ in range(args.repeat):  # interleaved, so load changes hit every method alike
            runs[names[0]].append(run_ours(urls, args, n))
            runs[names[1]].append(run_seed_style(pairs, args))
            runs[names[2]].append(run_floor(pairs, args, pool))
            runs[names[3]].append(run_floor(pairs, args, None))
            if args.crops_per_sample > 1:
                runs.setdefault(multi, []).append(
                    run_ours(urls, args, n, crops_per_sample=args.crops_per_sample)
                )
    print_table(runs, names, args.workers)
    if args.crops_per_sample > 1:
        rate = {k: statistics.median(r.pairs / r.wall for r in v) for k, v in runs.items()}
        print(
            f"wall clock  {multi} / seed-000 style: {rate[multi] / rate[names[1]]:5.2f}x "
            "(training pairs per second; not like for like: fewer decodes per pair)"
        )
        print(f"wall clock  {multi} / {names[2]}: {rate[multi] / rate[names[2]]:6.1%}")


def print_table(runs: dict[str, list[Run]], names: list[str], workers: int) -> None:
    rate = {k: statistics.median(r.pairs / r.wall for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r.cpu / r.pairs * 1e3 for r in v) for k, v in runs.items()}
    head = ("loader", "workers", "pairs/s", "min", "max", "CPU ms/pair")
    print("\n{:32s} {:>7s} {:>8s} {:>7s} {:>7s} {:>11s}".format(*head))
    for name, values in runs.items():
        rates = [r.pairs / r.wall for r in values]
        n_workers = 1 if name == names[3] else workers
        print(
            f"{name:32s} {n_workers:7d} {rate[name]:8.1f} {min(rates):7.1f} {max(rates):7.1f} "
            f"{cpu[name]:11.1f}"
        )
    ours, seed, floor, floor1 = names[:4]
    print(f"\nwall clock  ours / seed-000 style: {rate[ours] / rate[seed]:5.2f}x   (goal >= 3x)")
    print(f"wall clock  ours / {floor}: {rate[ours] / rate[floor]:6.1%}   (goal >= 80 %)")
    print(f"CPU / pair  seed-000 style / ours: {cpu[seed] / cpu[ours]:5.2f}x")
    print(f"CPU / pair  decode floor / ours:   {cpu[floor1] / cpu[ours]:6.1%}")


if __name__ == "__main__":
    main()
