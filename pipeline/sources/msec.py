"""MSEC (Afifi et al., CVPR 2021): five renderings per FiveK photo at relative EVs, plus GT.

Layout after extraction (per split archive): ``training/INPUT_IMAGES``, ``training/GT_IMAGES``,
``validation/...`` likewise, ``testing/INPUT_IMAGES`` with ``testing/expert_<x>_testing_set``.
An input ``a0716-MB_20030906_030_P1.5.JPG`` pairs with the ground truth named like it without
the last ``_<token>`` (``a0716-MB_20030906_030.jpg``, extension matched case-insensitively):
pairs are made by name only, never by sort order, so one missing file shifts nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from exposure_core.discover import find_dirs, find_photos
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


def pair_split(ctx: FetchContext, dest: Path, root: Path, split: str) -> list[SourceItem]:
    """Pair the inputs of one extracted split with their ground truth, by name."""
    inputs_dir = _one_dir(root, "INPUT_IMAGES", split)
    expert = ctx.params.data.msec.expert
    gt_name = f"expert_{expert}_testing_set" if split == "testing" else "GT_IMAGES"
    gt_dir = _one_dir(root, gt_name, split)
    truths: dict[str, Path] = {}
    for path in find_photos(gt_dir, recursive=False).photos:
        if path.suffix.lower() not in GT_SUFFIXES:
            ctx.reject(path, f"ground truth is not a .jpg file ({path.name})")
        elif path.stem in truths:
            ctx.reject(path, f"duplicate ground truth of {truths[path.stem].name}")
        else:
            truths[path.stem] = path
    items, used = [], Counter[str]()
    inputs = find_photos(inputs_dir, recursive=False).photos
    for path in inputs:
        try:
            base, token = split_input_name(path.stem)
            ev = parse_ev(token)
        except ValueError as exc:
            ctx.reject(path, f"unparseable MSEC input name: {exc}")
            continue
        truth = truths.get(base)
        if truth is None:
            expected = gt_dir / f"{base}.jpg"
            ctx.reject(
                path, f"no ground truth {expected.name} in {gt_dir}", ground_truth=str(expected)
            )
            continue
        used[base] += 1
        items.append(
            SourceItem(
                source="msec",
                scene=f"msec-{slug(base)}",
                path=path.relative_to(dest).as_posix(),
                kind="native",
                target=truth.relative_to(dest).as_posix(),
                split=normalise_split(split),
                ev=ev,
            )
        )
    for base, truth in sorted(truths.items()):
        if base not in used:
            ctx.reject(
                truth,
                f"ground truth without inputs (none named {base}_<EV> in {inputs_dir})",
                inputs=f"{inputs_dir / base}_<EV>",
            )
    _report(ctx, split, len(inputs), used)
    return items


def _report(ctx: FetchContext, split: str, n_inputs: int, used: Counter[str]) -> None:
    expected = EXPECTED_INPUTS.get(split)
    if expected is not None and n_inputs != expected:
        ctx.note(f"msec {split}: {n_inputs} input files, DATASETS.md lists {expected}")
    odd = sum(1 for n in used.values() if n != EVS_PER_SCENE)
    if odd:
        ctx.note(f"msec {split}: {odd} scene(s) without exactly {EVS_PER_SCENE} paired inputs")


def fetch(ctx: FetchContext, dest: Path) -> list[SourceItem]:
    """Fetch the configured split archives and list every input paired with its ground truth.

    Official splits are kept (training -> train, validation -> val, testing -> test); testing
    is paired with expert ``data.msec.expert`` (C by default). An input without ground truth
    or a ground truth without inputs is rejected (``--strict`` fails); counts that differ from
    the published ones are reported as notes.
    """
    spec = ctx.params.data.msec
    items: list[SourceItem] = []
    for split in spec.splits:
        if split not in EXPECTED_INPUTS:
            raise ValueError(
                f"data.msec.splits: unknown split {split!r}; expected {list(EXPECTED_INPUTS)}"
            )
        archive = getattr(spec, split)
        item = Archive(split, archive.url, f"data.msec.{split}", archive.sha256, archive.md5)
        root = obtain(ctx, dest, item)
        found = pair_split(ctx, dest, root, split)
        ctx.summary.add("msec pairs", len(found))
        items.extend(found)
    return items
