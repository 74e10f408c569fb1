"""Fetching the sources: Debian packages (``apt-get download``) and scikit-learn's images.

Downloads stay in the work folder, so a rerun reuses them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from .catalogue import SKLEARN_PHOTOS


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
