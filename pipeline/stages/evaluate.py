"""``prep evaluate``: score the model and non-learned baselines; write the report folder.

Every pair of the shards' test split (and of each ``--paired`` folder) is scored at
``evaluate.resolution``: 0 keeps full resolution; N first downscales input and target to a
long side of N (``cv2.INTER_AREA``, never up). The model always runs through
``Enhancer.correct``, the path of ``prep enhance``. Blind baselines (``evaluate.baselines``)
see the input only; with ``evaluate.oracle`` seed 002's inverse transform gets the pair's
true tau or EV (synthetic rows only; a row with ``gamma`` None was made with the sRGB curve).

Where it runs: this process decodes the pairs and runs the model (on its GPU where it has
one); the rest of each pair's work, the baselines and (on the CPU) every method's metrics, is
``pipeline.evaluation.pairwork.run`` on the engine (``engine.name``): ``evaluate.workers``
processes of this machine, or Ray tasks on a cluster, results in input order, the same report
bytes either way. On a GPU the metrics run in this process beside the model.

Outputs (in ``output``): ``metrics/`` (the headline: PSNR and SSIM per method and kind, a file
per method),
``breakdown.json`` (every average), ``per_image.csv``, ``plots/`` (dvc.yaml plots),
``samples/<id>.png`` and ``README.md``. They are built in a staging folder inside ``output``
and each swapped into place at the end, so a stale file of an earlier run never lingers
and other files in ``output`` are left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exposure_core import shardfmt, storage, upsample
from exposure_core.console import Summary, track
from exposure_core.engines import Engine, connect
from exposure_core.errors import UserError
from exposure_core.fsutil import (
    atomic_write_json,
    atomic_write_text,
    check_output_folder,
    output_lock,
)
from exposure_core.metrics import fast
from exposure_models.inference.enhancer import Enhancer
from exposure_models.learned_metrics import LearnedMetrics
from exposure_models.metrics_torch import on_gpu, score_image, torch_threads
from exposure_models.pretrained import resolve_model
from pipeline.evaluation import grids, pairwork
from pipeline.evaluation import results as evalfiles
from pipeline.evaluation.methods import EV0_RENDER, IDENTITY, MODEL, NOT_BLIND, ORACLE
from pipeline.evaluation.pairwork import PairWork, Reference
from pipeline.evaluation.report import readme
from pipeline.evaluation.results import Results
from pipeline.evaluation.scoring import GROUPS, Tally, exposure_group, tau_bucket
from pipeline.evaluation.testsets import EvalSet, paired_set, test_set
from pipeline.params import EvaluateParams, Params

MANAGED = (
    evalfiles.METRICS_DIR,
    "breakdown.json",
    "per_image.csv",
    "README.md",
    "plots",
    "samples",
)


def scored_methods(p: EvaluateParams) -> list[str]:
    """The methods to score, in report order (the baselines are checked when params load)."""
    return [MODEL, *dict.fromkeys(p.baselines), *([ORACLE] if p.oracle else [])]


def at_resolution(image: np.ndarray, long_side: int) -> np.ndarray:
    """Area-downscale float32 (H, W, 3) so its long side is at most ``long_side`` (0: as is)."""
    if long_side == 0:
        return image
    size = upsample.working_size(image.shape[0], image.shape[1], long_side, 1)
    return upsample.resize_area(image, size)


def _caption(meta: dict) -> str:
    if meta.get("tau") is not None:
        return f"tau {meta['tau']:.2f}"
    return f"EV {meta['ev']:+g}" if meta.get("ev") is not None else str(meta.get("source"))


@dataclass
class _Sent:
    """A pair handed to the engine: its work, and per reference its row and sample grid."""

    work: PairWork
    rows: list[tuple[dict, grids.Candidate | None]]


def _score_set(
    eval_set: EvalSet,
    methods: list[str],
    params: Params,
    enhancer: Enhancer,
    learned: LearnedMetrics,
    tally: Tally,
    chooser: grids.SampleChooser | None,
    engine: Engine,
) -> Counter[str]:
    """Run the model on each pair here; hand the rest of each pair's work (the baselines and,
    on the CPU, every method's metrics: ``pairwork.run``) to ``engine`` (``evaluate.workers``
    processes locally; Ray tasks on a cluster), recording the scores in image order. On a GPU
    the metrics run here, with the model. A pair with further references (MSEC) is scored once
    per reference, the methods run once. Returns the images scored per set name."""
    p = params.evaluate
    gpu = on_gpu(enhancer.device)
    learned_on = learned.lpips is not None or learned.inception is not None
    shown = tuple(m for m in methods[1:] if m not in (ORACLE, IDENTITY, EV0_RENDER))
    sent: deque[_Sent] = deque()

    def works() -> Iterator[PairWork]:
        for item in track(eval_set.items, f"evaluate {eval_set.name}"):
            inp = at_resolution(item.input, p.resolution)
            model = enhancer.correct(inp)
            targets = {eval_set.name: at_resolution(item.target, p.resolution)}
            targets |= {s: at_resolution(t, p.resolution) for s, t in item.references.items()}
            m = item.meta
            references: list[Reference] = []
            rows: list[tuple[dict, grids.Candidate | None]] = []
            for set_name, target in targets.items():
                group = exposure_group(m["kind"], m.get("ev"), np.array_equal(inp, target))
                base = {
                    "set": set_name,
                    "id": item.id,
                    "scene": m.get("scene"),
                    "source": m.get("source"),
                    "kind": m["kind"],
                    "group": group,
                    "tau": m.get("tau"),
                    "tau_bucket": tau_bucket(m.get("tau"), p.tau_buckets),
                    "ev": m.get("ev"),
                    "width": inp.shape[1],
                    "height": inp.shape[0],
                }
                candidate = None
                if chooser is not None and set_name == eval_set.name:
                    tally.add_luma(inp, model, target)
                    images = {"input": inp, "target": target, MODEL: model}
                    scene = str(m.get("scene"))
                    candidate = chooser.offer(group, item.id, scene, _caption(m), images)
                references.append(Reference(set_name, target, group == "native", tally.next_seed()))
                rows.append((base, candidate))
            ev0 = None if item.ev0 is None else at_resolution(item.ev0, p.resolution)
            work = PairWork(
                item.id, inp, model, tuple(methods), dict(m), ev0, tuple(references),
                score=not gpu, keep_outputs=learned_on,
                panels=shown if any(c is not None for _, c in rows) else (),
            )  # fmt: skip
            sent.append(_Sent(work, rows))
            yield work

    counts = Counter({name: 0 for name in (eval_set.name, *eval_set.derived)})
    done = engine.map_ordered(
        pairwork.run, works(), p.workers, ahead=2, describe=lambda w: f"{eval_set.name} {w.id}"
    )
    with _threads_beside(engine, p.workers):
        for result in done:
            one = sent.popleft()
            work = one.work
            for n, (reference, (base, candidate)) in enumerate(
                zip(work.references, one.rows, strict=True)
            ):
                if candidate is not None:
                    candidate.panels |= result.panels
                extra: dict = {}
                if result.baselines is not None:
                    outputs = pairwork.reference_outputs(work, result.baselines, reference)
                    extra = learned.per_image(reference.set_name, reference.image, outputs)
                if work.score:
                    scores = result.scores[n]
                else:
                    job = pairwork.reference_job(work, result.baselines or {}, reference)
                    scores = score_image(job, enhancer.device)
                tally.record(base, methods, scores, extra)
                counts[base["set"]] += 1
    return counts


@contextmanager
def _threads_beside(engine: Engine, workers: int) -> Iterator[None]:
    """While a pool of ``workers`` processes of this machine scores, this process (the model's
    forward pass) keeps only the cores they leave, for torch and OpenCV alike."""
    if engine.name != "local" or workers <= 1:
        yield
        return
    cores = fast.cores_left(workers)
    with torch_threads(cores), fast.opencv_threads(cores):
        yield


def _publish(staging: Path, output: Path) -> None:
    """Swap each managed entry of ``staging`` into ``output`` (old ones removed)."""
    trash = Path(tempfile.mkdtemp(prefix=".evaluate-old-", dir=output))
    try:
        for name in MANAGED:
            old, new = output / name, staging / name
            if old.exists():
                os.replace(old, trash / name)
            if new.exists():
                os.replace(new, old)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _write(results: Results, chooser: grids.SampleChooser, staging: Path, png_level: int) -> None:
    for name, content in evalfiles.metrics_files(results).items():
        atomic_write_json(staging / evalfiles.METRICS_DIR / name, content)
    atomic_write_json(staging / "breakdown.json", evalfiles.breakdown_json(results))
    atomic_write_text(staging / "per_image.csv", evalfiles.per_image_csv(results))
    plots = staging / "plots"
    atomic_write_text(plots / "psnr_by_tau.csv", evalfiles.psnr_plot_csv(results, "tau"))
    atomic_write_text(plots / "psnr_by_ev.csv", evalfiles.psnr_plot_csv(results, "ev"))
    atomic_write_text(plots / "luminance_histogram.csv", evalfiles.luminance_csv(results.tally))
    (staging / "samples").mkdir()
    for candidate in chooser.chosen():
        path = staging / "samples" / f"{candidate.id}.png"
        grids.write_grid(path, candidate, results.best_blind, png_level)
        results.samples.append(candidate.id)
    atomic_write_text(staging / "README.md", readme(results))


def _best_blind(results: Results) -> str | None:
    """The blind baseline (identity aside: it is the input panel) with the best test PSNR."""
    stats = evalfiles.method_stats(results, "test").get("all", {})
    shown = [m for m in results.methods if m not in (MODEL, IDENTITY, *NOT_BLIND) and m in stats]
    return max(shown, key=lambda m: stats[m]["psnr"], default=None)


def run(
    params: Params,
    shards: str | Path,
    model: str | Path,
    output: str | Path,
    paired: list[str | Path] | None = None,
    verify: bool = True,
    allow_missing: bool = False,
) -> Summary:
    """Evaluate ``model`` on the test split of ``shards`` (and ``paired`` folders).

    ``verify`` checks each test shard's sha256 against ``index.json`` first. Fewer test pairs
    scored than the index lists (corrupt shards or samples) is an error naming the skipped ones,
    unless ``allow_missing``; the report states both numbers either way. ``shards``, ``model``,
    ``output`` and each ``paired`` folder may be URLs (``exposure_core.storage``): the index,
    the test tars, the model and the paired folders are fetched into their mirrors (a folder
    keeps its last name, so its set is ``paired:<name>`` either way), the report is written
    in the output's mirror and copied up.
    """
    local = storage.mirror_path(str(output)) if storage.is_url(output) else Path(output)
    check_output_folder(local)  # before any work, and before the lock file beside it
    engine = connect(params.engine.name, params.engine.address)  # before anything is written
    with output_lock(local, "evaluate"), storage.remote_lock(str(output), "evaluate"):
        test_shards = shardfmt.local_shards(shards, ("test",))
        folders = [_paired_folder(f) for f in paired or []]
        model_file = resolve_model(storage.fetch_file(model))  # a shipped model's name too
        summary = _run(
            params, test_shards, model_file, local, folders, verify, allow_missing, engine
        )
        if storage.is_url(output):
            storage.publish(local, str(output), remove_stale=False)
            summary.notes.append(f"  copied to {output}")
    return summary


def _paired_folder(folder: str | Path) -> Path:
    """``folder`` itself, or for a URL its mirror, brought up to date."""
    if not storage.is_url(folder):
        return Path(folder)
    local = storage.pull(str(folder))
    if not local.is_dir():
        raise UserError(f"--paired {folder}: an object, not a folder of pairs")
    return local


def _run(
    params: Params,
    shards: Path,
    model: Path,
    output: Path,
    paired: list[Path] | None,
    verify: bool,
    allow_missing: bool,
    engine: Engine,
) -> Summary:
    p = params.evaluate
    methods = scored_methods(p)
    summary = Summary("evaluate", unit="images", rate_key="images scored")
    # CheckpointError for a foreign file; the filter's thresholds drive the well-exposed gate
    enhancer = Enhancer.load(model, params.enhance, params.filter)
    learned = LearnedMetrics(p.lpips_weights, p.inception_weights, enhancer.device)
    sets = [test_set(shards, p.max_images, verify=verify)]
    names = ["test"]
    for folder in paired or []:
        name = f"paired:{folder.name or folder.resolve().name}"
        name = name if name not in names else f"{name}-{len(names)}"
        names.append(name)
        sets.append(paired_set(folder, params, name, p.max_images))
    inputs = 0
    if any(s.derived for s in sets):
        methods.append(EV0_RENDER)
    tally = Tally(p.seed)
    chooser = grids.SampleChooser(p.samples, tuple(g for g, _ in GROUPS))
    results = Results(methods, p.resolution, str(model), tally)
    for eval_set in sets:
        counts = _score_set(
            eval_set,
            methods,
            params,
            enhancer,
            learned,
            tally,
            chooser if eval_set.name == "test" else None,
            engine,
        )
        results.n_images |= counts
        scored = counts[eval_set.name]
        inputs += scored  # each input once, whatever its references
        if eval_set.expected is not None:
            results.expected[eval_set.name] = eval_set.expected
            if scored < eval_set.expected and not allow_missing:
                raise UserError(
                    f"{shards}: {scored} of {eval_set.expected} test pairs scored; skipped: "
                    + "; ".join(eval_set.skipped or ["none named"])
                    + " (--allow-missing reports the rest)"
                )
        results.skipped += eval_set.skipped
        results.notes += eval_set.notes
        summary.add("images scored", sum(counts.values()))
    if enhancer.thresholds is not None:
        results.notes.append(
            f"model: {enhancer.left_alone} of {inputs} inputs judged "
            "well exposed (prep filter's verdict, no lift by the network) and returned unchanged"
        )
    results.learned = learned.results()
    results.best_blind = _best_blind(results)
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".evaluate-new-", dir=output))
    try:
        _write(results, chooser, staging, params.io.png_level)
        _publish(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.add("methods", len(methods))
    if results.skipped:
        summary.add("skipped", len(results.skipped))
    summary.notes += [f"[yellow]skipped:[/yellow] {line}" for line in results.skipped]
    summary.notes += results.notes
    summary.notes.append(f"  report: {output / 'README.md'}")
    return summary
