"""The enhancer's well-exposed gate: unchanged when the filter keeps a photo and the network
changes its brightness little; corrected otherwise (and always with --always-correct)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from exposure_core import camera, exposure, imageio
from exposure_models.inference.enhancer import Enhancer
from exposure_models.inference.gate import decide, float_analysis_sample, mean_luma_lift
from pipeline.cli import app
from pipeline.params import EnhanceParams, FilterParams, Params, load_params
from pipeline.stages import enhance as stage
from tests._models import constant_gain_model

runner = CliRunner()
LIFT, DARKEN = 0.2, 0.5  # the gate's thresholds in these tests (log2 mean-luma ratio)
# the darker model's -0.5 stops in linear light darken the demo photos by less than DARKEN
GENTLE = EnhanceParams(device="cpu", max_darken=DARKEN)


@pytest.fixture(scope="module")
def darker(tmp_path_factory) -> Path:
    return constant_gain_model(tmp_path_factory.mktemp("m") / "darker.pt", -0.5)


@pytest.fixture(scope="module")
def brighter(tmp_path_factory) -> Path:
    return constant_gain_model(tmp_path_factory.mktemp("m") / "brighter.pt", 1.0)


def test_mean_luma_lift_sign_and_size() -> None:
    low = np.full((8, 8, 3), 0.25, np.float32)
    assert mean_luma_lift(low, low) == 0.0
    assert mean_luma_lift(low, low * 2) == pytest.approx(1.0, abs=1e-3)
    assert mean_luma_lift(low, low / 2) == pytest.approx(-1.0, abs=1e-3)
    black = np.zeros_like(low)
    assert np.isfinite(mean_luma_lift(black, black))


def test_decide_asks_the_filter_then_the_network(demo_photos) -> None:
    photo, thresholds = demo_photos["coffee"], FilterParams()
    low = photo[::4, ::4]
    kept = decide(photo, low, low * 0.9, thresholds, LIFT, DARKEN)
    assert kept.leave_alone and "well exposed" in kept.reason
    lifted = decide(photo, low, np.clip(low * 1.5, 0, 1), thresholds, LIFT, DARKEN)
    assert not lifted.leave_alone and "lifts it +0." in lifted.reason
    darkened = decide(photo, low, low * 0.6, thresholds, LIFT, DARKEN)
    assert not darkened.leave_alone and "darkens it -0." in darkened.reason
    assert decide(photo, low, low * 0.6, thresholds, LIFT, 4.0).leave_alone
    over = exposure.overexpose(photo, 0.5)
    rejected = decide(over, over[::4, ::4], over[::4, ::4] * 0.8, thresholds, LIFT, DARKEN)
    assert not rejected.leave_alone and rejected.reason.startswith("overexposed")
    under = exposure.shift_ev(photo, -1.5)
    verdict = decide(under, under[::4, ::4], under[::4, ::4], thresholds, LIFT, DARKEN)
    assert verdict.reason.startswith("underexposed")


def test_analysis_sample_keeps_exact_codes() -> None:
    codes = imageio.Codes(np.arange(300 * 200 * 3, dtype=np.uint32).reshape(300, 200, 3) % 256)
    codes = imageio.Codes(codes.array.astype(np.uint8))
    sample = float_analysis_sample(codes, 100)
    assert max(sample.shape[:2]) <= 100
    np.testing.assert_array_equal(np.round(sample * 255).astype(np.uint8), codes.array[::3, ::3])


def test_well_exposed_photo_comes_back_bit_identical(demo_photos, darker: Path) -> None:
    photo = demo_photos["coffee"]
    enhancer = Enhancer.load(darker, GENTLE)
    out = enhancer.correct(photo)
    assert enhancer.left_alone == 1
    np.testing.assert_array_equal(imageio.float_to_codes(out).array,
                                  imageio.float_to_codes(photo).array)  # fmt: skip
    always = Enhancer.load(darker, EnhanceParams(device="cpu", leave_well_exposed=False))
    assert always.correct(photo).mean() < photo.mean() * 0.9
    assert always.left_alone == 0
    trusting = Enhancer.load(darker, replace(GENTLE, max_darken=0.05))  # darkening trusted
    assert trusting.correct(photo).mean() < photo.mean() * 0.9
    assert trusting.left_alone == 0


def test_degraded_photos_are_still_corrected(demo_photos, darker: Path, brighter: Path) -> None:
    photo = demo_photos["coffee"]
    over = exposure.overexpose(photo, 0.5)  # the filter rejects it: the darkening applies
    enhancer = Enhancer.load(darker, EnhanceParams(device="cpu"))
    assert enhancer.correct(over).mean() < over.mean() * 0.95
    one_under = exposure.shift_ev(photo, -1.0)  # kept by the filter, but the network lifts it
    lifting = Enhancer.load(brighter, EnhanceParams(device="cpu"))
    assert lifting.correct(one_under).mean() > one_under.mean() * 1.2
    assert enhancer.left_alone == lifting.left_alone == 0


def test_camera_darkened_copy_is_not_left_alone(demo_photos, darker: Path) -> None:
    """A camera's -3 EV render keeps its highlights, so only the stops rule rejects it; the gate
    uses the same verdict, so the photo is corrected even by a network that does not lift it."""
    photo = demo_photos["motorcycle_left"]
    codes = imageio.float_to_codes(photo, 8)
    dark = imageio.codes_to_float(camera.render_codes(codes, camera.fitted_recipe(-3.0)))
    low = dark[::4, ::4]
    with_rule = FilterParams(max_stops=1.65)  # the rule is off by default
    verdict = decide(dark, low, low, with_rule, LIFT, DARKEN)
    assert not verdict.leave_alone and "(ev_estimate" in verdict.reason
    enhancer = Enhancer.load(darker, GENTLE, with_rule)
    enhancer.correct(photo)
    assert enhancer.left_alone == 1  # the original is well exposed: left alone
    assert enhancer.correct(dark).mean() < dark.mean() * 0.95
    assert enhancer.left_alone == 1
    off = Enhancer.load(darker, GENTLE, FilterParams())
    np.testing.assert_array_equal(  # without the stops rule the gate leaves it alone
        imageio.float_to_codes(off.correct(dark)).array, imageio.float_to_codes(dark).array
    )


def test_gate_follows_the_filter_thresholds(demo_photos, darker: Path) -> None:
    strict = FilterParams(max_p05=0.0)  # every photo "washed out": nothing is left alone
    enhancer = Enhancer.load(darker, EnhanceParams(device="cpu"), strict)
    assert enhancer.correct(demo_photos["coffee"]).mean() < demo_photos["coffee"].mean()
    assert enhancer.left_alone == 0


def test_prep_enhance_reports_and_always_correct(tmp_path: Path, demo_photos, darker: Path) -> None:
    good, over = tmp_path / "in" / "good.png", tmp_path / "in" / "over.png"
    imageio.write_image(good, demo_photos["coffee"])
    imageio.write_image(over, exposure.overexpose(demo_photos["coffee"], 0.5))
    summary = stage.run(replace(Params(), enhance=GENTLE), [tmp_path / "in"], darker,
                        tmp_path / "out")  # fmt: skip
    out = tmp_path / "out"
    np.testing.assert_array_equal(
        imageio.read_codes(out / "good.png").array, imageio.read_codes(good).array
    )
    assert not np.array_equal(
        imageio.read_codes(out / "over.png").array, imageio.read_codes(over).array
    )
    assert any("1 well-exposed photo(s) written unchanged" in note for note in summary.notes)
    command = ["enhance", str(good), "--model", str(darker), "--output", str(tmp_path / "all")]
    result = runner.invoke(app, [*command, "--always-correct"])
    assert result.exit_code == 0, result.output
    corrected = imageio.read_image(tmp_path / "all" / "good.png")
    assert corrected.mean() < demo_photos["coffee"].mean() * 0.9


def test_max_lift_range_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_lift"):
        EnhanceParams(max_lift=-0.1)
    path = tmp_path / "p.yaml"
    path.write_text("enhance:\n  max_lift: 9\n")
    with pytest.raises(Exception, match="max_lift"):
        load_params(path)


def test_max_darken_range_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_darken"):
        EnhanceParams(max_darken=-0.1)
    path = tmp_path / "p.yaml"
    path.write_text("enhance:\n  max_darken: 9\n")
    with pytest.raises(Exception, match="max_darken"):
        load_params(path)
