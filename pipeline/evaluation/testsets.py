"""The pairs ``prep evaluate`` scores: the shards' test split and paired folders.

Each set yields ``EvalItem``s one at a time (images are decoded as they are needed) and
collects, while it is consumed, the names of the samples it had to skip and why.

A paired folder is one of:

* ``low/`` + ``high/`` or ``input/`` + ``target/``: a pair is the same file name (extension
  aside) in both folders;
* an MSEC split folder (``INPUT_IMAGES/`` + ``expert_<x>_testing_set/`` or ``GT_IMAGES/``),
  paired by name as ``prep download`` does, with expert ``data.msec.expert`` (testing) or C,
  and scored against its other references too (``pipeline.evaluation.msec_refs``);
* a LOL ``eval15`` folder (or a folder holding one), paired as ``prep download`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exposure_core import imageio, shardfmt
from exposure_core.discover import find_dirs, find_photos
from exposure_core.errors import UserError
from exposure_core.manifest import SourceItem, slug
from pipeline.evaluation import msec_refs
from pipeline.params import Params
from pipeline.sources import lol, msec
from pipeline.sources.base import FetchContext

FOLDER_PAIRS = (("low", "high"), ("input", "target"))


@dataclass
class EvalItem:
    """One pair. ``input``/``target``: float32 (H, W, 3) RGB in [0, 1], gamma-encoded."""

    id: str
    meta: dict[str, Any]  # the manifest fields: scene, source, kind, tau, ev, gamma, ...
    input: np.ndarray
    target: np.ndarray
    # further sets this pair is scored in: set name -> its target there (MSEC's references)
    references: dict[str, np.ndarray] = field(default_factory=dict)
    ev0: np.ndarray | None = None  # the scene's EV 0 render (MSEC): the ev0_render method


@dataclass
class EvalSet:
    """A named stream of pairs; ``skipped`` and ``notes`` fill up while ``items`` is consumed."""

    name: str
    items: Iterator[EvalItem]
    skipped: list[str] = field(default_factory=list)  # "<sample>: <reason>"
    notes: list[str] = field(default_factory=list)
    expected: int | None = None  # pairs the shard index lists (None: not known)
    derived: list[str] = field(default_factory=list)  # further sets (EvalItem.references)


def _limit(items: Iterator[EvalItem], max_images: int) -> Iterator[EvalItem]:
    for count, item in enumerate(items, start=1):
        yield item
        if max_images and count >= max_images:
            return


def test_set(shards: Path, max_images: int = 0, verify: bool = True) -> EvalSet:
    """The test split of ``shards`` (written by ``prep shard``), in shard order.

    Read straight from the tars (no training DataLoader): each photo is decoded once and every
    variant rendered from it as the loader does, so a pair is the same as in training. With
    ``verify`` each shard's sha256 is checked against ``index.json`` first. Corrupt shards and
    samples are skipped and named; ``expected`` is the number of test pairs the index lists
    (at most ``max_images``). Raises UserError naming the folder when it has no index or no
    test split, or when the shards are in another format version.
    """
    if not (shards / shardfmt.INDEX_NAME).is_file():
        raise UserError(
            f"{shards}: no shard index (index.json), so no test split to evaluate; "
            "run `prep shard` first"
        )
    try:
        check = shardfmt.check_shards(shards, "test", verify=verify)
    except shardfmt.ShardFormatError:
        raise
    except UserError as exc:
        raise UserError(
            f"{shards}: the shards hold no test split ({exc}); run `prep shard` with "
            "shard.split.test > 0, or add data with an official test split"
        ) from exc
    expected = check.expected_pairs
    result = EvalSet("test", iter(()), expected=min(expected, max_images or expected))
    result.skipped += [f"{line} (shard skipped)" for line in check.corrupt]
    result.items = _limit(_read_shards(check, shards, result), max_images)
    return result


def _read_shards(check: shardfmt.ShardCheck, shards: Path, into: EvalSet) -> Iterator[EvalItem]:
    """Every variant of every photo of the usable shards; problems go to ``into.skipped``."""
    for entry in check.usable:
        path = shards / str(entry["name"])
        try:
            for members in shardfmt.iter_tar(path, int(entry.get("samples", 0)) or None):
                yield from _photo_items(members, f"{path}:{members['__key__']}", into)
        except shardfmt.CorruptShardError as exc:
            into.skipped.append(f"{exc} (rest of the shard skipped)")


def _photo_items(members: dict[str, Any], where: str, into: EvalSet) -> Iterator[EvalItem]:
    try:
        photo = shardfmt.parse_sample(members, where)
        target = imageio.decode_codes(photo.target, photo.target_name)
    except (ValueError, imageio.ImageError) as exc:
        into.skipped.append(str(exc))
        return
    into.skipped += [f"bad recipe {line}" for line in photo.bad]
    target_float = imageio.codes_to_float(target)
    for v in photo.variants:
        try:
            inp = photo.input_codes(v, target)
        except (ValueError, imageio.ImageError) as exc:
            into.skipped.append(f"{where}:{v.id}: {exc}")
            continue
        if (inp.height, inp.width) != (target.height, target.width):
            into.skipped.append(f"{where}:{v.id}: input and target differ in size")
            continue
        meta = photo.meta | v.meta() | {"__key__": photo.key, "__url__": where.rsplit(":", 1)[0]}
        yield EvalItem(v.id, meta, imageio.codes_to_float(inp), target_float)


def _by_stem(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The folder's photos by stem, and the ambiguous ones left out ("path: reason")."""
    found: dict[str, Path] = {}
    skipped: list[str] = []
    for path in find_photos(folder, recursive=False).photos:
        if path.stem in found:
            skipped.append(f"{path}: same name as {found[path.stem].name}; ambiguous pair")
        else:
            found[path.stem] = path
    return found, skipped


def _folder_pairs(folder: Path, low: str, high: str) -> tuple[list[SourceItem], list[str]]:
    """Pairs matched by stem between ``folder/low`` and ``folder/high``, and the files left
    out ("path: reason")."""
    (inputs, skipped), (targets, more) = _by_stem(folder / low), _by_stem(folder / high)
    skipped += more
    for stem in sorted(inputs.keys() ^ targets.keys()):
        lone, other = (inputs, high) if stem in inputs else (targets, low)
        skipped.append(f"{lone[stem]}: no file named {stem}.* in {folder / other}")
    pairs = [
        SourceItem(
            "pairs", f"{folder.name}-{slug(stem)}", str(inputs[stem]), "native", str(targets[stem])
        )
        for stem in sorted(inputs.keys() & targets.keys())
    ]
    return pairs, skipped


Refs = tuple[list[str], dict[str, dict[str, Path]]]  # msec_refs.references


def _source_pairs(
    folder: Path, params: Params
) -> tuple[list[SourceItem], list[str], list[str], Refs]:
    """Pairs of the folder's layout (see the module docstring; paths absolute), the files
    left out ("path: reason"), the adapter's notes and the further references (MSEC)."""
    for low, high in FOLDER_PAIRS:
        if (folder / low).is_dir() and (folder / high).is_dir() and folder.name != "eval15":
            return (*_folder_pairs(folder, low, high), [], ([], {}))
    ctx = FetchContext(params, folder)
    split = None
    if find_dirs(folder, "INPUT_IMAGES"):
        split = msec_refs.msec_split(folder)
        items = msec.pair_split(ctx, folder, folder, split, target="expert")
    elif find_dirs(folder, "eval15"):
        items = lol.pair_split(ctx, folder, folder, "eval15")
    else:
        pairs = " or ".join(f"{a}/ + {b}/" for a, b in FOLDER_PAIRS)
        raise UserError(
            f"{folder}: not a paired folder (expected {pairs}, an MSEC testing folder with "
            "INPUT_IMAGES/ and expert_<x>_testing_set/, or a LOL eval15/ folder)"
        )
    skipped = [f"{r.path}: {r.reason}" for r in ctx.rejects]
    pairs = [
        SourceItem(
            i.source,
            i.scene,
            str(folder / i.path),
            i.kind,
            str(folder / str(i.target)),
            i.split,
            i.ev,
        )
        for i in items
    ]
    refs: Refs = ([], {})
    if split is not None:
        refs = msec_refs.references(folder, split, params.data.msec.expert, pairs)
    return pairs, skipped, list(ctx.summary.notes), refs


def paired_set(folder: Path, params: Params, name: str, max_images: int = 0) -> EvalSet:
    """Pairs found in ``folder`` (see the module docstring) as a set called ``name``."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such paired folder")
    pairs, skipped, notes, (ref_names, refs) = _source_pairs(folder, params)
    result = EvalSet(name, iter(()), skipped, notes)
    if not pairs:
        raise UserError(f"{folder}: no input/target pairs found")
    result.derived = [f"{name}:{ref}" for ref in ref_names]
    items = _read_pairs(pairs, params.io.max_pixels, result, refs)
    result.items = _limit(items, max_images)
    return result


def _references(
    pair: SourceItem, files: dict[str, Path], max_pixels: int, into: EvalSet, shape: tuple
) -> dict[str, np.ndarray]:
    """The pair's further targets by reference name (one of another size is skipped)."""
    out = {}
    for ref, path in files.items():
        try:
            image = imageio.read_image(path, max_pixels)
        except (imageio.ImageError, OSError) as exc:
            into.skipped.append(f"{path}: {getattr(exc, 'reason', exc)}")
            continue
        if image.shape != shape:
            into.skipped.append(f"{path}: not the size of {pair.path} (reference {ref} skipped)")
            continue
        out[ref] = image
    return out


def _read_pairs(
    pairs: list[SourceItem],
    max_pixels: int,
    into: EvalSet,
    refs: dict[str, dict[str, Path]] | None = None,
) -> Iterator[EvalItem]:
    for pair in pairs:
        assert pair.target is not None
        try:
            low = imageio.read_image(pair.path, max_pixels)
            high = imageio.read_image(pair.target, max_pixels)
        except (imageio.ImageError, OSError) as exc:
            into.skipped.append(f"{getattr(exc, 'path', pair.path)}: {getattr(exc, 'reason', exc)}")
            continue
        if low.shape != high.shape:
            into.skipped.append(
                f"{pair.path}: input {low.shape[1]}x{low.shape[0]} and target "
                f"{high.shape[1]}x{high.shape[0]} differ in size"
            )
            continue
        meta = {
            "id": slug(f"{pair.source}-{Path(pair.path).stem}"),
            "scene": pair.scene,
            "source": pair.source,
            "kind": "native",
            "tau": None,
            "ev": pair.ev,
            "gamma": None,
            "width": low.shape[1],
            "height": low.shape[0],
            "input": pair.path,
        }
        files = (refs or {}).get(pair.scene, {})
        more = _references(pair, files, max_pixels, into, low.shape) if files else {}
        ev0 = more.get(msec_refs.EV0_REFERENCE)
        named = {f"{into.name}:{ref}": image for ref, image in more.items()}
        yield EvalItem(meta["id"], meta, low, high, named, ev0)
