"""Sample grids of ``prep evaluate``: input | best blind baseline | model | target.

Samples are chosen while the set streams by: the first few images of each exposure group
are kept as small panels, then picked round-robin over the groups in report order
(preferring scenes not shown yet), so the grids cover every kind present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from exposure_core import imageio
from pipeline.evaluation.methods import MODEL

PANEL_SIDE = 384  # long side of each panel, pixels
LABEL_ROWS = 28  # label strip above each panel
GAP = 4  # pixels between panels


def panel(image: np.ndarray, side: int = PANEL_SIDE) -> np.ndarray:
    """float32 (H, W, 3) RGB [0, 1] resized to long side ``side`` (area down, linear up)."""
    if image.dtype != np.float32 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be float32 (H, W, 3), got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.clip(cv2.resize(image, size, interpolation=method), 0.0, 1.0).astype(np.float32)


def panel_codes(image: np.ndarray) -> imageio.Codes:
    """The 8-bit sample-grid panel of a float32 (H, W, 3) RGB [0, 1] image (``panel``)."""
    return imageio.float_to_codes(panel(image), 8)


def labelled(image: np.ndarray, label: str) -> np.ndarray:
    """A panel with a dark strip on top holding ``label`` in white (cv2.putText)."""
    width = image.shape[1]
    scale = 0.55
    (text_w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if text_w > width - 8:  # shrink long labels to fit the panel
        scale *= (width - 8) / text_w
    # putText only draws on 8-bit images: draw a coverage mask, use it as float at once.
    mask = np.zeros((LABEL_ROWS, width), np.uint8)
    origin = (4, LABEL_ROWS - 9)
    cv2.putText(mask, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    coverage = mask.astype(np.float32)[..., None] / np.float32(255)
    strip = np.float32(0.1) + np.float32(0.9) * coverage  # white text on dark grey
    return np.concatenate([np.repeat(strip, 3, axis=2), image])


def grid(panels: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Labelled panels of one height side by side, separated by ``GAP`` white columns."""
    pieces: list[np.ndarray] = []
    for label, image in panels:
        if pieces:
            pieces.append(np.ones((image.shape[0] + LABEL_ROWS, GAP, 3), np.float32))
        pieces.append(labelled(image, label))
    return np.concatenate(pieces, axis=1)


@dataclass
class Candidate:
    id: str
    scene: str
    caption: str  # e.g. "tau 0.62" or "EV -1.5"
    panels: dict[str, imageio.Codes]  # "input", "target", "model", each blind baseline


@dataclass
class SampleChooser:
    """Keeps up to ``count`` candidates per exposure group; ``chosen()`` picks the grids."""

    count: int
    group_order: tuple[str, ...]
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)

    def wants(self, group: str) -> bool:
        return self.count > 0 and len(self.candidates.get(group, [])) < self.count

    def offer(
        self, group: str, item_id: str, scene: str, caption: str, images: dict
    ) -> Candidate | None:
        """``images``: role -> float32 (H, W, 3) image; kept as 8-bit panels. Returns the
        candidate kept (further panels may be added to it), None when the group is full."""
        if not self.wants(group):
            return None
        panels = {role: panel_codes(img) for role, img in images.items()}
        candidate = Candidate(item_id, scene, caption, panels)
        self.candidates.setdefault(group, []).append(candidate)
        return candidate

    def chosen(self) -> list[Candidate]:
        """Round-robin over the groups in order, preferring scenes not shown yet."""
        queues = {g: list(self.candidates.get(g, [])) for g in self.group_order}
        picked: list[Candidate] = []
        scenes: set[str] = set()
        while len(picked) < self.count and any(queues.values()):
            for group in self.group_order:
                queue = queues[group]
                if not queue or len(picked) >= self.count:
                    continue
                fresh = next((c for c in queue if c.scene not in scenes), queue[0])
                queue.remove(fresh)
                picked.append(fresh)
                scenes.add(fresh.scene)
        return picked


def write_grid(path: Path, candidate: Candidate, baseline: str | None, png_level: int = 1) -> None:
    """``input | <baseline> (best blind) | model | target`` as a PNG, written atomically."""
    roles = [("input", f"input ({candidate.caption})")]
    if baseline is not None:
        roles.append((baseline, f"{baseline} (best blind)"))
    roles += [(MODEL, MODEL), ("target", "target")]
    images = [(label, imageio.codes_to_float(candidate.panels[role])) for role, label in roles]
    imageio.write_image(path, grid(images), png_level=png_level)
