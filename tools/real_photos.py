"""Gather the real-photo development corpus into a local cache folder.

The corpus is a fixed list of photographs reachable through package registries: the community
photographs of the Debian packages ``lomiri-wallpapers-16.04`` and ``lomiri-wallpapers-20.04``,
the classic test photos of ``opencv-doc`` (``examples/data``), the few photographs among the
artwork of ``plasma-workspace-wallpapers`` and ``ukui-wallpapers``, and scikit-learn's two
sample images. Only the files named in ``ALLOW`` are used (renders, paintings, charts, logos,
chessboards and gradients were left out by looking at every image), so figures measured on the
corpus stay comparable over time.

Each photo becomes one scene (resized to ``--long-side`` pixels, never enlarged) or, above
``--crop-above-mp`` megapixels, four non-overlapping scenes: the photo is resized to twice the
long side and cut into a 2x2 grid. Photos are split by a stable hash of the photo id (all crops
of one photo fall on the same side) into ``calibration/`` and ``heldout/``; tune on the first,
report on the second. ``corpus.json`` and ``corpus.csv`` list every scene with its split,
source, licence and copyright; ``corpus.json`` also lists what was skipped and why.

Usage::

    python tools/real_photos.py --output ~/.cache/exposure-real-photos

then point ``data.folder.path`` at ``<output>/calibration`` (or ``heldout``). The photos are
never committed to the repository.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

SPLITS = ("calibration", "heldout")
DEFAULT_OUTPUT = Path("~/.cache/exposure-real-photos")


@dataclasses.dataclass(frozen=True)
class Photo:
    """One allowed photograph of a package.

    ``installed``: a glob under the extracted package (the largest match is used when a
    wallpaper ships several resolutions); ``upstream``: the file's path in the upstream
    source tree, matched against the ``Files:`` patterns of the package's copyright file.
    """

    key: str
    installed: str
    upstream: str


def _lomiri(release: str, *names: str) -> tuple[Photo, ...]:
    return tuple(
        Photo(
            re.sub(r"_by_.*", "", name).lower(),
            f"usr/share/backgrounds/{name}.jpg",
            f"{release}/{name}.jpg",
        )
        for name in names
    )


def _plasma(*names: str) -> tuple[Photo, ...]:
    return tuple(
        Photo(name.lower(), f"usr/share/wallpapers/{name}/contents/images/*.jpg", "*")
        for name in names
    )


def _opencv(*names: str) -> tuple[Photo, ...]:
    return tuple(
        Photo(
            Path(name).stem.lower(),
            f"usr/share/doc/opencv-doc/examples/data/{name}",
            f"samples/data/{name}",
        )
        for name in names
    )


# Photographs only; each package's other images were looked at and left out.
ALLOW: dict[str, tuple[Photo, ...]] = {
    # Left out: analogpattern (a texture pattern), umang (a gradient).
    "lomiri-wallpapers-16.04": _lomiri(
        "16.04",
        "aitzgorri_by_Aitzol_Berasategi",
        "Bridge_by_Sander_Klootwijk",
        "Dragonfly_by_Bolly",
        "free_by_Peter_Nerlich",
        "friends_by_Aitzol_Berasategi",
        "greentock_by_Peter_Nerlich",
        "life_by_Aitzol_Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi",
        "Picture_0B_by_freespace",
        "Picture_1A_by_freespace",
        "seeding_by_Clements_Engelhardt",
        "sunset_by_Aitzol_Berasategi",
        "Wine_by_Jakkub_Mede",
    ),
    # Left out: Fossa and Painting-Colors (renders), Infinite-Sea (a composite).
    "lomiri-wallpapers-20.04": _lomiri("20.04", "Kleiber_by_Lukas_Baubkus"),
    # Left out: the renders and paintings, and Kite (a drawn kite pasted on a sky).
    "plasma-workspace-wallpapers": _plasma(
        "BytheWater",
        "ColdRipple",
        "ColorfulCups",
        "DarkestHour",
        "EveningGlow",
        "FallenLeaf",
        "Grey",
        "OneStandsOut",
        "Path",
        "summer_1am",
    ),
    # All twelve images are renders or drawings: the package is fetched and yields nothing.
    "ukui-wallpapers": (),
    # Colour photographs of natural scenes. Left out: logos, drawings, charts, chessboards,
    # gradients, text, synthetic shapes, grayscale feature-matching frames (basketball*, blox,
    # box*), a painting (starry_night), a
    # tampered copy (ela_modified), synthetic blur (licenseplate_motion, text_*), dark
    # webcam frames (left, right, pca_test1), a render (Blender_Suzanne*), and the second
    # view of each stereo or sequence pair (aero3, aloeR, graf3, leuvenB, rubberwhale2),
    # which would put the same scene on both sides of the split.
    "opencv-doc": _opencv(
        "aero1.jpg",
        "aloeL.jpg",
        "apple.jpg",
        "baboon.jpg",
        "board.jpg",
        "building.jpg",
        "butterfly.jpg",
        "chicky_512.png",
        "ela_original.jpg",
        "fruits.jpg",
        "graf1.png",
        "home.jpg",
        "leuvenA.jpg",
        "messi5.jpg",
        "orange.jpg",
        "rubberwhale1.png",
        "squirrel_cls.jpg",
        "stuff.jpg",
    ),
}
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


@dataclasses.dataclass(frozen=True)
class Licence:
    licence: str
    copyright: str
    source: str


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


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def split_of(photo_id: str) -> str:
    """Stable split of a photo: the parity of the first 8 hex digits of its sha256."""
    digest = hashlib.sha256(photo_id.encode("utf-8")).hexdigest()
    return SPLITS[int(digest[:8], 16) % 2]


# --- licences -------------------------------------------------------------------------------


def parse_dep5(text: str) -> list[dict[str, str]]:
    """Stanzas of a machine-readable Debian copyright file (fields joined over continuations)."""
    stanzas: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        name = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                name = name.strip()
                fields[name] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def dep5_licence(stanzas: list[dict[str, str]], upstream: str) -> tuple[str, str]:
    """Licence and copyright of ``upstream``: the last ``Files:`` stanza that matches wins."""
    found = ("", "")
    for stanza in stanzas:
        patterns = stanza.get("Files", "").split()
        if any(fnmatch.fnmatchcase(upstream, p) for p in patterns):
            licence = stanza.get("License", "").splitlines()[0] if stanza.get("License") else ""
            found = (licence, " ".join(stanza.get("Copyright", "").split()))
    return found


def plasma_licence(image: Path) -> tuple[str, str] | None:
    """Licence and author from a Plasma wallpaper's ``metadata.json``, if it has one."""
    meta = image.parents[2] / "metadata.json"
    if not meta.is_file():
        return None
    plugin = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
    authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
    return plugin.get("License", ""), authors


# --- fetching -------------------------------------------------------------------------------


def fetch_deb(package: str, work: Path) -> tuple[Path, str] | None:
    """``apt-get download`` + ``dpkg-deb -x`` into ``work/<package>``; None (said) on failure."""
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    target = work / "pkgs" / package
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        result = subprocess.run(
            ["apt-get", "download", package], cwd=debs, capture_output=True, text=True
        )
        found = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no .deb"]
            say(f"skip package {package}: apt-get download failed: {tail[0]}")
            return None
    deb = found[-1]
    version = deb.name.split("_")[1]
    if not target.is_dir():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        result = subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(partial)], capture_output=True, text=True
        )
        if result.returncode != 0:
            say(f"skip package {package}: dpkg-deb -x failed: {result.stderr.strip()}")
            shutil.rmtree(partial, ignore_errors=True)
            return None
        partial.rename(target)
    return target, version


def fetch_sklearn_images(work: Path) -> tuple[dict[str, bytes], str, str] | None:
    """scikit-learn's sample images, their README and version: installed copy, else its wheel."""
    try:
        import sklearn  # type: ignore[import-not-found]

        folder = Path(sklearn.__file__).parent / "datasets" / "images"
        images = {n: (folder / n).read_bytes() for n in SKLEARN_PHOTOS}
        readme = (folder / "README.txt").read_text(encoding="utf-8")
        return images, readme, sklearn.__version__
    except (ImportError, OSError):
        pass
    wheels = work / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob("scikit_learn-*.whl"))
    if not found:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--dest",
                str(wheels),
                "scikit-learn",
            ],
            capture_output=True,
            text=True,
        )
        found = sorted(wheels.glob("scikit_learn-*.whl"))
        if result.returncode != 0 or not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
            say(f"skip scikit-learn sample images: pip download failed: {tail[0]}")
            return None
    wheel = found[-1]
    with zipfile.ZipFile(wheel) as archive:
        images = {n: archive.read(f"sklearn/datasets/images/{n}") for n in SKLEARN_PHOTOS}
        readme = archive.read("sklearn/datasets/images/README.txt").decode("utf-8")
    return images, readme, wheel.name.split("-")[1]


def sklearn_licence(readme: str, name: str) -> tuple[str, str, str]:
    """Licence URL, attribution and source URL of one image in sklearn's images README."""
    block = readme.split(f"Image: {name}", 1)[-1].split("Image:", 1)[0]
    refs = dict(re.findall(r"^\[(\d+)\]\s*(\S+)", block, flags=re.M))
    attribution = re.search(r"^Attribution:\s*(.+)$", block, flags=re.M)
    licence_url = refs.get("1", "")
    licence = "CC-BY-" + licence_url.rstrip("/").split("/")[-1] if "/by/" in licence_url else ""
    credit = re.sub(r"\s*\[\d+\]", "", attribution.group(1)).strip() if attribution else ""
    return licence or licence_url, credit, refs.get("3", "")


# --- images ---------------------------------------------------------------------------------


def load_rgb(data: bytes) -> Image.Image:
    """Decode, apply the EXIF orientation and convert to 8-bit sRGB."""
    image = Image.open(io.BytesIO(data))
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            image = ImageCms.profileToProfile(image.convert("RGB"), source, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: keep the pixels as they are
    return image.convert("RGB")


def photo_problem(image: Image.Image, min_side: int) -> str | None:
    """Why an image cannot serve as a photograph here, or None."""
    if min(image.size) < min_side:
        return f"too small: {image.size[0]}x{image.size[1]} (min side {min_side})"
    thumb = np.asarray(image.resize((128, 128), Image.Resampling.BOX), dtype=np.int16)
    if np.abs(thumb - thumb.mean(axis=2, keepdims=True)).max() <= 3:  # black and white
        levels = np.unique(thumb.mean(axis=2).round()).shape[0]
        if levels < 64:
            return f"only {levels} grey levels in a 128x128 thumbnail: not a photograph"
        return None
    colours = np.unique(thumb.reshape(-1, 3), axis=0).shape[0]
    if colours < 1000:
        return f"only {colours} distinct colours in a 128x128 thumbnail: not a photograph"
    return None


def resize_long(image: Image.Image, long_side: int) -> Image.Image:
    """Shrink so the long side is ``long_side`` (never enlarge)."""
    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def scenes_of(
    image: Image.Image, long_side: int, crop_above_mp: float
) -> Iterator[tuple[str, Image.Image, str]]:
    """(suffix, scene image, crop box) for one photo: whole, or a 2x2 grid of crops."""
    if image.size[0] * image.size[1] <= crop_above_mp * 1e6:
        yield "", resize_long(image, long_side), ""
        return
    big = resize_long(image, 2 * long_side)
    width, height = big.size
    xs = (0, width // 2, width)
    ys = (0, height // 2, height)
    for row in range(2):
        for col in range(2):
            box = (xs[col], ys[row], xs[col + 1], ys[row + 1])
            crop = f"{box[0]},{box[1]},{box[2] - box[0]},{box[3] - box[1]}"
            yield f"-c{row}{col}", big.crop(box), crop


def save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG to a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png.partial", dir=path.parent)
    os.close(fd)
    try:
        image.save(tmp, format="PNG", compress_level=6)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- the corpus -----------------------------------------------------------------------------


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
            path = max(matches, key=lambda m: (_pixels(m), m.name))
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


def _pixels(path: Path) -> int:
    with Image.open(path) as image:
        return image.size[0] * image.size[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="cache folder")
    parser.add_argument(
        "--work", type=Path, help="download scratch folder (default: OUTPUT/_downloads)"
    )
    parser.add_argument("--long-side", type=int, default=1024, help="scene long side, pixels")
    parser.add_argument(
        "--crop-above-mp",
        type=float,
        default=2.0,
        help="photos above this many megapixels give a 2x2 grid of crops",
    )
    parser.add_argument("--min-side", type=int, default=256, help="smaller photos are skipped")
    args = parser.parse_args(argv)
    if args.long_side < 64 or args.crop_above_mp <= 0:
        parser.error("--long-side must be >= 64 and --crop-above-mp > 0")
    output = args.output.expanduser()
    work = (args.work or output / "_downloads").expanduser()
    for split in SPLITS:  # a rerun replaces the scenes, keeps the downloads
        shutil.rmtree(output / split, ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(output, args.long_side, args.crop_above_mp, args.min_side)
    gather_debian(corpus, work)
    gather_sklearn(corpus, work)
    corpus.write()
    photos = len({s.photo for s in corpus.scenes})
    per_split = ", ".join(
        f"{split} {sum(s.split == split for s in corpus.scenes)}" for split in SPLITS
    )
    say(
        f"real photos: {photos} photos, {len(corpus.scenes)} scenes ({per_split}), "
        f"{len(corpus.skipped)} skipped -> {output}"
    )
    return 0 if corpus.scenes else 1


if __name__ == "__main__":
    sys.exit(main())
