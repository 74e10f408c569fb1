"""The variants of one clean photo: their recipes, drawn from (seed, photo key) only, and
their rendering, which ``prep synthesize`` writes and the shard readers re-derive bit for bit
(``exposure_core.shardfmt.render``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from exposure_core import camera, imageio, shardfmt
from exposure_core.errors import UserError
from exposure_core.manifest import ev_tag
from pipeline.params import SynthesizeParams


def stable_int(text: str) -> int:
    """A platform-independent 64-bit integer hash of a string."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def draw_taus(seed: int, key: str, tau: tuple[float, float], count: int) -> tuple[float, ...]:
    """``count`` thresholds uniform in ``[lo, hi]``, from (seed, photo key) only."""
    lo, hi = tau
    rng = np.random.default_rng([seed, stable_int(key)])
    return tuple(float(lo + (hi - lo) * u) for u in rng.random(count))


def draw_cameras(s: SynthesizeParams, key: str) -> tuple[camera.CameraRecipe, ...]:
    """The camera-like variants' recipes: one per ``camera_evs`` entry, then ``camera_samples``
    with a drawn ev; variant ``k`` draws from (seed, ``<photo key>--cam<k>``) only."""
    quality = (s.camera_quality[0], s.camera_quality[1]) if s.camera_quality else None
    spans = [((float(ev), float(ev)), 0.0) for ev in s.camera_evs]
    lo, hi = s.camera_ev_range
    spans += [((float(lo), float(hi)), s.camera_min_ev)] * s.camera_samples
    return tuple(
        camera.draw_recipe(
            np.random.default_rng([s.seed, stable_int(f"{key}--cam{k}")]), span, min_ev, quality
        )
        for k, (span, min_ev) in enumerate(spans)
    )


def camera_fields(recipe: camera.CameraRecipe) -> dict[str, float | int | None]:
    """A recipe's manifest ``camera`` object: every field but ``ev`` (the row's own)."""
    return {k: v for k, v in recipe.to_dict().items() if k != "ev"}


Spec = tuple[str, str, float | None, float | None, camera.CameraRecipe | None]


def variant_specs(
    s: SynthesizeParams, taus: tuple[float, ...], cameras: tuple[camera.CameraRecipe, ...]
) -> list[Spec]:
    """(file name, kind, tau, ev, camera recipe) of every input variant of one photo; EV 0
    reuses the target file."""
    fmt = s.format
    names: list[Spec] = [
        (f"tau{k}.{fmt}", "overexpose", tau, None, None) for k, tau in enumerate(taus)
    ]
    names += [
        (f"target.{fmt}" if ev == 0 else f"ev{ev_tag(ev)}.{fmt}", "ev", None, float(ev), None)
        for ev in s.evs
    ]
    names += [(f"cam{k}.{fmt}", "camera", None, c.ev, c) for k, c in enumerate(cameras)]
    return names


def render_variant(
    s: SynthesizeParams,
    kind: str,
    tau: float | None,
    ev: float | None,
    cam: camera.CameraRecipe | None,
    clean: imageio.Codes,
    raw_renders: dict[float, imageio.Codes],
) -> imageio.Codes:
    """One variant's codes: a RAW render when there is one, else the shards' lookup-table
    rendering (``shardfmt.render``), so a shard reader re-derives this file bit for bit."""
    if kind == "ev" and ev in raw_renders:
        return raw_renders[ev]
    fields = camera_fields(cam) if cam is not None else None
    recipe = shardfmt.Variant("", kind, tau, ev, s.gamma, s.curve, camera=fields)
    reason = shardfmt.variant_problem(recipe)
    if reason is not None:
        raise UserError(f"cannot render a {kind!r} variant: {reason}")
    return shardfmt.render(clean, recipe)


def load_clean(
    path: Path, evs: list[float], max_pixels: int
) -> tuple[imageio.Codes, dict[float, imageio.Codes]]:
    """The clean photo's codes, plus one render per EV for RAW files (decoded once)."""
    if not imageio.is_raw(path):
        return imageio.read_codes(path, max_pixels), {}
    wanted = sorted({0.0, *evs})
    renders = dict(zip(wanted, imageio.render_raw(path, wanted, max_pixels), strict=True))
    return renders[0.0], renders
