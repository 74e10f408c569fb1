"""The photographs allowed from each package: every other image was looked at and left out.

Keys become photo ids (``<package prefix>-<key>``), and the split hashes the photo id, so
renaming a key moves the photo between calibration and held-out.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path


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
