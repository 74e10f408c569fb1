"""The offline demo source: colour photos bundled with scikit-image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exposure_core import imageio
from exposure_core.errors import UserError
from exposure_core.manifest import SourceItem
from pipeline.sources.base import FetchContext

# Official split of the demo, by whole scenes so that val and test are never empty. Chosen by
# a rule, not by results: test is the scene nearest the set's median brightness (coffee, mean
# linear luminance 0.204); val is the outlier (rocket, a night scene, 0.060). The two motorcycle
# frames are a stereo pair of one scene and stay together.
DEMO_SCENES = {
    "astronaut": ("astronaut", "train"),
    "coffee": ("coffee", "test"),
    "chelsea": ("chelsea", "train"),
    "rocket": ("rocket", "val"),
    "motorcycle_left": ("motorcycle", "train"),
    "motorcycle_right": ("motorcycle", "train"),
}


def _load(name: str) -> np.ndarray:
    """One bundled photo as uint8 RGB (scikit-image ships these files; no network)."""
    import skimage.data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skimage.data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    return getattr(skimage.data, name)()


def write_photo(job: tuple[str, str, int]) -> str:
    """Write one demo photo ``(name, path, png_level)`` as PNG; returns the path (a
    module-level function: an engine runs it in its workers)."""
    name, path, png_level = job
    image = _load(name).astype(np.float32) / np.float32(255)
    imageio.write_image(path, image, png_level=png_level)
    return path


def _path(job: tuple[str, str, int]) -> str:
    return job[1]


def fetch(ctx: FetchContext, dest: Path) -> list[SourceItem]:
    """Write the demo photos to ``dest`` as PNG and list them (clean photos, official split).
    Every name is checked before any file is written; the photos are written on the engine."""
    names = ctx.params.data.demo.images
    for name in names:
        if name not in DEMO_SCENES:
            raise UserError(
                f"data.demo.images: unknown demo photo {name!r}; choose from {sorted(DEMO_SCENES)}"
            )
    jobs = [(name, str(dest / f"{name}.png"), ctx.params.io.png_level) for name in names]
    items = []
    for name, _ in zip(
        names, ctx.engine.map_ordered(write_photo, jobs, 1, describe=_path), strict=True
    ):
        scene, split = DEMO_SCENES[name]
        items.append(SourceItem("demo", f"demo-{scene}", f"{name}.png", split=split))
        ctx.summary.add("photos")
    return items
