"""The public Python API (pipeline.api, docs/api.md): the pairs dataset, the enhancer as a
function, the example that trains on the shards, and a light ``import pipeline``."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from exposure_core import imageio
from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
from pipeline import api
from pipeline.cli import app
from tests._pairs import make_shards

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, demo_photos) -> Path:
    return make_shards(tmp_path_factory.mktemp("api"), demo_photos)


def test_import_pipeline_stays_light_and_names_load_on_use():
    code = (
        "import sys, pipeline; assert 'torch' not in sys.modules; "
        "from pipeline import ShardPairs, enhance; assert 'torch' in sys.modules; "
        "assert ShardPairs.__module__ == 'pipeline.api' and callable(enhance)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert sorted(api.__all__) == sorted(__import__("pipeline").__all__)


def test_training_pairs_have_shape_range_and_meta(shards):
    pairs = api.ShardPairs(shards, "train", crop=32, seed=1)
    assert isinstance(pairs, torch.utils.data.IterableDataset)
    items = list(pairs)
    assert len(items) == 4  # one view per photo per pass
    for inp, tgt, meta in items:
        assert inp.shape == tgt.shape == (3, 32, 32) and inp.dtype == torch.float32
        assert float(inp.min()) >= 0 and float(inp.max()) <= 1
        assert meta["split"] == "train" and meta["kind"] in ("overexpose", "ev")
    again = [meta["id"] for _, _, meta in api.ShardPairs(shards, "train", crop=32, seed=1)]
    assert again == [meta["id"] for _, _, meta in items]  # seeded


def test_evaluation_pairs_equal_the_training_loaders(shards):
    config = LoaderConfig(batch_size=1, crop=None, train=False)
    expected = {b.meta[0]["id"]: b for b in make_loader(shard_urls(shards, "val"), config)}
    got = list(api.ShardPairs(shards, "val", crop=None, train=False))
    assert [meta["id"] for _, _, meta in got] == list(expected)
    for inp, tgt, meta in got:
        assert torch.equal(inp, expected[meta["id"]].input[0])
        assert torch.equal(tgt, expected[meta["id"]].target[0])


def test_dataloader_workers_see_each_sample_once(shards):
    urls = shard_urls(shards, "train")
    pairs = api.ShardPairs(urls, crop=16, train=False)
    loader = DataLoader(pairs, batch_size=3, num_workers=2, collate_fn=api.collate_pairs)
    ids = []
    for inputs, targets, metas in loader:
        assert inputs.shape[1:] == targets.shape[1:] == (3, 16, 16)
        assert inputs.shape[0] == len(metas) <= 3
        ids += [m["id"] for m in metas]
    assert len(ids) == len(set(ids)) == 16  # 4 photos x 4 variants


def test_augmentation_is_optional(shards):
    flips = api.AugmentConfig(hflip=True, vflip=True, rot90=True)
    assert api.ShardPairs(shards, crop=16).config.augment == api.AugmentConfig()
    assert api.ShardPairs(shards, crop=16, augment=False).config.augment is None
    assert api.ShardPairs(shards, crop=16, augment=flips).config.augment == flips
    with pytest.raises(ValueError, match="train=False"):
        api.ShardPairs(shards, crop=None)


def _photo16(path: Path) -> Path:
    """A 16-bit PNG of a dark gradient (an under-exposed photo the model brightens)."""
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    image = np.stack([x / 64, y / 48, (x + y) / 112], -1) * np.float32(0.25)
    imageio.write_image(path, image, bits=16)
    return path


def test_enhance_equals_prep_enhance(tmp_path):
    photo = _photo16(tmp_path / "dark.png")
    result = CliRunner().invoke(
        app, ["enhance", str(photo), "--output", str(tmp_path / "out"), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    written = imageio.read_image(tmp_path / "out" / "dark.png")
    enhancer = api.load_enhancer(settings=api.EnhanceSettings(device="cpu"))
    corrected = api.enhance(photo, enhancer)
    assert corrected.dtype == np.float32 and corrected.shape == (48, 64, 3)
    assert np.array_equal(corrected, written)
    assert corrected.mean() > imageio.read_image(photo).mean() + 0.05  # it was corrected
    from_array = api.enhance(imageio.read_image(photo), enhancer)
    assert np.array_equal(from_array, corrected)


def test_enhance_refuses_what_it_cannot_read(tmp_path):
    enhancer = api.load_enhancer(settings=api.EnhanceSettings(device="cpu"))
    with pytest.raises(ValueError, match="float"):
        api.enhance(np.zeros((8, 8, 3), np.uint8), enhancer)
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        api.enhance(np.zeros((8, 8), np.float32), enhancer)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(imageio.ImageError, match="broken.jpg"):
        api.enhance(bad, enhancer)


def test_the_example_trains_on_the_shards(shards, capsys):
    spec = importlib.util.spec_from_file_location("example", ROOT / "examples/train_on_shards.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    losses = example.main([str(shards), "--steps", "6", "--crop", "32"])
    assert len(losses) == 6 and all(math.isfinite(x) and x > 0 for x in losses)
    assert "step 6: L1" in capsys.readouterr().out
