"""Synthesis throughput: ``prep synthesize`` against the codec floor, and its memory.

In one run, on the same photos (``--photos DIR``: the first ``--images`` photos of a folder,
e.g. real 1024 px photos; else the demo photos with flips, written as PNG), at the default
codec settings (``io.png_level``):
  floor  decode each source once and encode each output once with the same codec and
         settings, writing the files; no exposure maths, no manifest.
  ours   ``pipeline.stages.synthesize.run`` with 1 and with N workers.
Prints medians of --repeat runs and the ratios ours/floor (goal <= 1.15 with 1 worker) and
1-worker/N-worker speed-up (goal >= 1.8 with 2). Peak memory is measured in a fresh process
for the image count and four times as many (streaming: it should not grow).

    python benchmarks/synthesize.py --images 24 --repeat 5 --workers 2
    python benchmarks/synthesize.py --photos /path/to/photos --images 12 --repeat 5 --no-rss
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exposure_core import imageio  # noqa: E402
from pipeline.params import Params, SynthesizeParams  # noqa: E402
from pipeline.stages import synthesize  # noqa: E402


def make_photos(folder: Path, count: int) -> list[Path]:
    """``count`` PNG photos: the six demo photos, flipped and rotated for variety."""
    import skimage.data

    left, right, _ = skimage.data.stereo_motorcycle()
    base = [
        skimage.data.astronaut(),
        skimage.data.coffee(),
        skimage.data.chelsea(),
        skimage.data.rocket(),
        left,
        right,
    ]
    paths = []
    for i in range(count):
        img = base[i % len(base)]
        img = np.rot90(img, (i // len(base)) % 4)
        if (i // (4 * len(base))) % 2:
            img = img[:, ::-1]
        path = folder / f"photo{i:04d}.png"
        imageio.write_image(path, np.ascontiguousarray(img).astype(np.float32) / 255)
        paths.append(path)
    return paths


def floor(photos: list[Path], out: Path, outputs_per_photo: int, png_level: int) -> float:
    """Decode once, encode+write each output once with the same codec; no maths."""
    start = time.perf_counter()
    for i, path in enumerate(photos):
        codes = imageio.decode_codes(path.read_bytes(), str(path))
        folder = out / f"p{i}"
        folder.mkdir(parents=True)
        for k in range(outputs_per_photo):
            data = imageio.encode(codes, ".png", png_level=png_level)
            (folder / f"{k}.png").write_bytes(data)
    return time.perf_counter() - start


def ours(photos_dir: Path, out: Path, workers: int) -> float:
    params = Params(synthesize=replace(SynthesizeParams(), workers=workers))
    start = time.perf_counter()
    synthesize.run(params, photos_dir, out)
    return time.perf_counter() - start


def peak_rss_mb(photos_dir: Path, out: Path) -> float:
    """Peak resident memory of a fresh process running the stage with 1 worker."""
    code = (
        "import resource, sys; from pathlib import Path; from dataclasses import replace;"
        "from pipeline.params import Params, SynthesizeParams;"
        "from pipeline.stages import synthesize;"
        "p = Params(synthesize=replace(SynthesizeParams(), workers=1));"
        f"synthesize.run(p, Path({str(photos_dir)!r}), Path({str(out)!r}));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--photos", type=Path, help="a folder of photos to use (sorted)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-memory runs")
    args = parser.parse_args()

    s = SynthesizeParams()
    outputs = 1 + s.tau_samples + sum(1 for ev in s.evs if ev != 0)  # target + variants
    level = Params().io.png_level
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if args.photos is not None:
            found = sorted(p for p in args.photos.iterdir() if imageio.is_image(p))
            photos = []
            (tmp_path / "photos").mkdir()
            for path in found[: args.images]:
                photos.append(tmp_path / "photos" / path.name)
                shutil.copyfile(path, photos[-1])
            args.images = len(photos)
        else:
            photos = make_photos(tmp_path / "photos", args.images)
        times: dict[str, list[float]] = {"floor": [], "ours_1": [], f"ours_{args.workers}": []}
        for r in range(args.repeat):
            for name in times:
                out = tmp_path / f"out-{name}-{r}"
                if name == "floor":
                    times[name].append(floor(photos, out, outputs, level))
                else:
                    times[name].append(ours(tmp_path / "photos", out, int(name.split("_")[1])))
                shutil.rmtree(out, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        rss_small = rss_big = float("nan")
        if not args.no_rss:
            big = tmp_path / "photos4x"
            make_photos(big, 4 * args.images)
            rss_small = peak_rss_mb(tmp_path / "photos", tmp_path / "rss1")
            rss_big = peak_rss_mb(big, tmp_path / "rss4")

    n_out = args.images * outputs
    print(
        f"{args.images} photos -> {n_out} PNG files each run (png_level {level}); "
        f"median of {args.repeat} runs"
    )
    print(f"{'run':<10}{'seconds':>10}{'files/s':>10}")
    for name, sec in med.items():
        print(f"{name:<10}{sec:>10.3f}{n_out / sec:>10.1f}")
    summary = {
        "ours_1 / floor": round(med["ours_1"] / med["floor"], 3),
        f"speed-up 1 -> {args.workers} workers": round(
            med["ours_1"] / med[f"ours_{args.workers}"], 2
        ),
        f"peak RSS MB ({args.images} photos)": round(rss_small, 1),
        f"peak RSS MB ({4 * args.images} photos)": round(rss_big, 1),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
