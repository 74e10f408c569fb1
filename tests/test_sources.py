from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from exposure_core.errors import UserError
from exposure_core.manifest import SourceItem
from pipeline.params import load_params
from pipeline.sources import SOURCES, FetchContext
from pipeline.sources.integrity import ChecksumError
from pipeline.sources.msec import parse_ev, split_input_name
from pipeline.sources.places365 import subset
from tests._datasets import lol_files, msec_split, photo, places_files, tar_bytes, zip_bytes

SCENES = ["a0001-IMG_0001", "a0002-IMG_0002", "a0003-IMG_0003", "a0004-IMG_0004"]


def _run(tmp_path: Path, source: str, strict: bool = False, **overrides):
    params = load_params(None, {f"data.{k.replace('__', '.')}": v for k, v in overrides.items()})
    ctx = FetchContext(params=params, raw_root=tmp_path / "raw", strict=strict)
    dest = tmp_path / "raw" / source
    dest.mkdir(parents=True, exist_ok=True)
    return SOURCES[source](ctx, dest), ctx, dest


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_parse_ev_hand_values():
    assert parse_ev("N1.5") == -1.5 and parse_ev("P1.5") == 1.5
    assert parse_ev("N1") == -1.0 and parse_ev("P1") == 1.0
    assert parse_ev("0") == 0.0 and parse_ev("p0") == 0.0 and parse_ev("0.0") == 0.0
    for bad in ("1.5", "X1", "N", "P1.5x", ""):
        with pytest.raises(ValueError, match=repr(bad)):
            parse_ev(bad)
    assert split_input_name("a0716-MB_20030906_030_P1.5") == ("a0716-MB_20030906_030", "P1.5")
    with pytest.raises(ValueError, match="no _<EV> suffix"):
        split_input_name("noevsuffix")


def test_msec_pairs_by_name_with_splits_evs_and_rejects(tmp_path):
    # Scene 1 loses one input (pairing by sort order would shift every later pair), scene 3
    # has no ground truth, scene 4 has a ground truth but no inputs.
    dropped = tuple(f"{SCENES[3]}_{t}.JPG" for t in ("N1.5", "N1", "0", "P1", "P1.5"))
    training = msec_split("training", SCENES, drop_gt=(SCENES[2],), drop_inputs=dropped)
    del training[f"training/INPUT_IMAGES/{SCENES[0]}_0.JPG"]
    training[f"training/INPUT_IMAGES/{SCENES[1]}_Q2.JPG"] = photo(9)
    testing = msec_split("testing", SCENES[:1])
    items, ctx, dest = _run(
        tmp_path,
        "msec",
        msec__splits=["training", "testing"],
        msec__training__url=_write(tmp_path / "training.zip", zip_bytes(training)),
        msec__testing__url=_write(tmp_path / "testing.tar.gz", tar_bytes(testing)),
    )
    train = [i for i in items if i.split == "train"]
    assert len(train) == 4 + 5  # scene 1 without its EV 0 input, scene 2 complete
    for item in items:
        assert item.kind == "native" and item.source == "msec"
        base, token = split_input_name(Path(item.path).stem)
        assert item.scene == f"msec-{base}" and Path(item.target).name == f"{base}.jpg"
        assert item.ev == {"N1.5": -1.5, "N1": -1.0, "0": 0.0, "P1": 1.0, "P1.5": 1.5}[token]
        assert (dest / item.path).is_file() and (dest / item.target).is_file()
    assert sorted(i.ev for i in train if i.scene == f"msec-{SCENES[0]}") == [-1.5, -1, 1, 1.5]
    test = [i for i in items if i.split == "test"]
    assert len(test) == 5 and all("expert_c_testing_set" in i.target for i in test)
    assert [i.split for i in items] == ["train"] * 9 + ["test"] * 5
    reasons = {Path(r.path).name: r for r in ctx.rejects}
    expected = {f"{SCENES[2]}_{t}.JPG" for t in ("N1.5", "N1", "0", "P1", "P1.5")}
    assert set(reasons) == expected | {f"{SCENES[3]}.jpg", f"{SCENES[1]}_Q2.JPG"}
    assert "cannot parse an EV from 'Q2'" in reasons[f"{SCENES[1]}_Q2.JPG"].reason
    missing = reasons[f"{SCENES[2]}_P1.JPG"]
    assert f"no ground truth {SCENES[2]}.jpg" in missing.reason
    assert missing.extra["ground_truth"].endswith(f"GT_IMAGES/{SCENES[2]}.jpg")
    assert "without inputs" in reasons[f"{SCENES[3]}.jpg"].reason
    notes = "\n".join(ctx.summary.notes)
    assert "msec training: 15 input files, DATASETS.md lists 17675" in notes
    assert "msec training: 1 scene(s) without exactly 5 paired inputs" in notes


def test_msec_expert_choice_nested_layout_and_strict(tmp_path):
    nested = {f"MSEC/{k}": v for k, v in msec_split("testing", SCENES[:1]).items()}
    url = _write(tmp_path / "testing.zip", zip_bytes(nested))
    items, _, _ = _run(
        tmp_path, "msec", msec__splits=["testing"], msec__testing__url=url, msec__expert="a"
    )
    assert {Path(i.target).parent.name for i in items} == {"expert_a_testing_set"}
    assert all(i.path.startswith("testing/MSEC/testing/INPUT_IMAGES/") for i in items)

    broken = msec_split("validation", SCENES[:1], drop_gt=(SCENES[0],))
    broken[f"validation/GT_IMAGES/{SCENES[1]}.jpg"] = photo(7)  # the GT folder exists
    url = _write(tmp_path / "validation.tar", tar_bytes(broken, "w"))
    with pytest.raises(ValueError, match="no ground truth"):
        _run(
            tmp_path / "s",
            "msec",
            strict=True,
            msec__splits=["validation"],
            msec__validation__url=url,
        )


def test_msec_layout_and_param_errors(tmp_path):
    files = {k: v for k, v in msec_split("training", SCENES[:1]).items() if "GT_IMAGES" not in k}
    url = _write(tmp_path / "training.zip", zip_bytes(files))
    with pytest.raises(ValueError, match="no GT_IMAGES/ folder"):
        _run(tmp_path, "msec", msec__splits=["training"], msec__training__url=url)
    with pytest.raises(ValueError, match=r"data\.msec\.validation\.url is empty"):
        _run(tmp_path / "e", "msec", msec__splits=["validation"])
    with pytest.raises(UserError, match="no such file"):
        _run(tmp_path / "f", "msec", msec__splits=["training"], msec__training__url="nope.zip")


def test_lol_pairs_low_and_high_by_name(tmp_path):
    url = _write(tmp_path / "LOLdataset.zip", zip_bytes(lol_files()))
    items, ctx, dest = _run(tmp_path, "lol", lol__archive__url=url)
    assert [(i.split, Path(i.path).name) for i in items] == [
        ("train", "2.png"), ("train", "22.png"), ("train", "5.png"),
        ("test", "1.png"), ("test", "111.png"),
    ]  # fmt: skip
    for item in items:
        assert item.kind == "native" and item.ev is None
        assert item.path.replace("/low/", "/high/") == item.target
        assert (dest / item.target).is_file()
    assert items[0].scene == "lol-our485-2" and len({i.scene for i in items}) == 5
    (reject,) = ctx.rejects
    assert reject.path.endswith("our485/low/99.png") and reject.extra["partner"].endswith(
        "our485/high/99.png"
    )
    assert "lol our485: 3 pairs, DATASETS.md lists 485" in ctx.summary.notes


def test_lol_without_eval15_is_an_error(tmp_path):
    files = {k: v for k, v in lol_files("").items() if "eval15" not in k}
    url = _write(tmp_path / "lol.tar.gz", tar_bytes(files))
    with pytest.raises(ValueError, match="no eval15/ folder with low/ and high/"):
        _run(tmp_path, "lol", lol__archive__url=url)


def test_places365_subset_is_stable_and_order_free():
    paths = [f"val_256/Places365_val_{k:08d}.jpg" for k in range(50)]
    chosen = subset(paths, 10, seed=0)
    assert len(chosen) == 10 and chosen == sorted(chosen)
    assert subset(list(reversed(paths)), 10, seed=0) == chosen
    assert subset(paths, 10, seed=1) != chosen
    assert subset(paths, 0, seed=0) == sorted(paths) == subset(paths, 99, seed=0)
    # Hand check: the subset is the 10 smallest seeded hashes.
    keys = sorted(paths, key=lambda p: hashlib.sha256(f"0\0{p}".encode()).digest())
    assert chosen == sorted(keys[:10])


def test_places365_archive_checked_against_md5(tmp_path):
    data = tar_bytes(places_files(6), "w")
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "val_256.tar").write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    base = str(tmp_path / "mirror")
    items, ctx, dest = _run(
        tmp_path, "places365", places365__base_url=base, places365__md5=md5,
        places365__max_images=4,
    )  # fmt: skip
    assert len(items) == 4 and all(i.kind == "clean" and i.split is None for i in items)
    assert items[0].scene.startswith("places365-val_256_Places365_val_0000000")
    assert all((dest / i.path).is_file() for i in items)
    assert "places365: kept 4 of 6 photos" in ctx.summary.notes[0]
    # The built-in table is used when no md5 is given: this test archive does not match it.
    with pytest.raises(ChecksumError, match="e27b17d8d44f4af9a78502beb927f808") as err:
        _run(tmp_path / "b", "places365", places365__base_url=base)
    assert md5 in str(err.value) and "nothing was extracted" in str(err.value)
    assert not (tmp_path / "b" / "raw" / "places365" / "val_256").exists()
    with pytest.raises(ValueError, match="no published MD5 for 'mine.tar'"):
        _run(tmp_path / "c", "places365", places365__archive="mine", places365__base_url=base)


def test_folder_indexes_photos_in_place(tmp_path):
    photos = tmp_path / "photos"
    (photos / "trip" / ".thumbs").mkdir(parents=True)
    (photos / "a.jpg").write_bytes(photo(1))
    (photos / "trip" / "b.PNG").write_bytes(photo(2, ".png"))
    (photos / "trip" / ".thumbs" / "b.jpg").write_bytes(photo(3))
    (photos / "trip" / "notes.txt").write_text("not a photo")
    items, _, dest = _run(tmp_path, "folder", folder__path=str(photos))
    assert items == [
        SourceItem("folder", "folder-a", "../../photos/a.jpg"),
        SourceItem("folder", "folder-trip_b", "../../photos/trip/b.PNG"),
    ]
    assert all((dest / i.path).resolve().is_file() for i in items)
    flat, _, _ = _run(tmp_path, "folder", folder__path=str(photos), folder__recursive=False)
    assert [i.path for i in flat] == ["../../photos/a.jpg"]


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match=r"data\.folder\.path is empty"):
        _run(tmp_path, "folder")
    with pytest.raises(UserError, match="no such folder"):
        _run(tmp_path, "folder", folder__path=str(tmp_path / "missing"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no photos"):
        _run(tmp_path, "folder", folder__path=str(tmp_path / "empty"))
