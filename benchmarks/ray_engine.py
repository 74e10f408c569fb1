"""The Ray engine against the local engine: filter -> synthesize --recipes-only -> shard.

Two corpora: the demo corpus (the six photos ``make demo`` downloads) and ``--count`` photos of
256 x 256 (seeded random square crops of scikit-image's colour sample images, area-resized,
JPEG q90, like Places365's). Three engines run each corpus, in turn within each repetition:

- ``local``: the local engine, ``--workers`` worker processes (the shipped default is 2);
- ``ray 1 node``: a local Ray cluster of one node with ``--workers`` CPUs;
- ``ray 2 nodes``: two nodes on this machine with the same CPUs split between them.

Both clusters are started first (``ray.cluster_utils.Cluster``) and stay up; this process
connects to one at a time, and the timings are the stage calls once connected (what a stage
run inside one process pays; a ``prep`` command also pays ``import ray`` and the connection,
printed apart). Every run's outputs (manifests, tars, index) are compared byte for byte with
the local engine's. The per-core cost of each stage is CPU time of one process (``workers``
1, the local engine), the Ray overhead per photo the difference in core-seconds (wall time x
CPUs) between the Ray engine and the local engine, the driver's serial share the CPU time of
its main thread per photo (Ray's own threads, which submit the tasks and fetch their results,
apart). Medians of ``--repeat`` runs.

    python benchmarks/ray_engine.py --count 2000 --repeat 3
    python benchmarks/ray_engine.py --count 2000 --profile 25   # the driver, function by function
    python benchmarks/ray_engine.py --count 2000 --memory       # what a stage's process holds

On a shared 2-core machine the wall-clock ratios move by several per cent from run to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2

from exposure_core import imageio
from pipeline.params import EngineParams, Params, SplitFractions, load_params
from pipeline.stages import download, shard, synthesize
from pipeline.stages import filter as filter_stage

STAGES = ("filter", "synthesize", "shard")
PLACES_CHALLENGE = 8_000_000


def sample_images() -> list[np.ndarray]:
    """scikit-image's colour photos (8-bit RGB)."""
    import skimage.data as data

    left, right, _ = data.stereo_motorcycle()
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), left, right]
    photos += [data.immunohistochemistry(), data.retina(), data.hubble_deep_field(), data.cat()]
    return [p[..., :3] for p in photos]


def make_crops(out: Path, count: int, side: int = 256, seed: int = 0) -> None:
    """``count`` JPEGs of ``side`` px: seeded random square crops of the sample images."""
    images = sample_images()
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    for k in range(count):
        image = images[k % len(images)]
        size = int(rng.integers(side // 2, min(image.shape[:2]) + 1))
        y = int(rng.integers(0, image.shape[0] - size + 1))
        x = int(rng.integers(0, image.shape[1] - size + 1))
        crop = cv2.resize(image[y : y + size, x : x + size], (side, side), cv2.INTER_AREA)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        imageio.write_image(out / f"p{k:05d}.jpg", imageio.Codes(np.ascontiguousarray(crop)))


def params_for(engine: EngineParams, workers: int) -> Params:
    base = load_params(None)
    return dataclasses.replace(
        base,
        engine=engine,
        filter=dataclasses.replace(base.filter, workers=workers),
        synthesize=dataclasses.replace(base.synthesize, workers=workers, write_images=False),
        shard=dataclasses.replace(base.shard, split=SplitFractions(0.8, 0.1, 0.1)),
    )


Timing = tuple[float, float, float]  # wall, this process's CPU, its main thread's CPU (s)


def run_stages(params: Params, raw: Path, out: Path) -> list[Timing]:
    """filter -> synthesize -> shard into ``out``; each stage's wall seconds, the CPU seconds
    of this process and of its main thread. On the Ray engine this process is the driver: its
    main thread is the stage's serial share (one Python thread, whatever the cluster), the
    rest Ray's own threads (submitting tasks, fetching results: per task, beside the main
    thread)."""
    runs = (
        lambda: filter_stage.run(params, raw, out / "filtered"),
        lambda: synthesize.run(params, out / "filtered", out / "pairs"),
        lambda: shard.run(params, out / "pairs", out / "shards"),
    )
    seconds = []
    for run in runs:
        wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
        run()
        seconds.append(
            (time.perf_counter() - wall, time.process_time() - cpu, time.thread_time() - main)
        )
    return seconds


def tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def photos_in(raw: Path) -> int:
    return sum(1 for p in raw.rglob("*") if imageio.is_image(p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="photos of the second corpus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="CPUs for every engine")
    parser.add_argument("--cores", type=int, default=64, help="for the projection")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead: cProfile the driver of each stage on a 1-node cluster (--count photos, "
        "after a warm-up on the demo corpus) and print its N most costly functions",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="instead: the peak Python memory of the process that runs each stage (what the "
        "Ray driver holds too), per photo, on --count photos with the local engine in-process",
    )
    args = parser.parse_args()
    if args.profile:
        profile(args)
        return
    if args.memory:
        memory(args)
        return
    import ray
    from ray.cluster_utils import Cluster

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ray"], check=True)
    import_ray = time.perf_counter() - started
    store = {"object_store_memory": 200 * 2**20, "include_dashboard": False}
    one = Cluster(initialize_head=True, head_node_args={"num_cpus": args.workers, **store})
    two = Cluster(initialize_head=True, head_node_args={"num_cpus": args.workers // 2, **store})
    two.add_node(num_cpus=args.workers - args.workers // 2, object_store_memory=200 * 2**20)
    two.wait_for_nodes()
    engines = {
        "local": EngineParams("local"),
        "ray 1 node": EngineParams("ray", one.address),
        "ray 2 nodes": EngineParams("ray", two.address),
    }
    connect_s: list[float] = []
    report: dict[str, dict[str, list[list[Timing]]]] = {}
    per_core: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            corpora = {"demo": tmp / "demo", f"{args.count} photos": tmp / "crops"}
            download.run(load_params(None), corpora["demo"])
            make_crops(corpora[f"{args.count} photos"], args.count)
            for corpus, raw in corpora.items():
                counts[corpus] = photos_in(raw)
                times = report.setdefault(corpus, {})
                for r in range(args.repeat):
                    for name, engine in engines.items():
                        if engine.name == "ray":
                            start = time.perf_counter()
                            ray.init(address=engine.address, logging_level=logging.ERROR,
                                     log_to_driver=False)  # fmt: skip
                            connect_s.append(time.perf_counter() - start)
                        out = tmp / "runs" / corpus.replace(" ", "_") / name.replace(" ", "_")
                        out = out / str(r)
                        params = params_for(engine, args.workers)
                        times.setdefault(name, []).append(run_stages(params, raw, out))
                        ray.shutdown()
                        base = out.parents[1] / "local" / str(r)
                        for stage in ("filtered", "pairs", "shards"):
                            if tree(out / stage) != tree(base / stage):
                                raise SystemExit(f"{corpus}, {name}: {stage} differ from local")
                    print(f"{corpus}: run {r + 1} of {args.repeat}: outputs identical", flush=True)
            crops = corpora[f"{args.count} photos"]
            for r in range(args.repeat):
                one_core = params_for(EngineParams("local"), 1)
                seconds = run_stages(one_core, crops, tmp / "one_core" / str(r))
                for stage, (_, cpu, _) in zip(STAGES, seconds, strict=True):
                    per_core.setdefault(stage, []).append(cpu / counts[f"{args.count} photos"])
    finally:
        ray.shutdown()
        one.shutdown()
        two.shutdown()
    print_report(args, report, counts, per_core, import_ray, connect_s)


def profile(args: argparse.Namespace) -> None:
    """The driver's own time per function (cProfile of this process's main thread) for each
    stage on a one-node cluster: what is left of its serial per-photo work. Waiting on
    results (``ray.get``) is left out of the list."""
    import cProfile
    import io
    import pstats

    import ray
    from ray.cluster_utils import Cluster

    store = {"object_store_memory": 200 * 2**20, "include_dashboard": False}
    one = Cluster(initialize_head=True, head_node_args={"num_cpus": args.workers, **store})
    ray.init(address=one.address, logging_level=logging.ERROR, log_to_driver=False)
    params = params_for(EngineParams("ray", one.address), args.workers)
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            download.run(load_params(None), tmp / "demo")
            make_crops(tmp / "crops", args.count)
            run_stages(params, tmp / "demo", tmp / "warm")  # workers started, modules imported
            out = tmp / "run"
            runs = {
                "filter": lambda: filter_stage.run(params, tmp / "crops", out / "filtered"),
                "synthesize": lambda: synthesize.run(params, out / "filtered", out / "pairs"),
                "shard": lambda: shard.run(params, out / "pairs", out / "shards"),
            }
            for name, run in runs.items():
                profiler = cProfile.Profile()
                main = time.thread_time()
                profiler.runcall(run)
                main = time.thread_time() - main
                text = io.StringIO()
                stats = pstats.Stats(profiler, stream=text).sort_stats("tottime")
                stats.print_stats(args.profile + 1)
                lines = [line for line in text.getvalue().splitlines() if "get_objects" not in line]
                print(f"=== {name}: the driver's main thread {main / args.count * 1e3:.3f} ms per "
                      "photo (under cProfile, which slows Python code)")  # fmt: skip
                print("\n".join(lines[lines.index(next(x for x in lines if "ncalls" in x)) :]))
    finally:
        ray.shutdown()
        one.shutdown()


def memory(args: argparse.Namespace) -> None:
    """Peak memory that Python allocates (``tracemalloc``) while each stage runs in this
    process with the local engine and one worker, so every task's work is in it too: an upper
    bound on what the stage's driver keeps (its listing, manifest rows, samples, results),
    per photo, and what 8 M photos would need."""
    import tracemalloc

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        make_crops(tmp / "crops", args.count)
        params = params_for(EngineParams("local"), 1)
        runs = {
            "filter": lambda: filter_stage.run(params, tmp / "crops", tmp / "filtered"),
            "synthesize": lambda: synthesize.run(params, tmp / "filtered", tmp / "pairs"),
            "shard": lambda: shard.run(params, tmp / "pairs", tmp / "shards"),
        }
        print("| stage | peak Python memory, KB per photo | 8 M photos |")
        print("|---|---|---|")
        for name, run in runs.items():
            tracemalloc.start()
            run()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            per_photo = peak / args.count
            print(f"| `prep {name}` | {per_photo / 1e3:.1f} | "
                  f"{per_photo * PLACES_CHALLENGE / 1e9:.0f} GB |")  # fmt: skip


def print_report(
    args: argparse.Namespace,
    report: dict[str, dict[str, list[list[Timing]]]],
    counts: dict[str, int],
    per_core: dict[str, list[float]],
    import_ray: float,
    connect_s: list[float],
) -> None:
    med = statistics.median

    def stage_median(runs: list[list[Timing]], i: int, k: int = 0) -> float:
        return med([run[i][k] for run in runs])

    print(f"\nwall seconds, filter + synthesize + shard, median of {args.repeat} runs")
    print(f"{'corpus':14s} {'engine':12s} {'filter':>7s} {'synth':>7s} {'shard':>7s} "
          f"{'total':>7s} {'vs local':>9s} {'vs 1 node':>10s}")  # fmt: skip
    for corpus, times in report.items():
        totals = {
            name: med([sum(t[0] for t in run) for run in runs]) for name, runs in times.items()
        }
        for name, runs in times.items():
            cells = " ".join(f"{stage_median(runs, i):7.2f}" for i in range(len(STAGES)))
            vs_one = totals[name] / totals["ray 1 node"] if name == "ray 2 nodes" else None
            print(
                f"{corpus:14s} {name:12s} {cells} {totals[name]:7.2f} "
                f"{totals[name] / totals['local']:8.2f}x "
                + (f"{vs_one:9.2f}x" if vs_one is not None else "")
            )
    big = f"{args.count} photos"
    photos = counts[big]
    local, on_ray = report[big]["local"], report[big]["ray 1 node"]
    print(f"\nper photo, {photos} photos of 256 px (ms): one core's CPU time; core-ms = wall x "
          f"{args.workers} CPUs; the Ray driver's CPU time: its main thread (serial) and Ray's "
          "threads")  # fmt: skip
    print(f"{'stage':12s} {'1 core CPU':>11s} {'local core-ms':>14s} {'ray core-ms':>12s} "
          f"{'ray overhead':>13s} {'driver main':>12s} {'ray threads':>12s}")  # fmt: skip
    work = overhead = main = threads = 0.0
    for i, stage in enumerate(STAGES):
        one_core = med(per_core[stage]) * 1e3
        local_ms = stage_median(local, i) * args.workers / photos * 1e3
        ray_ms = stage_median(on_ray, i) * args.workers / photos * 1e3
        main_ms = stage_median(on_ray, i, 2) / photos * 1e3
        threads_ms = (stage_median(on_ray, i, 1) - stage_median(on_ray, i, 2)) / photos * 1e3
        work, overhead = work + one_core, overhead + ray_ms - local_ms
        main, threads = main + main_ms, threads + threads_ms
        print(f"{stage:12s} {one_core:11.2f} {local_ms:14.2f} {ray_ms:12.2f} "
              f"{ray_ms - local_ms:13.2f} {main_ms:12.3f} {threads_ms:12.3f}")  # fmt: skip
    print(f"{'all three':12s} {work:11.2f} {'':14s} {'':12s} {overhead:13.2f} {main:12.3f} "
          f"{threads:12.3f}")  # fmt: skip
    print(f"\nimport ray in a fresh process: {import_ray:.1f} s; ray.init to a running cluster: "
          f"{med(connect_s):.2f} s (median of {len(connect_s)})")  # fmt: skip
    spread = (work + max(overhead, 0.0)) / 1e3 * PLACES_CHALLENGE / args.cores / 60
    serial = main / 1e3 * PLACES_CHALLENGE / 60
    print(f"Places365-Challenge, {PLACES_CHALLENGE:,} photos on {args.cores} cores: the tasks "
          f"{spread:.1f} min ({work:.2f} + {max(overhead, 0.0):.2f} ms per photo per core), the "
          f"driver's main thread {serial:.1f} min ({main:.3f} ms per photo, serial; Ray's "
          f"threads {threads:.3f} ms per photo beside it); between {max(spread, serial):.1f} "
          f"(overlapped) and {spread + serial:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
