"""prep filter: the exposure verdicts, measured on scikit-image's photos, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.core import exposure, imageio
from pipeline.errors import StrictError, UserError
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


def kept_fraction(images: list[np.ndarray], params: FilterParams) -> float:
    verdicts = [stage.judge(exposure.exposure_stats(img), params)[0] for img in images]
    return float(np.mean(verdicts))


def test_confusion_targets_on_demo_photos(demo_photos) -> None:
    """Keep >= 90 % of originals; reject >= 90 % of tau <= 0.6 and |EV| >= 1.5 versions."""
    params = FilterParams()
    sets = degraded_set(demo_photos)
    assert kept_fraction(sets["original"], params) >= 0.9
    assert 1 - kept_fraction(sets["overexposed"], params) >= 0.9
    assert 1 - kept_fraction(sets["shifted"], params) >= 0.9


def test_reasons_name_the_test(demo_photos) -> None:
    p = FilterParams()
    dark = exposure.exposure_stats(exposure.shift_ev(demo_photos["coffee"], -2.0))
    bright = exposure.exposure_stats(
        np.round(exposure.overexpose(demo_photos["coffee"], 0.5) * 255) / 255
    )
    assert stage.judge(dark, p)[1].startswith("underexposed")
    assert stage.judge(bright, p)[1].startswith("overexposed")
    assert stage.judge(exposure.exposure_stats(demo_photos["coffee"]), p) == (True, "well exposed")


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
