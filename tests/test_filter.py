"""prep filter: verdicts on scikit-image's photos and on constructed cases; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exposure_core import camera, exposure, exposure_stats, imageio
from exposure_core.errors import StrictError, UserError
from exposure_core.ev_estimate import ev_estimate
from exposure_core.exposure_stats import analysis_sample
from pipeline.params import FilterParams, Params
from pipeline.stages import filter as stage

OVER_TAUS = (0.5, 0.6)
SHIFTS = (-2.0, -1.5, 1.5, 2.0)


def degraded_set(demo_photos) -> dict[str, list[np.ndarray]]:
    """Originals and their over/under-exposed versions, quantised to 8 bits like files."""

    def q(img: np.ndarray) -> np.ndarray:
        return imageio.codes_to_float(imageio.float_to_codes(img, 8))

    photos = list(demo_photos.values())
    return {
        "original": [q(p) for p in photos],
        "overexposed": [q(exposure.overexpose(p, t)) for p in photos for t in OVER_TAUS],
        "shifted": [q(exposure.shift_ev(p, e)) for p in photos for e in SHIFTS],
    }


def verdict(image: np.ndarray, p: FilterParams | None = None) -> tuple[bool, str]:
    p = p or FilterParams()
    return stage.judge(exposure_stats.photo_stats(image, p), p)


def kept_fraction(images: list[np.ndarray], params: FilterParams) -> float:
    return float(np.mean([verdict(img, params)[0] for img in images]))


def test_confusion_targets_on_demo_photos(demo_photos) -> None:
    """Keep >= 90 % of originals; reject >= 90 % of tau <= 0.6 and |EV| >= 1.5 versions."""
    params = FilterParams()
    sets = degraded_set(demo_photos)
    assert kept_fraction(sets["original"], params) >= 0.9
    assert 1 - kept_fraction(sets["overexposed"], params) >= 0.9
    assert 1 - kept_fraction(sets["shifted"], params) >= 0.9


def test_reasons_name_the_test(demo_photos) -> None:
    coffee = demo_photos["coffee"]
    assert verdict(exposure.shift_ev(coffee, -2.0))[1].startswith("underexposed: no highlights")
    assert verdict(np.round(exposure.overexpose(coffee, 0.5) * 255) / 255)[1].startswith(
        "overexposed"
    )
    assert verdict(coffee) == (True, "well exposed")


def _folder(tmp_path: Path, demo_photos) -> Path:
    photos = tmp_path / "photos"
    imageio.write_image(photos / "good.png", demo_photos["coffee"])
    imageio.write_image(photos / "sub" / "dark.jpg", exposure.shift_ev(demo_photos["chelsea"], -2))
    (photos / "empty.png").write_bytes(b"")
    (photos / "text.jpg").write_bytes(b"hello")
    imageio.write_image(photos / "tiny.png", demo_photos["coffee"][:20, :20])
    data = imageio.encode(demo_photos["rocket"], ".png")
    (photos / "cut.png").write_bytes(data[: len(data) // 3])
    return photos


def test_run_on_a_folder_records_everything(tmp_path: Path, demo_photos) -> None:
    photos = _folder(tmp_path, demo_photos)
    out = tmp_path / "filtered"
    summary = stage.run(Params(), photos, out)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["good.png"]["keep"] is True
    assert by_name["dark.jpg"]["keep"] is False and "underexposed" in by_name["dark.jpg"]["reason"]
    assert by_name["good.png"]["stats"]["p99"] > 0.65
    assert (out / by_name["good.png"]["path"]).resolve() == (photos / "good.png").resolve()
    reasons = {Path(r["path"]).name: r["reason"] for r in rejects}
    assert set(reasons) == {"empty.png", "text.jpg", "tiny.png", "cut.png"}
    assert "empty" in reasons["empty.png"] and "too small" in reasons["tiny.png"]
    assert "not a readable image" in reasons["text.jpg"]
    assert summary.counts["unusable"] == 4 and summary.counts["kept"] == 1


def _camera_copy(photo: np.ndarray, ev: float) -> np.ndarray:
    """``photo`` rendered as a camera would at ``ev`` stops (exposure_core.camera)."""
    codes = imageio.float_to_codes(photo, 8)
    return imageio.codes_to_float(camera.render_codes(codes, camera.fitted_recipe(ev)))


def test_every_row_carries_ev_estimate(tmp_path: Path, demo_photos) -> None:
    photos = _folder(tmp_path, demo_photos)
    stage.run(Params(), photos, tmp_path / "filtered")
    text = (tmp_path / "filtered" / "manifest.jsonl").read_text()
    rows = {Path(r["path"]).name: r for r in map(json.loads, text.splitlines())}
    for row in rows.values():
        assert isinstance(row["ev_estimate"], float)
        assert row["ev_estimate"] == round(row["ev_estimate"], 2)
    coffee = ev_estimate(analysis_sample(demo_photos["coffee"], 1024))
    assert rows["good.png"]["ev_estimate"] == pytest.approx(coffee, abs=0.006)
    assert rows["dark.jpg"]["ev_estimate"] < -1.0


def test_stops_rule_names_the_estimate(demo_photos) -> None:
    assert FilterParams().max_stops == 4.0  # off by default: estimates stop at +-4
    p = FilterParams(max_stops=1.65)
    stats = exposure_stats.photo_stats(demo_photos["coffee"], p)
    assert stage.judge(stats, p) == (True, "well exposed")
    keep, reason = stage.judge(stats, p, -1.92)
    assert not keep and reason.startswith("underexposed: about -1.9 stops (ev_estimate -1.92")
    keep, reason = stage.judge(stats, p, 2.04)
    assert not keep and reason.startswith("overexposed: about +2.0 stops (ev_estimate +2.04")
    assert f"beyond {p.max_stops:g} either way" in reason
    assert stage.judge(stats, p, p.max_stops) == (True, "well exposed")
    # a camera's -3 EV render keeps its highlights (no statistic rule fires); the estimate does
    dark = _camera_copy(demo_photos["motorcycle_left"], -3.0)
    assert stage.judge(exposure_stats.photo_stats(dark, p), p)[0]
    found = exposure_stats.assess(dark, p)
    assert not found.keep and "(ev_estimate" in found.reason and found.ev_estimate < -p.max_stops


def test_max_stops_flag_selects_by_estimate(tmp_path: Path, demo_photos) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    photos = tmp_path / "photos"
    for name in ("coffee", "chelsea", "astronaut"):
        imageio.write_image(photos / f"{name}.png", demo_photos[name])
    runs = {}
    for flag in ([], ["--max-stops", "0.3"]):
        out = tmp_path / f"out{len(flag)}"
        result = CliRunner().invoke(
            app, ["filter", "--input", str(photos), "--output", str(out), *flag]
        )
        assert result.exit_code == 0, result.output
        lines = (out / "manifest.jsonl").read_text().splitlines()
        runs[len(flag)] = {Path(r["path"]).stem: r for r in map(json.loads, lines)}
    assert all(r["keep"] for r in runs[0].values())
    selected = runs[2]
    for name, row in selected.items():
        assert row["ev_estimate"] == runs[0][name]["ev_estimate"]
        assert row["keep"] == (abs(row["ev_estimate"]) <= 0.3)
    assert not selected["astronaut"]["keep"]  # about -0.44 stops
    assert "(ev_estimate" in selected["astronaut"]["reason"]
    assert selected["chelsea"]["keep"]  # about -0.19 stops


def test_strict_fails_on_first_bad_file(tmp_path: Path, demo_photos) -> None:
    photos = _folder(tmp_path, demo_photos)
    with pytest.raises(StrictError, match="cut.png|empty.png|text.jpg|tiny.png"):
        stage.run(Params(), photos, tmp_path / "out", strict=True)
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_workers_give_the_same_manifest(tmp_path: Path, demo_photos) -> None:
    photos = _folder(tmp_path, demo_photos)
    one = Params(filter=FilterParams(workers=1))
    two = Params(filter=FilterParams(workers=2))
    stage.run(one, photos, tmp_path / "a")
    stage.run(two, photos, tmp_path / "b")
    assert (tmp_path / "a/manifest.jsonl").read_bytes() == (
        tmp_path / "b/manifest.jsonl"
    ).read_bytes()


def test_missing_input_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        stage.run(Params(), tmp_path / "nope", tmp_path / "out")


# --- constructed cases: exposure, not content -------------------------------------------------


def _texture(
    lo: float, hi: float, seed: int = 0, shape: tuple[int, int] = (240, 320)
) -> np.ndarray:
    """A smooth random texture with levels spread over [lo, hi] (HWC, RGB, [0,1], float32)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((shape[0] // 8, shape[1] // 8, 3)).astype(np.float32)
    big = np.kron(noise, np.ones((8, 8, 1), np.float32))
    big = (big - big.min()) / (big.max() - big.min())
    return (lo + (hi - lo) * big).astype(np.float32)


def test_saturated_colour_patch_is_kept(demo_photos) -> None:
    """A red patch at the top code of one channel is colour, not blown light."""
    image = demo_photos["coffee"].copy()
    h, w = image.shape[:2]
    image[: h // 3, : w // 2] = np.array([1.0, 0.12, 0.05], np.float32)  # ~17 % of the frame
    stats = exposure_stats.exposure_stats(image)
    assert stats.clipped_any > 0.15 and stats.blown == 0.0 and stats.clipped_light < 0.01
    assert verdict(image) == (True, "well exposed")


def test_clipped_white_region_is_rejected(demo_photos) -> None:
    image = demo_photos["coffee"].copy()
    h, w = image.shape[:2]
    image[: h // 4, : w // 4] = 1.0  # one white region, ~6 % of the frame
    stats = exposure_stats.exposure_stats(image)
    assert stats.blown == pytest.approx(1 / 16, rel=0.05)
    keep, reason = verdict(image)
    assert not keep and reason.startswith("overexposed") and "blown white regions" in reason


def _warm_ramp(width: int = 600) -> np.ndarray:
    """A pale warm gradient, dark at the left and reaching the top code at the right edge.

    float32 ``(64, width, 3)`` gamma-encoded RGB: red climbs evenly to 1.0 (no code piles up
    at the top, like a highlight's natural roll-off), green and blue follow at 0.85 and 0.7.
    """
    ramp = np.linspace(0.04, 1.0, width, dtype=np.float32)
    return np.broadcast_to(
        ramp[None, :, None] * np.array([1.0, 0.85, 0.7], np.float32), (64, width, 3)
    ).copy()


def test_clipping_spike_tells_a_hard_clip_from_a_roll_off() -> None:
    """Light that rolls off to the top code is kept; the same light clipped (tau) is not."""
    ramp = _warm_ramp()
    stats = exposure_stats.photo_stats(ramp, FilterParams())
    assert stats.clipped_light > 0.0 and stats.clipped_spike < 3.0
    assert verdict(ramp) == (True, "well exposed")
    clipped = imageio.codes_to_float(imageio.float_to_codes(exposure.overexpose(ramp, 0.7), 8))
    stats = exposure_stats.photo_stats(clipped, FilterParams())
    assert stats.blown == 0.0 and stats.clipped_light > 0.05 and stats.clipped_spike > 24.0
    keep, reason = verdict(clipped)
    assert not keep and reason.startswith("overexposed: clipped highlights")
    # a wider roll-off window sees the smooth density below the clip and no spike
    assert exposure_stats.exposure_stats(clipped, rolloff_codes=24).clipped_spike < 24.0


def test_speckles_of_white_are_not_blown_regions() -> None:
    """Isolated white pixels (specular glints) are below min_blown_region: not a region."""
    image = _texture(0.1, 0.9)
    image[::16, ::16] = 1.0  # 0.4 % of the pixels, each alone
    assert exposure_stats.exposure_stats(image).blown == 0.0


def test_high_key_with_detail_is_kept() -> None:
    """Light tones almost everywhere, a few shadows and unclipped highlights: well exposed."""
    image = _texture(0.70, 0.97)
    image[100:130, 40:280] = _texture(0.05, 0.30, seed=1)[100:130, 40:280]  # ~10 % dark detail
    stats = exposure_stats.exposure_stats(image)
    assert stats.median > 0.8 and stats.clipped_any == 0.0
    assert verdict(image) == (True, "well exposed")


def test_low_key_with_a_highlight_is_kept() -> None:
    """A dark scene with a small unclipped light source is not underexposed (not a low mean)."""
    image = _texture(0.0, 0.25)
    image[50:60, 50:60] = 0.92  # 0.13 % of the frame
    assert exposure_stats.exposure_stats(image).mean < 0.15
    assert verdict(image) == (True, "well exposed")


def test_crushed_low_key_without_highlights_is_rejected() -> None:
    image = _texture(0.0, 0.45)
    keep, reason = verdict(image)
    assert not keep and reason.startswith("underexposed: no highlights")
    assert "in deep shadow" in reason


def test_washed_out_photo_is_rejected() -> None:
    keep, reason = verdict(_texture(0.80, 0.97))
    assert not keep and reason.startswith("washed out: no shadows")


def test_stats_check_their_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        exposure_stats.exposure_stats(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="float32"):
        exposure_stats.exposure_stats(np.zeros((8, 8, 3), np.float64))
    with pytest.raises(ValueError, match="mask"):
        exposure_stats.region_fraction(np.zeros((4, 4, 3), bool), 0.0)


def test_region_fraction_by_hand() -> None:
    mask = np.zeros((10, 10), bool)
    mask[0:3, 0:3] = True  # 9 pixels
    mask[9, 9] = True  # 1 pixel
    assert exposure_stats.region_fraction(mask, 0.0) == pytest.approx(0.10)
    assert exposure_stats.region_fraction(mask, 0.05) == pytest.approx(0.09)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("min_highlight", 1.5),
        ("max_blown", -0.1),
        ("min_clipped_spike", -1.0),
        ("rolloff_codes", 0),
        ("workers", 0),
        ("max_stops", -1),
        ("max_stops", 4.5),
    ],
)
def test_filter_params_are_checked(tmp_path: Path, key: str, value: float) -> None:
    from pipeline.params import load_params

    path = tmp_path / "params.yaml"
    path.write_text(f"filter:\n  {key}: {value}\n")
    with pytest.raises(UserError, match=f"filter.{key}"):
        load_params(path)


def test_dithered_copies_have_no_comb_and_kept_copies_are_explained() -> None:
    """benchmarks/filter_confusion.py: --dither copies miss no codes; kept copies get a cause."""
    from benchmarks.filter_confusion import why_kept
    from tools.degraded_copies import degraded

    ramp = np.linspace(0.0, 1.0, 256 * 64, dtype=np.float32)
    photo = imageio.codes_to_float(
        imageio.float_to_codes(np.tile(ramp, (8, 1))[..., None].repeat(3, axis=2), 8)
    )

    def missing_codes(image: np.ndarray) -> int:
        used = np.bincount(exposure_stats.code_indices(image)[..., 0].ravel(), minlength=256)
        return int(np.count_nonzero(used[40:250] == 0))  # the stretched range below the clip

    assert missing_codes(degraded(photo, [0.5], [])["tau 0.5"]) > 20  # a comb
    assert missing_codes(degraded(photo, [0.5], [], dither_seed=0)["tau 0.5"]) == 0
    p = FilterParams()
    dark = _texture(0.0, 0.4)  # no channel anywhere near the top, every pixel below light_level
    assert why_kept(exposure_stats.photo_stats(dark, p), p) == "nothing clipped"
    red = dark.copy()
    red[:40, :, 0] = 1.0  # a red band at the top code: colour, not light
    assert why_kept(exposure_stats.photo_stats(red, p), p) == "colour clipped only"
