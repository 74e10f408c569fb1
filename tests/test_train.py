"""prep train: the loss falls, checkpoints resume, faults stop cleanly, DDP runs on CPU."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from exposure_models.checkpoint import CheckpointError, load_generator
from exposure_models.config import PatchConfig, UNetConfig
from exposure_models.training import gan_step, setup
from pipeline.params import Params, TrainParams
from pipeline.stages import train as stage
from tests._pairs import make_shards

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, demo_photos) -> Path:
    return make_shards(tmp_path_factory.mktemp("data"), demo_photos)


def tiny(**changes) -> Params:
    train = TrainParams(
        steps=40,
        batch_size=4,
        crop=32,
        lr=1e-3,
        workers=0,
        shuffle_buffer=20,
        log_every=5,
        val_every=20,
        val_images=1,
        checkpoint_every=10,
        device="cpu",
        seed=0,
        generator=UNetConfig(depth=4, width=8),
        discriminator=PatchConfig(width=8),
    )
    return Params(train=replace(train, **changes))


def run(params: Params, root: Path, shards: Path, **kw):
    return stage.run(
        params, shards, root / "models/generator.pt", root / "ckpt", root / "logs", **kw
    )


def logged(root: Path, name: str) -> list[float]:
    path = root / "logs/plots/metrics/train" / f"{name}.tsv"
    with open(path) as handle:
        return [float(row[name]) for row in csv.DictReader(handle, delimiter="\t")]


def test_lr_schedule() -> None:
    p = TrainParams(steps=100, lr=1.0, decay_from=0.5)
    assert setup.get_lr(0, p) == 1.0 and setup.get_lr(49, p) == 1.0
    assert setup.get_lr(75, p) == pytest.approx(0.5) and setup.get_lr(100, p) == 0.0


def test_loss_falls_and_generator_is_written(tmp_path: Path, shards: Path) -> None:
    summary = run(tiny(), tmp_path, shards)
    l1 = logged(tmp_path, "loss_l1")
    assert len(l1) == 8 and l1[-1] < 0.7 * l1[0], l1
    model, extra = load_generator(tmp_path / "models/generator.pt")
    assert extra["step"] == 40 and model.config.depth == 4
    assert summary.counts["steps"] == 40
    assert (tmp_path / "logs/metrics.json").is_file()
    assert (tmp_path / "logs/plots/images/val_samples.png").is_file()
    assert logged(tmp_path, "d_real") and (tmp_path / "logs/plots/metrics/val/psnr.tsv").is_file()


def ctrl_c_during_step(monkeypatch, step: int) -> None:
    """Send SIGINT to this process from inside training step ``step`` (1-based)."""
    real = gan_step.content_l1
    calls = {"n": 0}

    def interrupts(*args):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(gan_step, "content_l1", interrupts)


def test_resume_continues_from_the_saved_step(tmp_path: Path, shards: Path, monkeypatch) -> None:
    ctrl_c_during_step(monkeypatch, 13)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(steps=20), tmp_path, shards)
    saved = torch.load(tmp_path / "ckpt/last.pt", weights_only=True)
    assert saved["step"] == 13  # Ctrl-C finishes the step, then saves: nothing is lost
    summary = run(tiny(steps=20), tmp_path, shards, resume=True)
    assert any("resumed" in n and "step 13" in n for n in summary.notes)
    assert summary.counts["steps"] == 20 and summary.counts["images"] == 7 * 4
    # more steps extend the same run
    summary = run(tiny(steps=25), tmp_path, shards)
    assert any("step 20" in n for n in summary.notes)


def test_an_exception_inside_a_step_keeps_the_last_whole_checkpoint(
    tmp_path: Path, shards: Path, monkeypatch
) -> None:
    real = gan_step.content_l1
    calls = {"n": 0}

    def dies_at_step_13(*args):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt  # D is already updated: this half step must not be saved
        return real(*args)

    monkeypatch.setattr(gan_step, "content_l1", dies_at_step_13)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(steps=20), tmp_path, shards)
    assert torch.load(tmp_path / "ckpt/last.pt", weights_only=True)["step"] == 10


def test_other_settings_start_over_or_fail_with_resume(tmp_path: Path, shards: Path) -> None:
    run(tiny(steps=10), tmp_path, shards)
    changed = tiny(steps=10, lr=5e-4)
    summary = run(changed, tmp_path, shards)
    assert any("starting over" in n and "lr" in n for n in summary.notes)
    other_arch = tiny(steps=10, generator=UNetConfig(depth=4, width=16))
    with pytest.raises(CheckpointError, match="generator.width: 8 -> 16.*--fresh"):
        run(other_arch, tmp_path, shards, resume=True)


def test_foreign_checkpoint_is_a_clear_error(tmp_path: Path, shards: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt/last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        run(tiny(), tmp_path, shards)
    torch.save({"state_dict": {}}, tmp_path / "ckpt/last.pt")
    with pytest.raises(CheckpointError, match="not a training checkpoint of this project"):
        run(tiny(), tmp_path, shards)
    assert run(tiny(steps=2), tmp_path, shards, fresh=True).counts["steps"] == 2


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, shards: Path, monkeypatch
) -> None:
    run(tiny(steps=10), tmp_path, shards)
    before = (tmp_path / "ckpt/last.pt").read_bytes()
    monkeypatch.setattr(gan_step, "content_l1", lambda *a: torch.tensor(float("nan")))
    with pytest.raises(stage.TrainingError, match="not finite.*last good checkpoint"):
        run(tiny(steps=20), tmp_path, shards)
    assert (tmp_path / "ckpt/last.pt").read_bytes() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes(tmp_path: Path, shards: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "train:\n  steps: 6\n  batch_size: 2\n  crop: 32\n  workers: 0\n  device: cpu\n"
        "  log_every: 3\n  val_every: 6\n  val_images: 1\n  checkpoint_every: 3\n"
        "  shuffle_buffer: 10\n  generator: {depth: 4, width: 8}\n"
        "  discriminator: {width: 8}\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "pipeline",
        "train",
        "--shards",
        str(shards),
        "--params",
        str(params),
        "--model",
        str(tmp_path / "g.pt"),
        "--checkpoints",
        str(tmp_path / "ckpt"),
        "--dvclive",
        str(tmp_path / "logs"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, extra = load_generator(tmp_path / "g.pt")
    assert extra["step"] == 6
    # both ranks stepped: the logged throughput counts images of the whole job (2 x 2 per step)
    assert "train: 24 images" in done.stderr + done.stdout


def test_a_corrupt_val_shard_is_named_and_training_goes_on(tmp_path: Path, shards: Path) -> None:
    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    index = json.loads((copy / "index.json").read_text())
    val = next(s["name"] for s in index["shards"] if s["split"] == "val")
    with open(copy / val, "r+b") as handle:  # same size, other bytes: only the sha256 tells
        handle.seek(600)
        handle.write(b"\x00" * 16)
    summary = run(tiny(steps=5, val_every=5), tmp_path, copy)
    assert any("corrupt val shard skipped" in n and val in n for n in summary.notes)
    assert (tmp_path / "models/generator.pt").is_file()
    intact = run(tiny(steps=5, val_every=5), tmp_path / "intact", shards)
    assert not any("corrupt val shard" in n for n in intact.notes)
