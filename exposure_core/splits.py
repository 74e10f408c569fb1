"""Split assignment per scene: the official split wins, otherwise a stable hash of the scene id.

All variants of one photo share its scene id, so assigning splits per scene keeps every
variant of a photo in one split. The hash depends on the scene id alone (not on the other
scenes, the row order or any seed), so adding scenes never moves an existing one, and the
result is the same on every platform and Python version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from exposure_core.errors import UserError
from exposure_core.manifest import SPLITS, normalise_split

FRACTION_TOLERANCE = 1e-6


class SplitError(UserError):
    """Split fractions or official splits that cannot be honoured."""


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Validate ``{"train": f, "val": f, "test": f}``: each in [0, 1], sum 1 within 1e-6."""
    if set(fractions) != set(SPLITS):
        raise SplitError(f"shard.split: expected keys {list(SPLITS)}, got {sorted(fractions)}")
    values = {name: float(fractions[name]) for name in SPLITS}
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise SplitError(f"shard.split.{name}: must be within [0, 1], got {value}")
    total = sum(values.values())
    if abs(total - 1.0) > FRACTION_TOLERANCE:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        raise SplitError(f"shard.split fractions must sum to 1, got {total:.6g} ({shown})")
    return values


def scene_unit(scene: str) -> float:
    """A uniform number in [0, 1) from the scene id: the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(b"split:" + scene.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hash_split(scene: str, fractions: Mapping[str, float]) -> str:
    """The split of a scene without an official one: its ``scene_unit`` against the fractions.

    Splits take consecutive intervals of [0, 1) in the order train, val, test; a split with
    fraction 0 never receives a scene (rounding slack goes to the last split with a share).
    """
    values = check_fractions(fractions)
    unit = scene_unit(scene)
    cumulative = 0.0
    chosen = ""
    for name in SPLITS:
        if values[name] <= 0.0:
            continue
        chosen = name
        cumulative += values[name]
        if unit < cumulative:
            return name
    return chosen


def official_scene_splits(rows: Iterable[tuple[str, str | None]]) -> dict[str, str | None]:
    """Each scene's official split from ``(scene, split)`` pairs, normalised to train/val/test.

    Raises ``SplitError`` naming the scene when its rows disagree (including some rows with an
    official split and some without).
    """
    found: dict[str, set[str | None]] = {}
    for scene, split in rows:
        found.setdefault(scene, set()).add(normalise_split(split))
    result: dict[str, str | None] = {}
    for scene, splits in found.items():
        if len(splits) > 1:
            shown = sorted("none" if s is None else s for s in splits)
            raise SplitError(
                f"scene {scene!r}: its rows disagree on the official split ({', '.join(shown)}); "
                "all variants of a scene must share one split"
            )
        result[scene] = next(iter(splits))
    return result


def assign_splits(
    rows: Iterable[tuple[str, str | None]], fractions: Mapping[str, float]
) -> dict[str, str]:
    """Scene -> split for ``(scene, official split or None)`` pairs: official first, else hash."""
    check_fractions(fractions)
    official = official_scene_splits(rows)
    return {
        scene: split if split is not None else hash_split(scene, fractions)
        for scene, split in official.items()
    }
