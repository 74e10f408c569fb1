"""``prep evaluate --task sr``: a super-resolution model against bicubic and Lanczos.

Each clean high-resolution photo (the test split's targets, one per scene, or the photos
given with ``--photos``) is cropped to a multiple of the scale, degraded as the model's
training pairs were (``train.sr.degradation``, bicubic x4 by default), and brought back by the
model, by OpenCV's bicubic and by Lanczos-4. Scores: PSNR and SSIM on BT.601 luma (Y) and on
RGB, ``scale`` px shaved per border (``pipeline.evaluation.sr_metrics``). Writes
``<output>/sr_metrics.json`` (per image and means) and ``<output>/sr_results.md``.

``model``, ``output``, ``shards`` and each of ``photos`` may be URLs (``exposure_core.storage``):
the model, the shards' index and test tars, and the photos (objects or folders) are fetched
into their mirrors; the two files are written in the output's mirror and copied up (other
objects under the output are left alone, as other files of a local output folder are).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from exposure_core import imageio, shardfmt, storage
from exposure_core.console import Summary, track
from exposure_core.discover import find_photos
from exposure_core.errors import UserError
from exposure_core.fsutil import atomic_write_json, atomic_write_text, output_lock
from exposure_models.inference.upscaler import Upscaler
from pipeline.evaluation.sr_metrics import SCORES, crop_to_multiple, interpolate, sr_scores
from pipeline.evaluation.testsets import test_set
from pipeline.params import Params

METHODS = ("model", "bicubic", "lanczos")


def _photos(paths: list[str | Path], max_pixels: int) -> Iterator[tuple[str, np.ndarray]]:
    files: list[Path] = []
    for given in paths:
        path = storage.pull(str(given)) if storage.is_url(given) else Path(given)
        if path.is_dir():
            files += find_photos(path).photos
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{given}: no such photo or folder")
    if not files:
        raise UserError(f"no photos in {', '.join(map(str, paths))}")
    for file in files:
        yield file.stem, imageio.read_image(file, max_pixels)


def _targets(shards: Path, max_images: int) -> Iterator[tuple[str, np.ndarray]]:
    """The test split's clean targets, once per scene (its variants share one target)."""
    seen: set[str] = set()
    for item in test_set(shards, 0).items:
        scene = str(item.meta.get("scene") or item.id)
        if scene in seen:
            continue
        seen.add(scene)
        yield scene, item.target
        if max_images and len(seen) >= max_images:
            return


def _table(means: dict[str, dict[str, float]], n: int, scale: int, degradation: str) -> str:
    lines = [
        f"# Super-resolution x{scale} ({n} images, {degradation} degradation)",
        "",
        "| method | PSNR Y (dB) | SSIM Y | PSNR RGB (dB) | SSIM RGB |",
        "|---|---|---|---|---|",
    ]
    for method, m in means.items():
        lines.append(
            f"| {method} | {m['psnr_y']:.3f} | {m['ssim_y']:.4f} | "
            f"{m['psnr_rgb']:.3f} | {m['ssim_rgb']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def run(
    params: Params,
    model: str | Path,
    output: str | Path,
    shards: str | Path | None = None,
    photos: list[str | Path] | None = None,
) -> Summary:
    """Score ``model`` and the interpolation baselines; ``photos`` replace the test split.
    Any of them may be a URL (see the module docstring)."""
    local = storage.mirror_path(str(output)) if storage.is_url(output) else Path(output)
    with output_lock(local, "evaluate"), storage.remote_lock(str(output), "evaluate"):
        test_shards = None if shards is None or photos else shardfmt.local_shards(shards, ("test",))
        summary = _run(params, storage.fetch_file(model), str(model), local, test_shards, photos)
        if storage.is_url(output):
            storage.publish(local, str(output), remove_stale=False)
            summary.notes.append(f"  copied to {output}")
    return summary


def _run(
    params: Params,
    model: Path,
    model_name: str,
    output: Path,
    shards: Path | None,
    photos: list[str | Path] | None,
) -> Summary:
    summary = Summary("evaluate --task sr", unit="images", rate_key="images")
    upscaler = Upscaler.load(model, params.enhance.device)
    s = upscaler.scale
    max_images = params.evaluate.max_images
    if photos:
        source = _photos(photos, params.io.max_pixels)
    elif shards is not None:
        source = _targets(shards, max_images)
    else:
        raise UserError("give --shards (its test split is scored) or --photos")
    rows: list[dict[str, object]] = []
    for name, photo in track(source, "super-resolution"):
        hr = crop_to_multiple(photo, s)
        if min(hr.shape[:2]) < 2 * s + 11:  # SSIM's 11-px window after shaving
            summary.notes.append(f"[yellow]{name}: too small ({photo.shape[:2]}), skipped[/yellow]")
            continue
        lr = upscaler.degrade(hr)
        outputs = {
            "model": upscaler.upscale(lr),
            "bicubic": interpolate(lr, s, "bicubic"),
            "lanczos": interpolate(lr, s, "lanczos"),
        }
        rows.append({"image": name, **{m: sr_scores(out, hr, s) for m, out in outputs.items()}})
        summary.add("images")
        if photos and max_images and len(rows) >= max_images:
            break
    if not rows:
        raise UserError("no image could be scored")
    means = {
        m: {k: float(np.mean([r[m][k] for r in rows])) for k in SCORES}  # type: ignore[index]
        for m in METHODS
    }
    gain = {k: means["model"][k] - means["bicubic"][k] for k in SCORES}
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        output / "sr_metrics.json",
        {
            "scale": s,
            "degradation": upscaler.degradation,
            "model": model_name,
            "images": len(rows),
            "means": means,
            "model_minus_bicubic": gain,
            "per_image": rows,
        },
    )
    table = _table(means, len(rows), s, upscaler.degradation)
    atomic_write_text(output / "sr_results.md", table)
    summary.notes += [line for line in table.splitlines() if line.startswith("|")]
    summary.notes.append(
        f"model - bicubic: PSNR Y {gain['psnr_y']:+.3f} dB, SSIM Y {gain['ssim_y']:+.4f}; "
        f"written {output / 'sr_metrics.json'}"
    )
    return summary
