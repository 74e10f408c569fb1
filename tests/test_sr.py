"""Super-resolution (seed 003's second stage): scores, tiled inference, and the commands
`prep train --task sr`, `prep evaluate --task sr` and `prep enhance --upscale 4`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from exposure_core import imageio
from exposure_models.checkpoint import CheckpointError, save_generator
from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.inference import upscaler as upscaler_mod
from exposure_models.inference.upscaler import Upscaler
from exposure_models.seednets.sr import RRDBConfig, RRDBGenerator
from pipeline.cli import app
from pipeline.evaluation.sr_metrics import crop_to_multiple, interpolate, luma_y, sr_scores
from pipeline.params import PRESETS
from tests._pairs import make_shards

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_scores_follow_the_sr_convention():
    rng = np.random.default_rng(0)
    hr = rng.random((40, 44, 3)).astype(np.float32)
    same = sr_scores(hr, hr, 4)
    assert same["psnr_y"] == float("inf") and same["ssim_rgb"] == pytest.approx(1.0)
    noisy = np.clip(hr + 0.05 * rng.standard_normal(hr.shape), 0, 1).astype(np.float32)
    # a difference confined to the shaved border does not count
    framed = hr.copy()
    framed[:4] = 0
    assert sr_scores(framed, hr, 4)["psnr_rgb"] == float("inf")
    assert sr_scores(noisy, hr, 4)["psnr_y"] > sr_scores(noisy, hr, 4)["psnr_rgb"] - 10
    assert luma_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235 / 255)
    assert luma_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16 / 255)
    assert interpolate(hr[:10, :11], 4, "lanczos").shape == (40, 44, 3)
    assert crop_to_multiple(hr[:39, :43], 4).shape == (36, 40, 3)


def _tiny_sr(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = RRDBGenerator(RRDBConfig(features=8, blocks=1, growth=4, base="bicubic"))
    with torch.no_grad():
        model.conv_last.weight.normal_(0, 0.01)  # not the identity-over-bicubic start
    path = tmp_path / "sr.pt"
    save_generator(path, model.eval(), {"train": {"sr": {"scale": 4, "degradation": "bicubic"}}})
    return path


def test_tiles_meet_without_seams(tmp_path, monkeypatch):
    up = Upscaler.load(_tiny_sr(tmp_path), "cpu")
    lr = np.random.default_rng(1).random((37, 53, 3)).astype(np.float32)
    with torch.no_grad():
        whole = up.model(torch.from_numpy(lr).permute(2, 0, 1)[None]).clamp(0, 1)
    monkeypatch.setattr(upscaler_mod, "TILE", 16)
    monkeypatch.setattr(upscaler_mod, "MARGIN", 24)  # beyond the tiny net's reach
    tiled = up.upscale(lr)
    assert tiled.shape == (148, 212, 3)
    assert np.allclose(tiled, whole[0].permute(1, 2, 0).numpy(), atol=1e-5)


def test_an_upscaler_is_not_an_exposure_model(tmp_path):
    from exposure_models.inference.enhancer import Enhancer
    from pipeline.params import EnhanceParams

    with pytest.raises(CheckpointError, match="super-resolution model"):
        Enhancer.load(_tiny_sr(tmp_path), EnhanceParams(device="cpu"))


def test_an_exposure_model_is_not_an_upscaler(tmp_path):
    path = tmp_path / "g.pt"
    save_generator(path, UNetGenerator(UNetConfig(depth=2, width=2)), {})
    with pytest.raises(CheckpointError, match="not a super-resolution"):
        Upscaler.load(path, "cpu")


def test_sr_commands_end_to_end(tmp_path, demo_photos):
    shards = make_shards(tmp_path / "data", demo_photos, size=96)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = {"crop": 32, "batch_size": 2, "workers": 0, "log_every": 1, "checkpoint_every": 2}
    sr_demo = copy.deepcopy(PRESETS["sr_demo"])
    params["train"]["presets"] = {"sr_demo": sr_demo}  # replaces the built-in of that name
    sr_demo.update(tiny)
    sr_demo["generator"].update(features=8, blocks=1, growth=4)
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    model = tmp_path / "sr.pt"
    res = runner.invoke(
        app,
        ["train", "--params", str(pfile), "--preset", "sr_demo", "--steps", "3",
         "--shards", str(shards), "--model", str(model), "--checkpoints",
         str(tmp_path / "ck"), "--dvclive", str(tmp_path / "live"), "--device", "cpu"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "RRDBGenerator" in res.output

    photos = tmp_path / "photos"
    imageio.write_image(photos / "a.png", demo_photos["coffee"][:120, :160])
    res = runner.invoke(
        app,
        ["evaluate", "--params", str(pfile), "--task", "sr", "--model", str(model),
         "--photos", str(photos), "--output", str(tmp_path / "rep")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "rep" / "sr_metrics.json").read_text())
    assert report["images"] == 1 and set(report["means"]) == {"model", "bicubic", "lanczos"}
    res = runner.invoke(
        app,
        ["evaluate", "--params", str(pfile), "--task", "sr", "--model", str(model),
         "--shards", str(shards), "--output", str(tmp_path / "rep2")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output

    exposure = tmp_path / "g.pt"
    save_generator(exposure, UNetGenerator(UNetConfig(depth=2, width=2)).eval(), {})
    res = runner.invoke(
        app,
        ["enhance", str(photos / "a.png"), "--params", str(pfile), "--model", str(exposure),
         "--output", str(tmp_path / "out"), "--upscale", "4", "--sr-model", str(model)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert imageio.read_image(tmp_path / "out" / "a.png").shape == (480, 640, 3)
    res = runner.invoke(
        app,
        ["enhance", str(photos / "a.png"), "--params", str(pfile), "--model", str(exposure),
         "--output", str(tmp_path / "out2"), "--upscale", "2", "--sr-model", str(model)],
    )  # fmt: skip
    assert res.exit_code == 2 and "not x2" in res.output
