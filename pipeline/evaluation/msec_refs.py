"""MSEC's protocol in ``prep evaluate``: every reference a render of an MSEC folder has.

An MSEC split folder (``INPUT_IMAGES/`` with ``GT_IMAGES/`` for training and validation, or
``expert_{a..e}_testing_set/`` for testing) is scored against its main target (expert C, or
``data.msec.expert`` for testing: the set ``paired:<folder>``) and, as further sets, against
each other expert whose folder exists (``paired:<folder>:expert_<x>``) and against the scene's
EV 0 render (``paired:<folder>:ev0``). The EV 0 render is also a method (``ev0_render``):
the correctly exposed camera rendering scored against the experts.
"""

from __future__ import annotations

from pathlib import Path

from exposure_core.discover import find_dirs
from exposure_core.manifest import SourceItem
from pipeline.sources import msec

EXPERTS = "abcde"
EV0_REFERENCE = "ev0"


def msec_split(folder: Path) -> str:
    """``testing`` for a folder with expert_<x>_testing_set/, else ``validation`` (GT_IMAGES:
    training and validation are paired alike)."""
    return (
        "testing"
        if any(find_dirs(folder, f"expert_{x}_testing_set") for x in EXPERTS)
        else ("validation")
    )


def main_expert(split: str, expert: str) -> str:
    """The expert the set ``paired:<folder>`` is scored against."""
    return expert if split == "testing" else "c"


def references(
    folder: Path, split: str, expert: str, pairs: list[SourceItem]
) -> tuple[list[str], dict[str, dict[str, Path]]]:
    """The further references of an MSEC folder's pairs: their names (``expert_<x>``,
    ``ev0``) and ``{scene: {name: file}}`` (absolute paths; a scene without one has no
    entry for it). The EV 0 render of each scene is under ``ev0``."""
    names: list[str] = []
    by_scene: dict[str, dict[str, Path]] = {}
    if split == "testing":
        for x in EXPERTS:
            if x == expert:
                continue
            dirs = find_dirs(folder, msec.expert_folder(split, x))
            if len(dirs) != 1:
                continue
            names.append(f"expert_{x}")
            for pair in pairs:
                base = Path(pair.path).stem.rsplit("_", 1)[0]
                truth = dirs[0] / f"{base}.jpg"
                if truth.is_file():
                    by_scene.setdefault(pair.scene, {})[f"expert_{x}"] = truth
    names.append(EV0_REFERENCE)
    for pair in pairs:
        if pair.ev == 0:
            by_scene.setdefault(pair.scene, {})[EV0_REFERENCE] = Path(pair.path)
    return names, by_scene
