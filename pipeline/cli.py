"""The ``prep`` command: one thin command per pipeline stage, plus ``enhance``.

Each command loads params.yaml, applies its flags as overrides and calls the stage's ``run``.
Stage modules are imported inside the commands so that the data stages never import torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from exposure_core.console import console
from exposure_core.errors import UserError
from pipeline.params import load_params

DEFAULT_PARAMS = Path("params.yaml")
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help=(
        "Photo exposure-correction toolkit: data pipeline, GAN training, evaluation and "
        "enhancement.\n\nStages run in order by `dvc repro`: download -> filter -> synthesize "
        "-> shard -> train -> evaluate. Every knob lives in params.yaml; flags override it."
    ),
)

ParamsOpt = Annotated[
    str | None,
    typer.Option(
        "--params",
        help="params file, path or URL [default: ./params.yaml; built-in defaults (equal to "
        "the shipped file) where there is none]; a file named here must exist",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="fail at the first unusable input instead of recording it")
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="local | ray: where the per-photo work runs (overrides engine.name; same bytes)",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="the Ray cluster for --engine ray: auto | host:port | ray://host:port "
        "(overrides engine.address)",
    ),
]
NoVerifyOpt = Annotated[
    bool, typer.Option("--no-verify", help="skip checking each shard's sha256 against index.json")
]


def _params(path: str | None, overrides: dict[str, Any]) -> Any:
    if path is None and DEFAULT_PARAMS.exists():
        path = str(DEFAULT_PARAMS)
    with user_errors():
        return load_params(path, overrides)


def _engine(name: str | None, address: str | None) -> dict[str, str | None]:
    """The overrides of --engine and --address (``--address`` alone implies ``--engine ray``)."""
    if address is not None and name is None:
        name = "ray"
    return {"engine.name": name, "engine.address": address}


def _finish(summary: Any) -> None:
    summary.print()


@contextmanager
def user_errors() -> Iterator[None]:
    """The one place a command turns a user's mistake into a message and an exit code.

    ``UserError`` (params, images, checkpoints, paths; ``--strict`` rejects) exits with its
    ``exit_code``; an OS error (missing file, full disk, permissions) names the file, exit 1.
    """
    try:
        yield
    except UserError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(exc.exit_code) from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) not in str(exc) else ""
        console.print(f"[red]error:[/red] {where}{exc}", highlight=False)
        raise typer.Exit(1) from exc


def _csv_floats(text: str | None) -> list[float] | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return []
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc


@app.command()
def download(
    output: Annotated[str, typer.Option(help="raw data folder (path or URL)")] = "data/raw",
    sources: Annotated[
        str | None, typer.Option(help="comma-separated sources (overrides data.sources)")
    ] = None,
    params_file: ParamsOpt = None,
    strict: StrictOpt = False,
    engine: EngineOpt = None,
    address: AddressOpt = None,
) -> None:
    """Fetch the sources of [b]data.sources[/b] into OUTPUT/<source>/ with an index per source.

    Example: [cyan]prep download --output data/raw --sources demo[/cyan]
    """
    overrides = {
        "data.sources": sources.split(",") if sources else None,
        **_engine(engine, address),
    }
    params = _params(params_file, overrides)
    from pipeline.stages import download as stage

    with user_errors():
        _finish(stage.run(params, output, strict=strict))


@app.command(name="filter")
def filter_(
    input: Annotated[
        str, typer.Option("--input", help="raw data folder or any photo folder (path or URL)")
    ],
    output: Annotated[str, typer.Option(help="folder for manifest.jsonl (path or URL)")],
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    max_stops: Annotated[
        float | None,
        typer.Option(
            "--max-stops",
            help="reject a photo whose estimated exposure error (ev_estimate) is above this "
            "many stops either way (overrides filter.max_stops)",
        ),
    ] = None,
    params_file: ParamsOpt = None,
    strict: StrictOpt = False,
    engine: EngineOpt = None,
    address: AddressOpt = None,
) -> None:
    """Score every clean photo's exposure; keep the well-exposed ones.

    Every row carries [b]ev_estimate[/b], the estimated exposure error in stops (negative:
    under). Example: [cyan]prep filter --input data/raw --output data/filtered[/cyan]
    """
    overrides = {"filter.workers": workers, "filter.max_stops": max_stops}
    params = _params(params_file, {**overrides, **_engine(engine, address)})
    from pipeline.stages import filter as stage

    with user_errors():
        _finish(stage.run(params, input, output, strict=strict))


@app.command()
def synthesize(
    input: Annotated[
        str,
        typer.Option(
            "--input", help="filter manifest (or its folder), or a photo folder (path or URL)"
        ),
    ],
    output: Annotated[
        str, typer.Option(help="folder for the pairs and manifest.jsonl (path or URL)")
    ],
    tau: Annotated[
        str | None, typer.Option(help="'0.5..1' draws tau per sample; '0.7' fixes it")
    ] = None,
    tau_samples: Annotated[int | None, typer.Option(help="overexposed variants per photo")] = None,
    evs: Annotated[
        str | None, typer.Option(help="comma-separated EV shifts, e.g. -1.5,-1,0,1,1.5; '' none")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    params_file: ParamsOpt = None,
    recipes_only: Annotated[
        bool,
        typer.Option(
            "--recipes-only",
            help="write the manifest of recipes only (synthesize.write_images: false); "
            "prep shard and the loader render the variants",
        ),
    ] = False,
    strict: StrictOpt = False,
    engine: EngineOpt = None,
    address: AddressOpt = None,
) -> None:
    """Make overexposed (seed 002) and multi-EV pairs from clean photos; index native pairs.

    Example: [cyan]prep synthesize --input data/filtered --output data/pairs --tau 0.5..1
    --evs=-1.5,-1,0,1,1.5[/cyan]
    """
    overrides = {
        "synthesize.tau": tau,
        "synthesize.tau_samples": tau_samples,
        "synthesize.evs": _csv_floats(evs),
        "synthesize.seed": seed,
        "synthesize.workers": workers,
        "synthesize.write_images": False if recipes_only else None,
        **_engine(engine, address),
    }
    params = _params(params_file, overrides)
    from pipeline.stages import synthesize as stage

    with user_errors():
        _finish(stage.run(params, input, output, strict=strict))


@app.command()
def shard(
    input: Annotated[str, typer.Option("--input", help="pairs manifest or its folder (or URL)")],
    output: Annotated[str, typer.Option(help="folder for the tars and index.json (or URL)")],
    params_file: ParamsOpt = None,
    strict: StrictOpt = False,
    engine: EngineOpt = None,
    address: AddressOpt = None,
) -> None:
    """Split pairs by scene into train/val/test and write WebDataset tars plus index.json.

    Example: [cyan]prep shard --input data/pairs --output data/shards[/cyan]
    """
    params = _params(params_file, _engine(engine, address))
    from pipeline.stages import shard as stage

    with user_errors():
        _finish(stage.run(params, input, output, strict=strict))


@app.command()
def export(
    input: Annotated[
        str, typer.Option("--input", help="shard folder (prep shard output), path or URL")
    ],
    output: Annotated[
        str, typer.Option(help="folder for the plain pair tars and index.json (path or URL)")
    ],
    input_format: Annotated[
        str, typer.Option("--input-format", help="png (lossless) | jpg (at --quality)")
    ] = "png",
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality of the inputs")] = 95,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    max_pairs: Annotated[
        int | None, typer.Option(min=1, help="pairs per shard at most (default 1000)")
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option(min=1, help="bytes per shard at most (default 256 MiB)")
    ] = None,
    no_verify: NoVerifyOpt = False,
) -> None:
    """Write plain WebDataset pairs (`<id>.input.png`, `<id>.target.png`, `<id>.json`) that any
    webdataset loop reads, one sample per pair, each split in its own shards.

    Example: [cyan]prep export --input data/shards --output data/export[/cyan]; then
    [cyan]wds.WebDataset(urls).decode("rgb").to_tuple("input.png", "target.png")[/cyan]
    """
    from exposure_core.pairexport import INPUT_FORMATS, ExportOptions
    from pipeline.stages import export as stage

    if input_format not in INPUT_FORMATS:
        raise typer.BadParameter(f"{input_format!r}: choose png or jpg", param_hint="format")
    options = ExportOptions(input_format, quality)  # type: ignore[arg-type]
    sizes = {"max_pairs": max_pairs, "max_bytes": max_bytes}
    with user_errors():
        summary = stage.run(
            input, output, options, workers, verify=not no_verify,
            **{k: v for k, v in sizes.items() if v is not None},
        )  # fmt: skip
    _finish(summary)


@app.command()
def train(
    shards: Annotated[
        str, typer.Option(help="shard folder (prep shard output), path or URL")
    ] = "data/shards",
    model: Annotated[
        str, typer.Option(help="where the generator goes (path or URL)")
    ] = "models/generator.pt",
    checkpoints: Annotated[
        str, typer.Option(help="training checkpoints (folder or URL)")
    ] = "checkpoints",
    dvclive: Annotated[str, typer.Option(help="DVCLive log folder (or URL)")] = "dvclive",
    preset: Annotated[
        str | None,
        typer.Option(
            help="seed000 | seed001 | seed002 | seed003 | seed003_sr | sr_demo | demo | real "
            "(train.presets)"
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="total optimisation steps (overrides train.epochs)")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="exposure | sr (super-resolution: --preset sr_demo or seed003_sr)"),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:1 | mps")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="ignore the last checkpoint and start over")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="insist on resuming (error if the checkpoint differs)")
    ] = False,
    params_file: ParamsOpt = None,
    no_verify: NoVerifyOpt = False,
) -> None:
    """Train the GAN. The last checkpoint is resumed when made with the same architecture,
    params and shards (else training starts over). Multi-GPU: run it under torchrun.

    Example: [cyan]prep train --shards data/shards --preset demo[/cyan]
    (or [cyan]torchrun --nproc_per_node 8 $(which prep) train[/cyan])
    """
    overrides = {
        "train.preset": preset,
        "train.steps": steps,
        "train.epochs": 0.0 if steps is not None else None,
        "train.device": device,
        "train.task": task,
    }
    params = _params(params_file, overrides)
    from pipeline.stages import train as stage

    with user_errors():
        _finish(
            stage.run(
                params,
                shards,
                model,
                checkpoints,
                dvclive,
                fresh=fresh,
                resume=resume,
                verify=not no_verify,
            )
        )


@app.command()
def evaluate(
    shards: Annotated[
        str, typer.Option(help="shard folder (its test split is scored), path or URL")
    ] = "data/shards",
    model: Annotated[
        str, typer.Option(help="trained generator (path or URL), or stops | real | synthetic")
    ] = "models/generator.pt",
    output: Annotated[str, typer.Option(help="report folder (path or URL)")] = "reports",
    paired: Annotated[
        list[str] | None,
        typer.Option(
            help="also score a paired folder (low/high, input/target, MSEC, LOL), path or URL"
        ),
    ] = None,
    resolution: Annotated[
        int | None, typer.Option(help="long side to evaluate at; 0 = full resolution")
    ] = None,
    max_images: Annotated[int | None, typer.Option(help="score at most this many pairs")] = None,
    params_file: ParamsOpt = None,
    no_verify: NoVerifyOpt = False,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="report the test pairs that could be read when fewer than index.json lists",
        ),
    ] = False,
    task: Annotated[
        str, typer.Option(help="exposure | sr (a super-resolution model vs bicubic and Lanczos)")
    ] = "exposure",
    photos: Annotated[
        list[str] | None,
        typer.Option(
            help="--task sr: score on these clean photos (files or folders, paths or URLs) "
            "instead of the test split"
        ),
    ] = None,
    engine: EngineOpt = None,
    address: AddressOpt = None,
) -> None:
    """Score the model and non-learned baselines on the test split; write reports/.

    Example: [cyan]prep evaluate --shards data/shards --model models/generator.pt
    --output reports[/cyan]; super-resolution: [cyan]prep evaluate --task sr --model
    models/sr.pt --photos holiday/[/cyan]
    """
    overrides = {
        "evaluate.resolution": resolution,
        "evaluate.max_images": max_images,
        **_engine(engine, address),
    }
    params = _params(params_file, overrides)
    if task not in ("exposure", "sr"):
        raise typer.BadParameter(f"--task must be exposure or sr, got {task!r}")
    if task == "sr":
        from pipeline.stages import evaluate_sr

        with user_errors():
            summary = evaluate_sr.run(params, model, output, shards=shards, photos=photos)
        _finish(summary)
        return
    from pipeline.stages import evaluate as stage

    with user_errors():
        _finish(
            stage.run(
                params,
                shards,
                model,
                output,
                paired=list(paired or []),
                verify=not no_verify,
                allow_missing=allow_missing,
            )
        )


@app.command()
def enhance(
    photos: Annotated[
        list[str], typer.Argument(help="photos or folders (JPEG/PNG/TIFF/RAW), paths or URLs")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="trained generator, path or URL, or a shipped model's name: stops (the "
            "default: the stops estimate's re-exposure alone, no network) | real | synthetic "
            "(generators in exposure_models/pretrained/)"
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="folder for the corrected photos (or URL)")
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place", help="overwrite the input files (URLs: each object replaced in one write)"
        ),
    ] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="same | jpg | png | tif (16-bit)")
    ] = None,
    long_side: Annotated[int | None, typer.Option(help="working resolution (long side)")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:1 | mps")] = None,
    always_correct: Annotated[
        bool,
        typer.Option(
            "--always-correct",
            help="apply the model to every photo (default: photos that prep filter calls well "
            "exposed, and that the model would not brighten, are written unchanged)",
        ),
    ] = False,
    params_file: ParamsOpt = None,
    upscale: Annotated[
        int, typer.Option(min=0, help="then up-sample by this factor with --sr-model (0: no)")
    ] = 0,
    sr_model: Annotated[
        str, typer.Option(help="super-resolution model (prep train --task sr), path or URL")
    ] = "models/sr.pt",
) -> None:
    """Correct the exposure of your own photos, at full resolution (then, with --upscale,
    up-sample them with a super-resolution model, as seed 003 chains its two stages).

    Example: [cyan]prep enhance holiday/*.jpg scan.tif --output fixed/[/cyan] (the shipped
    model), or with your own: [cyan]--model models/generator.pt[/cyan]
    """
    overrides = {
        "enhance.format": fmt,
        "enhance.long_side": long_side,
        "enhance.device": device,
        "enhance.leave_well_exposed": False if always_correct else None,
    }
    params = _params(params_file, overrides)
    from pipeline.stages import enhance as stage

    with user_errors():
        summary = stage.run(
            params,
            photos,
            model,
            output,
            in_place=in_place,
            upscale=(upscale, sr_model) if upscale else None,
        )
    _finish(summary)
    if summary.counts.get("failed"):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()
