"""The camera-like kind as a recipe: drawn from (seed, photo, variant), written into the pairs
manifest and shard recipes, rendered by the loader and evaluation bit for bit as `prep
synthesize` writes it (JPEG re-encode included), from RAW sensor data for RAW photos, grouped by
the sign of ev, inverted by the oracle; bad parameters and files named in one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from exposure_core import camera, imageio, shardfmt
from exposure_core.manifest import PairRow, read_jsonl, to_json
from exposure_core.schema import ConfigError
from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
from pipeline.cli import app
from pipeline.evaluation.baselines import oracle
from pipeline.evaluation.scoring import ev_key, exposure_group
from pipeline.evaluation.testsets import test_set as read_test_set
from pipeline.params import load_params
from pipeline.stages import shard, synthesize
from tests.test_camera import shared
from tests.test_recipes import _loader_pairs, _params, photos  # noqa: F401 (a fixture)

CAMERA = {"camera_evs": [-1.5, 1.5], "camera_samples": 2, "tau_samples": 1, "evs": [0.0]}


def _rows(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("quality", [[], [60, 90]], ids=["lut", "jpeg"])
def test_camera_variants_are_the_synthesized_files(tmp_path, photos, quality) -> None:  # noqa: F811
    params = _params(**CAMERA, camera_quality=quality)
    synthesize.run(params, photos, tmp_path / "pairs")
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    recipes = _params(**CAMERA, camera_quality=quality, write_images=False)
    synthesize.run(recipes, photos, tmp_path / "recipes")
    shard.run(recipes, tmp_path / "recipes", tmp_path / "recipe-shards")
    rows = [r for r in _rows(tmp_path / "pairs") if r["kind"] == "camera"]
    assert len(rows) == 4 * 4 and all(r["recipe"] and r["input"] for r in rows)
    assert [r["ev"] for r in rows[:2]] == [-1.5, 1.5] and 0.5 <= abs(rows[2]["ev"]) <= 2
    for r in rows:
        recipe = camera.CameraRecipe.from_dict({**r["camera"], "ev": r["ev"]})
        assert (recipe.quality is not None) == bool(quality)
    from_files = _loader_pairs(tmp_path / "shards")
    from_recipes = _loader_pairs(tmp_path / "recipe-shards")
    for row in rows:
        written = imageio.read_image(tmp_path / "pairs" / row["input"])
        for got in (from_files[row["id"]], from_recipes[row["id"]]):
            assert np.array_equal(got[0], written), row["id"]  # bit-identical
            assert got[2]["kind"] == "camera" and got[2]["camera"] == row["camera"]
    items = {i.id: i for i in read_test_set(tmp_path / "recipe-shards").items}
    assert any(i.meta["kind"] == "camera" for i in items.values())
    for item in items.values():
        assert np.array_equal(item.input, from_files[item.id][0])


def test_draws_depend_on_seed_photo_and_variant_only(tmp_path, photos) -> None:  # noqa: F811
    synthesize.run(_params(**CAMERA, write_images=False), photos, tmp_path / "a")
    synthesize.run(_params(**CAMERA, write_images=False, workers=2), photos, tmp_path / "b")
    text = (tmp_path / "a" / "manifest.jsonl").read_bytes()
    assert text == (tmp_path / "b" / "manifest.jsonl").read_bytes()
    more = {**CAMERA, "camera_samples": 3}
    synthesize.run(_params(**more, write_images=False), photos, tmp_path / "c")
    first = {r["id"]: r for r in _rows(tmp_path / "a") if r["kind"] == "camera"}
    later = {r["id"]: r for r in _rows(tmp_path / "c") if r["kind"] == "camera"}
    assert all(later[i] == r for i, r in first.items()) and len(later) == len(first) + 4
    synthesize.run(_params(**CAMERA, write_images=False, seed=1), photos, tmp_path / "d")
    other = {r["id"]: r["camera"] for r in _rows(tmp_path / "d") if r["kind"] == "camera"}
    assert all(other[i] != r["camera"] for i, r in first.items())
    # the manifest round trip: rows read back write the same bytes
    lines = text.decode().splitlines()
    rows = list(read_jsonl(tmp_path / "a" / "manifest.jsonl", PairRow))
    assert [to_json(r) for r in rows] == lines
    assert all(
        ("camera" in line) == (r.kind == "camera") for r, line in zip(rows, lines, strict=True)
    )


def test_camera_kind_is_off_by_default(tmp_path, photos) -> None:  # noqa: F811
    synthesize.run(_params(write_images=False), photos, tmp_path / "pairs")
    text = (tmp_path / "pairs" / "manifest.jsonl").read_text()
    assert '"camera"' not in text and text.count("\n") == 4 * (4 + 5)


def test_training_crops_of_camera_variants_match_the_full_render(tmp_path, photos) -> None:  # noqa: F811
    """A saturation change renders on the crop; a JPEG re-encode is rendered whole, then cut."""
    for quality in ([], [60, 90]):
        out = tmp_path / f"q{len(quality)}"
        params = _params(
            split=(1.0, 0.0, 0.0), write_images=False, tau_samples=0, evs=[],
            camera_evs=[1.0], camera_quality=quality,
        )  # fmt: skip
        synthesize.run(params, photos, out / "pairs")
        shard.run(params, out / "pairs", out / "shards")
        loader = make_loader(
            shard_urls(out / "shards", "train"),
            LoaderConfig(batch_size=1, crop=24, train=True, epoch_len=6, augment=None, seed=3),
        )
        full = {}
        for row in _rows(out / "pairs"):
            codes = imageio.read_codes(out / "pairs" / row["target"])
            variant = shardfmt.Variant(row["id"], "camera", ev=row["ev"], camera=row["camera"])
            full[row["id"]] = (imageio.codes_to_float(codes), shardfmt.render(codes, variant))
        for batch in loader:
            inp, tgt = (t[0].permute(1, 2, 0).numpy() for t in (batch.input, batch.target))
            target, rendered = full[batch.meta[0]["id"]]
            hits = [
                (y, x)
                for y in range(target.shape[0] - 23)
                for x in range(target.shape[1] - 23)
                if np.array_equal(target[y : y + 24, x : x + 24], tgt)
            ]
            assert hits, batch.meta[0]["id"]
            y, x = hits[0]
            window = imageio.codes_to_float(rendered)[y : y + 24, x : x + 24]
            assert np.array_equal(inp, window), (batch.meta[0]["id"], quality)


def test_groups_and_oracle(demo_photos) -> None:
    assert exposure_group("camera", -1.5) == "ev_under"
    assert exposure_group("camera", 0.7) == "ev_over"
    assert exposure_group("camera", 0.0) == "unchanged"
    assert ev_key({"kind": "camera", "ev": 1.26}) == ("camera", 1.5)
    assert ev_key({"kind": "ev", "ev": 1.26}) == ("ev", 1.26)
    image = demo_photos["coffee"][::4, ::4].copy()
    recipe = camera.CameraRecipe(1.5, slope=1.7, gamma=2.4, contrast=0.95, saturation=1.05)
    degraded = camera.render_float(image, recipe)
    fields = {k: v for k, v in recipe.to_dict().items() if k != "ev"}
    back = oracle(degraded, "camera", None, 1.5, None, "srgb", fields)
    assert back is not None and back.shape == image.shape
    # the saturation change clips a few pixels at 0 and near 1: the oracle cannot undo those
    unclipped = (degraded.min(axis=-1) > 0.01) & (degraded.max(axis=-1) < 0.97)
    assert np.abs(back - image)[unclipped].max() < 2e-3
    assert oracle(degraded, "camera", None, None, None, "srgb", fields) is None


def test_bad_camera_parameters_name_the_key(tmp_path, photos) -> None:  # noqa: F811
    for override, key in (
        ({"synthesize.camera_evs": [5.0]}, "synthesize.camera_evs"),
        ({"synthesize.camera_ev_range": [1.0, -1.0]}, "synthesize.camera_ev_range"),
        ({"synthesize.camera_quality": [0, 90]}, "synthesize.camera_quality"),
        ({"synthesize.camera_samples": 1, "synthesize.camera_min_ev": 3.0}, "camera_min_ev"),
        ({"synthesize.camera_samples": -1}, "synthesize.camera_samples"),
    ):
        with pytest.raises(ConfigError, match=key):
            load_params(None, override)
    params_file = tmp_path / "params.yaml"
    params_file.write_text("synthesize:\n  camera_evs: [1.0, 9.0]\n")
    argv = ["synthesize", "--input", str(photos), "--output", str(tmp_path / "x")]
    result = CliRunner().invoke(app, [*argv, "--params", str(params_file)], terminal_width=400)
    assert result.exit_code == 2 and "synthesize.camera_evs: 9.0 is outside" in result.output
    assert not (tmp_path / "x").exists()
    # a manifest with a curve number out of range or unknown: the row is rejected, naming it
    params = _params(**CAMERA, write_images=False)
    synthesize.run(params, photos, tmp_path / "pairs")
    lines = (tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    cams = [r for r in rows if r["kind"] == "camera"]
    cams[0]["camera"]["slope"] = 9.0
    cams[1]["camera"]["tint"] = 1.0
    del cams[2]["camera"]["gamma"]
    cams[3]["kind"] = "sepia"
    (tmp_path / "pairs" / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    rejects = {
        json.loads(x)["extra"]["id"]: json.loads(x)["reason"]
        for x in (tmp_path / "shards" / "rejects.jsonl").read_text().splitlines()
    }
    assert rejects[cams[0]["id"]].startswith("camera.slope: ")
    assert rejects[cams[1]["id"]] == "camera.tint: not a camera recipe parameter"
    assert rejects[cams[2]["id"]] == "camera.gamma: missing"
    assert rejects[cams[3]["id"]].startswith("unknown kind 'sepia'")


def test_a_bad_camera_recipe_in_a_shard_is_skipped_and_named() -> None:
    ok = shardfmt.Variant("p--cam0", "camera", ev=1.0, camera=dict(slope=1.8, gamma=2.6,
                          contrast=1.0, saturation=1.0, quality=None))  # fmt: skip
    assert shardfmt.variant_problem(ok) is None
    assert shardfmt.variant_problem(dataclasses.replace(ok, ev=6.0)).startswith("ev: ")
    bad = dataclasses.replace(ok, camera={**ok.camera, "quality": 0})
    assert shardfmt.variant_problem(bad).startswith("camera.quality: ")
    assert shardfmt.variant_problem(dataclasses.replace(ok, camera=None)).startswith("camera: ")


def _raw_file() -> Path:
    root = shared()
    path = None if root is None else root / "realdata" / "raw" / "kodak-dc50-cc-by-nc-sa-4-0.kdc"
    if path is None or not path.is_file():
        pytest.skip("the real RAW file ../shared/realdata/raw/kodak-dc50-*.kdc is not present")
    return path


def test_raw_camera_variants_come_from_the_sensor_data(tmp_path) -> None:
    raw = _raw_file()
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / raw.name).symlink_to(raw)
    params = _params(split=(0.0, 0.0, 1.0), tau_samples=0, evs=[0.0], camera_evs=[-1.5, 1.5],
                     write_images=False)  # fmt: skip
    synthesize.run(params, folder, tmp_path / "pairs")
    rows = [r for r in _rows(tmp_path / "pairs") if r["kind"] == "camera"]
    assert len(rows) == 2 and not any(r["recipe"] for r in rows)  # stored renders
    for row in rows:
        recipe = camera.CameraRecipe.from_dict({**row["camera"], "ev": row["ev"]})
        written = imageio.read_codes(tmp_path / "pairs" / row["input"])
        assert np.array_equal(written.array, camera.render_raw_camera(raw, recipe).array)
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    items = {i.id: i for i in read_test_set(tmp_path / "shards").items}
    for row in rows:
        written = imageio.read_image(tmp_path / "pairs" / row["input"])
        assert np.array_equal(items[row["id"]].input, written)
    assert items[rows[0]["id"]].input.mean() + 0.1 < items[rows[1]["id"]].input.mean()


def test_raw_files_rawpy_cannot_read_or_shift_are_named(tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.dng").write_bytes(b"not a raw file at all" * 50)
    params = _params(tau_samples=0, evs=[0.0], camera_evs=[1.0], write_images=False)
    synthesize.run(params, folder, tmp_path / "pairs")
    (reject,) = [json.loads(x) for x in (tmp_path / "pairs" / "rejects.jsonl").read_text()
                 .splitlines()]  # fmt: skip
    assert reject["path"].endswith("broken.dng") and "\n" not in reject["reason"]
    assert not list((tmp_path / "pairs").glob("*/"))  # nothing written for it
    raw = _raw_file()
    (folder / "broken.dng").unlink()
    (folder / raw.name).symlink_to(raw)
    params = _params(tau_samples=0, evs=[0.0], camera_evs=[-3.0], write_images=False)
    synthesize.run(params, folder, tmp_path / "pairs2")
    (reject,) = [json.loads(x) for x in (tmp_path / "pairs2" / "rejects.jsonl").read_text()
                 .splitlines()]  # fmt: skip
    assert reject["path"].endswith(raw.name) and reject["reason"].startswith("ev: ")
    assert not any(p.is_dir() for p in (tmp_path / "pairs2").iterdir())
