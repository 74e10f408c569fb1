"""Generator, discriminator and building blocks."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from exposure_core.schema import ConfigError
from exposure_models.blocks import NoiseInjection, norm_layer, rgb_to_ycrcb, ycrcb_to_rgb
from exposure_models.checkpoint import load_generator, save_generator
from exposure_models.config import (
    GENERATOR_CONFIGS,
    Seed002GeneratorConfig,
    config_from_dict,
)
from exposure_models.discriminator import PatchDiscriminator, conv_plan, receptive_field
from exposure_models.generator import UNetConfig, UNetGenerator, predict_padded
from exposure_models.seednets.registry import GENERATORS


def tiny(**kw) -> UNetGenerator:
    kw.setdefault("depth", 3)
    kw.setdefault("width", 4)
    return UNetGenerator(UNetConfig(**kw))


# --- the seed 000 generator, written out here only to compare structure -------------------------
class _SeedBlock(nn.Module):
    def __init__(self, cin, cout, down, act, use_dropout):
        super().__init__()
        conv = (
            nn.Conv2d(cin, cout, 4, 2, 1, bias=False, padding_mode="reflect")
            if down
            else nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        )
        act_layer = nn.ReLU() if act == "relu" else nn.LeakyReLU(0.2)
        self.conv = nn.Sequential(conv, nn.BatchNorm2d(cout), act_layer)
        self.dropout = nn.Dropout(0.5) if use_dropout else nn.Identity()

    def forward(self, x):
        return self.dropout(self.conv(x))


class _SeedGenerator(nn.Module):
    def __init__(self, f=64):
        super().__init__()
        self.initial_down = nn.Sequential(
            nn.Conv2d(3, f, 4, 2, 1, padding_mode="reflect"), nn.LeakyReLU(0.2)
        )
        downs = [(f, 2 * f), (2 * f, 4 * f), (4 * f, 8 * f)] + [(8 * f, 8 * f)] * 3
        self.downs = nn.ModuleList(_SeedBlock(a, b, True, "leaky", False) for a, b in downs)
        self.bottleneck = nn.Sequential(nn.Conv2d(8 * f, 8 * f, 4, 2, 1), nn.ReLU())
        ups = [(8 * f, 8 * f, True), (16 * f, 8 * f, True), (16 * f, 8 * f, True)]
        ups += [(16 * f, 8 * f, False), (16 * f, 4 * f, False), (8 * f, 2 * f, False)]
        ups += [(4 * f, f, False)]
        self.ups = nn.ModuleList(_SeedBlock(a, b, False, "relu", d) for a, b, d in ups)
        self.final_up = nn.Sequential(nn.ConvTranspose2d(2 * f, 3, 4, 2, 1), nn.Tanh())

    def forward(self, x):
        skips = [self.initial_down(x)]
        for block in self.downs:
            skips.append(block(skips[-1]))
        x = self.bottleneck(skips[-1])
        for i, block in enumerate(self.ups):
            x = block(x if i == 0 else torch.cat([x, skips[-i]], 1))
        return self.final_up(torch.cat([x, skips[0]], 1))


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_default_generator_matches_seed_structure():
    with torch.device("meta"):  # parameter shapes without allocating 54M parameters
        ours, seed = UNetGenerator(), _SeedGenerator()
    assert _count(ours) == _count(seed)
    assert 54e6 < _count(ours) < 55e6
    # Same wiring at 256 x 256 (down to 1 x 1); a narrow copy keeps the forward pass cheap.
    ours, seed = UNetGenerator(UNetConfig(width=2)), _SeedGenerator(2)
    assert _count(ours) == _count(seed)
    x = torch.rand(2, 3, 256, 256)
    assert ours(x).shape == seed(x * 2 - 1).shape == (2, 3, 256, 256)


@pytest.mark.parametrize(
    ("depth", "width", "norm", "noise", "output", "color_space", "spectral"),
    [
        (2, 4, "batch", "none", "tanh", "rgb", False),
        (3, 8, "instance", "encoder", "sigmoid", "ycrcb", True),
        (4, 4, "none", "decoder", "tanh", "ycrcb", False),
        (5, 2, "batch", "both", "sigmoid", "rgb", True),
    ],
)
def test_generator_shapes_and_range(depth, width, norm, noise, output, color_space, spectral):
    model = tiny(
        depth=depth,
        width=width,
        norm=norm,
        noise=noise,
        output=output,
        color_space=color_space,
        spectral_norm=spectral,
    )
    x = torch.rand(2, 3, 2**depth * 2, 2**depth * 3)
    for mode in (True, False):
        y = model.train(mode)(x)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize(("output", "native"), [("tanh", 2.0), ("sigmoid", 1.0)])
def test_saturated_outputs_stay_in_unit_range(output, native):
    model = tiny(output=output, norm="none").eval()
    assert model.model_range == native
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([1e3, -1e3, 0.0]))
        y = model(torch.rand(1, 3, 16, 16))
    assert torch.allclose(y[:, 0], torch.ones(1)) and torch.allclose(y[:, 1], torch.zeros(1))
    assert torch.allclose(y[:, 2], torch.full((1,), 0.5), atol=0.2)


def test_generator_rejects_bad_sizes_and_inputs():
    model = tiny()
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth = 8"):
        model(torch.rand(1, 3, 16, 12))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        model(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        model(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


@pytest.mark.parametrize("size", [(13, 5), (3, 70), (16, 24), (1, 1)])
def test_predict_padded_restores_size(size):
    model = tiny().eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = predict_padded(model, x)
        assert y.shape == x.shape
        assert y.min() >= 0.0 and y.max() <= 1.0
        if size == (16, 24):  # already a multiple: no padding, same as a plain call
            assert torch.equal(y, model(x))


def test_noise_injection_is_shared_across_channels_and_scaled():
    layer = NoiseInjection(2)
    assert torch.equal(layer(torch.ones(1, 2, 4, 4)), torch.ones(1, 2, 4, 4))  # weight starts at 0
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, -2.0]).view(1, 2, 1, 1))
    out = layer(torch.zeros(3, 2, 5, 5))
    assert torch.allclose(out[:, 1], -2 * out[:, 0]) and out.abs().sum() > 0


def test_noise_differs_in_training_and_is_deterministic_in_eval():
    model = tiny(noise="both", dropout=0.0, norm="instance")
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(model(x), model(x))  # zero-initialised scales: no effect yet
    layers = [m for m in model.modules() if isinstance(m, NoiseInjection)]
    assert len(layers) == 2 * 3 - 1  # every encoder and decoder conv, not the output conv
    with torch.no_grad():
        for layer in layers:
            layer.weight.fill_(0.5)
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
    for layer in layers:
        layer.enabled_in_eval = True
    assert not torch.equal(model(x), model(x))


def _convs(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def test_spectral_norm_parametrises_every_conv():
    torch.manual_seed(0)
    plain = _convs(tiny())
    assert plain and not any(parametrize.is_parametrized(m, "weight") for m in plain)
    for model in (tiny(spectral_norm=True), PatchDiscriminator(2, width=4, spectral_norm=True)):
        convs = _convs(model)
        assert len(convs) >= 4 and all(parametrize.is_parametrized(m, "weight") for m in convs)
        for m in convs:  # the effective weight has spectral norm 1 once power iteration settles
            for _ in range(30):  # each access in training mode runs one more iteration
                w = m.weight
            w = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w
            sigma = torch.linalg.matrix_norm(w.flatten(1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("depth", "expected"), [(2, [0]), (3, [0, 1]), (6, [0, 1, 2])])
def test_dropout_only_in_three_innermost_decoder_blocks(depth, expected):
    model = tiny(depth=depth, width=2)
    with_dropout = [
        j
        for j, b in enumerate(model.decoder)
        if any(isinstance(m, nn.Dropout) for m in b.modules())
    ]
    assert with_dropout == expected
    others = [model.encoder, model.head]
    assert not any(isinstance(m, nn.Dropout) for part in others for m in part.modules())
    assert not any(isinstance(m, nn.Dropout) for m in tiny(depth=depth, dropout=0.0).modules())


def test_norm_placement_follows_pix2pix():
    model = tiny(depth=4)
    kinds = [type(b.norm) for b in model.encoder]
    assert kinds == [nn.Identity, nn.BatchNorm2d, nn.BatchNorm2d, nn.Identity]
    assert all(isinstance(b.norm, nn.BatchNorm2d) for b in model.decoder)
    with pytest.raises(ValueError, match="norm must be one of"):
        norm_layer("group", 4)


def test_config_round_trip_and_validation():
    cfg = UNetConfig(depth=4, width=16, noise="both", color_space="ycrcb", spectral_norm=True)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert UNetConfig.from_dict(data) == cfg
    assert GENERATORS["unet"] is UNetGenerator
    with pytest.raises(ValueError, match="colour: not a field of UNetConfig"):
        UNetConfig.from_dict({**data, "colour": "rgb"})
    bad = [{"depth": 1}, {"noise": "all"}, {"output": "relu"}, {"width": 0}, {"dropout": 1.0}]
    bad += [{"depth": 3.0}, {"spectral_norm": "yes"}, {"color_space": "lab"}]
    for kw in bad:
        with pytest.raises(ValueError):
            UNetConfig(**kw)


def test_ycrcb_matches_opencv_and_round_trips():
    rng = np.random.default_rng(0)
    img = rng.random((5, 7, 3), dtype=np.float32)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    ours = rgb_to_ycrcb(t)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb), atol=1e-6)
    back = ycrcb_to_rgb(rgb_to_ycrcb(t))
    np.testing.assert_allclose(back.numpy(), t.numpy(), atol=1e-6)
    # OpenCV's own inverse uses rounded coefficients; ours agrees with it closely.
    cv_back = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb), cv2.COLOR_YCrCb2RGB)
    np.testing.assert_allclose(back[0].permute(1, 2, 0).numpy(), cv_back, atol=1e-3)


def test_ycrcb_hand_values_and_errors():
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    expected = [0.299, 0.713 * 0.701 + 0.5, 0.5 - 0.564 * 0.299]  # Y, Cr, Cb
    np.testing.assert_allclose(rgb_to_ycrcb(red).flatten().numpy(), expected, atol=1e-6)
    gray = torch.full((1, 3, 1, 1), 0.3)
    np.testing.assert_allclose(rgb_to_ycrcb(gray).flatten().numpy(), [0.3, 0.5, 0.5], atol=1e-6)
    with pytest.raises(ValueError, match="\\(B, 3, H, W\\)"):
        rgb_to_ycrcb(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError, match="floating-point"):
        ycrcb_to_rgb(torch.zeros(1, 3, 2, 2, dtype=torch.int64))


def test_discriminator_shapes_and_errors():
    disc = PatchDiscriminator(n_layers=3, width=4)
    x, y = torch.rand(2, 3, 64, 48), torch.rand(2, 3, 64, 48)
    assert disc(x, y).shape == (2, 1, 6, 4)  # /8 by the stride-2 convs, -1 per stride-1 conv
    assert conv_plan(3, 64)[0][:2] == (6, 64) and conv_plan(3, 64)[-2][:2] == (256, 512)
    with pytest.raises(ValueError, match="both be"):
        disc(x, y[:, :, :32])
    with pytest.raises(ValueError, match="n_layers"):
        PatchDiscriminator(n_layers=0)
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(norm="layer")


def test_receptive_field_of_pix2pix_patchgan_is_70():
    assert receptive_field(3) == 70
    assert PatchDiscriminator(3, width=2).receptive_field == 70
    assert [receptive_field(n) for n in (1, 2, 4)] == [16, 34, 142]


@pytest.mark.parametrize("n_layers", [1, 2, 3])
@pytest.mark.parametrize("norm", ["none", "batch"])
def test_receptive_field_brute_force(n_layers, norm):
    torch.manual_seed(0)
    disc = PatchDiscriminator(n_layers, width=2, norm=norm).double().eval()
    size = 2 * receptive_field(n_layers) + 16
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, size, size, dtype=torch.float64)
    logits = disc(x, y)
    h, w = logits.shape[-2:]
    logits[0, 0, h // 2, w // 2].backward()
    mask = x.grad[0].abs().sum(0) > 0
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    assert rows[0] > 0 and rows[-1] < size - 1 and cols[0] > 0 and cols[-1] < size - 1
    side = receptive_field(n_layers)
    assert rows[-1] - rows[0] + 1 == side and cols[-1] - cols[0] + 1 == side
    assert mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
    assert disc.receptive_field == side


def test_package_init_does_not_import_torch():
    code = "import sys, exposure_models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_generator_gradients_reach_every_parameter():
    model = tiny(depth=3, width=4, noise="both", dropout=0.0)
    for layer in model.modules():
        if isinstance(layer, NoiseInjection):
            nn.init.constant_(layer.weight, 0.1)
    model(torch.rand(2, 3, 16, 16)).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    assert math.isfinite(sum(p.grad.sum().item() for p in model.parameters()))


@pytest.mark.parametrize("skip", ["residual", "gain"])
def test_skip_modes_start_near_the_identity(skip):
    torch.manual_seed(0)
    gen = UNetGenerator(UNetConfig(depth=3, width=4, skip=skip)).eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert (gen(x) - x).abs().mean() < 0.02  # small initial weights: output ~ input


def test_gain_mode_is_an_exposure_change_in_linear_light():
    gen = UNetGenerator(UNetConfig(depth=2, width=4, skip="gain", max_stops=2.0)).eval()
    with torch.no_grad():
        for p in gen.head.parameters():
            p.zero_()
        gen.head.bias.fill_(float(torch.atanh(torch.tensor(0.5))))  # tanh -> 0.5: +1 stop
        x = torch.full((1, 3, 8, 8), 0.3)
        expected = min(1.0, ((0.3**2.2) * 2.0) ** (1 / 2.2))
        assert torch.allclose(gen(x), torch.full_like(x, expected), atol=1e-5)


def test_skip_needs_a_signed_output():
    with pytest.raises(ValueError, match="skip: 'gain' needs output: tanh"):
        UNetConfig(skip="gain", output="sigmoid")
    with pytest.raises(ValueError, match="skip: must be one of"):
        UNetConfig(skip="add")


def test_each_network_config_holds_only_what_its_network_reads():
    # A seed-002 field given to the U-Net is refused, never silently ignored.
    with pytest.raises(ConfigError, match="levels: not a field of UNetConfig"):
        config_from_dict(GENERATOR_CONFIGS, {"arch": "unet", "levels": 3}, "unet")
    with pytest.raises(ConfigError, match="depth: not a field of Seed002GeneratorConfig"):
        config_from_dict(GENERATOR_CONFIGS, {"arch": "seed002", "depth": 3}, "unet")
    with pytest.raises(ConfigError, match="arch: must be one of"):
        config_from_dict(GENERATOR_CONFIGS, {"arch": "vit"}, "unet")
    with pytest.raises(ConfigError, match="levels: set fov or levels and kernel"):
        Seed002GeneratorConfig(fov=140, levels=2)
    assert Seed002GeneratorConfig(fov=70).levels == 3  # the design closest to 70 px


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
def test_unet_honours_its_bottleneck_padding(padding):
    model = UNetGenerator(UNetConfig(depth=3, width=4, bottleneck_padding=padding))
    assert model.encoder[-1].conv.padding_mode == padding
    assert model.encoder[0].conv.padding_mode == "reflect"


@pytest.mark.parametrize(("arch", "padding"), [("unet", "reflect"), ("unet_zeropad", "zeros")])
def test_a_flat_config_checkpoint_still_loads(tmp_path, arch, padding):
    """Files written while one flat config carried every architecture's fields."""
    torch.manual_seed(0)
    model = UNetGenerator(UNetConfig(depth=3, width=4, bottleneck_padding=padding)).eval()
    save_generator(tmp_path / "new.pt", model)
    ckpt = torch.load(tmp_path / "new.pt", weights_only=True)
    old = dict(ckpt["config"], levels=4, kernel=3, fov=0, upsampling="bilinear", features=64)
    old.update(blocks=23, growth=32, base="none", bottleneck_padding="reflect")
    torch.save({**ckpt, "arch": arch, "config": old}, tmp_path / "old.pt")
    loaded, _ = load_generator(tmp_path / "old.pt")
    assert loaded.config == model.config
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
