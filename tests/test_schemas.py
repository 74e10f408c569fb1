"""One schema per component, range checks when params load, and GanStep state round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exposure_models.checkpoint import load_generator, save_generator
from exposure_models.config import LossWeights, Seed003DiscriminatorConfig, Seed003GeneratorConfig
from exposure_models.training import setup
from pipeline.params import ParamsError, load_params

ROOT = Path(__file__).resolve().parents[1]


def test_params_build_the_model_configs_by_keyword() -> None:
    p = load_params(ROOT / "params.yaml", {"train.preset": "seed003"}).train
    assert isinstance(p.generator, Seed003GeneratorConfig) and p.generator.color_space == "ycrcb"
    assert isinstance(p.discriminator, Seed003DiscriminatorConfig)
    assert p.loss == LossWeights(gan="bce", gan_weight=0.01, l1_weight=1.0, content_space="ycrcb")
    assert p.generator.arch == "seed003"  # the seed's own network, with its own config
    demo = load_params(ROOT / "params.yaml", {"train.preset": "demo"}).train
    gan = setup.build_step(demo, torch.device("cpu"))
    assert gan.generator.config is demo.generator and gan.weights is demo.loss


def test_the_checkpoint_stores_the_same_config(tmp_path: Path) -> None:
    p = load_params(ROOT / "params.yaml").train
    generator, _ = setup.build_models(p)
    save_generator(tmp_path / "g.pt", generator)
    model, _ = load_generator(tmp_path / "g.pt")
    assert model.config == p.generator


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"train.generator": {"dropout": 1.0}}, r"train\.generator\.dropout: must be in \[0, 1\)"),
        ({"train.generator": {"depth": 1}}, r"train\.generator\.depth: must be >= 2"),
        (
            {"train.generator": {"skip": "gain", "output": "sigmoid"}},
            r"train\.generator\.skip: 'gain' needs output: tanh",
        ),
        ({"train.discriminator": {"n_layers": 0}}, r"train\.discriminator\.n_layers: must be >= 1"),
        ({"train.loss": {"l1_weight": -1.0}}, r"train\.loss\.l1_weight: must be >= 0"),
        (
            {"train.loss": {"perceptual_weight": 1.0}},
            r"train\.loss\.vgg_weights: needed when perceptual_weight > 0",
        ),
        ({"synthesize.evs": [9.0]}, r"synthesize\.evs: 9\.0 is outside -8\.\.\+8 EV"),
        ({"synthesize.tau_samples": -1}, r"synthesize\.tau_samples: must be >= 0, got -1"),
        ({"synthesize.gamma": 0}, r"synthesize\.gamma: must be > 0, got 0"),
        ({"shard.max_samples": 0}, r"shard\.max_samples: must be >= 1, got 0"),
        ({"shard.split": {"train": 0.5, "val": 0.1, "test": 0.1}}, r"shard\.split.*sum to 1"),
        ({"evaluate.resolution": -1}, r"evaluate\.resolution: must be >= 0, got -1"),
        ({"evaluate.tau_buckets": [0.7, 0.6]}, r"evaluate\.tau_buckets: must be increasing"),
        ({"enhance.radius": 0}, r"enhance\.radius: must be >= 1, got 0"),
        ({"enhance.highlight_lo": 0.99, "enhance.highlight_hi": 0.9}, r"enhance\.highlight_lo"),
        ({"enhance.eps": 0.0}, r"enhance\.eps: must be > 0, got 0"),
        ({"train.epochs": -1}, r"train\.epochs: must be >= 0, got -1"),
        ({"train.steps": 0}, r"train\.steps: must be >= 1, got 0"),
        ({"train.task": "sr", "train.generator": {"arch": "rrdb"}}, r"train\.discriminator\.arch"),
        ({"train.task": "sr"}, r"train\.generator\.arch: 'unet' does not fit task 'sr'"),
        (
            {"train.preset": "sr_demo", "train.discriminator.arch": "patch"},
            r"train\.discriminator\.arch: task sr needs an unconditional",
        ),
        ({"train.preset": "sr_demo", "train.crop": 130}, r"train\.crop: must be a multiple"),
        ({"train.preset": "seed002", "train.init": "pytorch"}, r"train\.init: pytorch is not"),
        ({"train.device": "gpu"}, r"train\.device: unknown value 'gpu'"),
        ({"train.augment": {"hue": 2.0}}, r"train\.augment\.hue: must be in \[0, 1\]"),
        ({"synthesize.seed": -1}, r"synthesize\.seed: must be >= 0, got -1"),
        ({"evaluate.baselines": ["nope"]}, r"evaluate\.baselines: unknown \['nope'\]"),
        ({"enhance.device": "gpu"}, r"enhance\.device: unknown value 'gpu'"),
        ({"filter.analysis_side": 8}, r"filter\.analysis_side: must be >= 16, got 8"),
        ({"data.places365.archive": "../x"}, r"data\.places365\.archive: '\.\./x' must be"),
        ({"enhance.quality": 0}, r"enhance\.quality: must be in \[1, 100\], got 0"),
    ],
)
def test_ranges_are_checked_when_params_load(override: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        load_params(ROOT / "params.yaml", override)


def test_gan_step_state_round_trip() -> None:
    """A step restored from another's ``state_dict`` continues exactly like the original."""
    p = load_params(ROOT / "params.yaml", {"train.device": "cpu"}).train
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 128, 128), torch.rand(2, 3, 128, 128)
    first = setup.build_step(p, torch.device("cpu"))
    first.step(x, y, 1e-3)
    torch.manual_seed(1)  # other initial weights
    second = setup.build_step(p, torch.device("cpu"))
    second.load_state_dict(first.state_dict())
    a, b = first.step(x, y, 1e-3), second.step(x, y, 1e-3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    for s, t in zip(
        first.generator.state_dict().values(), second.generator.state_dict().values(), strict=True
    ):
        assert torch.equal(s, t)
