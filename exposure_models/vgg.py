"""VGG-19 ``features`` (Simonyan & Zisserman), layer for layer as torchvision builds it, so
torchvision's ImageNet checkpoint loads into it without torchvision."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e7d.pth"
# torchvision's configuration "E": conv widths, "M" = 2x2 max pool.
_VGG19_CFG: tuple[int | str, ...] = (
    *(64, 64, "M"),
    *(128, 128, "M"),
    *(256, 256, 256, 256, "M"),
    *(512, 512, 512, 512, "M"),
    *(512, 512, 512, 512, "M"),
)
N_CONVS = 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _how_to_get(path: object) -> str:
    return (
        f"VGG-19 weights file {str(path)!r}: download torchvision's ImageNet VGG-19 checkpoint "
        f"from {VGG19_URL} and set train.loss.vgg_weights in params.yaml to its path"
    )


def load_vgg19_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a torchvision ``vgg19`` checkpoint (or its bare ``features`` state dict) from
    ``path`` with ``weights_only=True``; return its ``features.N.*`` tensors.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file is not a VGG-19 state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing {_how_to_get(path)}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a foreign file
        raise ValueError(f"unreadable ({err.__class__.__name__}) {_how_to_get(path)}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"not a state dict of tensors: {_how_to_get(path)}")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("features."):
            out[key] = value
        elif key.split(".")[0].isdigit():
            out[f"features.{key}"] = value
    return out


class VGG19Features(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> the ReLU outputs after the requested conv layers.

    ``taps`` are 1-based indices among VGG-19's 16 conv layers; the network is cut after the
    deepest one. ``weights`` is the path of torchvision's checkpoint; random weights only with
    ``random_init=True`` (tests). Parameters are frozen and the module stays in eval mode.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        taps: Sequence[int] = (1, 4, 7, 10, 13),
        random_init: bool = False,
    ) -> None:
        super().__init__()
        taps = tuple(taps)
        if not taps or list(taps) != sorted(set(taps)) or not 1 <= taps[0] <= taps[-1] <= N_CONVS:
            raise ValueError(f"taps must be increasing conv indices in 1..{N_CONVS}, got {taps}")
        if (weights is None) != random_init:  # random weights must be asked for, never implied
            raise ValueError(
                "pass exactly one of weights (a file path) or random_init=True; "
                f"got weights={weights!r}, random_init={random_init}. " + _how_to_get(weights)
            )
        layers: list[nn.Module] = []
        self._tap_index: list[int] = []  # index in `features` of each tapped ReLU
        in_ch, n_conv = 3, 0
        for item in _VGG19_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers += [nn.Conv2d(in_ch, int(item), 3, padding=1), nn.ReLU()]
            in_ch, n_conv = int(item), n_conv + 1
            if n_conv in taps:
                self._tap_index.append(len(layers) - 1)
            if n_conv == taps[-1]:
                break
        self.features = nn.Sequential(*layers)
        self.taps = taps
        if weights is not None:
            self._load(Path(weights))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:
        state = load_vgg19_state_dict(path)
        wanted = self.features.state_dict()
        missing = [k for k in wanted if f"features.{k}" not in state]
        if missing:
            raise ValueError(f"no tensors for {missing[:4]} in {_how_to_get(path)}")
        bad = [k for k, v in wanted.items() if state[f"features.{k}"].shape != v.shape]
        if bad:
            raise ValueError(f"wrong shapes for {bad[:4]} in {_how_to_get(path)}")
        self.features.load_state_dict({k: state[f"features.{k}"] for k in wanted})

    def train(self, mode: bool = True) -> VGG19Features:
        # A frozen feature extractor: never switch to training mode.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._tap_index:
                out.append(x)
        return out
