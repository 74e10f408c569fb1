"""``prep evaluate`` scoring: the previous per-image scoring against the current one, in one run.

Builds ``--images`` test pairs of ``--side`` x ``--side`` pixels (crops of the demo photos,
degraded as ``prep synthesize`` does: tau clipping 0.6 / 0.8, EV -1.5 / +1), runs the six
methods of the default params once (the model, from the default preset with random weights,
through ``Enhancer.correct``; identity, he, clahe, auto_exposure; the oracle), then times
scoring all of their outputs, every method against its target:

  old   the previous ``Tally.add``: scikit-image metrics (float64 SSIM and CIEDE2000) one
        method per thread in a thread pool, histogram-similarity patches cut twice per method
  new   ``exposure_models.metrics_torch.score_stream``: the numpy float32 / OpenCV metrics,
        the target's terms once per image, one image per task in ``--workers`` processes
        (the torch metrics of ``metrics_torch`` on the GPU with ``--device cuda``),
        recorded with ``Tally.record``

Prints the median seconds of ``--repeat`` runs of each, pairs per second and the ratio, and
checks that both give the same numbers (to 1e-4). The worker pool is started inside each
timed run (the forkserver itself once per process, as in ``prep evaluate``).

With ``--before TREE`` it also times the whole command (``python -m pipeline evaluate`` in a
fresh process, at full resolution on shards of the same pairs) in TREE, a checkout of the
previous code, and in this one: each with its own params.yaml and the same model file.

    python benchmarks/evaluate.py --images 24 --repeat 3 --workers 2
    python benchmarks/evaluate.py --images 24 --repeat 3 --workers 2 --before ../main
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "motorcycle_right")
VARIANTS = (
    ("overexpose", 0.6, None),
    ("overexpose", 0.8, None),
    ("ev", None, -1.5),
    ("ev", None, 1.0),
)


def square(photo: np.ndarray, side: int) -> np.ndarray:
    """Resize so the short side is ``side`` (area), then crop the centre square."""
    h, w = photo.shape[:2]
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    image = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    y, x = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return np.ascontiguousarray(image[y : y + side, x : x + side])


def make_pairs(count: int, side: int) -> list[dict]:
    """``count`` pairs: id, target, input and the manifest fields of each."""
    import skimage.data

    from exposure_core.exposure import overexpose, shift_ev

    pairs = []
    for i in range(count):
        name = PHOTOS[i // len(VARIANTS) % len(PHOTOS)]
        kind, tau, ev = VARIANTS[i % len(VARIANTS)]
        if name.startswith("motorcycle"):
            left, right, _ = skimage.data.stereo_motorcycle()
            photo = left if name.endswith("left") else right
        else:
            photo = getattr(skimage.data, name)()
        target = square(photo.astype(np.float32) / 255, side)
        low = overexpose(target, tau) if kind == "overexpose" else shift_ev(target, ev)
        pairs.append(
            {"id": f"{name}-{i}", "scene": name, "kind": kind, "tau": tau,
             "ev": ev, "target": target, "input": low}
        )  # fmt: skip
    return pairs


def make_model(path: Path, tree: Path = ROOT) -> None:
    import torch

    from exposure_models.checkpoint import save_generator
    from pipeline.params import load_params

    try:
        from exposure_models.training.setup import build_models
    except ImportError:  # a checkout from before the training package (``--before``)
        from pipeline.stages.train import build_models  # type: ignore[no-redef]

    torch.manual_seed(0)
    p = load_params(tree / "params.yaml").train
    generator, _ = build_models(p)
    save_generator(path, generator.eval(), {"resize": p.resize, "preset": p.preset})


def run_methods(pairs: list[dict], model: Path) -> list[dict[str, np.ndarray | None]]:
    """Every method's output for each pair, as ``prep evaluate`` produces them."""
    from exposure_models.inference.enhancer import Enhancer
    from pipeline.evaluation.baselines import BLIND_BASELINES, oracle
    from pipeline.params import load_params

    params = load_params(ROOT / "params.yaml")
    enhancer = Enhancer.load(model, params.enhance)
    outputs = []
    for pair in pairs:
        inp = pair["input"]
        out: dict[str, np.ndarray | None] = {"model": enhancer.correct(inp)}
        out |= {name: BLIND_BASELINES[name](inp) for name in params.evaluate.baselines}
        out["oracle"] = oracle(inp, pair["kind"], pair["tau"], pair["ev"], 2.2, "gamma")
        outputs.append(out)
    return outputs


def old_style(pairs: list[dict], outputs: list[dict]) -> list[dict[str, dict[str, float]]]:
    """The previous ``Tally.add``, image by image."""
    from exposure_core.metrics.histogram import HistogramSimilarity
    from exposure_core.metrics.scores import score_pair

    rng = np.random.default_rng(0)
    similarity: dict[tuple[str, str], HistogramSimilarity] = defaultdict(HistogramSimilarity)
    scored = []
    for pair, outs in zip(pairs, outputs, strict=True):
        seed = int(rng.integers(2**63))
        target, applied = pair["target"], [(m, p) for m, p in outs.items() if p is not None]
        with ThreadPoolExecutor(max(1, min(len(applied), os.cpu_count() or 1))) as pool:
            jobs = [pool.submit(score_pair, pred, target, False) for _, pred in applied]
            scored.append({m: job.result() for (m, _), job in zip(applied, jobs, strict=True)})
        for method, pred in applied:
            for group in ("all", pair["kind"]):
                similarity[(method, group)].add(pred, target, np.random.default_rng(seed))
    return scored


def new_style(
    pairs: list[dict], outputs: list[dict], device: str, workers: int
) -> list[dict[str, dict[str, float]]]:
    """``prep evaluate``'s scoring now: jobs to ``score_stream``, results to ``Tally.record``."""
    from exposure_models.metrics_torch import score_stream
    from pipeline.evaluation.scoring import Tally

    tally = Tally(0)
    bases = [{"set": "test", "id": p["id"], "group": p["kind"]} for p in pairs]
    jobs = (
        tally.job(base, pair["target"], outs)
        for base, pair, outs in zip(bases, pairs, outputs, strict=True)
    )
    scored = []
    for base, scores in zip(bases, score_stream(jobs, device, workers), strict=True):
        tally.record(base, list(scores.metrics), scores)
        scored.append(scores.metrics)
    return scored


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def largest_difference(a: list[dict], b: list[dict]) -> float:
    return max(abs(x[m][k] - y[m][k]) for x, y in zip(a, b, strict=True) for m in x for k in x[m])


def write_shards(pairs: list[dict], root: Path) -> Path:
    """The pairs as a test-only shard folder (``prep shard``), for the whole-command timing."""
    from dataclasses import replace

    from exposure_core import imageio
    from exposure_core.manifest import PairRow, write_jsonl
    from pipeline.params import Params, ShardParams, SplitFractions
    from pipeline.stages import shard

    folder, rows = root / "pairs", []
    for pair in pairs:
        imageio.write_image(folder / f"{pair['id']}.target.png", pair["target"])
        imageio.write_image(folder / f"{pair['id']}.input.png", pair["input"])
        side = pair["target"].shape[0]
        rows.append(
            PairRow(pair["id"], pair["scene"], "demo", "test", f"{pair['id']}.input.png",
                    f"{pair['id']}.target.png", pair["kind"], pair["tau"], pair["ev"], 2.2,
                    side, side)
        )  # fmt: skip
    write_jsonl(folder / "manifest.jsonl", rows)
    params = replace(Params(), shard=ShardParams(split=SplitFractions(0.0, 0.0, 1.0)))
    shard.run(params, folder, root / "shards")
    return root / "shards"


def prepare(tree: Path, images: int, side: int, folder: Path) -> None:
    """Shards of the benchmark pairs and a random-weight default model, made by TREE's own code.

    Runs this script with ``--prepare`` in a fresh process whose imports come from TREE, so a
    checkout with an older shard format or model schema gets inputs it can read.
    """
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, __file__, "--prepare", str(folder), "--tree", str(tree)]
    command += ["--images", str(images), "--side", str(side)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: preparing the inputs failed:\n{done.stderr[-2000:]}")


def whole_command(tree: Path, shards: Path, model: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command and every process it waited
    for, its scoring workers included) of one ``prep evaluate`` in TREE."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, "-m", "pipeline", "evaluate", "--shards", str(shards)]
    command += ["--model", str(model), "--output", str(out), "--params", "params.yaml"]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(
            f"{tree}: prep evaluate failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu | cuda (the new scoring only)")
    parser.add_argument("--before", type=Path, help="a checkout of the previous code")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare is not None:  # the inputs of the whole-command run, in TREE's own code
        sys.path.insert(0, str(args.tree.resolve()))
        args.prepare.mkdir(parents=True, exist_ok=True)
        make_model(args.prepare / "generator.pt", args.tree.resolve())
        write_shards(make_pairs(args.images, args.side), args.prepare)
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = make_pairs(args.images, args.side)
        make_model(root / "generator.pt")
        outputs = run_methods(pairs, root / "generator.pt")
        methods = len(outputs[0])
        old_times, old = timed(lambda: old_style(pairs, outputs), args.repeat)
        new_times, new = timed(
            lambda: new_style(pairs, outputs, args.device, args.workers), args.repeat
        )
        report = {
            "images": args.images,
            "side": args.side,
            "methods": methods,
            "cpu_cores": os.cpu_count(),
            "old_s": [round(t, 3) for t in old_times],
            "new_s": [round(t, 3) for t in new_times],
            "largest_difference": largest_difference(old, new),  # type: ignore[arg-type]
        }
        old_median, new_median = statistics.median(old_times), statistics.median(new_times)
        print(json.dumps(report))
        print(
            f"scoring {args.images} pairs of {args.side}², {methods} methods: old "
            f"{old_median:.2f} s ({args.images / old_median:.2f} pairs/s), new ({args.device}, "
            f"{args.workers} workers) {new_median:.2f} s ({args.images / new_median:.2f} "
            f"pairs/s): {old_median / new_median:.2f}x"
        )
        if args.before is not None:
            trees = {"before": args.before.resolve(), "now": ROOT}
            for name, tree in trees.items():
                prepare(tree, args.images, args.side, root / name)
            runs: dict[str, list[float]] = {"before": [], "now": []}
            cpus: dict[str, list[float]] = {"before": [], "now": []}
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    inputs, out = root / name, root / f"reports-{name}"
                    wall, cpu = whole_command(tree, inputs / "shards", inputs / "generator.pt", out)
                    runs[name].append(wall)
                    cpus[name].append(cpu)
            before, now = statistics.median(runs["before"]), statistics.median(runs["now"])
            print(json.dumps({k: [round(t, 2) for t in v] for k, v in runs.items()}))
            print(json.dumps({f"{k}_cpu": [round(t, 2) for t in v] for k, v in cpus.items()}))
            print(
                f"prep evaluate, {args.images} pairs (process start included): before "
                f"{before:.1f} s ({args.images / before:.2f} pairs/s), now {now:.1f} s "
                f"({args.images / now:.2f} pairs/s): {before / now:.2f}x"
            )
            cpu_before, cpu_now = statistics.median(cpus["before"]), statistics.median(cpus["now"])
            print(
                f"CPU seconds (all processes): before {cpu_before:.1f} s, now {cpu_now:.1f} s: "
                f"{cpu_before / cpu_now:.2f}x less CPU per pair"
            )


if __name__ == "__main__":
    main()
