"""Optional learned metrics of ``prep evaluate``: LPIPS and the Inception Score (seed 002).

Both run exported modules given by path (``evaluate.lpips_weights``,
``evaluate.inception_weights``); nothing is downloaded. A ``.pt2`` file is a
``torch.export`` program; any other file is loaded as TorchScript. To export them once,
where the packages and the network are available::

    # Inception-v3 classifier (ImageNet logits) at its fixed 299 x 299 input: torch.export.
    import torch, torchvision
    net = torchvision.models.inception_v3(weights="DEFAULT").eval()
    batch = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
    program = torch.export.export(net, (torch.rand(2, 3, 299, 299),), dynamic_shapes=batch)
    torch.export.save(program, "models/inception_v3.pt2")

    # LPIPS (pip install lpips) on images of any size: TorchScript trace.
    import lpips, torch
    net = lpips.LPIPS(net="alex").eval()
    example = torch.rand(1, 3, 64, 64) * 2 - 1
    torch.jit.trace(net, (example, example)).save("models/lpips_alex.pt")

Contracts: ``lpips(pred, target)`` takes two (B, 3, H, W) tensors in [-1, 1] and returns
per-image distances (B elements, e.g. (B, 1, 1, 1)). The classifier takes (B, 3, 299, 299)
ImageNet-normalised RGB and returns (B, classes) logits (or a tuple whose first element is).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from exposure_models.vgg import IMAGENET_MEAN, IMAGENET_STD

INCEPTION_SIDE = 299
IS_SPLITS = 10  # Salimans et al.; used when every split gets at least IS_MIN_PER_SPLIT images
IS_MIN_PER_SPLIT = 10


def load_module(path: str | Path, what: str, key: str) -> torch.nn.Module:
    """Load an exported module on the CPU in eval mode: ``torch.export`` for ``.pt2`` files,
    TorchScript otherwise. ValueError naming the file and the param when it cannot be loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such {what} file ({key})")
    kind = "a torch.export program" if path.suffix == ".pt2" else "TorchScript"
    try:
        if path.suffix == ".pt2":
            module = torch.export.load(str(path)).module()
        else:
            with warnings.catch_warnings():  # TorchScript still loads; the warning is noise here
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises many types for a file that is not an export
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(
            f"{path}: cannot load the {what} as {kind} ({key}; {type(exc).__name__}: "
            f"{first_line[:160]}); export it as described in pipeline/perceptual.py"
        ) from exc
    if path.suffix == ".pt2":
        return module  # an exported program's module has no train/eval switch
    return module.eval()


def _tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 (H, W, 3) RGB [0, 1] -> (1, 3, H, W) on ``device``."""
    if image.dtype != np.float32 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be float32 (H, W, 3), got {image.dtype} {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)


def _first(out: object) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the module returned {type(out).__name__}, expected a tensor")
    return out


class Lpips:
    """LPIPS distance of one image pair with a TorchScript LPIPS module."""

    def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
        self.module = module.to(device)
        self.device = device

    @torch.inference_mode()
    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        """pred, target: float32 (H, W, 3) RGB in [0, 1]; lower is closer."""
        a, b = (_tensor(x, self.device) * 2 - 1 for x in (pred, target))
        out = _first(self.module(a, b))
        if out.numel() != 1:
            raise ValueError(f"LPIPS returned shape {tuple(out.shape)} for one pair")
        return float(out.float().item())


class InceptionScore:
    """Collects class probabilities of images; ``result()`` is the Inception Score."""

    def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
        self.module = module.to(device)
        self.device = device
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        self.probs: list[np.ndarray] = []

    @torch.inference_mode()
    def add(self, image: np.ndarray) -> None:
        """image: float32 (H, W, 3) RGB in [0, 1], resized (aspect not kept) to 299 x 299."""
        shrink = image.shape[0] * image.shape[1] > INCEPTION_SIDE**2
        side = (INCEPTION_SIDE, INCEPTION_SIDE)
        small = cv2.resize(
            image, side, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
        x = (_tensor(np.clip(small, 0.0, 1.0), self.device) - self.mean) / self.std
        logits = _first(self.module(x)).float()
        if logits.ndim != 2 or logits.shape[0] != 1:
            raise ValueError(f"the classifier returned shape {tuple(logits.shape)}, want (1, C)")
        self.probs.append(torch.softmax(logits, dim=1)[0].double().cpu().numpy())

    def result(self) -> dict[str, float]:
        """``{"inception_score", "inception_score_std", "inception_splits"}``."""
        return inception_score(np.stack(self.probs))


def inception_score(probs: np.ndarray) -> dict[str, float]:
    """``exp(E_x[KL(p(y|x) || p(y))])`` per split; mean and std over the splits.

    Args:
        probs: (N, classes) rows of class probabilities (each sums to 1).
    Returns:
        Mean and standard deviation over ``IS_SPLITS`` splits when every split holds at
        least ``IS_MIN_PER_SPLIT`` images, otherwise over one split of all N (std 0).
    """
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must be (N, classes) with N > 0, got {probs.shape}")
    splits = IS_SPLITS if probs.shape[0] >= IS_SPLITS * IS_MIN_PER_SPLIT else 1
    scores = []
    for part in np.array_split(probs.astype(np.float64), splits):
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(float(np.exp(terms.sum(axis=1).mean())))
    return {
        "inception_score": float(np.mean(scores)),
        "inception_score_std": float(np.std(scores)),
        "inception_splits": float(splits),
    }


class LearnedMetrics:
    """LPIPS per image and the Inception Score per (set, method), for the modules given."""

    def __init__(self, lpips_path: str, inception_path: str, device: torch.device) -> None:
        self.device = device
        self.lpips = None
        if lpips_path:
            module = load_module(lpips_path, "LPIPS model", "evaluate.lpips_weights")
            self.lpips = Lpips(module, device)
        self.inception = None
        if inception_path:
            self.inception = load_module(
                inception_path, "Inception classifier", "evaluate.inception_weights"
            )
        self.scores: dict[str, dict[str, InceptionScore]] = {}

    def per_image(
        self, set_name: str, target: np.ndarray, outputs: dict[str, np.ndarray | None]
    ) -> dict[str, dict[str, float]]:
        """``{method: {"lpips": d}}`` for this image; feeds the outputs to the IS counters."""
        extra: dict[str, dict[str, float]] = {}
        for method, pred in outputs.items():
            if pred is None:
                continue
            if self.lpips is not None:
                extra[method] = {"lpips": self.lpips(pred, target)}
            if self.inception is not None:
                per_set = self.scores.setdefault(set_name, {})
                if method not in per_set:
                    per_set[method] = InceptionScore(self.inception, self.device)
                per_set[method].add(pred)
        return extra

    def results(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{set: {method: {"inception_score", ...}}}`` (empty without a classifier)."""
        return {s: {m: c.result() for m, c in by.items()} for s, by in self.scores.items()}
