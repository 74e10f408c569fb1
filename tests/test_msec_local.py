"""The msec source on a local copy in MSEC's own layout (``data.msec.path``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exposure_core.errors import UserError
from exposure_core.manifest import INDEX_NAME
from pipeline.params import load_params
from pipeline.sources import SOURCES, FetchContext
from pipeline.stages import download
from tests._datasets import msec_split, photo

SCENES = ["a0001-IMG_0001", "a0002-IMG_0002", "a0003-IMG_0003"]
TOKENS = ("N1.5", "N1", "0", "P1", "P1.5")


def make_copy(root: Path, splits: dict[str, list[str]]) -> Path:
    """A tiny MSEC-layout folder (synthetic images) under ``root``."""
    for split, scenes in splits.items():
        for name, payload in msec_split(split, scenes).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(payload)
    return root


def _params(root: Path, **data):
    overrides = {"data.sources": ["msec"], "data.msec.path": str(root)}
    overrides |= {f"data.msec.{k}": v for k, v in data.items()}
    return load_params(None, overrides)


def _fetch(tmp_path: Path, root: Path, **data):
    ctx = FetchContext(params=_params(root, **data), raw_root=tmp_path / "raw")
    dest = tmp_path / "raw" / "msec"
    dest.mkdir(parents=True, exist_ok=True)
    return SOURCES["msec"](ctx, dest), ctx, dest


def test_local_copy_keeps_names_and_official_splits(tmp_path):
    root = make_copy(tmp_path / "msec", {"training": SCENES[:2], "validation": SCENES[2:]})
    items, ctx, dest = _fetch(tmp_path, root, splits=["training", "validation"])
    assert [i.split for i in items] == ["train"] * 10 + ["val"] * 5
    assert not ctx.rejects
    for item in items:
        path, target = (dest / item.path).resolve(), (dest / str(item.target)).resolve()
        assert path.parent == (root / path.parts[-3] / "INPUT_IMAGES").resolve()  # in place
        assert target.parent.name == "GT_IMAGES" and target.stem == item.scene[5:]
        assert path.stem.rsplit("_", 1)[1] in TOKENS
    assert sorted(i.ev for i in items if i.split == "val") == [-1.5, -1, 0, 1, 1.5]
    assert not any((dest).rglob("*.JPG"))  # nothing copied


def test_ev0_target_and_validation_as_test(tmp_path):
    root = make_copy(tmp_path / "msec", {"training": SCENES[:1], "validation": SCENES[1:2]})
    items, _, _ = _fetch(
        tmp_path, root, splits=["training", "validation"], target="ev0", test_split="validation"
    )
    assert {i.split for i in items} == {"train", "test"}
    for item in items:
        assert Path(str(item.target)).name == f"{item.scene[5:]}_0.JPG"
        assert Path(str(item.target)).parent.name == "INPUT_IMAGES"


def test_scene_without_its_target_is_one_named_line(tmp_path):
    root = make_copy(tmp_path / "msec", {"validation": SCENES[:2]})
    (root / "validation" / "INPUT_IMAGES" / f"{SCENES[0]}_0.JPG").unlink()
    (root / "validation" / "GT_IMAGES" / f"{SCENES[1]}.jpg").unlink()
    items, ctx, _ = _fetch(tmp_path / "a", root, splits=["validation"], target="ev0")
    (reject,) = ctx.rejects
    assert f"MSEC scene {SCENES[0]}: no EV 0 render {SCENES[0]}_0.JPG" in reject.reason
    assert "4 render(s) left out" in reject.reason and len(items) == 5
    items, ctx, _ = _fetch(tmp_path / "b", root, splits=["validation"], target="expert")
    (reject,) = ctx.rejects
    assert reject.path.endswith(f"GT_IMAGES/{SCENES[1]}.jpg")
    assert f"MSEC scene {SCENES[1]}: no expert image {SCENES[1]}.jpg" in reject.reason
    assert {i.scene for i in items} == {f"msec-{SCENES[0]}"}


def test_target_of_another_size_leaves_its_scene_out_in_one_line(tmp_path):
    root = make_copy(tmp_path / "msec", {"training": SCENES[:2]})
    bad = root / "training" / "GT_IMAGES" / f"{SCENES[0]}.jpg"
    bad.write_bytes(photo(6, width=96))
    items, ctx, _ = _fetch(tmp_path, root, splits=["training"])
    (reject,) = ctx.rejects
    assert reject.path.endswith(f"GT_IMAGES/{SCENES[0]}.jpg")
    assert f"MSEC scene {SCENES[0]}: {SCENES[0]}_" in reject.reason
    assert f"is 80x64, but its target {bad.name} is 96x64" in reject.reason
    assert "5 render(s) left out" in reject.reason
    assert {i.scene for i in items} == {f"msec-{SCENES[1]}"} and len(items) == 5


@pytest.mark.parametrize("case", ["ev", "split", "folder"])
def test_bad_copy_is_one_line_and_nothing_written(tmp_path, case):
    root = make_copy(tmp_path / "msec", {"training": SCENES[:1], "validation": SCENES[1:2]})
    splits = ["training", "validation"]
    if case == "ev":
        bad = root / "validation" / "INPUT_IMAGES" / f"{SCENES[1]}_P3x.JPG"
        bad.write_bytes(photo(5))
        match = rf"{bad.name}: not an MSEC render name \(cannot parse an EV from 'P3x'"
    elif case == "split":
        splits.append("testing")
        match = r"msec/testing: no such folder \(MSEC's testing split"
    else:
        root = tmp_path / "nowhere"
        match = r"data\.msec\.path: .*nowhere: no such folder"
    params = _params(root, splits=splits)
    with pytest.raises(UserError, match=match):
        download.run(params, tmp_path / "raw")
    assert not list((tmp_path / "raw").rglob(INDEX_NAME))
