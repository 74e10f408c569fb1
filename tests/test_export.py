"""`prep export`: plain WebDataset pairs that webdataset reads alone, equal to what the training
loader renders; deterministic tars; clear errors for shards of the other kind; the DVC stage
that `dvc repro` does not run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
import yaml
from typer.testing import CliRunner

from exposure_core import imageio, shardfmt
from exposure_core.errors import UserError
from exposure_core.pairexport import ExportOptions
from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
from pipeline.cli import app
from pipeline.stages import export
from tests import test_dvc_deps
from tests._pairs import make_shards
from tests.test_loader import _build as build_stored_shards

ROOT = Path(__file__).resolve().parents[1]
EVAL = LoaderConfig(batch_size=1, crop=None, train=False)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, demo_photos) -> Path:
    """Recipes of every rendered kind: tau clipping, EV shifts, camera-like (one with a JPEG
    re-encode), in train, val and test."""
    root = tmp_path_factory.mktemp("recipes")
    return make_shards(root, demo_photos, camera_evs=[1.0, -1.0], camera_quality=[70, 90])


@pytest.fixture(scope="module")
def exported(shards, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "pairs"
    export.run(shards, out)
    return out


def _loader_pairs(shards: Path, split: str) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """id -> (input, target, meta) as the training loader renders them (HWC float32)."""
    out = {}
    for batch in make_loader(shard_urls(shards, split), EVAL):
        inp, tgt = (t[0].permute(1, 2, 0).numpy() for t in (batch.input, batch.target))
        out[batch.meta[0]["id"]] = (inp, tgt, batch.meta[0])
    return out


def _urls(folder: Path, split: str) -> list[str]:
    index = json.loads((folder / "index.json").read_text())
    return [str(folder / s["name"]) for s in index["shards"] if s["split"] == split]


def _plain(urls: list[str], *keys: str) -> list[tuple]:
    """The pairs as a webdataset user reads them, with nothing of this project."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webdataset's note on the unset shardshuffle
        return list(wds.WebDataset(urls).decode("rgb").to_tuple(*keys))


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_plain_webdataset_pairs_equal_the_loaders_bit_for_bit(shards, exported, split):
    expected = _loader_pairs(shards, split)
    got = _plain(_urls(exported, split), "input.png", "target.png", "json")
    assert (
        len(got)
        == len(expected)
        == json.loads((exported / "index.json").read_text())["pair_counts"][split]
    )
    kinds = set()
    for inp, tgt, meta in got:
        want_in, want_tgt, want_meta = expected[meta["id"]]
        assert inp.dtype == np.float32 and inp.shape == want_in.shape
        assert np.array_equal(inp, want_in), meta["id"]
        assert np.array_equal(tgt, want_tgt), meta["id"]
        for key in ("kind", "tau", "ev", "gamma", "curve", "scene", "split", "source"):
            assert meta[key] == want_meta[key], key
        assert meta.get("camera") == want_meta.get("camera")
        assert meta["format"] == shardfmt.PLAIN_FORMAT and meta["split"] == split
        kinds.add((meta["kind"], bool((meta.get("camera") or {}).get("quality"))))
    if split == "train":  # every rendered kind was checked, a JPEG re-encode among them
        assert {("overexpose", False), ("ev", False), ("camera", True)} <= kinds


def test_jpeg_inputs_equal_our_render_encoded_at_the_stated_quality(shards, tmp_path):
    out = tmp_path / "jpg"
    result = CliRunner().invoke(
        app, ["export", "--input", str(shards), "--output", str(out), "--input-format", "jpg",
              "--quality", "80"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = _loader_pairs(shards, "val")
    decode = wds.autodecode.imagehandler("rgb")
    got = _plain(_urls(out, "val"), "input.jpg", "target.png", "json")
    assert got
    for inp, tgt, meta in got:
        assert meta["input_format"] == "jpg" and meta["quality"] == 80
        want_in, want_tgt, _ = expected[meta["id"]]
        ours = decode("x.jpg", imageio.encode(want_in, ".jpg", quality=80))
        assert np.array_equal(inp, ours)
        assert np.array_equal(tgt, want_tgt)
        assert not np.array_equal(inp, want_in)  # lossy, so the comparison above is not moot


def test_stored_inputs_and_16_bit_photos(tmp_path):
    """Stored inputs (native pairs) as the loader decodes them; a 16-bit photo keeps 16 bits
    (our reader sees them all; PIL's "rgb" reads the top 8)."""
    from pipeline.api import exported_pairs

    shards = build_stored_shards(tmp_path)
    export.run(shards, tmp_path / "out")
    expected = _loader_pairs(shards, "train")
    urls = _urls(tmp_path / "out", "train")
    ours = {meta["id"]: (inp, tgt, meta) for inp, tgt, meta in exported_pairs(urls)}
    assert ours.keys() == expected.keys()
    for pair_id, (inp, tgt, _) in ours.items():
        assert np.array_equal(inp, expected[pair_id][0]) and np.array_equal(
            tgt, expected[pair_id][1]
        )
    assert ours["small"][2]["bits"] == 16
    for inp, meta in _plain(urls, "input.png", "json"):
        want = expected[meta["id"]][0]
        if meta["bits"] == 8:
            assert np.array_equal(inp, want)
        else:  # PIL keeps the top byte of each 16-bit code
            codes = np.rint(want.astype(np.float64) * 65535).astype(np.int64)
            assert np.array_equal(inp, (codes // 256).astype(np.float32) / 255.0)


def test_tars_are_deterministic_whatever_the_workers(shards, exported, tmp_path):
    export.run(shards, tmp_path / "again", workers=2)
    names = sorted(p.name for p in exported.glob("*.tar"))
    assert names == ["test-000000.tar", "train-000000.tar", "val-000000.tar"]
    for name in names:
        assert (tmp_path / "again" / name).read_bytes() == (exported / name).read_bytes()
    with tarfile.open(exported / "train-000000.tar") as tar:
        members = tar.getmembers()
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o444)}
    suffixes = [m.name.partition(".")[2] for m in members]
    assert suffixes[:3] == ["input.png", "json", "target.png"]
    assert len(suffixes) == 3 * len({m.name.partition(".")[0] for m in members})


def test_shards_are_cut_by_pair_count(shards, tmp_path):
    export.run(shards, tmp_path / "small", max_pairs=5)
    index = json.loads((tmp_path / "small" / "index.json").read_text())
    train = [s for s in index["shards"] if s["split"] == "train"]
    assert [s["name"] for s in train][:2] == ["train-000000.tar", "train-000001.tar"]
    assert all(s["pairs"] <= 5 for s in train) and sum(s["pairs"] for s in train) == len(
        _plain(_urls(tmp_path / "small", "train"), "json")
    )


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 or "error:" in lines[0], result.output
    return " ".join(result.output.split())


def test_plain_shards_where_ours_are_expected_are_named(exported, tmp_path):
    message = _one_line_error(["export", "--input", str(exported), "--output", str(tmp_path / "x")])
    assert str(exported / "index.json") in message and "prep export" in message
    tar = _urls(exported, "val")[0]
    with pytest.raises(shardfmt.ShardFormatError, match=re.escape(tar) + ".*prep export"):
        next(iter(make_loader([tar], EVAL)))
    with pytest.raises(UserError, match="prep export"):
        shard_urls(exported, "train")
    assert not (tmp_path / "x").exists()


def test_our_shards_where_plain_ones_are_expected_are_named(shards, exported, tmp_path):
    from pipeline.api import exported_pairs

    tar = shard_urls(shards, "val")[0]
    with pytest.raises(shardfmt.ShardFormatError, match=re.escape(tar) + ".*prep shard"):
        next(iter(exported_pairs([tar])))
    with pytest.raises(shardfmt.ShardFormatError, match="index.json: the shards of `prep shard`"):
        exported_pairs(shards, "val")
    assert len(list(exported_pairs(exported, "val"))) == len(
        list(exported_pairs(_urls(exported, "val")))
    )
    message = _one_line_error(["export", "--input", str(shards), "--output", str(shards)])
    assert "holds the shards of `prep shard`" in message
    assert shard_urls(shards, "val")  # untouched


def test_corrupt_shard_fails_naming_it_and_writes_nothing(shards, tmp_path):
    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    tar = copy / "val-000000.tar"
    tar.write_bytes(tar.read_bytes()[:-2048] + b"\0" * 2048 + b"x")
    message = _one_line_error(["export", "--input", str(copy), "--output", str(tmp_path / "o")])
    assert str(tar) in message
    assert not (tmp_path / "o").exists()


def test_output_that_is_a_file_is_refused(shards, tmp_path):
    taken = tmp_path / "f.txt"
    taken.write_text("mine")
    message = _one_line_error(["export", "--input", str(shards), "--output", str(taken)])
    assert "f.txt: not a folder" in message and taken.read_text() == "mine"


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="quality"):
        ExportOptions("jpg", 0)
    result = CliRunner().invoke(app, ["export", "--input", "x", "--output", "y",
                                      "--input-format", "gif"])  # fmt: skip
    assert result.exit_code == 2 and "png or jpg" in result.output


# --- the DVC stage ----------------------------------------------------------------------------


def test_export_stage_deps_cover_its_imports():
    stage = yaml.safe_load((ROOT / "export" / "dvc.yaml").read_text())["stages"]["export"]
    closure = test_dvc_deps.import_closure(ROOT / "pipeline" / "stages" / "export.py")
    missing = [f for f in closure if not test_dvc_deps.covered(f, stage["deps"])]
    assert not missing
    assert not [f for f in closure if "exposure_models" in f.parts]  # a data stage: no torch


def _placeholders(project: Path) -> None:
    """Every dep and output of both dvc.yaml files, empty, so a dry run plans every stage."""
    for dvcfile in ("dvc.yaml", "export/dvc.yaml"):
        for stage in yaml.safe_load((project / dvcfile).read_text())["stages"].values():
            for item in [*stage.get("deps", []), *stage.get("outs", []),
                         *stage.get("metrics", []), *stage.get("plots", [])]:  # fmt: skip
                path = project / (next(iter(item)) if isinstance(item, dict) else item)
                if path.exists():
                    continue
                if path.suffix:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                else:
                    path.mkdir(parents=True)


def test_dvc_repro_leaves_the_export_stage_off(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("exposure_core", "exposure_models", "pipeline"):
        (project / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "export", project / "export")  # DVC skips a linked dvc.yaml folder
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, project)
    _placeholders(project)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = [str(Path(sys.executable).parent / "dvc")]

    def planned(*args: str) -> list[str]:
        done = subprocess.run([*dvc, *args], cwd=project, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return re.findall(r"Running stage '([^']+)'", done.stdout)

    assert subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=project, env=env).returncode == 0
    assert planned("repro", "--dry") == [
        "download", "filter", "synthesize", "shard", "train", "evaluate"
    ]  # fmt: skip
    assert planned("repro", "--dry", "export/dvc.yaml") == [
        "download", "filter", "synthesize", "shard", "export/dvc.yaml:export"
    ]  # fmt: skip
    assert not (project / "dvc.lock").exists()
    assert "export" not in yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]


def test_stage_writes_only_after_success(shards, tmp_path, monkeypatch):
    """A failure while exporting leaves no output and no half-written tar."""
    calls = {"n": 0}
    real = export.export_photo

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(export, "export_photo", failing)
    with pytest.raises(UserError, match="No space left"):
        export.run(shards, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    staged = tmp_path / "out.partial"
    assert not [p for p in staged.rglob("*") if p.suffix in (".tar", ".tmp")]
