"""MSEC (Afifi et al., CVPR 2021): five renderings per FiveK photo at relative EVs, plus GT.

Layout (per split archive, or a local copy at ``data.msec.path`` holding the split folders):
``training/INPUT_IMAGES``, ``training/GT_IMAGES`` (expert C), ``validation/...`` likewise,
``testing/INPUT_IMAGES`` with ``testing/expert_<x>_testing_set``. An input
``a0716-MB_20030906_030_P1.5.JPG`` pairs with the ground truth named like it without the last
``_<token>`` (``a0716-MB_20030906_030.jpg``, extension matched case-insensitively): pairs are
made by name only, never by sort order, so one missing file shifts nothing.

``data.msec.target`` picks each input's target: ``expert`` (MSEC's protocol: the expert's
retouch) or ``ev0`` (the scene's EV 0 render: the same camera rendering, so the pair differs
by exposure only).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from exposure_core import imageio
from exposure_core.discover import find_dirs, find_photos
from exposure_core.engines import LOCAL, Engine
from exposure_core.errors import UserError
from exposure_core.fsutil import relpath
from exposure_core.manifest import SourceItem, normalise_split, slug
from pipeline.sources.base import FetchContext
from pipeline.sources.remote import Archive, obtain

# Inputs per split (DATASETS.md; validation is unverified): differences become notes.
EXPECTED_INPUTS = {"training": 17_675, "validation": 750, "testing": 5_905}
EVS_PER_SCENE = 5
GT_SUFFIXES = (".jpg", ".jpeg")
_EV = re.compile(r"^([NP]?)(\d+(?:\.\d+)?)$", re.IGNORECASE)


def parse_ev(token: str) -> float:
    """``"N1.5" -> -1.5``, ``"P1" -> 1.0``, ``"0" -> 0.0`` (also ``N1``, ``P0``, ``0.0``).

    Raises ``ValueError`` for anything else, including an unsigned non-zero value.
    """
    match = _EV.match(token)
    if match is None:
        raise ValueError(f"cannot parse an EV from {token!r} (expected N1.5, N1, 0, P1, P1.5)")
    sign, value = match.group(1).upper(), float(match.group(2))
    if not sign and value != 0:
        raise ValueError(f"EV token {token!r} has no sign (N or P)")
    return -value if sign == "N" else value


def split_input_name(stem: str) -> tuple[str, str]:
    """``"a0716-MB_20030906_030_P1.5" -> ("a0716-MB_20030906_030", "P1.5")``."""
    base, sep, token = stem.rpartition("_")
    if not sep or not base:
        raise ValueError(f"{stem!r} has no _<EV> suffix")
    return base, token


def _one_dir(root: Path, name: str, split: str) -> Path:
    found = find_dirs(root, name)
    preferred = [d for d in found if d.parent.name.lower() == split] or found
    if len(preferred) != 1:
        what = "no" if not preferred else "several"
        listed = ", ".join(str(d) for d in preferred) or "-"
        raise ValueError(f"MSEC {split}: {what} {name}/ folder under {root} ({listed})")
    return preferred[0]


def expert_folder(split: str, expert: str) -> str:
    """The folder of expert ``expert``'s retouches: the testing set has all five experts,
    training and validation expert C only (``GT_IMAGES``)."""
    return f"expert_{expert}_testing_set" if split == "testing" else "GT_IMAGES"


def parse_inputs(
    ctx: FetchContext, inputs: list[Path], strict: bool
) -> list[tuple[Path, str, float]]:
    """``(path, scene base name, EV)`` of each input; a name without a known EV suffix is a
    reject, or with ``strict`` a ``UserError`` naming the file."""
    parsed = []
    for path in inputs:
        try:
            base, token = split_input_name(path.stem)
            parsed.append((path, base, parse_ev(token)))
        except ValueError as exc:
            if strict:
                raise UserError(f"{path}: not an MSEC render name ({exc})") from exc
            ctx.reject(path, f"unparseable MSEC input name: {exc}")
    return parsed


def _expert_truths(ctx: FetchContext, gt_dir: Path) -> dict[str, Path]:
    truths: dict[str, Path] = {}
    for path in find_photos(gt_dir, recursive=False).photos:
        if path.suffix.lower() not in GT_SUFFIXES:
            ctx.reject(path, f"ground truth is not a .jpg file ({path.name})")
        elif path.stem in truths:
            ctx.reject(path, f"duplicate ground truth of {truths[path.stem].name}")
        else:
            truths[path.stem] = path
    return truths


def scene_size_mismatch(job: tuple[str, Path, list[Path], int]) -> str | None:
    """Why the renders and target of one scene ``(base, target, renders, max_pixels)`` do not
    have one size (read from the headers, as displayed), naming the first odd render; None
    when they do (a module-level function: an engine runs it in its workers)."""
    base, truth, renders, max_pixels = job
    want = imageio.probe(truth, max_pixels)
    for render in renders:
        got = imageio.probe(render, max_pixels)
        if (got.width, got.height) != (want.width, want.height):
            return (
                f"MSEC scene {base}: {render.name} is {got.width}x{got.height}, but its "
                f"target {truth.name} is {want.width}x{want.height} (a scene's renders and "
                f"target have one size); its {len(renders)} render(s) left out"
            )
    return None


def mismatched_sizes(
    scenes: dict[str, list[Path]],
    truths: dict[str, Path],
    max_pixels: int,
    engine: Engine = LOCAL,
) -> dict[str, str]:
    """The scenes whose renders and target do not all have one size, each with the reason
    (``scene_size_mismatch``, run on ``engine``): ``{base: reason}``.

    MSEC's own training split has one (a0068: renders turned by an EXIF tag, expert image
    stretched to the other aspect), so such a scene is left out with one line, not the split.
    """
    jobs = [
        (base, truths[base], renders, max_pixels)
        for base, renders in scenes.items()
        if base in truths
    ]
    found = engine.map_ordered(scene_size_mismatch, jobs, 1, describe=lambda job: str(job[1]))
    return {job[0]: why for job, why in zip(jobs, found, strict=True) if why is not None}


def pair_split(
    ctx: FetchContext,
    dest: Path,
    root: Path,
    split: str,
    *,
    local: bool = False,
    target: str | None = None,
) -> list[SourceItem]:
    """Pair the inputs of one split with their targets, by name.

    ``local``: a copy read in place (paths relative to ``dest`` may climb out of it), where a
    render name without a known EV is an error, and a scene without its target or with a
    target of another size than its renders is one reject. ``target``: ``expert`` or ``ev0``
    (default ``data.msec.target``).
    """
    spec = ctx.params.data.msec
    target = target or spec.target
    inputs_dir = _one_dir(root, "INPUT_IMAGES", split)
    inputs = find_photos(inputs_dir, recursive=False).photos
    parsed = parse_inputs(ctx, inputs, strict=local)
    scenes: dict[str, list[Path]] = {}
    for path, base, _ in parsed:
        scenes.setdefault(base, []).append(path)
    if target == "ev0":
        where = inputs_dir
        truths = {base: path for path, base, ev in parsed if ev == 0}
    else:
        where = _one_dir(root, expert_folder(split, spec.expert), split)
        truths = _expert_truths(ctx, where)
    per_scene = local or target == "ev0"
    if local:
        odd = mismatched_sizes(scenes, truths, ctx.params.io.max_pixels, ctx.engine)
        for base, reason in sorted(odd.items()):
            truth = truths.pop(base)
            ctx.reject(truth, reason, ground_truth=str(truth), renders=len(scenes.pop(base)))
            parsed = [row for row in parsed if row[1] != base]
    locate: Callable[[Path], str] = (
        (lambda p: relpath(p, dest)) if local else (lambda p: p.relative_to(dest).as_posix())
    )
    items, used = [], Counter[str]()
    for base in scenes:
        if base not in truths and per_scene:
            _reject_scene(ctx, base, scenes[base], where, target)
    for path, base, ev in parsed:
        truth = truths.get(base)
        if truth is None:
            if not per_scene:
                expected = where / f"{base}.jpg"
                ctx.reject(
                    path, f"no ground truth {expected.name} in {where}", ground_truth=str(expected)
                )
            continue
        used[base] += 1
        items.append(
            SourceItem(
                source="msec",
                scene=f"msec-{slug(base)}",
                path=locate(path),
                kind="native",
                target=locate(truth),
                split=normalise_split(split),
                ev=ev,
            )
        )
    if target != "ev0":
        for base, truth in sorted(truths.items()):
            if base not in used:
                ctx.reject(
                    truth,
                    f"ground truth without inputs (none named {base}_<EV> in {inputs_dir})",
                    inputs=f"{inputs_dir / base}_<EV>",
                )
    _report(ctx, split, len(inputs), used)
    return items


def _reject_scene(
    ctx: FetchContext, base: str, renders: list[Path], where: Path, target: str
) -> None:
    """One line for a scene whose target is missing: its renders are all left out."""
    missing = f"EV 0 render {base}_0.JPG" if target == "ev0" else f"expert image {base}.jpg"
    expected = where / (f"{base}_0.JPG" if target == "ev0" else f"{base}.jpg")
    ctx.reject(
        expected,
        f"MSEC scene {base}: no {missing} in {where} (data.msec.target: {target}); "
        f"its {len(renders)} render(s) left out",
        ground_truth=str(expected),
        renders=len(renders),
    )


def _report(ctx: FetchContext, split: str, n_inputs: int, used: Counter[str]) -> None:
    expected = EXPECTED_INPUTS.get(split)
    if expected is not None and n_inputs != expected:
        ctx.note(f"msec {split}: {n_inputs} input files, DATASETS.md lists {expected}")
    odd = sum(1 for n in used.values() if n != EVS_PER_SCENE)
    if odd:
        ctx.note(f"msec {split}: {odd} scene(s) without exactly {EVS_PER_SCENE} paired inputs")


def _local_root(path: str, splits: list[str]) -> Path:
    """The local copy's folder, every listed split present (else one line naming it)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"data.msec.path: {root}: no such folder")
    for split in splits:
        if not (root / split).is_dir():
            raise UserError(
                f"data.msec.path: {root / split}: no such folder (MSEC's {split} split; "
                "list only the splits the copy holds in data.msec.splits)"
            )
    return root


def fetch(ctx: FetchContext, dest: Path) -> list[SourceItem]:
    """List every input of the configured splits paired with its target.

    With ``data.msec.path`` the splits are read in place from that folder (MSEC's own layout
    and file names, nothing copied); else the split archives are fetched. Official splits are
    kept (training -> train, validation -> val, testing -> test; with ``data.msec.test_split:
    validation``, validation -> test); testing is paired with expert
    ``data.msec.expert`` (C by default). An input without a target or a ground truth without
    inputs is rejected (``--strict`` fails); counts that differ from the published ones are
    reported as notes. Every split is paired before anything is returned, so a bad file stops
    the run before the index is written.
    """
    spec = ctx.params.data.msec
    for split in spec.splits:
        if split not in EXPECTED_INPUTS:
            raise ValueError(
                f"data.msec.splits: unknown split {split!r}; expected {list(EXPECTED_INPUTS)}"
            )
    local = _local_root(spec.path, spec.splits) if spec.path else None
    items: list[SourceItem] = []
    for split in spec.splits:
        if local is not None:
            found = pair_split(ctx, dest, local / split, split, local=True)
        else:
            archive = getattr(spec, split)
            item = Archive(split, archive.url, f"data.msec.{split}", archive.sha256, archive.md5)
            root = obtain(ctx, dest, item)
            found = pair_split(ctx, dest, root, split)
        if split == spec.test_split != "testing":
            found = [replace(item, split="test") for item in found]
        ctx.summary.add("msec pairs", len(found))
        items.extend(found)
    return items
