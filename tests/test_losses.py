"""GAN, content and perceptual losses, the VGG-19 loader, and one full training step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from exposure_models.discriminator import PatchDiscriminator
from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.losses import (
    PERCEPTUAL_TAPS,
    PerceptualLoss,
    content_l1,
    discriminator_loss,
    gan_loss,
)
from exposure_models.vgg import VGG19_URL, VGG19Features, load_vgg19_state_dict

LN2 = math.log(2.0)


def test_gan_loss_hand_values():
    zeros = torch.zeros(2, 1, 3, 3)
    assert gan_loss(zeros, True, "lsgan").item() == pytest.approx(1.0)
    assert gan_loss(zeros, False, "lsgan").item() == pytest.approx(0.0)
    assert gan_loss(torch.full((4,), 3.0), False, "lsgan").item() == pytest.approx(9.0)
    assert gan_loss(zeros, True, "bce").item() == pytest.approx(LN2)
    assert gan_loss(zeros, False, "bce").item() == pytest.approx(LN2)
    # log(1 + e^-2) for a real label at logit 2, log(1 + e^2) for a fake one
    two = torch.full((3,), 2.0)
    assert gan_loss(two, True).item() == pytest.approx(math.log1p(math.exp(-2)))
    assert gan_loss(two, False).item() == pytest.approx(math.log1p(math.exp(2)))
    with pytest.raises(ValueError, match="kind must be one of"):
        gan_loss(zeros, True, "wgan")


def test_discriminator_loss_averages_real_and_fake():
    zeros, ones = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    assert discriminator_loss(zeros, zeros, "bce").item() == pytest.approx(LN2)
    assert discriminator_loss(ones, zeros, "lsgan").item() == pytest.approx(0.0)
    assert discriminator_loss(zeros, zeros, "lsgan").item() == pytest.approx(0.5)
    assert discriminator_loss(zeros, ones, "lsgan").item() == pytest.approx(1.0)


def test_content_l1_is_in_native_range():
    pred, target = torch.full((1, 3, 4, 4), 0.25), torch.full((1, 3, 4, 4), 0.75)
    assert content_l1(pred, target, 2.0).item() == pytest.approx(1.0)  # |-0.5 - 0.5| on [-1, 1]
    assert content_l1(pred, target, 1.0).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        content_l1(pred, target[:, :, :2], 2.0)


@pytest.fixture(scope="module")
def perceptual() -> PerceptualLoss:
    torch.manual_seed(0)
    return PerceptualLoss(random_init=True)


def test_perceptual_zero_for_identical_positive_otherwise(perceptual):
    x = torch.rand(2, 3, 32, 32)
    assert perceptual(x, x.clone()).item() == 0.0
    assert perceptual(x, (x + 0.1).clamp(0, 1)).item() > 0.0
    with pytest.raises(ValueError, match="B, 3, H, W"):
        perceptual(x, x[:, :, :16])


def test_perceptual_gradients_reach_input_but_not_vgg(perceptual):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    perceptual(x, torch.rand(1, 3, 32, 32)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    params = list(perceptual.parameters())
    assert params and all(not p.requires_grad and p.grad is None for p in params)
    perceptual.train()
    assert not perceptual.vgg.training


def test_perceptual_follows_input_dtype(perceptual):
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    loss = perceptual(x, x.flip(-1))
    assert loss.dtype == torch.float64 and loss.item() > 0
    perceptual.float()


def test_vgg_layout_matches_torchvision_indices():
    vgg = VGG19Features(random_init=True, taps=range(1, 17))
    conv_idx = [i for i, m in enumerate(vgg.features) if isinstance(m, nn.Conv2d)]
    assert conv_idx == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_vgg_taps_and_truncation():
    vgg = VGG19Features(random_init=True, taps=PERCEPTUAL_TAPS)
    assert sum(isinstance(m, nn.Conv2d) for m in vgg.features) == 13  # cut after conv5_1
    assert isinstance(vgg.features[-1], nn.ReLU)
    maps = vgg(torch.rand(1, 3, 32, 32))
    shapes = [tuple(m.shape[1:]) for m in maps]
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert all(m.min() >= 0 for m in maps)  # ReLU outputs
    for bad in [(), (0, 3), (3, 2), (17,), (2, 2)]:
        with pytest.raises(ValueError, match="taps"):
            VGG19Features(random_init=True, taps=bad)


def test_vgg_weights_are_never_silently_random(tmp_path):
    with pytest.raises(ValueError, match="random_init=True") as err:
        VGG19Features()
    assert VGG19_URL in str(err.value)
    with pytest.raises(ValueError, match="exactly one"):
        VGG19Features(tmp_path / "w.pth", random_init=True)


def test_missing_vgg_weights_name_path_and_remedy(tmp_path):
    path = tmp_path / "vgg19-dcbb9e7d.pth"
    with pytest.raises(FileNotFoundError) as err:
        PerceptualLoss(path)
    message = str(err.value)
    assert str(path) in message and VGG19_URL in message and "train.loss.vgg_weights" in message


def test_wrong_vgg_files_are_rejected(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="unreadable") as err:
        load_vgg19_state_dict(junk)
    assert str(junk) in str(err.value) and VGG19_URL in str(err.value)
    other = tmp_path / "other.pth"
    torch.save({"encoder.0.weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="no tensors for"):
        VGG19Features(other, taps=(1,))
    shapes = tmp_path / "shapes.pth"
    torch.save(
        {"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, shapes
    )
    with pytest.raises(ValueError, match="wrong shapes"):
        VGG19Features(shapes, taps=(1,))
    nested = tmp_path / "nested.pth"
    torch.save({"model": {"features.0.weight": torch.zeros(1)}}, nested)
    with pytest.raises(ValueError, match="not a state dict of tensors"):
        load_vgg19_state_dict(nested)


@pytest.mark.parametrize("prefix", ["features.", ""])
def test_vgg_loads_torchvision_style_state_dict(tmp_path, prefix):
    source = VGG19Features(random_init=True, taps=(1, 4))
    state = {f"{prefix}{k}": v for k, v in source.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # present in torchvision's file, unused
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    loaded = VGG19Features(path, taps=(1, 4))
    for a, b in zip(source.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(1, 3, 8, 8)
    assert all(torch.equal(a, b) for a, b in zip(source(x), loaded(x), strict=True))


def test_tiny_training_step_updates_weights(perceptual):
    torch.manual_seed(0)
    gen = UNetGenerator(UNetConfig(depth=3, width=8, noise="both", spectral_norm=True))
    disc = PatchDiscriminator(n_layers=2, width=8, spectral_norm=True)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)

    def step() -> tuple[float, float]:
        fake = gen(x)
        loss_d = discriminator_loss(disc(x, y), disc(x, fake.detach()), "lsgan")
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = (
            gan_loss(disc(x, fake), True, "lsgan")
            + 50 * content_l1(fake, y, gen.model_range)
            + 100 * perceptual(fake, y)
        )
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return loss_d.item(), loss_g.item()

    before = [p.detach().clone() for p in gen.parameters()]
    for _ in range(2):
        losses = step()
        assert all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, gen.parameters(), strict=True))
