"""Training checkpoints: models, optimizers, scaler, step, RNG states and params, atomically.

``checkpoints/last.pt`` loads with ``torch.load(weights_only=True)``; a checkpoint of another
architecture or a foreign file gives a ``CheckpointError`` naming the file and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from exposure_models.checkpoint import CheckpointError, atomic_torch_save

FORMAT = "exposure-prep/train"
VERSION = 1


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training(
    path: Path,
    *,
    step: int,
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    identity: dict[str, Any],
) -> None:
    """Write the full training state atomically (a kill never leaves a broken file).

    ``identity`` holds what a resumed run must share: ``architecture``, ``params`` (the
    training params that shape the result) and ``data`` (the shard index digest).
    """
    atomic_torch_save(
        {
            "format": FORMAT,
            "version": VERSION,
            "step": step,
            **identity,
            "generator": generator.state_dict(),
            "discriminator": discriminator.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
        },
        path,
    )


def load_training(path: Path) -> dict[str, Any]:
    """Read a training checkpoint; ``CheckpointError`` for anything that is not one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign or corrupt files
        raise CheckpointError(
            f"{path}: not a training checkpoint (torch.load(weights_only=True) failed: "
            f"{type(err).__name__}); move it away or run `prep train --fresh`"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a training checkpoint of this project; move it away or use --fresh"
        )
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {state.get('version')}")
    return state


def _changes(saved: Any, current: Any, prefix: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = sorted(set(saved) | set(current))
        return [c for k in keys for c in _changes(saved.get(k), current.get(k), f"{prefix}.{k}")]
    return [] if saved == current else [f"{prefix}: {saved!r} -> {current!r}"]


def differences(state: dict[str, Any], identity: dict[str, Any]) -> dict[str, list[str]]:
    """What differs between a checkpoint and the current run, per part of ``identity``."""
    return {
        part: changes
        for part, value in identity.items()
        if (changes := _changes(state.get(part), value, part))
    }
