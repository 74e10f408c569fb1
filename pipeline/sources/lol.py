"""LOL v1 (Wei et al., BMVC 2018): low/normal-light pairs, ``our485`` (train), ``eval15`` (test).

The archive's folders ``our485/{low,high}`` and ``eval15/{low,high}`` are found wherever they sit
in the extracted tree (``LOLdataset/our485/low``...). A pair is the same file name in ``low``
and ``high``; a file without its partner is rejected.
"""

from __future__ import annotations

from pathlib import Path

from exposure_core.discover import find_dirs, find_photos
from exposure_core.errors import UserError
from exposure_core.manifest import SourceItem, normalise_split, slug
from pipeline.sources.base import FetchContext
from pipeline.sources.remote import Archive, obtain

EXPECTED_PAIRS = {"our485": 485, "eval15": 15}
ARCHIVE_NAME = "lol-v1"


def _split_dir(root: Path, name: str) -> Path:
    found = [d for d in find_dirs(root, name) if (d / "low").is_dir() and (d / "high").is_dir()]
    if len(found) != 1:
        what = "no" if not found else "several"
        listed = ", ".join(str(d) for d in found) or "-"
        raise UserError(f"LOL: {what} {name}/ folder with low/ and high/ under {root} ({listed})")
    return found[0]


def _by_name(folder: Path) -> dict[tuple[str, str], Path]:
    return {(p.stem, p.suffix.lower()): p for p in find_photos(folder, recursive=False).photos}


def pair_split(ctx: FetchContext, dest: Path, root: Path, name: str) -> list[SourceItem]:
    """Pair ``<name>/low`` with ``<name>/high`` by file name (one scene per pair)."""
    folder = _split_dir(root, name)
    low, high = _by_name(folder / "low"), _by_name(folder / "high")
    items = []
    for key in sorted(low.keys() | high.keys()):
        if key not in high:
            partner = folder / "high" / low[key].name
            ctx.reject(
                low[key], f"no partner {partner} for this low-light image", partner=str(partner)
            )
            continue
        if key not in low:
            partner = folder / "low" / high[key].name
            ctx.reject(high[key], f"no low-light partner {partner}", partner=str(partner))
            continue
        items.append(
            SourceItem(
                source="lol",
                scene=f"lol-{name}-{slug(key[0])}",
                path=low[key].relative_to(dest).as_posix(),
                kind="native",
                target=high[key].relative_to(dest).as_posix(),
                split=normalise_split(name),
            )
        )
    if len(items) != EXPECTED_PAIRS[name]:
        ctx.note(f"lol {name}: {len(items)} pairs, DATASETS.md lists {EXPECTED_PAIRS[name]}")
    return items


def fetch(ctx: FetchContext, dest: Path) -> list[SourceItem]:
    """Fetch the LOL archive (``data.lol.archive``) and list its pairs with official splits."""
    spec = ctx.params.data.lol.archive
    root = obtain(
        ctx, dest, Archive(ARCHIVE_NAME, spec.url, "data.lol.archive", spec.sha256, spec.md5)
    )
    items = [item for name in EXPECTED_PAIRS for item in pair_split(ctx, dest, root, name)]
    ctx.summary.add("lol pairs", len(items))
    return items
