"""Training checkpoints: models, optimizers, scaler, step, RNG states and params, atomically;
and restoring them (``resume_state`` decides whether a checkpoint may be resumed, ``restore``
loads it). With the loader replayed to the saved step, a resumed run continues exactly as an
uninterrupted one would have.

``checkpoints/last.pt`` loads with ``torch.load(weights_only=True)``; a checkpoint of another
architecture or a foreign file gives a ``CheckpointError`` naming the file and the reason.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exposure_models.checkpoint import CheckpointError, atomic_torch_save
from exposure_models.training.gan_step import GanStep

FORMAT = "exposure-prep/train"
VERSION = 1


def rng_state() -> dict[str, Any]:
    """Every global random generator a training step may draw from: torch (CPU and CUDA),
    numpy and Python, as tensors and plain values (``weights_only`` loads them)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "words": torch.tensor(words), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore ``rng_state()``; parts a checkpoint lacks (older files) are left as they are."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        n = state["numpy"]
        keys = n["keys"].numpy().astype(np.uint32)
        np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "python" in state:
        py = state["python"]
        random.setstate((py["version"], tuple(int(w) for w in py["words"]), py["gauss"]))


def save_training(path: Path, *, step: int, gan: GanStep, identity: dict[str, Any]) -> None:
    """Write the full training state atomically (a kill never leaves a broken file).

    ``identity`` holds what a resumed run must share: ``architecture``, ``params`` (the
    training params that shape the result) and ``data`` (the shard index digest).
    """
    state = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        **identity,
        **gan.state_dict(),
        "rng": rng_state(),
    }
    atomic_torch_save(_interned(state), path)


def _interned(value: Any) -> Any:
    """``value`` with every string interned. Pickle writes a string once per object: keys
    restored from a checkpoint are new objects where a fresh run's are shared, so without this
    a resumed run's file would differ in bytes (not in content) from an uninterrupted one's."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {_interned(k): _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_interned(v) for v in value)
    return value


def restore(gan: GanStep, state: dict[str, Any]) -> int:
    """Load a training checkpoint into ``gan`` and the global generators; returns its step."""
    gan.load_state_dict(state)
    set_rng_state(state["rng"])
    return int(state["step"])


def resume_state(
    last: Path, identity: dict[str, Any], fresh: bool, resume: bool
) -> tuple[dict[str, Any] | None, str | None]:
    """The checkpoint to resume from (None to start over), and a note when one is discarded.

    ``last`` is resumed when it was made with the same ``identity`` (architecture, training
    params other than the runtime keys, shards); otherwise training starts over, and the note
    says why. ``resume=True`` insists on resuming (``CheckpointError`` when
    impossible); ``fresh=True`` ignores the checkpoint.
    """
    if fresh:
        return None, None
    if not last.exists():
        if resume:
            raise CheckpointError(f"{last}: no checkpoint to resume from")
        return None, None
    state = load_training(last)
    changed = [c for changes in differences(state, identity).values() for c in changes]
    if changed and resume:
        raise CheckpointError(
            f"{last} cannot be resumed: {'; '.join(changed)}. "
            "Restore those params, or start over with `prep train --fresh`"
        )
    if changed:
        return None, (
            f"[yellow]{last} was made with other settings "
            f"({'; '.join(changed)[:300]}): starting over[/yellow]"
        )
    return state, None


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
