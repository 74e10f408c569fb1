"""The corpus: the calibration / held-out split, the scenes written, the index, the gathering."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
from pathlib import Path

from PIL import Image

from .catalogue import ALLOW
from .fetch import fetch_deb, fetch_sklearn_images, say
from .images import load_rgb, photo_problem, pixel_count, save_png, scenes_of
from .licences import Licence, dep5_licence, parse_dep5, plasma_licence, sklearn_licence

SPLITS = ("calibration", "heldout")


@dataclasses.dataclass(frozen=True)
class Scene:
    scene: str
    photo: str
    split: str
    path: str
    package: str
    version: str
    file: str
    licence: str
    copyright: str
    source: str
    width: int
    height: int
    crop: str  # "x,y,w,h" in the resized photo, or "" for the whole photo


def split_of(photo_id: str) -> str:
    """Stable split of a photo: the parity of the first 8 hex digits of its sha256."""
    digest = hashlib.sha256(photo_id.encode("utf-8")).hexdigest()
    return SPLITS[int(digest[:8], 16) % 2]


@dataclasses.dataclass
class Corpus:
    output: Path
    long_side: int
    crop_above_mp: float
    min_side: int
    scenes: list[Scene] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def skip(self, package: str, file: str, reason: str) -> None:
        say(f"skip {package}: {file}: {reason}")
        self.skipped.append({"package": package, "file": file, "reason": reason})

    def add(
        self, photo_id: str, data: bytes, package: str, version: str, file: str, licence: Licence
    ) -> None:
        try:
            image = load_rgb(data)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            self.skip(package, file, f"unreadable: {exc}")
            return
        problem = photo_problem(image, self.min_side)
        if problem:
            self.skip(package, file, problem)
            return
        split = split_of(photo_id)
        for suffix, scene_image, crop in scenes_of(image, self.long_side, self.crop_above_mp):
            scene_id = photo_id + suffix
            rel = Path(split) / f"{scene_id}.png"
            save_png(scene_image, self.output / rel)
            self.scenes.append(
                Scene(
                    scene=scene_id,
                    photo=photo_id,
                    split=split,
                    path=rel.as_posix(),
                    package=package,
                    version=version,
                    file=file,
                    licence=licence.licence,
                    copyright=licence.copyright,
                    source=licence.source,
                    width=scene_image.size[0],
                    height=scene_image.size[1],
                    crop=crop,
                )
            )

    def write(self) -> None:
        self.scenes.sort(key=lambda s: s.scene)
        rows = [dataclasses.asdict(s) for s in self.scenes]
        counts = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
        photos = {s: len({r["photo"] for r in rows if r["split"] == s}) for s in SPLITS}
        document = {
            "long_side": self.long_side,
            "crop_above_mp": self.crop_above_mp,
            "split_rule": "sha256(photo id): first 8 hex digits even -> calibration, "
            "odd -> heldout",
            "scenes_per_split": counts,
            "photos_per_split": photos,
            "scenes": rows,
            "skipped": self.skipped,
        }
        tmp = self.output / "corpus.json.partial"
        tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, self.output / "corpus.json")
        tmp = self.output / "corpus.csv.partial"
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(Scene)])
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.output / "corpus.csv")


def gather_debian(corpus: Corpus, work: Path) -> None:
    for package, photos in ALLOW.items():
        fetched = fetch_deb(package, work)
        if fetched is None:
            continue
        root, version = fetched
        if not photos:
            say(f"{package} {version}: no photographs among its images (all artwork)")
            continue
        copyright_file = root / "usr/share/doc" / package / "copyright"
        stanzas = (
            parse_dep5(copyright_file.read_text(encoding="utf-8", errors="replace"))
            if copyright_file.is_file()
            else []
        )
        source = next((s["Source"] for s in stanzas if "Source" in s), f"Debian {package}")
        for photo in photos:
            matches = sorted(root.glob(photo.installed))
            if not matches:
                corpus.skip(package, photo.installed, "not in the package")
                continue
            path = max(matches, key=lambda m: (pixel_count(m), m.name))
            licence, holder = dep5_licence(stanzas, photo.upstream)
            plasma = plasma_licence(path) if package.startswith("plasma") else None
            if plasma:
                licence, holder = plasma
            file = path.relative_to(root).as_posix()
            corpus.add(
                f"{package.split('-')[0]}-{photo.key}",
                path.read_bytes(),
                package,
                version,
                file,
                Licence(licence or "unknown", holder, f"{source} (Debian {package} {version})"),
            )


def gather_sklearn(corpus: Corpus, work: Path) -> None:
    fetched = fetch_sklearn_images(work)
    if fetched is None:
        return
    images, readme, version = fetched
    for name, data in images.items():
        licence, attribution, url = sklearn_licence(readme, name)
        corpus.add(
            f"sklearn-{Path(name).stem}",
            data,
            "scikit-learn",
            version,
            f"sklearn/datasets/images/{name}",
            Licence(licence or "unknown", attribution, url or "scikit-learn sample images"),
        )
