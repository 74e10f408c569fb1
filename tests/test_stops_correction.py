"""The stops re-exposure (exposure_core.stops_correction) and models trained behind it
(``train.pre_exposure: stops``): the curve undoes a camera's exposure change, the loader
re-exposes exactly what the enhancer will, a run can start from another model's weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from exposure_core import camera, imageio, stops_correction
from exposure_core.metrics.reference import psnr
from exposure_models.checkpoint import CheckpointError, load_generator, save_generator, warm_start
from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.inference.enhancer import Enhancer
from exposure_models.inference.settings import EnhanceSettings
from exposure_models.training.loader import make_loader, shard_urls
from exposure_models.training.loader_config import LoaderConfig
from pipeline.params import Params, TrainParams
from pipeline.stages import train as train_stage
from tests._models import constant_gain_model
from tests._pairs import make_shards


def codes_of(photo: np.ndarray) -> imageio.Codes:
    return imageio.float_to_codes(photo, 8)


@pytest.mark.parametrize("stops", [-1.5, -1.0, 1.0, 1.5])
def test_the_curve_undoes_the_camera_kinds_exposure_change(demo_photos, stops: float) -> None:
    """A camera render at the fitted curve, corrected by its true stops, is the photo again
    (up to the highlights the render rolled off and the 8-bit rounding)."""
    photo = codes_of(demo_photos["coffee"])
    render = camera.render_codes(photo, camera.fitted_recipe(stops))
    back, undone = stops_correction.correct_codes(render, stops)
    assert undone == stops and back.array.shape == photo.array.shape
    as_float = imageio.codes_to_float
    assert psnr(as_float(back), as_float(photo)) > 33.0
    assert psnr(as_float(back), as_float(photo)) > psnr(as_float(render), as_float(photo)) + 10


@pytest.mark.parametrize("stops", [-1.5, 1.5])
def test_the_estimate_reads_a_camera_render_in_the_right_direction(demo_photos, stops) -> None:
    """On every demo photo the estimate moves the right way; on average by more than half the
    change (the estimator is trained on MSEC's scenes, not on these)."""
    moves = []
    for photo in map(codes_of, demo_photos.values()):
        render = camera.render_codes(photo, camera.fitted_recipe(stops))
        shifted = stops_correction.estimate_stops(render)
        moves.append((shifted - stops_correction.estimate_stops(photo)) / stops)
        corrected, undone = stops_correction.correct_codes(render)
        assert undone == shifted
        change = imageio.codes_to_float(corrected).mean() - imageio.codes_to_float(render).mean()
        assert change * shifted < 0  # moved against the estimate
    assert min(moves) > 0.25 and np.mean(moves) > 0.5, moves


def test_curves_are_monotone_in_range_and_bounded_by_the_estimators_range() -> None:
    for bits in (8, 16):
        for stops in (-9.0, -1.2, 0.0, 0.7, 9.0):
            curve = stops_correction.correction_curve(stops, bits)
            assert curve.shape == (1 << bits,) and curve.dtype == np.float32
            assert np.all(np.diff(curve) >= 0) and 0.0 <= curve.min() <= curve.max() <= 1.0
    far = stops_correction.correction_curve(9.0)
    assert np.array_equal(far, stops_correction.correction_curve(stops_correction.MAX_EV))
    levels = np.linspace(0, 1, 256, dtype=np.float32)
    identity = stops_correction.correct_float(np.stack([levels] * 3, -1)[None], 0.0)[0, :, 0]
    assert np.abs(identity - levels).max() < 2e-3  # zero stops leaves the photo as it is


@pytest.fixture(scope="module")
def shards(tmp_path_factory, demo_photos) -> Path:
    return make_shards(tmp_path_factory.mktemp("data"), demo_photos, camera_evs=[1.5])


def views(shards: Path, pre_expose: bool, identity: float = 0.0) -> list:
    from exposure_models.training.config import AugmentConfig

    config = LoaderConfig(
        batch_size=4,
        crop=32,
        train=True,
        resize=48,
        crops_per_sample=2,
        epoch_len=6,
        seed=3,
        augment=AugmentConfig(hflip=True, rot90=True, identity=identity),
        pre_expose=pre_expose,
    )
    return list(make_loader(shard_urls(shards, "train"), config))


def to_codes(batch: torch.Tensor) -> np.ndarray:
    return np.rint(batch.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


def test_the_loader_re_exposes_each_view_by_its_whole_inputs_estimate(shards: Path) -> None:
    plain, pre = views(shards, False), views(shards, True)
    seen = 0
    for a, b in zip(plain, pre, strict=True):
        assert torch.equal(a.target, b.target)  # the same crops and flips
        for k, meta in enumerate(b.meta):
            curve = stops_correction.correction_curve(meta["pre_stops"], 8)
            want = imageio.apply_curve(imageio.Codes(to_codes(a.input)[k]), curve).array
            assert np.array_equal(to_codes(b.input)[k], want)
            seen += 1
    assert seen == 24
    stops = [m["pre_stops"] for batch in pre for m in batch.meta]
    assert len(set(stops)) > 3 and all(abs(s) <= stops_correction.MAX_EV for s in stops)


def test_an_identity_view_gets_the_targets_own_re_exposure(shards: Path) -> None:
    for batch in views(shards, True, identity=1.0):
        for k, meta in enumerate(batch.meta):
            curve = stops_correction.correction_curve(meta["pre_stops"], 8)
            want = imageio.apply_curve(imageio.Codes(to_codes(batch.target)[k]), curve).array
            assert np.array_equal(to_codes(batch.input)[k], want)


def test_a_run_can_start_from_another_models_weights(tmp_path: Path) -> None:
    config = UNetConfig(depth=4, width=4, norm="none", skip="gain")
    torch.manual_seed(1)
    source = UNetGenerator(config)
    save_generator(tmp_path / "a.pt", source.eval(), {"step": 7})
    torch.manual_seed(2)
    fresh = UNetGenerator(config)
    extra = warm_start(fresh, tmp_path / "a.pt")
    assert extra["step"] == 7
    for (name, a), b in zip(source.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other = UNetGenerator(replace(config, width=8))
    with pytest.raises(CheckpointError, match=r"a\.pt: train\.init_from holds another network"):
        warm_start(other, tmp_path / "a.pt")


def test_prep_train_with_pre_exposure_and_a_warm_start(tmp_path: Path, shards: Path) -> None:
    from exposure_models.config import PatchConfig

    generator = UNetConfig(depth=4, width=8)
    train = TrainParams(
        steps=3, batch_size=2, crop=32, workers=0, shuffle_buffer=10, val_images=1,
        val_every=3, checkpoint_every=3, device="cpu", generator=generator,
        discriminator=PatchConfig(width=8), pre_exposure="stops",
    )  # fmt: skip
    first = tmp_path / "first.pt"
    train_stage.run(Params(train=train), shards, first, tmp_path / "ck1", tmp_path / "logs1")
    model, extra = load_generator(first)
    assert extra["pre_exposure"] == "stops" and extra["train"]["pre_exposure"] == "stops"
    second = tmp_path / "second.pt"
    warm = replace(train, init_from=str(first), lr=1e-12)
    summary = train_stage.run(Params(train=warm), shards, second, tmp_path / "ck2", tmp_path / "l2")
    assert any("train.init_from" in note for note in summary.notes)
    again, _ = load_generator(second)
    pairs = zip(model.named_parameters(), again.parameters(), strict=True)
    for (name, a), b in pairs:  # a learning rate of ~0 keeps the weights (not norm statistics)
        assert torch.allclose(a, b, atol=1e-6), name


def enhancer_of(path: Path, pre_exposure: str) -> Enhancer:
    model, extra = load_generator(path)
    save_generator(path, model, {**extra, "pre_exposure": pre_exposure})
    return Enhancer.load(path, EnhanceSettings(leave_well_exposed=False, device="cpu"))


def test_the_enhancer_re_exposes_the_network_input_of_such_a_model(tmp_path, demo_photos):
    photo = camera.render_codes(codes_of(demo_photos["chelsea"]), camera.fitted_recipe(1.5))
    low = imageio.downscale(photo, (64, 96))
    plain = enhancer_of(constant_gain_model(tmp_path / "a.pt", 0.0), "none")
    assert plain.network_input(photo, low) is low
    pre = enhancer_of(constant_gain_model(tmp_path / "b.pt", 0.0), "stops")
    seen = pre.network_input(photo, low)
    stops = stops_correction.estimate_stops(photo)
    assert stops > 0.5 and seen.mean() < low.mean()
    assert np.array_equal(seen, stops_correction.correct_float(low, stops))
    # the whole correction, re-exposure and a network that changes nothing, reaches full size
    out = pre.correct_codes(photo)
    assert out.array.shape == photo.array.shape
    assert imageio.codes_to_float(out).mean() < imageio.codes_to_float(photo).mean() - 0.05


def test_an_unknown_pre_exposure_in_a_model_file_is_named(tmp_path: Path) -> None:
    path = constant_gain_model(tmp_path / "m.pt", 0.0)
    model, extra = load_generator(path)
    save_generator(path, model, {**extra, "pre_exposure": "magic"})
    with pytest.raises(CheckpointError, match=r"m\.pt: unknown pre_exposure 'magic'"):
        Enhancer.load(path, EnhanceSettings(device="cpu"))


def test_model_stops_is_the_re_exposure_alone_at_full_size(tmp_path: Path, demo_photos) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    photo = camera.render_codes(codes_of(demo_photos["coffee"]), camera.fitted_recipe(1.5))
    enhancer = Enhancer.load(Path("stops"), EnhanceSettings(leave_well_exposed=False))
    assert enhancer.model is None
    want, _ = stops_correction.correct_codes(photo)
    assert np.array_equal(enhancer.correct_codes(photo).array, want.array)  # exact, no carry
    imageio.write_image(tmp_path / "over.png", imageio.codes_to_float(photo))
    imageio.write_image(tmp_path / "fine.png", demo_photos["coffee"])
    result = CliRunner().invoke(
        app, ["enhance", str(tmp_path / "over.png"), str(tmp_path / "fine.png"),
              "--model", "stops", "--output", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = imageio.read_codes(tmp_path / "out/over.png")
    assert np.array_equal(out.array, want.array)
    # the gate: a photo the filter keeps and the re-exposure hardly changes is left as it is
    fine = imageio.read_codes(tmp_path / "fine.png").array
    kept = np.array_equal(imageio.read_codes(tmp_path / "out/fine.png").array, fine)
    assert kept == (abs(stops_correction.estimate_stops(imageio.Codes(fine))) < 0.2)


def test_prep_evaluate_scores_model_stops_as_the_stops_baseline(tmp_path: Path, shards) -> None:
    """Always correcting, ``--model stops`` through the enhancer path scores what the opt-in
    ``stops`` baseline scores on every test pair (both: the curve on the full-size image)."""
    import csv

    from pipeline.params import EnhanceParams, EvaluateParams
    from pipeline.stages import evaluate as evaluate_stage

    params = Params(
        evaluate=EvaluateParams(baselines=["identity", "stops"], samples=0, workers=0),
        enhance=EnhanceParams(leave_well_exposed=False, device="cpu"),
    )
    evaluate_stage.run(params, shards, Path("stops"), tmp_path / "rep")
    with open(tmp_path / "rep" / "per_image.csv") as handle:
        rows = list(csv.DictReader(handle))
    psnr_of = {(r["id"], r["method"]): float(r["psnr"]) for r in rows if r["set"] == "test"}
    ids = {i for i, _ in psnr_of}
    assert len(ids) >= 4
    for i in ids:
        assert psnr_of[(i, "model")] == pytest.approx(psnr_of[(i, "stops")], abs=0.05), i


def test_prep_evaluate_takes_a_shipped_models_name(tmp_path: Path, shards) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    params = tmp_path / "params.yaml"
    params.write_text("evaluate: {baselines: [identity], samples: 0, workers: 0}\n")
    for name in ("synthetic", "stops"):
        result = CliRunner().invoke(app, ["evaluate", "--shards", str(shards), "--model", name,
                                          "--output", str(tmp_path / name),
                                          "--params", str(params)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert (tmp_path / name / "metrics" / "model.json").is_file()


def test_the_enhancer_reads_each_photos_estimate_once(monkeypatch, demo_photos) -> None:
    photo = codes_of(demo_photos["rocket"])
    calls = []
    estimate = stops_correction.estimate_stops
    monkeypatch.setattr(
        stops_correction, "estimate_stops", lambda c: calls.append(c) or estimate(c)
    )
    enhancer = Enhancer.load(Path("stops"), EnhanceSettings(leave_well_exposed=False))
    out = enhancer.correct_codes(photo)
    assert len(calls) == 1 and np.array_equal(
        out.array, stops_correction.correct_codes(photo)[0].array
    )
