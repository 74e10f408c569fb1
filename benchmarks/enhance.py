"""Enhancement cost per 12 MP photo: our path against its parts and the naive alternative.

In one run, on the same synthetic 4000 x 3000 photo (a demo photo tiled, written as JPEG):
  ours        ``prep enhance``'s path: decode, working-resolution network pass, guided
              transfer to full resolution, encode (``Enhancer`` + ``imageio``)
  working     the network pass at working resolution alone (downscale + forward)
  full-res    the generator run directly on the full-resolution photo (padded to its
              multiple), where memory allows (--full-res; needs several GB per MP on CPU)
Prints median seconds of --repeat runs and peak memory of each (measured in fresh processes).
The generator is a trained ``--model`` or a random one built from a preset (--preset).

    python benchmarks/enhance.py --preset demo --repeat 3 --full-res
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKER = r"""
import json, resource, sys, time
from pathlib import Path
import torch
from exposure_core import imageio
from pipeline.params import load_params
from exposure_models.inference.enhancer import Enhancer
from exposure_models.generator import predict_padded
mode, model, photo, out, repeat = sys.argv[1:6]
params = load_params(Path(sys.argv[6]) / "params.yaml")
enh = Enhancer.load(Path(model), params.enhance)
times = []
for _ in range(int(repeat)):
    start = time.perf_counter()
    if mode == "ours":
        codes = imageio.read_codes(photo)
        imageio.write_image(out, enh.correct_codes(codes), quality=95)
    elif mode == "working":
        codes = imageio.read_codes(photo)
        enh.forward([imageio.downscale(codes, enh.working_size(codes.height, codes.width))])
    else:
        x = torch.from_numpy(imageio.read_image(photo)).permute(2, 0, 1)[None]
        with torch.inference_mode():
            predict_padded(enh.model, x)
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": times, "peak_mb": peak}))
"""


def make_photo(path: Path, height: int = 3000, width: int = 4000) -> None:
    import skimage.data

    from exposure_core import imageio

    tile = skimage.data.coffee().astype(np.float32) / 255
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    imageio.write_image(path, np.ascontiguousarray(np.tile(tile, reps)[:height, :width]))


def make_model(path: Path, preset: str) -> None:
    from exposure_models.checkpoint import save_generator
    from exposure_models.training.setup import build_models
    from pipeline.params import load_params

    p = load_params(ROOT / "params.yaml", {"train.preset": preset}).train
    generator, _ = build_models(p)
    save_generator(path, generator.eval(), {"resize": p.resize, "preset": preset})


def measure(mode: str, model: Path, photo: Path, repeat: int, tmp: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(model), str(photo), str(tmp / "out.jpg"),
         str(repeat), str(ROOT)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"median_s": round(statistics.median(result["seconds"]), 3),
            "peak_mb": round(result["peak_mb"])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a trained generator.pt")
    parser.add_argument("--preset", default="demo", help="random generator of this preset")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-res", action="store_true", help="also time the naive pass")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        photo = tmp_path / "photo12mp.jpg"
        make_photo(photo)
        model = args.model or tmp_path / "generator.pt"
        if args.model is None:
            make_model(model, args.preset)
        start = time.perf_counter()
        modes = ["ours", "working"] + (["full-res"] if args.full_res else [])
        results = {mode: measure(mode, model, photo, args.repeat, tmp_path) for mode in modes}
    results["photo"] = "4000x3000 JPEG"
    results["model"] = str(args.model) if args.model else f"random {args.preset} preset"
    results["total_s"] = round(time.perf_counter() - start, 1)
    if "median_s" in results.get("full-res", {}):
        results["full-res / ours"] = round(results["full-res"]["median_s"]
                                           / results["ours"]["median_s"], 2)  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
