"""Tiny training shards built through the real synthesize and shard stages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from exposure_core import imageio
from exposure_core.manifest import SourceItem, write_jsonl
from pipeline.params import Params, SynthesizeParams
from pipeline.stages import shard, synthesize


def make_shards(
    root: Path, photos: dict[str, np.ndarray], size: int = 64, **overrides: Any
) -> Path:
    """Shards with train (4 scenes), val (1) and test (1) splits of small crops; ``overrides``
    overrides fields of the synthesize section (e.g. ``camera_evs``)."""
    raw = root / "raw" / "demo"
    names = list(photos)[:6]
    splits = ["train"] * 4 + ["val", "test"]
    items = []
    for name, split in zip(names, splits, strict=True):
        img = photos[name]
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        imageio.write_image(
            raw / f"{name}.png", np.ascontiguousarray(img[y : y + size, x : x + size])
        )
        items.append(SourceItem("demo", f"demo-{name}", f"{name}.png", split=split))
    write_jsonl(raw / "index.jsonl", items)
    params = Params(
        synthesize=replace(
            SynthesizeParams(), workers=1, tau_samples=2, evs=[-1.5, 1.0], **overrides
        )
    )
    params = replace(params, io=replace(params.io, min_side=16))
    synthesize.run(params, root / "raw", root / "pairs")
    shard.run(params, root / "pairs", root / "shards")
    return root / "shards"
