"""``tools/real_photos.py`` and its modules in ``tools/photo_corpus/``, without the network.

The split of a photo must never move (figures are reported on the held-out half), the Debian
copyright parser must read continuation lines, and the command must start from any folder.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tools.photo_corpus import catalogue, corpus, images, licences

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "real_photos.py"
MODULES = [SCRIPT, *sorted((ROOT / "tools" / "photo_corpus").glob("*.py"))]

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Source: https://example.org/wallpapers

Files: *
Copyright: 2010 Someone
License: GPL-2

Files: 16.04/Bridge_*.jpg
Copyright: 2012 Sander
 Klootwijk
License: CC-BY-SA-3.0
 The long licence text.
"""


@pytest.mark.parametrize(
    ("photo_id", "split"),
    [
        ("lomiri-aitzgorri", "heldout"),
        ("opencv-baboon", "heldout"),
        ("sklearn-china", "heldout"),
        ("sklearn-flower", "calibration"),
        ("plasma-grey", "calibration"),
        ("x", "calibration"),
        ("", "calibration"),
    ],
)
def test_split_of_never_moves_a_photo(photo_id: str, split: str) -> None:
    assert corpus.split_of(photo_id) == split


def test_parse_dep5_joins_continuation_lines() -> None:
    stanzas = licences.parse_dep5(DEP5)
    assert [s.get("Files") for s in stanzas] == [None, "*", "16.04/Bridge_*.jpg"]
    assert stanzas[0]["Source"] == "https://example.org/wallpapers"
    assert stanzas[2]["Copyright"] == "2012 Sander\nKlootwijk"
    assert stanzas[2]["License"] == "CC-BY-SA-3.0\nThe long licence text."


def test_dep5_licence_last_matching_stanza_wins() -> None:
    stanzas = licences.parse_dep5(DEP5)
    assert licences.dep5_licence(stanzas, "16.04/Bridge_by_X.jpg") == (
        "CC-BY-SA-3.0",
        "2012 Sander Klootwijk",
    )
    assert licences.dep5_licence(stanzas, "16.04/other.jpg") == ("GPL-2", "2010 Someone")
    assert licences.dep5_licence([], "16.04/other.jpg") == ("", "")


def test_photo_ids_are_unique() -> None:
    ids = [f"{p.split('-')[0]}-{photo.key}" for p, ps in catalogue.ALLOW.items() for photo in ps]
    ids += [f"sklearn-{Path(name).stem}" for name in catalogue.SKLEARN_PHOTOS]
    assert len(ids) == len(set(ids))


def test_large_photo_gives_a_2x2_grid_of_crops() -> None:
    from PIL import Image

    photo = Image.new("RGB", (3000, 2000))
    scenes = list(images.scenes_of(photo, 1024, 2.0))
    assert [s[0] for s in scenes] == ["-c00", "-c01", "-c10", "-c11"]
    # resized to 2048x1365 first: the lower row takes the odd pixel
    assert [s[2] for s in scenes] == [
        "0,0,1024,682",
        "1024,0,1024,682",
        "0,682,1024,683",
        "1024,682,1024,683",
    ]


@pytest.mark.parametrize("cwd", ["root", "elsewhere"])
def test_help_runs_from_any_folder(cwd: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        cwd=ROOT if cwd == "root" else tmp_path,
        env={"PATH": "/usr/bin:/bin"},  # no PYTHONPATH: the script finds its modules itself
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--crop-above-mp" in done.stdout
    assert "Gather the real-photo development corpus" in done.stdout


def test_small_modules_free_of_the_project_packages() -> None:
    """The corpus is gathered without installing the project: no import of its packages."""
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) < 250, f"{path.relative_to(ROOT)} is too long"
        names = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        project = names & {"pipeline", "exposure_core", "exposure_models"}
        assert not project, f"{path.relative_to(ROOT)} imports {sorted(project)}"
