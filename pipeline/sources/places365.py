"""Places365 (Zhou et al.): clean scene photos from one archive, optionally a fixed subset.

One archive (``data.places365.archive``, e.g. ``val_256``) is fetched from
``base_url + archive + ".tar"`` and checked against the MD5 the dataset publishes. Items carry
no split: a single archive holds no train/val structure of its own here, so later stages
assign splits by scene. ``max_images`` keeps a subset chosen by a seeded hash of each photo's
path inside the archive: the same subset on every machine, whatever the listing order. The
whole archive is still extracted (a tar cannot be listed without reading it through).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from exposure_core.discover import find_photos, folder_items
from exposure_core.errors import UserError
from exposure_core.manifest import SourceItem
from pipeline.sources.base import FetchContext
from pipeline.sources.remote import Archive, obtain

# As published with the dataset (and used by torchvision's Places365 loader).
MD5S = {
    "train_256_places365standard.tar": "53ca1c756c3d1e7809517cc47c5561c5",
    "train_large_places365standard.tar": "67e186b496a84c929568076ed01a8aa1",
    "val_256.tar": "e27b17d8d44f4af9a78502beb927f808",
    "val_large.tar": "9b71c4993ad89d2d8bcbdc4aef38042f",
    "test_256.tar": "f532f6ad7b582262a2ec8009075e186b",
    "test_large.tar": "41a4b6b724b1d2cd862fb3871ed59913",
    "train_256_places365challenge.tar": "741915038a5e3471ec7332404dfb64ef",
    "filelist_places365-standard.tar": "35a0585fee1fa656440f3ab298f8479c",
}


def subset(paths: Iterable[str], n: int, seed: int) -> list[str]:
    """The ``n`` paths with the smallest seeded SHA-256 keys, sorted (all of them when n <= 0).

    Depends only on the set of paths and the seed, never on their order.
    """
    unique = sorted(set(paths))
    if n <= 0 or n >= len(unique):
        return unique

    def key(path: str) -> tuple[bytes, str]:
        return hashlib.sha256(f"{seed}\0{path}".encode()).digest(), path

    return sorted(sorted(unique, key=key)[:n])


def fetch(ctx: FetchContext, dest: Path) -> list[SourceItem]:
    """Fetch and extract the configured archive; list its photos (clean, no split)."""
    spec = ctx.params.data.places365
    name = spec.archive + ".tar"
    md5 = spec.md5 or MD5S.get(name, "")
    if not md5:
        raise UserError(
            f"data.places365.archive: no published MD5 for {name!r}; set data.places365.md5 "
            f"or choose one of {', '.join(sorted(m.removesuffix('.tar') for m in MD5S))}"
        )
    origin = "data.places365.md5" if spec.md5 else f"the published MD5 of {name}"
    url = spec.base_url.rstrip("/") + "/" + name
    item = Archive(spec.archive, url, "data.places365", md5=md5, md5_origin=origin)
    root = obtain(ctx, dest, item)
    photos = {p.relative_to(root).as_posix(): p for p in find_photos(root).photos}
    if not photos:
        raise UserError(f"data.places365: no photos in {url} (extracted to {root})")
    chosen = subset(photos, spec.max_images, spec.seed)
    if len(chosen) < len(photos):
        ctx.note(f"places365: kept {len(chosen)} of {len(photos)} photos (max_images, seed)")
    ctx.summary.add("photos", len(chosen))
    chosen_photos = [photos[rel] for rel in chosen]
    return folder_items(root, chosen_photos, "places365", lambda p: p.relative_to(dest).as_posix())
