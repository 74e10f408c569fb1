"""``prep train``: the conditional GAN (pix2pix U-Net + PatchGAN) on the training shards.

Each step: one discriminator update on (input, target) vs (input, G(input)), then one generator
update on adversarial + L1 (+ perceptual) losses (``exposure_models.training.gan_step``), with the
constant-then-linear-decay learning rate of pix2pix. AMP (bf16 where the GPU supports it),
channels_last and torch.compile are options. Runs on one process or many (``torchrun``; shards
split by node). Logs go through DVCLive; checkpoints (full state) are written atomically and a
restarted run resumes from the last one exactly where it stopped. The result is
``models/generator.pt``, which carries the synthesis curve (``synthesize.curve``/``gamma``).
The pieces live in ``exposure_models.training`` (setup, trainstate, loop).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from exposure_core import shardfmt, storage
from exposure_core.console import Summary, console
from exposure_core.exposure import Encoding
from exposure_models.checkpoint import save_generator, warm_start
from exposure_models.seednets import build
from exposure_models.training import distributed as ddp
from exposure_models.training import setup, task, trainstate
from exposure_models.training.loop import Trainer, TrainingError, open_live, train_loader
from exposure_models.training.validation import Validation
from pipeline.params import Params, parse_tau, to_dict

LAST = "last.pt"
__all__ = ["LAST", "TrainingError", "run"]


def run(
    params: Params,
    shards: str | Path,
    model_out: str | Path,
    checkpoints: str | Path,
    logs: str | Path,
    fresh: bool = False,
    resume: bool = False,
    verify: bool = True,
) -> Summary:
    """Train on ``shards`` (``prep shard`` output); write ``model_out`` (generator.pt).

    Each of the four places may be a URL (``exposure_core.storage``): train shards are
    streamed from it with read-ahead (the val shards and the index are fetched); checkpoints,
    logs and the model are written locally (their mirror) and copied to the URL at each
    checkpoint, and a run resumes from the checkpoint in the bucket.

    The last checkpoint is resumed when it was made with the same architecture, training
    params (other than ``setup.RUNTIME_KEYS``) and shards; otherwise training starts over, with
    a note. ``resume=True`` insists on resuming (error if impossible); ``fresh=True`` ignores it.
    ``verify`` checks each train shard's sha256 against ``index.json`` once, first: a corrupt
    shard is skipped and counted, more than ``train.max_corrupt`` of them is an error.
    """
    p = params.train
    remote = storage.is_url(shards)
    local = shardfmt.local_shards(shards, ("val",))
    if p.epochs > 0:  # one epoch is one pass over the training samples of the shard index
        samples = task.training_samples(local, p.task)
        p = dataclasses.replace(p, steps=task.steps_for_epochs(p.epochs, samples, p.batch_size))
    params = dataclasses.replace(params, train=p)
    summary = Summary("train", unit="img", rate_key="images")
    checked = shardfmt.check_shards(
        local, "train", verify=verify, max_corrupt=p.max_corrupt, present=not remote
    )
    ckpt_dir, logs_dir, model_file = _here(checkpoints), _here(logs), _here(model_out)
    summary.notes += [f"[yellow]corrupt shard skipped:[/yellow] {c}" for c in checked.corrupt]
    device, ctx = setup.configure(p)
    encoding = Encoding(curve=params.synthesize.curve, gamma=params.synthesize.gamma)
    gan = setup.build_step(p, device, ctx.world, encoding)
    if ctx.main:
        console.print(build.describe(gan.generator, gan.discriminator), highlight=False)
    last, identity = ckpt_dir / LAST, setup.run_identity(p, local, encoding)
    _fetch_checkpoint(checkpoints, last)
    state, discarded = trainstate.resume_state(last, identity, fresh, resume)
    if discarded is not None:
        summary.notes.append(discarded)
    step = trainstate.restore(gan, state) if state is not None else 0
    if state is not None:
        summary.notes.append(f"resumed from {_shown(checkpoints, LAST)} at step {step}")
    elif p.init_from:
        warm_start(gan.generator, storage.fetch_file(os.path.expanduser(p.init_from)))
        summary.notes.append(f"weights started from {p.init_from} (train.init_from)")
    if step >= p.steps:
        summary.notes.append(f"already trained to step {step} (train.steps = {p.steps})")
    trainer = Trainer(p, gan, device, ctx, last, identity, summary)
    trainer.after_checkpoint = lambda: _copy_up(last, checkpoints, logs_dir, logs)
    if ctx.main:
        if storage.is_url(logs) and step > 0:
            storage.pull(str(logs), missing_ok=True)
        trainer.live = open_live(logs_dir, to_dict(p), resume=step > 0)
        if p.task == "exposure":  # super-resolution is scored by `prep evaluate --task sr`
            trainer.validation = Validation.load(
                local, p.val_images, p.resize, verify, pre_expose=p.pre_exposure == "stops"
            )
            summary.notes += [
                f"[yellow]corrupt val shard skipped:[/yellow] {c}"
                for c in trainer.validation.corrupt
            ]
    fresh_tau = parse_tau(params.synthesize.tau) if p.fresh_tau else None
    expected = checked.expected_sha256(shards) if remote and verify else None
    loader, replay = train_loader(p, checked.urls(shards), step, fresh_tau, expected)
    try:
        step = trainer.run(loader, step, replay)
    finally:
        if trainer.live is not None:
            trainer.live.end()
            if storage.is_url(logs):
                storage.publish(logs_dir, str(logs), remove_stale=False)
    if ctx.main:
        extra = {"step": step, "preset": p.preset, "crop": p.crop, "resize": p.resize}
        extra["pre_exposure"] = p.pre_exposure
        save_generator(model_file, gan.generator, {**extra, "train": to_dict(p)})
        if storage.is_url(model_out):
            storage.upload_file(model_file, str(model_out))
        summary.add("steps", step)
        summary.notes.append(
            f"generator written to {model_out} (curve {encoding.curve}): "
            f"{build.describe(gan.generator, gan.discriminator)}"
        )
        if loader.stats.skipped:
            summary.notes.append(f"[yellow]{loader.stats.skipped} corrupt samples skipped[/yellow]")
    ddp.barrier(ctx)
    ddp.shutdown(ctx)
    return summary


def _here(place: str | Path) -> Path:
    """Where a place is written on this machine: the path, or a URL's mirror."""
    return storage.mirror_path(str(place)) if storage.is_url(place) else Path(place)


def _shown(place: str | Path, name: str) -> str:
    return storage.join(str(place), name) if storage.is_url(place) else str(Path(place) / name)


def _fetch_checkpoint(checkpoints: str | Path, last: Path) -> None:
    """For a checkpoint URL: its ``last.pt`` (when there is one) replaces the mirror's, so
    every node resumes from the bucket's state; none there leaves none here."""
    url = str(checkpoints)
    if storage.is_url(url) and not storage.download_file(storage.join(url, LAST), last):
        last.unlink(missing_ok=True)


def _copy_up(last: Path, checkpoints: str | Path, logs_dir: Path, logs: str | Path) -> None:
    """After a checkpoint: copy it (one atomic object) and the logs to their URLs."""
    if storage.is_url(checkpoints):
        storage.upload_file(last, storage.join(str(checkpoints), LAST))
    if storage.is_url(logs) and logs_dir.is_dir():
        storage.publish(logs_dir, str(logs), remove_stale=False)
