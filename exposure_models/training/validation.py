"""Validation during training: PSNR/SSIM of the generator on validation pairs, and a grid.

Scored with ``prep evaluate``'s CPU metrics (``exposure_core.metrics.fast``), so the numbers
logged during training are the ones the evaluation reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from exposure_core import shardfmt
from exposure_core.metrics import fast
from exposure_core.upsample import UNRESIZED_LONG_SIDE
from exposure_models.generator import predict_padded
from exposure_models.training.loader import LoaderConfig, make_loader


@dataclass
class Validation:
    """Validation pairs held in memory, at the scale the network works at: short side
    ``resize`` when the model trains on resized images, else a long side of at most
    ``UNRESIZED_LONG_SIDE``."""

    pairs: list[tuple[torch.Tensor, torch.Tensor]]  # (1, 3, H, W) RGB [0, 1] each
    corrupt: list[str] = field(default_factory=list)  # "<file>: <reason>" of val shards left out

    @classmethod
    def load(
        cls,
        shards: Path,
        count: int,
        resize: int = 0,
        verify: bool = True,
        pre_expose: bool = False,
    ) -> Validation:
        """The first ``count`` pairs of the val split (none when ``count`` is 0).

        With ``verify`` each val shard's sha256 is checked against ``index.json`` first, as the
        train split's: a corrupt one is left out and named in ``corrupt``; validation goes on
        with the intact ones (none left: no validation). No val split is a ``UserError``.
        """
        if count <= 0:
            return cls([])
        checked = shardfmt.check_shards(shards, "val", verify=verify)
        if not checked.usable:
            return cls([], checked.corrupt)
        config = LoaderConfig(batch_size=1, crop=None, train=False, pre_expose=pre_expose)
        loader = make_loader(checked.urls(shards), config)
        pairs = []
        for batch in loader:
            x, y = batch.input, batch.target
            h, w = x.shape[-2:]
            scale = resize / min(h, w) if resize > 0 else UNRESIZED_LONG_SIDE / max(h, w)
            if scale < 1:
                size = (max(1, round(h * scale)), max(1, round(w * scale)))
                x = nn.functional.interpolate(x, size=size, mode="area")
                y = nn.functional.interpolate(y, size=size, mode="area")
            pairs.append((x, y))
            if len(pairs) >= count:
                break
        return cls(pairs, checked.corrupt)

    @torch.no_grad()
    def score(
        self, generator: nn.Module, device: torch.device
    ) -> tuple[dict[str, float], np.ndarray]:
        """Mean PSNR/SSIM (RGB, [0, 1]) and a uint8 grid: one ``input | output | target`` row
        per pair (at most four)."""
        was_training = generator.training
        generator.eval()
        psnrs, ssims, rows = [], [], []
        for x, y in self.pairs:
            out = predict_padded(generator, x.to(device)).float().clamp(0, 1).cpu()
            pred, target, source = (t[0].permute(1, 2, 0).numpy() for t in (out, y, x))
            reference = fast.Reference(target)
            psnrs.append(reference.psnr(pred))
            ssims.append(reference.ssim(pred))
            if len(rows) < 4:
                rows.append(np.concatenate([source, pred, target], axis=1))
        generator.train(was_training)
        width = max(r.shape[1] for r in rows)
        grid = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
        finite = [v for v in psnrs if math.isfinite(v)]
        scores = {
            "psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean(ssims)),
        }
        return scores, (np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)
