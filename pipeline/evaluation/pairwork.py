"""One test pair's CPU work in ``prep evaluate``: the baselines' outputs and every method's
metrics against each of the pair's references.

``prep evaluate`` decodes the pairs and runs the model in its own process (on its GPU where it
has one), then hands each pair to ``run``, a module-level function that an engine
(``exposure_core.engines``) runs in its workers: ``evaluate.workers`` processes of this machine
(``local``) or Ray tasks on a cluster (``ray``). It is the same function on either engine and
the engine returns its results in input order, so the report files are byte-identical.

Images: float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded, at the evaluation resolution.
This module does not import torch (worker processes start faster without it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exposure_core.imageio import Codes
from exposure_core.metrics import fast
from exposure_core.metrics.scores import ImageJob, ImageScores
from pipeline.evaluation.baselines import BLIND_BASELINES, oracle
from pipeline.evaluation.grids import panel_codes
from pipeline.evaluation.methods import EV0_RENDER, MODEL, ORACLE
from pipeline.evaluation.scoring import image_job

Outputs = dict[str, np.ndarray | None]  # method -> its output (None: it does not apply)


@dataclass(frozen=True)
class Reference:
    """One image a pair is scored against: the set it belongs to (``"test"``,
    ``"paired:testing:expert_b"``, ...), the image, whether it is a native pair (adds the
    GT-mean PSNR) and the seed of its histogram-similarity crops."""

    set_name: str
    image: np.ndarray
    native: bool
    seed: int


@dataclass(frozen=True)
class PairWork:
    """One pair: its input, the model's output, and what to do with them.

    ``methods``: the scored methods in report order, ``MODEL`` first; ``meta``: the pair's
    synthesis parameters (``kind``, ``tau``, ``ev``, ``gamma``, ``camera``) for the oracle;
    ``ev0``: the scene's EV 0 render (MSEC), scored as ``EV0_RENDER``; ``score`` False: the
    caller scores (on its GPU) and the baselines' outputs come back; ``keep_outputs``: they
    come back anyway (the caller runs the learned metrics); ``panels``: methods whose 8-bit
    sample-grid panels come back.
    """

    id: str
    inp: np.ndarray
    model: np.ndarray
    methods: tuple[str, ...]
    meta: dict
    ev0: np.ndarray | None
    references: tuple[Reference, ...]
    score: bool = True
    keep_outputs: bool = False
    panels: tuple[str, ...] = ()


@dataclass
class PairResult:
    """What ``run`` returns: ``scores`` per reference, in order (empty when the caller scores);
    ``baselines``: every method's output but the model's (None unless asked for); ``panels``:
    method -> 8-bit panel (``grids.panel_codes``)."""

    scores: list[ImageScores]
    baselines: Outputs | None = None
    panels: dict[str, Codes] = field(default_factory=dict)


def oracle_output(meta: dict, image: np.ndarray) -> np.ndarray | None:
    """Seed 002's inverse transform with the pair's true tau or EV (None for native pairs; a
    row whose ``gamma`` is None was made with the sRGB curve)."""
    if meta.get("kind") not in ("overexpose", "ev", "camera"):
        return None
    curve = "gamma" if meta.get("gamma") is not None else "srgb"
    return oracle(
        image,
        meta["kind"],
        meta.get("tau"),
        meta.get("ev"),
        meta.get("gamma"),
        curve,
        meta.get("camera"),
    )


def baseline_outputs(work: PairWork) -> Outputs:
    """The output of every method after the model (the EV 0 render aside: it depends on the
    reference), in ``work.methods`` order."""
    outputs: Outputs = {}
    for name in work.methods[1:]:
        if name == EV0_RENDER:
            continue
        if name == ORACLE:
            outputs[name] = oracle_output(work.meta, work.inp)
        else:
            outputs[name] = BLIND_BASELINES[name](work.inp)
    return outputs


def reference_outputs(work: PairWork, baselines: Outputs, reference: Reference) -> Outputs:
    """Every method's output as scored against ``reference``: the model's, the baselines', and
    the EV 0 render (none against the EV 0 render itself)."""
    outputs: Outputs = {MODEL: work.model, **baselines}
    if EV0_RENDER in work.methods:
        outputs[EV0_RENDER] = None if reference.set_name.endswith(":ev0") else work.ev0
    return outputs


def reference_job(work: PairWork, baselines: Outputs, reference: Reference) -> ImageJob:
    """The ``ImageJob`` that scores every method against ``reference``."""
    outputs = reference_outputs(work, baselines, reference)
    return image_job(reference.image, outputs, reference.native, reference.seed)


def run(work: PairWork) -> PairResult:
    """The baselines of one pair and, unless the caller scores, every method's metrics against
    each reference (``exposure_core.metrics.fast``), on one OpenCV thread (a worker has one
    core; in the caller's process its threads are restored after)."""
    with fast.opencv_threads(1):
        baselines = baseline_outputs(work)
        scores = []
        if work.score:
            scores = [fast.score_image(reference_job(work, baselines, r)) for r in work.references]
        panels = {m: panel_codes(out) for m in work.panels if (out := baselines.get(m)) is not None}
    keep = work.keep_outputs or not work.score
    return PairResult(scores, baselines if keep else None, panels)
