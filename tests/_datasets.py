"""Tiny archives in the real layouts of MSEC, LOL and Places365, built in memory for tests."""

from __future__ import annotations

import io
import tarfile
import zipfile
from functools import cache

import numpy as np

from exposure_core import imageio

EVS = {"N1.5": -1.5, "N1": -1.0, "0": 0.0, "P1": 1.0, "P1.5": 1.5}


@cache
def photo(seed: int, suffix: str = ".jpg", width: int = 80, height: int = 64) -> bytes:
    """A small well-exposed photo (a gradient with texture) encoded for ``suffix``."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.05, 0.95, width, dtype=np.float32)[None, :, None]
    image = np.broadcast_to(ramp, (height, width, 3)).copy()
    image += rng.normal(0.0, 0.05, image.shape).astype(np.float32)
    image[: height // 2] *= np.float32(0.8)
    return imageio.encode(np.clip(image, 0.0, 1.0).astype(np.float32), suffix)


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def msec_split(
    split: str, scenes: list[str], drop_gt: tuple[str, ...] = (), drop_inputs: tuple[str, ...] = ()
) -> dict[str, bytes]:
    """Member name -> bytes of one MSEC split: 5 EV inputs + ground truth per scene.

    ``drop_gt`` scenes lose their ground truth; ``drop_inputs`` names inputs (file names) left
    out. The testing split gets expert_a..e folders (each expert's GT differs).
    """
    files: dict[str, bytes] = {}
    for number, scene in enumerate(scenes):
        for k, token in enumerate(EVS):
            name = f"{scene}_{token}.JPG"
            if name not in drop_inputs:
                files[f"{split}/INPUT_IMAGES/{name}"] = photo(100 * number + k)
        if scene in drop_gt:
            continue
        if split == "testing":
            for j, expert in enumerate("abcde"):
                files[f"{split}/expert_{expert}_testing_set/{scene}.jpg"] = photo(
                    1000 + 10 * number + j
                )
        else:
            files[f"{split}/GT_IMAGES/{scene}.jpg"] = photo(1000 + number)
    return files


def lol_files(top: str = "LOLdataset/") -> dict[str, bytes]:
    """LOL v1 layout: 3 pairs in our485, 2 in eval15, one unpaired low image in our485."""
    files: dict[str, bytes] = {}
    for split, names in (("our485", ["2", "5", "22"]), ("eval15", ["1", "111"])):
        for i, name in enumerate(names):
            files[f"{top}{split}/low/{name}.png"] = photo(2000 + i, ".png")
            files[f"{top}{split}/high/{name}.png"] = photo(2100 + i, ".png")
    files[f"{top}our485/low/99.png"] = photo(2200, ".png")
    files["__MACOSX/LOLdataset/our485/._2.png"] = b"resource fork"
    return files


def places_files(n: int = 6) -> dict[str, bytes]:
    """A ``val_256.tar``-like tree: ``val_256/Places365_val_0000000k.jpg``."""
    return {f"val_256/Places365_val_{k:08d}.jpg": photo(3000 + k) for k in range(1, n + 1)}
