"""Generator checkpoints: round trip, atomic writes, and clear errors for foreign files."""

from __future__ import annotations

import pytest
import torch

from exposure_models.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    atomic_torch_save,
    load_generator,
    save_generator,
)
from exposure_models.discriminator import PatchDiscriminator
from exposure_models.generator import UNetConfig, UNetGenerator

CONFIG = UNetConfig(depth=3, width=4, norm="batch", noise="both", spectral_norm=True)


class Opaque:
    """A pickled object that weights_only loading must refuse."""


@pytest.fixture
def trained() -> UNetGenerator:
    torch.manual_seed(0)
    model = UNetGenerator(CONFIG)
    with torch.no_grad():
        model(torch.rand(2, 3, 16, 16))  # moves BatchNorm statistics and spectral-norm vectors
        for name, p in model.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.3)
    return model.eval()


def test_round_trip_gives_identical_outputs(tmp_path, trained):
    path = tmp_path / "models" / "generator.pt"
    extra = {"step": 120, "metrics": {"psnr": 21.5}, "size": (256, 256), "note": None}
    save_generator(path, trained, extra)
    model, got = load_generator(path)
    assert isinstance(model, UNetGenerator) and not model.training
    assert model.config == CONFIG
    assert got == {"step": 120, "metrics": {"psnr": 21.5}, "size": [256, 256], "note": None}
    x = torch.rand(1, 3, 24, 16)
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))


def test_file_layout_is_plain_and_weights_only(tmp_path, trained):
    path = tmp_path / "g.pt"
    save_generator(path, trained, {"t": torch.arange(3)})
    raw = torch.load(path, weights_only=True)
    assert (raw["format"], raw["version"], raw["arch"]) == (FORMAT, VERSION, "unet")
    assert raw["config"] == CONFIG.to_dict()
    assert set(raw["state_dict"]) == set(trained.state_dict())
    assert torch.equal(raw["extra"]["t"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]  # no temporary file left behind


def test_save_rejects_unstorable_extra_and_foreign_models(tmp_path, trained):
    path = tmp_path / "g.pt"
    with pytest.raises(ValueError, match=r"extra\.opt.*Opaque"):
        save_generator(path, trained, {"opt": Opaque()})
    with pytest.raises(ValueError, match="keys must be str"):
        save_generator(path, trained, {"m": {1: 2}})
    with pytest.raises(ValueError, match="not one of the generators"):
        save_generator(path, PatchDiscriminator(width=2))
    assert not path.exists()


def test_missing_file(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(CheckpointError, match="no such checkpoint file") as err:
        load_generator(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(CheckpointError, match="not one of our model files.*not loadable") as err:
        load_generator(path)
    assert str(path) in str(err.value)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickle.pt"
    torch.save({"format": FORMAT, "payload": Opaque()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_generator(path)


@pytest.mark.parametrize(
    "payload",
    [
        {"generator": {"w": torch.zeros(1)}, "optimizer": {"state": {}}, "step": 3},
        UNetGenerator(UNetConfig(depth=2, width=2)).state_dict(),
        [torch.zeros(2)],
        {"format": "exposure-prep/training", "version": 1},
    ],
    ids=["training-checkpoint", "bare-state-dict", "list", "other-format"],
)
def test_foreign_torch_files(tmp_path, payload):
    path = tmp_path / "foreign.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not a generator checkpoint") as err:
        load_generator(path)
    assert str(path) in str(err.value)


def _tampered(tmp_path, model, **changes) -> str:
    path = tmp_path / "g.pt"
    save_generator(path, model)
    raw = torch.load(path, weights_only=True)
    raw.update(changes)
    torch.save(raw, path)
    return str(path)


def test_unknown_arch_and_version(tmp_path, trained):
    with pytest.raises(CheckpointError, match="unknown arch 'resnet'"):
        load_generator(_tampered(tmp_path, trained, arch="resnet"))
    with pytest.raises(CheckpointError, match="unsupported version 2"):
        load_generator(_tampered(tmp_path, trained, version=2))


def test_weights_that_do_not_fit_the_config(tmp_path, trained):
    wider = {**CONFIG.to_dict(), "width": 8}
    path = _tampered(tmp_path, trained, config=wider)
    with pytest.raises(CheckpointError, match="weights do not fit") as err:
        load_generator(path)
    assert path in str(err.value)
    no_spectral = {**CONFIG.to_dict(), "spectral_norm": False}
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_generator(_tampered(tmp_path, trained, config=no_spectral))


def test_invalid_config(tmp_path, trained):
    with pytest.raises(CheckpointError, match="invalid unet config"):
        load_generator(_tampered(tmp_path, trained, config={**CONFIG.to_dict(), "depth": 1}))
    with pytest.raises(CheckpointError, match="colour: not a field of UNetConfig"):
        load_generator(_tampered(tmp_path, trained, config={"colour": "rgb"}))
    with pytest.raises(CheckpointError, match="must both be dicts"):
        load_generator(_tampered(tmp_path, trained, state_dict=None))


def test_atomic_save_overwrites_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "ckpt" / "train.pt"
    atomic_torch_save({"step": 1}, path)
    atomic_torch_save({"step": 2}, path)
    assert torch.load(path, weights_only=True) == {"step": 2}
    with pytest.raises(Exception, match="pickle"):
        atomic_torch_save({"fn": lambda: 0}, path)  # lambdas cannot be pickled
    assert torch.load(path, weights_only=True) == {"step": 2}
    assert [p.name for p in path.parent.iterdir()] == ["train.pt"]
