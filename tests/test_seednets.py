"""The seeds' networks as their texts give them: each preset's parameter count against a
re-creation written here from the seed text, fields of view against measured ones, eq. 5,
and a few CPU steps per preset that lower the loss."""

from __future__ import annotations

import colorsys
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from exposure_core.errors import UserError
from exposure_models import fov
from exposure_models.checkpoint import load_generator, save_generator
from exposure_models.fov import field_of_view
from exposure_models.seednets import build, seed002
from exposure_models.seednets.losses import Eq5PerceptualLoss, eq5_term
from exposure_models.seednets.sr import degrade
from exposure_models.training import task
from exposure_models.training.augment import shift_hue, square_resize
from exposure_models.training.gan_step import GanStep, LossWeights
from exposure_models.training.task import task_input
from pipeline.params import PRESETS as BUILT_IN
from pipeline.params import load_params
from tests.test_models import _SeedGenerator

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("seed000", "seed001", "seed002", "seed003", "seed003_sr", "sr_demo")


def preset(name: str, **overrides):
    return load_params(ROOT / "params.yaml", {"train.preset": name, **overrides}).train


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_models(name: str, **overrides) -> tuple[nn.Module, nn.Module]:
    p = preset(name, **overrides)
    with torch.device("meta"):  # shapes only: no memory for 54M parameters
        return build.build_generator(p.generator), build.build_discriminator(p.discriminator)


# --- re-creations from the seed texts ----------------------------------------------------------
class _Seed000Discriminator(nn.Module):
    """Seed 000's listing; CNNBlock as in the pix2pix code it follows (conv without bias,
    batch norm, LeakyReLU 0.2)."""

    def __init__(self, features=(64, 128, 256, 512)):
        super().__init__()
        layers = [nn.Conv2d(6, features[0], 4, 2, 1, padding_mode="reflect"), nn.LeakyReLU(0.2)]
        cin = features[0]
        for f in features[1:]:
            stride = 1 if f == features[-1] else 2
            layers += [nn.Conv2d(cin, f, 4, stride, 1, bias=False), nn.BatchNorm2d(f)]
            layers.append(nn.LeakyReLU(0.2))
            cin = f
        layers.append(nn.Conv2d(cin, 1, 4, 1, 1, padding_mode="reflect"))
        self.model = nn.Sequential(*layers)


class _Noise(nn.Module):
    """Seed 002, Fig. 3: per-channel learnable scale of a normal sample."""

    def __init__(self, c):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(c))


def _sn(conv):
    return spectral_norm(conv)


class _Seed002Generator(nn.Module):
    """Seed 002 sec. 3.1: four blocks of two stride-1 convs and a pooling; up-sampling blocks
    the same with transposed convs instead of pooling; U-Net skips; batch norm except on the
    first and last layers; spectral norm on every conv; noise after every conv."""

    def __init__(self, w=64):
        super().__init__()
        c = [w, 2 * w, 4 * w, 8 * w]
        mods = []

        def conv(cin, cout, bn=True, k=3):
            mods.extend([_sn(nn.Conv2d(cin, cout, k, 1, k // 2, bias=not bn)), _Noise(cout)])
            if bn:
                mods.append(nn.BatchNorm2d(cout))

        for i in range(4):
            conv(3 if i == 0 else c[i - 1], c[i], bn=i > 0)
            conv(c[i], c[i])
        for i in reversed(range(4)):
            cin = c[3] if i == 3 else c[i + 1]
            mods += [_sn(nn.ConvTranspose2d(cin, c[i], 2, 2, bias=False)), _Noise(c[i])]
            mods.append(nn.BatchNorm2d(c[i]))
            conv(2 * c[i], c[i])
            conv(c[i], c[i])
        conv(c[0], 3, bn=False, k=1)
        self.layers = nn.ModuleList(mods)


class _Seed002Discriminator(nn.Module):
    """pix2pix's PatchGAN with spectral norm; ``extra`` stride-1 convs for a wider field."""

    def __init__(self, extra=0, w=64):
        super().__init__()
        c = [w, 2 * w, 4 * w, 8 * w]
        layers = [_sn(nn.Conv2d(6, c[0], 4, 2, 1))]
        for i in (1, 2):
            layers += [_sn(nn.Conv2d(c[i - 1], c[i], 4, 2, 1, bias=False)), nn.BatchNorm2d(c[i])]
        layers += [_sn(nn.Conv2d(c[2], c[3], 4, 1, 1, bias=False)), nn.BatchNorm2d(c[3])]
        for _ in range(extra):
            layers += [_sn(nn.Conv2d(c[3], c[3], 4, 1, 1, bias=False)), nn.BatchNorm2d(c[3])]
        layers.append(_sn(nn.Conv2d(c[3], 1, 4, 1, 1)))
        self.model = nn.Sequential(*layers)


class _Seed003Generator(nn.Module):
    """Seed 003's listing, verbatim."""

    def __init__(self, in_channels=3, out_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(128, 256, kernel_size=3, padding=1)
        self.tconv1 = nn.ConvTranspose2d(256, 128, kernel_size=3, padding=1)
        self.tconv2 = nn.ConvTranspose2d(128, 64, kernel_size=3, padding=1)
        self.tconv3 = nn.ConvTranspose2d(64, out_channels, kernel_size=3, padding=1)

    def forward(self, x):
        x1 = F.relu(self.conv1(x))
        x2 = F.relu(self.conv2(x1))
        x3 = F.relu(self.conv3(x2))
        x = F.relu(self.tconv1(x3))
        x = F.relu(self.tconv2(x + x2))
        x = self.tconv3(x + x1)
        return torch.sigmoid(x)


class _Seed003Discriminator(nn.Module):
    """Seed 003's listing, verbatim (its ``nn.BatchNorm2d(128).`` typo read as a comma)."""

    def __init__(self, in_channels=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.AdaptiveAvgPool2d((64, 64)),
            nn.Conv2d(in_channels, 64, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(256, 512, 4, 2, 1, bias=False),
            nn.BatchNorm2d(512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(512, 3, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )


class _ESRGANDenseBlock(nn.Module):  # ESRGAN's ResidualDenseBlock_5C
    def __init__(self, nf=64, gc=32):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)


class _ESRGAN(nn.Module):  # ESRGAN's RRDBNet(3, 3, nf, nb, gc), x4
    def __init__(self, nf=64, nb=23, gc=32):
        super().__init__()
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.trunk = nn.ModuleList(
            nn.ModuleList(_ESRGANDenseBlock(nf, gc) for _ in range(3)) for _ in range(nb)
        )
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.hr_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)


def _seed_networks(name: str) -> tuple[nn.Module, nn.Module]:
    with torch.device("meta"):
        if name in ("seed000", "seed001"):
            return _SeedGenerator(), _Seed000Discriminator()
        if name == "seed002":
            return _Seed002Generator(), _Seed002Discriminator()
        if name in ("seed003", "seed003_sr"):
            return _Seed003Generator(), _Seed003Discriminator()
        return _ESRGAN(32, 2, 16), None  # sr_demo: a small ESRGAN


@pytest.mark.parametrize("name", PRESETS)
def test_preset_parameter_counts_match_the_seed_text(name):
    generator, discriminator = meta_models(name)
    seed_g, seed_d = _seed_networks(name)
    assert count(generator) == count(seed_g)
    if seed_d is not None:
        assert count(discriminator) == count(seed_d)


def test_full_size_esrgan_count():
    with torch.device("meta"):
        ours = build.build_generator(preset("sr_demo", **_rrdb_full()).generator)
        theirs = _ESRGAN()
    assert count(ours) == count(theirs)
    assert 16.6e6 < count(ours) < 16.8e6  # ESRGAN's 16.7M


def _rrdb_full():
    return {
        "train.generator.features": 64,
        "train.generator.blocks": 23,
        "train.generator.growth": 32,
    }


def test_seed002_discriminator_fov_94_adds_one_conv():
    _, ours = meta_models("seed002", **{"train.discriminator.fov": 94})
    with torch.device("meta"):
        theirs = _Seed002Discriminator(extra=1)
    assert ours.receptive_field == 94
    assert count(ours) == count(theirs)


# --- fields of view: computed from the layer list, measured by gradients -------------------------
def measured_fov(forward, side: int, channels_in: int = 3) -> int:
    """Widest extent (px) of input pixels whose gradient reaches one output unit, over output
    units at every alignment along the diagonal."""
    x = torch.rand(1, channels_in, side, side, requires_grad=True)
    out = forward(x)
    h = out.shape[-1]
    widest = 0
    for k in range(min(16, h // 2)):
        i = h // 4 + k
        (grad,) = torch.autograd.grad(out[0, :, i, i].sum(), x, retain_graph=True)
        cols = torch.nonzero(grad.abs().sum((0, 1, 2)) > 0).flatten()
        widest = max(widest, int(cols.max() - cols.min() + 1))
    return widest


@pytest.mark.parametrize(("levels", "kernel"), [(2, 3), (3, 3), (2, 5)])
def test_seed002_generator_fov_matches_gradients(levels, kernel):
    torch.manual_seed(0)
    cfg = seed002.Seed002GeneratorConfig(
        levels=levels, kernel=kernel, width=4, norm="none", spectral_norm=False, noise="none"
    )
    model = seed002.Seed002Generator(cfg).double()
    model.pool = nn.AvgPool2d(2)  # same window as the max pool; every input gets a gradient
    for m in model.modules():
        if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
            m.forward = lambda t: t  # linear: no dead units hiding a dependency
    side = 4 * model.field_of_view // model.multiple * model.multiple
    assert measured_fov(lambda t: model(t.double()), side) == model.field_of_view


@pytest.mark.parametrize(("n_layers", "extra", "expected"), [(3, 0, 70), (3, 1, 94), (4, 0, 142)])
def test_seed002_discriminator_fov_matches_gradients(n_layers, extra, expected):
    cfg = seed002.Seed002DiscriminatorConfig(
        n_layers=n_layers, extra=extra, width=2, norm="none", spectral_norm=False
    )
    model = seed002.Seed002Discriminator(cfg).double()
    assert model.receptive_field == expected
    got = measured_fov(lambda t: model(t[:, :3].double(), t[:, 3:].double()), 3 * expected, 6)
    assert got == expected


def test_fov_requests_pick_the_closest_design():
    assert fov.seed002_generator_design(140) == (4, 3)  # the seed's best, 140 px
    assert fov.seed002_generator_fov(4, 3) == 140
    assert fov.seed002_generator_design(70) == (3, 3)  # 68 px
    assert fov.seed002_discriminator_design(70) == (3, 0)
    assert fov.seed002_discriminator_design(94) == (3, 1)
    assert field_of_view([("conv", 4, 2)] * 3 + [("conv", 4, 1)] * 2) == 70  # pix2pix


# --- losses ------------------------------------------------------------------------------------
def test_eq5_sums_channels_and_divides_by_area():
    a, b = torch.rand(2, 5, 4, 3), torch.rand(2, 5, 4, 3)
    by_hand = sum((a[i] - b[i]).abs().sum() / (4 * 3) for i in range(2)) / 2
    assert torch.allclose(eq5_term(a, b), by_hand)
    assert torch.allclose(eq5_term(a, b), 5 * (a - b).abs().mean())  # C x the mean


def test_eq5_perceptual_loss_runs_on_vgg():
    loss = Eq5PerceptualLoss(random_init=True)
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0.0
    assert loss(x, y).item() > 0


# --- a few CPU steps at a tiny size lower the loss -----------------------------------------------
TINY = {
    "seed000": {"train.generator.width": 2, "train.discriminator.width": 4},
    "seed001": {"train.generator.width": 2, "train.discriminator.width": 4},
    "seed002": {"train.generator.width": 4, "train.discriminator.width": 4},
    "seed003": {"train.generator.width": 8, "train.discriminator.width": 4},
    "seed003_sr": {"train.generator.width": 8, "train.discriminator.width": 4},
    "sr_demo": {},
}


def _tiny_step(name: str) -> tuple[GanStep, object]:
    torch.manual_seed(0)
    p = preset(name, **TINY[name])
    generator, discriminator = build.build_models(p.generator, p.discriminator, p.init)
    loss = p.loss
    perceptual = Eq5PerceptualLoss(random_init=True) if loss.perceptual_weight > 0 else None
    step = GanStep(
        generator=generator,
        discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2)),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2)),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        weights=LossWeights(
            loss.gan, loss.gan_weight, loss.l1_weight, loss.perceptual_weight, loss.content_space
        ),
        perceptual=perceptual,
    )
    return step, p


@pytest.mark.parametrize("name", PRESETS)
def test_preset_trains_a_few_cpu_steps(name, demo_photos):
    step, p = _tiny_step(name)
    side = 256 if name in ("seed000", "seed001") else 64  # seed 000's U-Net needs 256 (1 x 1)
    photo = torch.from_numpy(demo_photos["astronaut"]).permute(2, 0, 1)[None].float()
    y = F.interpolate(photo, size=(side, side), mode="area").clamp(0, 1).repeat(2, 1, 1, 1)
    x = task_input(
        (y * 0.5) ** 1.2, y, p.task, p.sr.scale, p.sr.degradation
    )  # exposure: a darkened input; sr: degraded
    lr = p.lr * (10 if p.lr < 5e-4 else 1)  # a few steps must move: same optimiser, larger lr
    losses = [step.step(x, y, lr)["loss_l1"].item() for _ in range(12)]
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0]


# --- run length, data, checkpoints --------------------------------------------------------------
def test_epochs_become_steps_from_the_shard_index(tmp_path):
    index = {"counts": {"train": 100}, "pair_counts": {"train": 1000}}  # photos, pairs
    (tmp_path / "index.json").write_text(json.dumps(index))
    p = preset("seed000")
    pairs = task.training_samples(tmp_path, p.task)
    assert task.steps_for_epochs(p.epochs, pairs, p.batch_size) == math.ceil(250 * 1000 / 32)
    sr = preset("sr_demo", **{"train.epochs": 2.0})
    photos = task.training_samples(tmp_path, sr.task)
    assert task.steps_for_epochs(sr.epochs, photos, sr.batch_size) == math.ceil(2 * 100 / 8)
    with pytest.raises(UserError, match="index.json"):
        task.training_samples(tmp_path / "missing")


def test_sr_task_checks_its_settings():
    with pytest.raises(UserError, match=r"train\.crop: .*multiple"):
        preset("sr_demo", **{"train.crop": 130})
    with pytest.raises(UserError, match=r"train\.discriminator\.arch: .*unconditional"):
        preset("sr_demo", **{"train.discriminator": {"arch": "patch"}})
    with pytest.raises(UserError, match=r"train\.generator\.arch: .*does not fit"):
        preset("demo", **{"train.task": "sr"})
    with pytest.raises(UserError, match=r"train\.generator\.scale: must equal train\.sr\.scale"):
        preset("sr_demo", **{"train.sr.scale": 2})


def test_hue_shift_matches_colorsys():
    x = torch.rand(2, 3, 3, 4)
    y = shift_hue(x, torch.tensor([0.2, -0.15]))
    for b, shift in ((0, 0.2), (1, -0.15)):
        for i, j in ((0, 0), (2, 3)):
            h, s, v = colorsys.rgb_to_hsv(*x[b, :, i, j].tolist())
            expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
            assert np.allclose(y[b, :, i, j].numpy(), expected, atol=1e-5)
    assert torch.allclose(shift_hue(x, torch.zeros(2)), x, atol=1e-6)


def test_square_resize_ignores_aspect():
    codes = np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    assert square_resize(codes, 16).shape == (16, 16, 3)


@pytest.mark.parametrize("name", ["seed000", "seed002", "seed003", "seed003_sr", "sr_demo"])
def test_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(0)
    generator = build.build_generator(preset(name, **TINY[name]).generator)
    generator.eval()
    save_generator(tmp_path / "g.pt", generator, {"step": 1})
    loaded, extra = load_generator(tmp_path / "g.pt")
    assert type(loaded) is type(generator) and extra["step"] == 1
    side = 256 if name == "seed000" else 32
    x = torch.rand(1, 3, side, side)
    with torch.no_grad():
        assert torch.allclose(loaded(x), generator(x))


def test_zero_padded_bottleneck():
    generator = build.build_generator(preset("seed000", **TINY["seed000"]).generator)
    assert generator.encoder[-1].conv.padding_mode == "zeros"
    assert generator.encoder[0].conv.padding_mode == "reflect"


def test_sr_degradations():
    hr = torch.rand(2, 3, 32, 48)
    assert degrade(hr, 4).shape == (2, 3, 8, 12)
    assert torch.allclose(degrade(hr, 4, "avgpool"), F.avg_pool2d(hr, 4))
    with pytest.raises(ValueError, match="multiples"):
        degrade(hr[..., :30], 4)


# --- the seed presets through the loader and `prep train` ----------------------------------------
def test_loader_square_resize_and_hue(tmp_path, demo_photos):
    from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
    from pipeline.params import AugmentParams
    from tests._pairs import make_shards

    shards = make_shards(tmp_path, demo_photos, size=48)
    urls = shard_urls(shards, "train")

    def first(augment, seed=0):
        loader = make_loader(
            urls,
            LoaderConfig(
                batch_size=2,
                crop=64,
                train=True,
                shuffle_buffer=1,
                seed=seed,
                augment=augment,
                epoch_len=1,
                resize=64,
                square=True,
            ),
        )
        return next(iter(loader))

    plain = first(AugmentParams(hflip=False))
    assert plain.input.shape == (2, 3, 64, 64)  # 48 x 48 resized to 64 x 64: no padding
    hued = first(AugmentParams(hflip=False, hue=0.2))
    assert torch.equal(plain.target, hued.target)  # jitter touches the input only
    assert not torch.allclose(plain.input, hued.input)
    never = first(AugmentParams(hflip=False, jitter=0.2, hue=0.2, jitter_p=0.0))
    assert torch.equal(plain.input, never.input)


@pytest.mark.parametrize("name", ["seed000", "seed003"])
def test_preset_runs_through_prep_train(name, tmp_path, demo_photos):
    import yaml
    from typer.testing import CliRunner

    from pipeline.cli import app
    from tests._pairs import make_shards

    shards = make_shards(tmp_path / "data", demo_photos, size=64)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    chosen = copy.deepcopy(BUILT_IN[name])
    params["train"]["presets"] = {name: chosen}  # replaces the built-in of that name
    chosen.update(batch_size=2, workers=0, log_every=1, checkpoint_every=2, val_images=1)
    if name == "seed003":
        chosen["crop"] = 64
    chosen["generator"]["width"] = 2
    chosen["discriminator"]["width"] = 2
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    res = CliRunner().invoke(
        app,
        ["train", "--params", str(pfile), "--preset", name, "--steps", "2",
         "--shards", str(shards), "--model", str(tmp_path / "g.pt"), "--checkpoints",
         str(tmp_path / "ck"), "--dvclive", str(tmp_path / "live"), "--device", "cpu"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "field of view" in res.output and "step 2/2" in res.output
    loaded, extra = load_generator(tmp_path / "g.pt")
    assert extra["train"]["preset"] == name
    assert type(loaded).__name__ == ("UNetGenerator" if name == "seed000" else "Seed003Generator")
