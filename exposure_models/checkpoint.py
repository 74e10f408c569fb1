"""Generator checkpoints: self-describing (arch + config + weights), atomic, ``weights_only``.

File layout: ``{"format": FORMAT, "version": VERSION, "arch": "unet", "config": {...},
"encoding": {"curve": ..., "gamma": ...}, "state_dict": {...}, "extra": {...}}``, holding only
tensors and plain Python values. ``encoding`` is the transfer curve the model was trained on;
a file written before it was stored loads with the default (power law, gamma 2.2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from exposure_core.errors import UserError
from exposure_core.exposure import Encoding
from exposure_core.fsutil import atomic_open
from exposure_models.seednets.registry import GENERATORS

FORMAT = "exposure-prep/generator"
VERSION = 1


class CheckpointError(UserError):
    """A file that is not a loadable generator checkpoint; the message names file and reason."""


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through ``atomic_open``: readers never see a half-written file, and a
    crash leaves the previous version in place."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def _plain(value: Any, where: str) -> Any:
    """``value`` with tuples as lists; ValueError for anything ``weights_only`` cannot load."""
    if value is None or isinstance(value, (str, bool, int, float, torch.Tensor)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{where}: dict keys must be str, got {bad[0]!r}")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"{where}: {type(value).__name__} is not storable in a checkpoint")


# U-Net files written while one flat config carried every architecture's fields: the U-Net
# read none of the others, and "unet_zeropad" was the U-Net with a zero-padded bottleneck.
_OLD_UNET_ARCHS = {"unet": "reflect", "unet_zeropad": "zeros"}
_OLD_UNET_FIELDS = ("levels", "kernel", "fov", "upsampling", "features", "blocks", "growth", "base")


def _current_unet(arch: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(arch, config)`` of a U-Net file of any version in today's form (others unchanged)."""
    if arch not in _OLD_UNET_ARCHS or (arch == "unet" and "levels" not in config):
        return arch, config
    config = {k: v for k, v in config.items() if k not in _OLD_UNET_FIELDS}
    return "unet", {**config, "arch": "unet", "bottleneck_padding": _OLD_UNET_ARCHS[arch]}


def save_generator(path: str | Path, model: nn.Module, extra: dict[str, Any] | None = None) -> None:
    """Write ``model`` (a class of ``GENERATORS``) with its config and ``extra`` (plain values
    and tensors only: step, metrics, params...) atomically to ``path``."""
    arch = next((name for name, cls in GENERATORS.items() if type(model) is cls), None)
    if arch is None:
        raise ValueError(f"{type(model).__name__} is not one of the generators {list(GENERATORS)}")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "config": _plain(model.config.to_dict(), "config"),
        "encoding": getattr(model, "encoding", Encoding()).to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": _plain(dict(extra or {}), "extra"),
    }
    atomic_torch_save(payload, path)


def load_generator(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator saved by :func:`save_generator`; returns ``(model, extra)`` with
    the model in eval mode on ``map_location``.

    Raises:
        CheckpointError: missing file, not a torch file, not a generator checkpoint, unknown
            arch or version, or weights that do not fit the stored config.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a foreign or corrupt file
        raise CheckpointError(
            f"{path}: not one of our model files (not loadable with "
            f"torch.load(weights_only=True): {type(err).__name__})"
        ) from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = sorted(map(str, ckpt))[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"{path}: not a generator checkpoint (format {FORMAT!r} expected; found {found}); "
            "a training checkpoint or a bare state dict is not loadable here"
        )
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported version {ckpt.get('version')!r}")
    arch = ckpt.get("arch")
    if arch not in GENERATORS and arch not in _OLD_UNET_ARCHS:
        raise CheckpointError(f"{path}: unknown arch {arch!r}; known: {sorted(GENERATORS)}")
    config, state = ckpt.get("config"), ckpt.get("state_dict")
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: config and state_dict must both be dicts")
    arch, config = _current_unet(arch, config)
    cls = GENERATORS[arch]
    try:
        model = cls(cls.config_type.from_dict(config))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid {arch} config {config}: {err}") from err
    try:
        model.encoding = Encoding.from_dict(ckpt.get("encoding"))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid encoding: {err}") from err
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {err}") from err
    model.to(map_location)
    model.eval()
    return model, dict(ckpt.get("extra") or {})


def warm_start(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Copy the weights of the generator file ``path`` into ``model`` (``train.init_from``);
    returns the file's ``extra``.

    Raises:
        CheckpointError: the file is not a generator checkpoint, or holds another network
            (arch or config) than ``model``, named with both configs.
    """
    source, extra = load_generator(path)
    target = getattr(model, "module", model)  # a DistributedDataParallel wrapper
    if type(source) is not type(target) or source.config != target.config:
        raise CheckpointError(
            f"{path}: train.init_from holds another network ({type(source).__name__} "
            f"{source.config.to_dict()}) than this run's ({type(target).__name__} "
            f"{target.config.to_dict()})"
        )
    target.load_state_dict(source.state_dict())
    return extra
