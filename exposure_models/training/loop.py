"""The training loop: steps, logging (DVCLive), validation and checkpoints.

``Trainer.run(loader, step)`` trains from ``step`` to ``config.steps``. With
``train.exact_resume`` (the default) the batch stream is the same for a fresh and a resumed
run: the loader is built with the run's seed and, when resuming, the batches already trained on
are replayed (read, not trained on), so the data position is restored along with the weights,
optimisers and random generators (``trainstate``). Without it a resumed run starts a new stream
seeded with ``seed + step`` at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from exposure_core.console import Summary, console
from exposure_core.errors import UserError
from exposure_core.fsutil import unshare
from exposure_models.training import distributed as ddp
from exposure_models.training.config import TrainConfig
from exposure_models.training.gan_step import GanStep
from exposure_models.training.loader import LoaderConfig, PairLoader, make_loader
from exposure_models.training.setup import get_lr
from exposure_models.training.task import task_input
from exposure_models.training.trainstate import save_training
from exposure_models.training.validation import Validation


class TrainingError(UserError):
    """Training cannot go on (diverged loss, no data); the message says what to do."""


def train_loader(
    p: TrainConfig,
    urls: list[str],
    step: int = 0,
    fresh_tau: tuple[float, float] | None = None,
    expected: dict[str, str] | None = None,
) -> tuple[PairLoader, int]:
    """The training stream of a run over the train shards ``urls`` at ``step``, and how many
    of its batches to replay first. ``fresh_tau`` draws a new tau per visit (seed 002).

    ``expected``: URL -> sha256 of shards streamed from a bucket (checked as they arrive).
    ``exact_resume``: the run's own stream (seed ``train.seed``), replayed up to ``step``;
    otherwise, past step 0, a new stream seeded with ``seed + step`` and nothing to replay.
    """
    fresh_stream = step > 0 and not p.exact_resume
    loader = make_loader(
        urls,
        LoaderConfig(
            batch_size=p.batch_size,
            crop=p.crop,
            train=True,
            shuffle_buffer=p.shuffle_buffer,
            workers=p.workers,
            seed=p.seed + step if fresh_stream else p.seed,
            augment=p.augment,
            epoch_len=max(1, p.steps - step if fresh_stream else p.steps),
            resize=p.resize,
            crops_per_sample=p.crops_per_sample,
            fresh_tau=fresh_tau,
            square=p.resize_mode == "square",
            pre_expose=p.pre_exposure == "stops",
        ),
        expected,
    )
    return loader, 0 if fresh_stream else step


@dataclass
class Trainer:
    """One run's loop; ``live`` is a DVCLive logger on the main process, else None."""

    config: TrainConfig
    gan: GanStep
    device: torch.device
    ctx: ddp.Dist
    checkpoint_path: Path
    identity: dict[str, Any]
    summary: Summary
    live: Any = None
    validation: Validation = field(default_factory=lambda: Validation([]))
    window: tuple[float, int] = (0.0, 0)  # start time and images of the current log window
    after_checkpoint: Callable[[], None] | None = None  # e.g. copy it and the logs to a bucket

    def checkpoint(self, step: int) -> None:
        if self.ctx.main:
            save_training(self.checkpoint_path, step=step, gan=self.gan, identity=self.identity)
            if self.after_checkpoint is not None:
                self.after_checkpoint()

    def run(self, loader: PairLoader, step: int, replay: int = 0) -> int:
        """Train from ``step`` to ``train.steps`` after reading and dropping ``replay``
        batches of ``loader``; returns the step reached. Ctrl-C ends the
        current step, saves a checkpoint and raises ``KeyboardInterrupt``; a non-finite loss
        stops without saving (the last checkpoint is kept)."""
        p = self.config
        fmt = torch.channels_last if p.channels_last else torch.contiguous_format
        batches = iter(loader) if step < p.steps else iter(())
        if replay > 0 and step < p.steps:
            started = time.perf_counter()
            skipped = sum(1 for _ in islice(batches, replay))
            self.summary.notes.append(
                f"data position restored: {skipped} batches replayed in "
                f"{time.perf_counter() - started:.1f} s"
            )
        self.window = (time.perf_counter(), 0)
        with _interrupt_between_steps() as interrupted:
            for batch in batches:
                x = batch.input.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
                y = batch.target.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
                x = task_input(x, y, p.task, p.sr.scale, p.sr.degradation).contiguous(
                    memory_format=fmt
                )
                lr = get_lr(step, p)
                out = self.gan.step(x, y, lr)
                self._check_finite(out, step)
                step += 1
                self._report(step, out, lr, x.shape[0] * self.ctx.world, loader)
                if step % p.checkpoint_every == 0 or step == p.steps or interrupted():
                    self.checkpoint(step)
                if interrupted():
                    raise KeyboardInterrupt  # after a checkpoint of the completed step
        return step

    def _check_finite(self, out: dict[str, torch.Tensor], step: int) -> None:
        losses = torch.stack([out["loss_d"], out["loss_g"]]).float()
        if not ddp.all_finite(losses, self.ctx):
            raise TrainingError(
                f"step {step}: loss is not finite (D {out['loss_d'].item()}, "
                f"G {out['loss_g'].item()}); stopped without saving, the last good "
                f"checkpoint is kept in {self.checkpoint_path}. Lower train.lr, disable "
                "train.amp, or enable spectral norm."
            )

    def _report(
        self, step: int, out: dict[str, torch.Tensor], lr: float, images: int, loader: PairLoader
    ) -> None:
        """Count images; log losses every ``log_every`` and validate every ``val_every``."""
        p = self.config
        self.summary.add("images", images)
        start, seen = self.window
        self.window = (start, seen + images)
        if not self.ctx.main:
            return
        if step % p.log_every == 0 or step == p.steps:
            rate = self.window[1] / max(time.perf_counter() - start, 1e-9)
            values = {k: v.item() for k, v in out.items()}
            values.update(lr=lr, skipped_samples=loader.stats.skipped)
            # throughput goes to the console only: a wall-clock figure in the DVC-tracked logs
            # would make dvc.lock differ between two runs that train the same model
            self.log(step, {f"train/{k}": v for k, v in values.items()})
            console.print(
                f"step {step}/{p.steps}  D {values['loss_d']:.3f}  G {values['loss_g']:.3f}  "
                f"L1 {values['loss_l1']:.4f}  D(real) {values['d_real']:.2f}  "
                f"D(fake) {values['d_fake']:.2f}  {rate:.1f} img/s",
                highlight=False,
            )
            self.window = (time.perf_counter(), 0)
        if self.validation.pairs and (step % p.val_every == 0 or step == p.steps):
            scores, grid = self.validation.score(self.gan.generator, self.device)
            self.log(step, {f"val/{k}": v for k, v in scores.items()})
            if self.live is not None:
                self.live.log_image("val_samples.png", grid)

    def log(self, step: int, values: dict[str, float]) -> None:
        if self.live is None:
            return
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, value)
        self.live.make_summary()


@contextmanager
def _interrupt_between_steps() -> Iterator[Callable[[], bool]]:
    """Defer Ctrl-C (SIGINT) to the end of the current step, so that the checkpoint written
    on interrupt holds a completed step (an update cut in half cannot be resumed exactly).
    A second Ctrl-C stops at once, without a checkpoint. Yields ``interrupted()``."""
    hits: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signal handlers belong to the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def open_live(logs: Path, logged: dict[str, Any], resume: bool) -> Any:
    """A DVCLive logger writing to ``logs`` (metrics, plots, images), ``logged`` (the run's
    settings, plain values) logged as its params. A resumed run appends to the logs already
    there; linked from DVC's cache (dvc.yaml caches them), they get their own copies first."""
    from dvclive import Live

    if resume and logs.is_dir():
        unshare(logs)
    live = Live(str(logs), resume=resume, save_dvc_exp=False, dvcyaml=False)
    live.log_params(logged)
    return live
