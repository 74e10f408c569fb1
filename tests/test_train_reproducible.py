"""prep train is reproducible: same params and seed give the same bytes, a resumed run gives the
same model as an uninterrupted one, and the synthesis curve travels with the model."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from exposure_core.exposure import Encoding, from_linear, to_linear
from exposure_models.checkpoint import load_generator, save_generator
from exposure_models.config import PatchConfig, UNetConfig
from exposure_models.generator import UNetGenerator
from exposure_models.inference.enhancer import Enhancer
from exposure_models.training import gan_step
from pipeline.params import EnhanceParams, Params, SynthesizeParams, TrainParams
from pipeline.stages import train as stage
from tests._pairs import make_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory, demo_photos) -> Path:
    return make_shards(tmp_path_factory.mktemp("data"), demo_photos)


def tiny(steps: int = 12, workers: int = 1, curve: str = "gamma") -> Params:
    """A small run with dropout (the torch generator matters) and one loader worker."""
    train = TrainParams(
        steps=steps,
        batch_size=2,
        crop=32,
        lr=1e-3,
        workers=workers,
        shuffle_buffer=8,
        log_every=4,
        val_every=6,
        val_images=1,
        checkpoint_every=4,
        device="cpu",
        seed=3,
        generator=UNetConfig(depth=4, width=8, dropout=0.5),
        discriminator=PatchConfig(width=8),
    )
    return Params(train=train, synthesize=SynthesizeParams(curve=curve))  # type: ignore[arg-type]


def train(params: Params, root: Path, shards: Path, **kw):
    return stage.run(params, shards, root / "generator.pt", root / "ckpt", root / "logs", **kw)


def _without_timestamps(tsv: str) -> list[list[str]]:
    rows = [line.split("\t") for line in tsv.splitlines()]
    drop = rows[0].index("timestamp") if rows and "timestamp" in rows[0] else None
    return [[c for i, c in enumerate(r) if i != drop] for r in rows]


def test_same_params_and_seed_give_byte_identical_files(tmp_path: Path, shards: Path) -> None:
    for run in ("a", "b"):
        train(tiny(), tmp_path / run, shards)
    for name in ("generator.pt", "ckpt/last.pt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # the DVC-tracked logs too (no wall-clock figures in them), so dvc.lock does not move
    logs = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a/logs").rglob("*.tsv"))
    logs.append(Path("logs/metrics.json"))
    assert len(logs) > 3
    for name in logs:
        a, b = (tmp_path / "a" / name).read_text(), (tmp_path / "b" / name).read_text()
        if name.suffix == ".tsv":  # dvclive's timestamp column is the one allowed difference
            a, b = (_without_timestamps(x) for x in (a, b))
        assert a == b, name
    # and the seed matters: another seed trains another model
    other = tiny()
    train(replace(other, train=replace(other.train, seed=4)), tmp_path / "c", shards)
    assert (tmp_path / "c/generator.pt").read_bytes() != (tmp_path / "a/generator.pt").read_bytes()


def test_resume_after_an_interrupt_gives_the_uninterrupted_model(
    tmp_path: Path, shards: Path, monkeypatch
) -> None:
    train(tiny(), tmp_path / "straight", shards)

    real, calls = gan_step.content_l1, {"n": 0}

    def ctrl_c_in_step_7(*args):
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(gan_step, "content_l1", ctrl_c_in_step_7)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(), tmp_path / "stopped", shards)
    monkeypatch.setattr(gan_step, "content_l1", real)
    assert torch.load(tmp_path / "stopped/ckpt/last.pt", weights_only=True)["step"] == 7
    summary = train(tiny(), tmp_path / "stopped", shards, resume=True)
    assert any("7 batches replayed" in n for n in summary.notes), summary.notes

    straight, _ = load_generator(tmp_path / "straight/generator.pt")
    resumed, _ = load_generator(tmp_path / "stopped/generator.pt")
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True)
    )
    assert diff == 0.0
    straight_bytes = (tmp_path / "straight/generator.pt").read_bytes()
    assert (tmp_path / "stopped/generator.pt").read_bytes() == straight_bytes


def test_resume_from_a_periodic_checkpoint_after_a_kill(
    tmp_path: Path, shards: Path, monkeypatch
) -> None:
    """A run that dies inside step 10 (nothing saved on the way out) resumes from its step-8
    checkpoint and ends with the uninterrupted run's bytes."""
    train(tiny(workers=0), tmp_path / "straight", shards)
    real, calls = gan_step.content_l1, {"n": 0}

    def dies_in_step_10(*args):
        calls["n"] += 1
        if calls["n"] == 10:
            raise SystemExit("killed")
        return real(*args)

    monkeypatch.setattr(gan_step, "content_l1", dies_in_step_10)
    with pytest.raises(SystemExit):
        train(tiny(workers=0), tmp_path / "killed", shards)
    monkeypatch.setattr(gan_step, "content_l1", real)
    summary = train(tiny(workers=0), tmp_path / "killed", shards, resume=True)
    assert any("resumed" in n and "step 8" in n for n in summary.notes)
    for name in ("generator.pt", "ckpt/last.pt"):
        assert (tmp_path / "killed" / name).read_bytes() == (
            tmp_path / "straight" / name
        ).read_bytes(), name


def test_training_stores_the_synthesis_curve_and_enhance_uses_it(
    tmp_path: Path, shards: Path
) -> None:
    train(tiny(steps=2, workers=0, curve="srgb"), tmp_path, shards)
    model, _ = load_generator(tmp_path / "generator.pt")
    assert model.encoding == Encoding("srgb", 2.2)
    enhancer = Enhancer.load(tmp_path / "generator.pt", EnhanceParams(device="cpu"))
    assert enhancer.encoding.curve == "srgb"


def test_gain_output_follows_the_stored_curve(tmp_path: Path) -> None:
    """A gain generator applies its stops in the linear light of its own curve."""
    torch.manual_seed(0)
    gen = UNetGenerator(UNetConfig(depth=2, width=4, skip="gain", max_stops=2.0))
    with torch.no_grad():
        gen.head.bias.fill_(10.0)  # tanh saturates: every pixel gets +max_stops
        gen.head.weight.zero_()
    x = torch.full((1, 3, 4, 4), 0.2)
    for curve, gamma in (("gamma", 2.2), ("gamma", 1.8), ("srgb", 2.2)):
        gen.encoding = Encoding(curve, gamma)  # type: ignore[arg-type]
        save_generator(tmp_path / "g.pt", gen)
        loaded, _ = load_generator(tmp_path / "g.pt")
        assert loaded.encoding == Encoding(curve, gamma)  # type: ignore[arg-type]
        out = loaded(x)[0, 0, 0, 0].item()
        light = to_linear(np.float32([0.2]), gamma, curve) * np.float32(4.0)  # +2 stops
        assert out == pytest.approx(float(from_linear(light, gamma, curve)[0]), abs=1e-5)


def test_a_checkpoint_without_the_curve_loads_as_gamma_2_2(tmp_path: Path) -> None:
    save_generator(tmp_path / "g.pt", UNetGenerator(UNetConfig(depth=2, width=4)))
    ckpt = torch.load(tmp_path / "g.pt", weights_only=True)
    del ckpt["encoding"]  # as written before the curve was stored
    torch.save(ckpt, tmp_path / "old.pt")
    model, _ = load_generator(tmp_path / "old.pt")
    assert model.encoding == Encoding("gamma", 2.2)


def test_enhance_carries_the_correction_in_the_models_curve(tmp_path: Path) -> None:
    """An sRGB model's +2 stop correction reaches full resolution as +2 stops in sRGB light
    (read as a power law instead, the error would be ~30x larger: 9e-3)."""
    gen = UNetGenerator(
        UNetConfig(depth=2, width=4, norm="none", skip="gain", max_stops=2.0),
        Encoding("srgb"),
    )
    with torch.no_grad():
        gen.head.bias.fill_(10.0)  # +2 stops everywhere
        gen.head.weight.zero_()
    save_generator(tmp_path / "g.pt", gen)
    enhancer = Enhancer.load(tmp_path / "g.pt", EnhanceParams(long_side=64, radius=8, device="cpu"))
    rng = np.random.default_rng(0)
    coarse = rng.random((24, 32, 3)).astype(np.float32)
    photo = np.clip(0.2 + 0.3 * np.kron(coarse, np.ones((8, 8, 1), np.float32)), 0.2, 0.5)
    photo = photo.astype(np.float32)
    want = from_linear(to_linear(photo, curve="srgb") * np.float32(4.0), curve="srgb")
    assert np.abs(enhancer.correct(photo) - want).max() < 2e-3


def test_resume_without_replay_starts_a_new_stream(
    tmp_path: Path, shards: Path, monkeypatch
) -> None:
    """``train.exact_resume: false`` resumes at once, on a new stream: another model."""
    quick = tiny(steps=8, workers=0)
    quick = replace(quick, train=replace(quick.train, exact_resume=False))
    train(quick, tmp_path / "straight", shards)
    real, calls = gan_step.content_l1, {"n": 0}

    def dies_in_step_6(*args):
        calls["n"] += 1
        if calls["n"] == 6:
            raise SystemExit("killed")
        return real(*args)

    monkeypatch.setattr(gan_step, "content_l1", dies_in_step_6)
    with pytest.raises(SystemExit):
        train(quick, tmp_path / "quick", shards)
    monkeypatch.setattr(gan_step, "content_l1", real)
    summary = train(quick, tmp_path / "quick", shards, resume=True)
    assert any("step 4" in n for n in summary.notes)
    assert not any("replayed" in n for n in summary.notes)
    assert (tmp_path / "quick/generator.pt").read_bytes() != (
        tmp_path / "straight/generator.pt"
    ).read_bytes()
