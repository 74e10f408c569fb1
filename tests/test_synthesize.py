"""prep synthesize: pair files, manifest rows, determinism, RAW input, bad input, resume."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from exposure_core import exposure, imageio
from exposure_core.errors import StrictError
from exposure_core.manifest import SourceItem, write_jsonl
from pipeline.params import Params, SynthesizeParams
from pipeline.stages import filter as filter_stage
from pipeline.stages import synthesize as stage


def params(**synth) -> Params:
    base = SynthesizeParams(workers=1)
    return Params(synthesize=replace(base, **synth))


@pytest.fixture()
def photos(tmp_path: Path, demo_photos) -> Path:
    folder = tmp_path / "photos"
    for name in ("coffee", "chelsea", "rocket"):
        imageio.write_image(folder / f"{name}.png", demo_photos[name][:120, :160])
    return folder


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_pairs_and_rows(tmp_path: Path, photos: Path, demo_photos) -> None:
    out = tmp_path / "pairs"
    summary = stage.run(params(tau="0.5..1", tau_samples=2, evs=[-1.5, 0.0, 1.0]), photos, out)
    got = rows(out)
    assert summary.counts["photos"] == 3 and len(got) == 3 * (2 + 3)
    keys = {
        "id",
        "scene",
        "source",
        "split",
        "input",
        "target",
        "kind",
        "tau",
        "ev",
        "gamma",
        "width",
        "height",
        "curve",
        "recipe",
    }
    assert all(set(r) == keys for r in got)
    assert all((out / r["input"]).is_file() and (out / r["target"]).is_file() for r in got)
    over = [r for r in got if r["kind"] == "overexpose"]
    assert all(0.5 <= r["tau"] <= 1.0 and r["ev"] is None for r in over)
    assert len({r["tau"] for r in over}) == len(over)  # drawn per sample
    assert len({r["id"] for r in got}) == len(got) and all("." not in r["id"] for r in got)
    # the stored input is exactly seed 002's formula applied to the stored target
    row = over[0]
    target = imageio.read_image(out / row["target"])
    expected = imageio.float_to_codes(exposure.overexpose(target, row["tau"], 2.2), 8)
    assert np.array_equal(imageio.read_codes(out / row["input"]).array, expected.array)
    ev_row = next(r for r in got if r["ev"] == -1.5)
    expected = imageio.float_to_codes(exposure.shift_ev(target, -1.5), 8).array
    got_codes = imageio.read_codes(out / ev_row["input"]).array
    assert np.abs(got_codes.astype(int) - expected.astype(int)).max() <= 1
    # the target is the clean photo, losslessly
    source = imageio.read_codes(photos / "chelsea.png").array
    chelsea = next(r for r in got if r["scene"].endswith("chelsea"))
    assert np.array_equal(imageio.read_codes(out / chelsea["target"]).array, source)


def test_fixed_tau_and_no_evs(tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "pairs"
    stage.run(params(tau="0.7", tau_samples=1, evs=[]), photos, out)
    got = rows(out)
    assert len(got) == 3 and all(r["tau"] == pytest.approx(0.7) for r in got)


def test_byte_identical_across_worker_counts(tmp_path: Path, photos: Path) -> None:
    stage.run(params(workers=1), photos, tmp_path / "one")
    stage.run(params(workers=4), photos, tmp_path / "four")
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "four")


def test_seed_changes_taus_only(tmp_path: Path, photos: Path) -> None:
    stage.run(params(seed=0), photos, tmp_path / "a")
    stage.run(params(seed=1), photos, tmp_path / "b")
    taus_a = [r["tau"] for r in rows(tmp_path / "a") if r["tau"]]
    taus_b = [r["tau"] for r in rows(tmp_path / "b") if r["tau"]]
    assert taus_a != taus_b


def test_reads_filter_manifest_kept_rows_only(tmp_path: Path, photos: Path, demo_photos) -> None:
    imageio.write_image(photos / "dark.png", exposure.shift_ev(demo_photos["coffee"], -2.5))
    filter_stage.run(Params(), photos, tmp_path / "filtered")
    stage.run(params(), tmp_path / "filtered" / "manifest.jsonl", tmp_path / "pairs")
    verdicts = [
        json.loads(x) for x in (tmp_path / "filtered/manifest.jsonl").read_text().splitlines()
    ]
    kept = {r["scene"] for r in verdicts if r["keep"]}
    assert "folder-dark" not in kept and kept
    assert {r["scene"] for r in rows(tmp_path / "pairs")} == kept


def test_bad_files_recorded_and_strict(tmp_path: Path, photos: Path) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "pairs"
    summary = stage.run(params(), photos, out)
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).name for r in rejects] == ["broken.jpg"]
    assert summary.counts["rejected"] == 1 and summary.counts["photos"] == 3
    with pytest.raises(StrictError, match="broken.jpg"):
        stage.run(params(), photos, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_killed_run_resumes_to_identical_output(tmp_path: Path, photos: Path, monkeypatch) -> None:
    stage.run(params(), photos, tmp_path / "clean")
    real = stage.imageio.write_image
    calls = {"n": 0}

    def dying_write(path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt  # killed midway through the second photo
        return real(path, *args, **kwargs)

    monkeypatch.setattr(stage.imageio, "write_image", dying_write)
    out = tmp_path / "pairs"
    with pytest.raises(KeyboardInterrupt):
        stage.run(params(), photos, out)
    assert not out.exists()  # nothing half-done in place of the output
    partial = out.with_name("pairs.partial")
    assert not list(partial.rglob("*.tmp"))
    monkeypatch.setattr(stage.imageio, "write_image", real)
    stage.run(params(), photos, out)
    assert tree_digest(out) == tree_digest(tmp_path / "clean")
    assert not partial.exists()


def test_rerun_replaces_previous_output(tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "pairs"
    stage.run(params(tau_samples=3), photos, out)
    stage.run(params(tau_samples=1), photos, out)
    assert not list(out.rglob("tau2.png"))
    assert len(rows(out)) == 3 * (1 + 5)


def test_raw_photos_render_ev_from_sensor(tmp_path: Path, make_dng) -> None:
    folder = tmp_path / "raw"
    make_dng("raw/scene.dng", height=96, width=128, scale=0.4)
    out = tmp_path / "pairs"
    stage.run(params(evs=[-1.0, 0.0, 1.0], tau_samples=1), folder, out)
    got = {r["ev"]: r for r in rows(out) if r["kind"] == "ev"}
    target = imageio.read_codes(out / got[0.0]["target"])
    assert target.bits == 16
    direct = imageio.render_raw(folder / "scene.dng", [-1.0, 1.0])
    assert np.array_equal(imageio.read_codes(out / got[-1.0]["input"]).array, direct[0].array)
    assert np.array_equal(imageio.read_codes(out / got[1.0]["input"]).array, direct[1].array)


def test_native_pairs_join_the_manifest(tmp_path: Path, demo_photos) -> None:
    raw = tmp_path / "raw" / "lol"
    imageio.write_image(raw / "low" / "1.png", exposure.shift_ev(demo_photos["coffee"], -3))
    imageio.write_image(raw / "high" / "1.png", demo_photos["coffee"])
    imageio.write_image(raw / "low" / "2.png", demo_photos["coffee"][:100])
    imageio.write_image(raw / "high" / "2.png", demo_photos["coffee"])
    write_jsonl(
        raw / "index.jsonl",
        [
            SourceItem("lol", "lol-1", "low/1.png", "native", "high/1.png", "train"),
            SourceItem("lol", "lol-2", "low/2.png", "native", "high/2.png", "train"),
        ],
    )
    filter_stage.run(Params(), tmp_path / "raw", tmp_path / "filtered")
    stage.run(params(), tmp_path / "filtered", tmp_path / "pairs")
    (row,) = rows(tmp_path / "pairs")
    assert row["kind"] == "native" and row["split"] == "train" and row["width"] == 600
    assert (tmp_path / "pairs" / row["input"]).resolve() == (raw / "low/1.png").resolve()
    filter_rejects = (tmp_path / "filtered" / "rejects.jsonl").read_text()
    assert "differ in size" in filter_rejects and "2.png" in filter_rejects
