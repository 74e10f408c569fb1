"""``prep filter``'s per-photo statistics: this code against a checkout from before.

In one run, on the same photos, alternating processes of the two trees (``--before``: a
checkout, or a git revision whose ``exposure_core`` and ``pipeline`` are unpacked to a
temporary folder), one thread each (``OMP_NUM_THREADS=1``, ``cv2.setNumThreads(1)``):

- ``features``: ``exposure_core.ev_estimate.features`` of the decoded photo (the estimate's
  statistics; a large photo is block-averaged first);
- ``assess``: ``exposure_core.exposure_stats.assess`` on the photo's analysis sample (the
  statistics, the estimate and the verdict that ``prep filter`` records);
- ``filter``: ``pipeline.stages.filter.analyse``, what ``prep filter`` does per photo: probe,
  decode, sample and assess the file.

Photos: the demo photos (astronaut, coffee, chelsea, rocket) scaled to 256 x 256 (a Places365
``val_256`` photo) and to 2000 x 3000, written as JPEG (quality 95). Prints the per-photo
median (ms) over ``--rounds`` processes x ``--repeat`` runs of each tree and the ratio
before / now, and checks that both trees give the same features and verdicts, bit for bit.

    python benchmarks/filter_speed.py --before 5379917           # ~2 min on 2 cores
    python benchmarks/filter_speed.py --before ../main --rounds 3 --repeat 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ("astronaut", "coffee", "chelsea", "rocket")
SIZES = {"256x256": (256, 256), "2000x3000": (2000, 3000)}  # (height, width)
STEPS = ("features", "assess", "filter")


def make_photos(folder: Path) -> dict[str, list[Path]]:
    """The demo photos at each of ``SIZES``, as JPEG files under ``folder``."""
    import cv2
    import skimage.data

    photos: dict[str, list[Path]] = {}
    for label, (height, width) in SIZES.items():
        paths = []
        for name in DEMO:
            rgb = getattr(skimage.data, name)()
            if rgb.ndim == 2:
                rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
            method = cv2.INTER_AREA if rgb.shape[0] > height else cv2.INTER_CUBIC
            scaled = cv2.resize(rgb, (width, height), interpolation=method)
            path = folder / f"{name}_{label}.jpg"
            cv2.imwrite(str(path), scaled[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            paths.append(path)
        photos[label] = paths
    return photos


def measure(tree: Path, photos: dict[str, list[Path]], repeat: int) -> dict[str, object]:
    """Per-photo milliseconds of each step in each run, and a digest of the results."""
    import cv2

    cv2.setNumThreads(1)
    sys.path.insert(0, str(tree))
    import exposure_core
    from exposure_core import imageio
    from exposure_core.ev_estimate import features
    from exposure_core.exposure_stats import analysis_sample, assess
    from pipeline.params import FilterParams, IoParams
    from pipeline.stages.filter import analyse

    if not Path(exposure_core.__file__).resolve().is_relative_to(tree):
        raise SystemExit(f"{tree}: exposure_core was imported from {exposure_core.__file__}")
    io, p = IoParams(), FilterParams()
    digest = hashlib.sha256()
    times: dict[str, dict[str, list[float]]] = {}
    for label, paths in photos.items():
        images = [imageio.read_image(path) for path in paths]
        samples = [analysis_sample(image, p.analysis_side) for image in images]
        calls = {
            "features": [lambda im=im: features(im) for im in images],
            "assess": [lambda s=s: assess(s, p) for s in samples],
            "filter": [lambda path=path: analyse(path, io, p) for path in paths],
        }
        for step, fns in calls.items():
            fns[0]()  # warm: the estimator's weights, first-call allocations
            runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                for fn in fns:
                    fn()
                runs.append((time.perf_counter() - start) * 1e3 / len(fns))
            times.setdefault(label, {})[step] = runs
        for image, sample in zip(images, samples, strict=True):
            found = assess(sample, p)
            digest.update(features(image).tobytes())
            digest.update(repr((found.keep, found.reason, found.stats, found.ev_estimate)).encode())
    return {"times": times, "digest": digest.hexdigest()}


def before_tree(before: str, scratch: Path) -> Path:
    """``before`` as a folder: itself if it is one, else the revision's packages unpacked."""
    if Path(before).is_dir():
        return Path(before).resolve()
    tree = scratch / "before"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", before, "exposure_core", "pipeline"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"--before {before}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run_worker(tree: Path, photos: Path, repeat: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--worker", str(tree), "--photo-list", str(photos)]
    out = subprocess.run(
        [*cmd, "--repeat", str(repeat)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{tree}: the measuring process failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="a checkout or a git revision of the previous code")
    ap.add_argument("--rounds", type=int, default=3, help="processes per tree, alternating")
    ap.add_argument("--repeat", type=int, default=3, help="runs per process")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--photo-list", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        photos = {
            k: [Path(p) for p in v] for k, v in json.loads(args.photo_list.read_text()).items()
        }
        print(json.dumps(measure(args.worker.resolve(), photos, args.repeat)))
        return 0
    if not args.before:
        ap.error("--before is required (e.g. --before 5379917, the code before this benchmark)")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        trees = {"before": before_tree(args.before, scratch), "now": ROOT}
        photo_list = scratch / "photos.json"
        photo_list.write_text(
            json.dumps({k: [str(p) for p in v] for k, v in make_photos(scratch).items()})
        )
        runs: dict[str, dict[str, dict[str, list[float]]]] = {name: {} for name in trees}
        digests: dict[str, set[str]] = {name: set() for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                result = run_worker(tree, photo_list, args.repeat)
                digests[name].add(str(result["digest"]))
                for label, steps in result["times"].items():  # type: ignore[union-attr]
                    for step, values in steps.items():
                        runs[name].setdefault(label, {}).setdefault(step, []).extend(values)
    same = len(digests["before"] | digests["now"]) == 1
    print(
        f"before: {args.before}; {args.rounds} processes x {args.repeat} runs per tree, "
        f"{len(DEMO)} photos per size; ms per photo (median of the runs), one thread"
    )
    print("\n| photos | step | before ms | now ms | before / now |")
    print("|---|---|---:|---:|---:|")
    for label in SIZES:
        for step in STEPS:
            before = statistics.median(runs["before"][label][step])
            now = statistics.median(runs["now"][label][step])
            print(f"| {label} | {step} | {before:.2f} | {now:.2f} | {before / now:.2f}x |")
    print(f"\nfeatures and verdicts identical, bit for bit: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
