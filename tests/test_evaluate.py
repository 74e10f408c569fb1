"""prep evaluate: report files, baselines and oracle, resolution, paired folders, LPIPS/IS."""

from __future__ import annotations

import csv
import io
import json
import re
import tarfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from exposure_core import exposure, imageio
from exposure_core.errors import UserError
from exposure_core.manifest import PairRow, write_jsonl
from exposure_core.metrics.reference import psnr
from exposure_core.metrics.scores import gt_mean_rescale, score_pair
from exposure_core.schema import ConfigError
from exposure_models.checkpoint import CheckpointError, save_generator
from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.learned_metrics import inception_score
from pipeline.evaluation.grids import PANEL_SIDE, SampleChooser, panel
from pipeline.evaluation.results import read_metrics
from pipeline.evaluation.scoring import exposure_group, luma_histogram, tau_bucket
from pipeline.params import EvaluateParams, MsecSource, Params, ShardParams, SplitFractions
from pipeline.stages import evaluate as stage
from pipeline.stages import shard
from tests._datasets import lol_files, msec_split

METHODS = ["model", "identity", "he", "clahe", "auto_exposure", "oracle"]
H, W = 40, 56
# id -> (scene, kind, tau, ev)
ROWS = {
    "astro-tau": ("astronaut", "overexpose", 0.6, None),
    "astro-evn": ("astronaut", "ev", None, -1.0),
    "astro-evp": ("astronaut", "ev", None, 1.0),
    "astro-ev0": ("astronaut", "ev", None, 0.0),
    "coffee-tau": ("coffee", "overexpose", 0.85, None),
    "coffee-native": ("coffee", "native", None, None),
}


def _crop(photo: np.ndarray) -> np.ndarray:
    y, x = (photo.shape[0] - H) // 2, (photo.shape[1] - W) // 2
    return np.ascontiguousarray(photo[y : y + H, x : x + W])


def _degrade(target: np.ndarray, kind: str, tau: float | None, ev: float | None) -> np.ndarray:
    if kind == "overexpose":
        return exposure.overexpose(target, tau)
    if kind == "ev":
        return target if ev == 0 else exposure.shift_ev(target, ev)
    return np.clip(target * np.float32(0.4) + np.float32(0.02), 0, 1).astype(np.float32)


def _params(**evaluate) -> Params:
    test_only = ShardParams(split=SplitFractions(train=0.0, val=0.0, test=1.0))
    base = Params(shard=test_only)
    return replace(base, evaluate=replace(EvaluateParams(samples=4), **evaluate))


def _build_shards(root: Path, photos: dict[str, np.ndarray]) -> Path:
    pairs = root / "pairs"
    rows = []
    for key, (scene, kind, tau, ev) in ROWS.items():
        target = _crop(photos[scene])
        imageio.write_image(pairs / f"{key}.target.png", target)
        imageio.write_image(pairs / f"{key}.input.png", _degrade(target, kind, tau, ev))
        gamma = None if kind == "native" else 2.2
        rows.append(
            PairRow(key, scene, "demo" if kind != "native" else "lol", "test",
                    f"{key}.input.png", f"{key}.target.png", kind, tau, ev, gamma, W, H)
        )  # fmt: skip
    write_jsonl(pairs / "manifest.jsonl", rows)
    shard.run(_params(), pairs, root / "shards")
    return root / "shards"


@pytest.fixture(scope="module")
def data(tmp_path_factory, demo_photos) -> Path:
    root = tmp_path_factory.mktemp("eval")
    _build_shards(root, demo_photos)
    torch.manual_seed(0)
    save_generator(root / "generator.pt", UNetGenerator(UNetConfig(depth=3, width=4)))
    return root


@pytest.fixture(scope="module")
def report(data) -> tuple[Path, object]:
    out = data / "reports"
    summary = stage.run(_params(), data / "shards", data / "generator.pt", out)
    return out, summary


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_every_declared_output_exists_and_parses(report) -> None:
    out, summary = report
    metrics = read_metrics(out / "metrics")
    assert metrics["n_images"] == len(ROWS) and metrics["skipped"] == 0
    kinds = {"all", "overexpose", "ev_under", "ev_over", "unchanged", "native"}
    assert set(metrics) == {*METHODS, "n_images", "n_expected", "skipped"}
    assert set(metrics["model"]) == kinds
    assert all(set(v) == {"psnr", "ssim"} for m in METHODS for v in metrics[m].values())
    breakdown = json.loads((out / "breakdown.json").read_text())
    assert breakdown["resolution"] == "full" and "Gaussian" in breakdown["ssim_convention"]
    test = breakdown["test"]
    assert test["n_images"] == len(ROWS) and set(test["by_kind"]) == kinds
    for method in METHODS:
        entry = test["by_kind"]["all"][method]
        assert {"psnr", "ssim", "mae", "delta_e2000", "n", "hist_mean"} <= set(entry)
        assert entry["psnr"] == round(metrics[method]["all"]["psnr"], 4)
    assert set(test["by_tau_bucket"]) == {"0.6", "0.9"}
    assert set(test["by_ev"]) == {"ev -1", "ev +0", "ev +1"}
    assert set(test["by_source"]) == {"demo", "lol"}
    rows = _csv(out / "per_image.csv")
    assert len(rows) == len(ROWS) * len(METHODS)
    assert {(r["id"], r["method"]) for r in rows} == {(i, m) for i in ROWS for m in METHODS}
    plots = out / "plots"
    assert _header(plots / "psnr_by_tau.csv") == ["tau", *METHODS]
    assert _header(plots / "psnr_by_ev.csv") == ["ev", *METHODS]
    assert _header(plots / "luminance_histogram.csv") == ["luminance", "output", "target", "input"]
    taus = [float(r["tau"]) for r in _csv(plots / "psnr_by_tau.csv")]
    assert taus == [0.6, 0.9]  # bucket upper edges of tau 0.6 and 0.85
    assert [float(r["ev"]) for r in _csv(plots / "psnr_by_ev.csv")] == [-1.0, 0.0, 1.0]
    hist = _csv(plots / "luminance_histogram.csv")
    assert len(hist) == 64
    for role in ("output", "target", "input"):
        assert sum(float(r[role]) for r in hist) == pytest.approx(1.0, abs=1e-5)
    readme = (out / "README.md").read_text()
    for text in [
        *METHODS[:-1],
        "oracle (known tau/EV)",
        "Gaussian window",
        "full resolution",
        "Histogram similarity",
        "GT-mean",
        "**Overexposure**",
        "**Underexposure**",
    ]:
        assert text in readme, text  # fmt: skip
    links = re.findall(r"\]\((samples/[^)]+\.png)\)", readme)
    assert len(links) == 4 and all((out / link).is_file() for link in links)
    assert sorted(p.name for p in (out / "samples").iterdir()) == sorted(
        Path(link).name for link in links
    )
    assert "6 images scored" in summary.line() and "6 methods" in summary.line()


def test_samples_cover_the_kinds_with_labelled_panels(report) -> None:
    out, _ = report
    names = sorted(p.stem for p in (out / "samples").iterdir())
    # one per group, in report order: overexposed (either tau pair), EV < 0, EV > 0, native
    tau_pair = next(n for n in names if n.endswith("-tau"))
    assert names == sorted([tau_pair, "astro-evn", "astro-evp", "coffee-native"])
    grid = imageio.read_image(out / "samples" / f"{tau_pair}.png")
    assert grid.shape[0] == 28 + round(H * PANEL_SIDE / W)  # label strip + panel
    assert grid.shape[1] == 4 * PANEL_SIDE + 3 * 4  # input | best blind | model | target


def test_oracle_applies_only_to_synthetic_rows(report) -> None:
    out, _ = report
    metrics = read_metrics(out / "metrics")
    test = json.loads((out / "breakdown.json").read_text())["test"]
    # the EV 0 row (input == target) is reported in its own group, not in the ranking
    assert test["by_kind"]["all"]["oracle"]["n"] == 4 and test["oracle_excluded"] == 1
    assert test["by_kind"]["all"]["model"]["n"] == 5 and "native" not in metrics["oracle"]
    assert metrics["identity"]["unchanged"]["psnr"] == 100.0
    assert metrics["identity"]["all"]["psnr"] < 100.0
    rows = {(r["id"], r["method"]): r for r in _csv(out / "per_image.csv")}
    assert rows[("coffee-native", "oracle")]["psnr"] == ""
    assert float(rows[("astro-tau", "oracle")]["psnr"]) > float(rows[("astro-tau", "he")]["psnr"])
    assert "1 image(s) without a known tau/EV" in (out / "README.md").read_text()


def test_identity_scores_equal_the_metrics_recomputed(report, data) -> None:
    out, _ = report
    rows = {(r["id"], r["method"]): r for r in _csv(out / "per_image.csv")}
    for key in ROWS:
        low = imageio.read_image(data / "pairs" / f"{key}.input.png")
        high = imageio.read_image(data / "pairs" / f"{key}.target.png")
        expected = min(psnr(low, high), 100.0)
        assert float(rows[(key, "identity")]["psnr"]) == pytest.approx(expected, abs=1e-5)
        gt_mean = rows[(key, "identity")]["psnr_gt_mean"]
        if key == "coffee-native":
            assert float(gt_mean) == pytest.approx(psnr(gt_mean_rescale(low, high), high), 1e-5)
        else:
            assert gt_mean == ""
    assert float(rows[("astro-ev0", "identity")]["psnr"]) == 100.0  # input is the target


def test_resolution_changes_the_evaluated_size(data, tmp_path) -> None:
    stage.run(_params(resolution=28, samples=0), data / "shards", data / "generator.pt", tmp_path)
    rows = _csv(tmp_path / "per_image.csv")
    assert {(r["width"], r["height"]) for r in rows} == {("28", "20")}
    assert json.loads((tmp_path / "breakdown.json").read_text())["resolution"] == 28
    assert "long side 28 px" in (tmp_path / "README.md").read_text()
    assert not any((tmp_path / "samples").iterdir())


def test_paired_low_high_folder(data, tmp_path, demo_photos) -> None:
    folder = tmp_path / "mine"
    for name in ("a", "b"):
        target = _crop(demo_photos["chelsea" if name == "a" else "rocket"])
        imageio.write_image(folder / "high" / f"{name}.png", target)
        imageio.write_image(folder / "low" / f"{name}.jpg", _degrade(target, "native", None, None))
    imageio.write_image(folder / "low" / "lonely.png", _crop(demo_photos["coffee"]))
    (folder / "high" / "0broken.png").write_bytes(b"not a png")
    (folder / "low" / "0broken.png").write_bytes(b"not a png either")
    out = tmp_path / "out"
    summary = stage.run(
        _params(max_images=2, samples=0), data / "shards", data / "generator.pt", out, [folder]
    )
    metrics = read_metrics(out / "metrics")
    assert metrics["n_images"] == 2  # max_images applies to each set
    assert (
        metrics["paired"]["mine"]["n_images"] == 2 and "native" in metrics["paired"]["mine"]["he"]
    )
    paired = json.loads((out / "breakdown.json").read_text())["paired"]["mine"]
    assert paired["n_images"] == 2 and paired["by_kind"]["all"]["model"]["n"] == 2
    assert "psnr_gt_mean" in paired["by_kind"]["all"]["identity"]
    assert paired["oracle_excluded"] == 2
    notes = "\n".join(summary.notes)
    assert "lonely.png" in notes and "0broken.png" in notes
    rows = [r for r in _csv(out / "per_image.csv") if r["set"] == "paired:mine"]
    assert len(rows) == 2 * len(METHODS) and {r["kind"] for r in rows} == {"native"}
    assert "Paired folder `mine`" in (out / "README.md").read_text()


def _unpack(files: dict[str, bytes], root: Path) -> None:
    for name, payload in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(payload)


def test_paired_msec_testing_and_lol_eval15_folders(data, tmp_path) -> None:
    _unpack(msec_split("testing", ["a0001-x", "a0002-y"]), tmp_path / "msec")
    del_me = tmp_path / "msec" / "testing" / "INPUT_IMAGES" / "a0002-y_P1.JPG"
    del_me.unlink()  # pairing is by name: nothing shifts
    _unpack(lol_files(), tmp_path / "lol")
    folders = [tmp_path / "msec" / "testing", tmp_path / "lol" / "LOLdataset" / "eval15"]
    fast = _params(samples=0, baselines=["identity"], oracle=False)
    params = replace(fast, data=replace(Params().data, msec=MsecSource(expert="a")))
    stage.run(params, data / "shards", data / "generator.pt", tmp_path / "out", folders)
    metrics = read_metrics(tmp_path / "out" / "metrics")
    assert metrics["paired"]["testing"]["n_images"] == 9
    assert metrics["paired"]["eval15"]["n_images"] == 2
    rows = [r for r in _csv(tmp_path / "out" / "per_image.csv") if r["method"] == "identity"]
    msec_rows = [r for r in rows if r["set"] == "paired:testing"]
    assert sorted(float(r["ev"]) for r in msec_rows) == [-1.5, -1.5, -1, -1, 0, 0, 1, 1.5, 1.5]
    first = next(r for r in msec_rows if r["id"] == "msec-a0001-x_N1_5")
    low = imageio.read_image(tmp_path / "msec/testing/INPUT_IMAGES/a0001-x_N1.5.JPG")
    high = imageio.read_image(tmp_path / "msec/testing/expert_a_testing_set/a0001-x.jpg")
    assert float(first["psnr"]) == pytest.approx(psnr(low, high), abs=1e-5)  # expert a, by name
    assert {r["source"] for r in rows if r["set"] == "paired:eval15"} == {"lol"}


def test_paired_folder_errors(data, tmp_path) -> None:
    (tmp_path / "odd").mkdir()
    with pytest.raises(ValueError, match="not a paired folder"):
        stage.run(_params(), data / "shards", data / "generator.pt", tmp_path, [tmp_path / "odd"])
    with pytest.raises(UserError, match="no such paired folder"):
        stage.run(_params(), data / "shards", data / "generator.pt", tmp_path, [tmp_path / "x"])


class _Lpips(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a - b) ** 2).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)


class _Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.shape[-2:] == (299, 299)
        logits = self.fc(x.mean(dim=(2, 3))) * 4.0
        return logits, logits  # like a scripted Inception-v3: (logits, aux)


def test_lpips_and_inception_score_with_scripted_modules(data, tmp_path) -> None:
    torch.manual_seed(0)
    with warnings.catch_warnings():  # TorchScript is deprecated but still how LPIPS exports
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_Lpips()).save(str(tmp_path / "lpips.pt"))
    batch = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
    program = torch.export.export(
        _Classifier().eval(), (torch.rand(2, 3, 299, 299),), dynamic_shapes=batch
    )
    torch.export.save(program, str(tmp_path / "inception.pt2"))
    params = _params(
        samples=0, lpips_weights=str(tmp_path / "lpips.pt"),
        inception_weights=str(tmp_path / "inception.pt2"),
    )  # fmt: skip
    out = tmp_path / "out"
    stage.run(params, data / "shards", data / "generator.pt", out)
    rows = {(r["id"], r["method"]): r for r in _csv(out / "per_image.csv")}
    low = imageio.read_image(data / "pairs" / "astro-evn.input.png")
    high = imageio.read_image(data / "pairs" / "astro-evn.target.png")
    mse = float(np.mean((low.astype(np.float64) - high) ** 2))
    # Inputs are mapped to [-1, 1]: the toy distance is 4 x the MSE on [0, 1].
    assert float(rows[("astro-evn", "identity")]["lpips"]) == pytest.approx(4 * mse, rel=1e-4)
    assert rows[("coffee-native", "oracle")]["lpips"] == ""
    overall = json.loads((out / "breakdown.json").read_text())["test"]["by_kind"]["all"]
    for method in ("model", "identity", "oracle"):
        assert 1.0 <= overall[method]["inception_score"] <= 5.0
        assert overall[method]["inception_splits"] == 1  # 6 images: one split
        assert "lpips" in overall[method]
    assert "LPIPS" in (out / "README.md").read_text()


def test_unloadable_learned_metric_names_the_file(data, tmp_path) -> None:
    bad = tmp_path / "lpips.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"lpips\.pt: cannot load the LPIPS model.*lpips_weights"):
        stage.run(_params(lpips_weights=str(bad)), data / "shards", data / "generator.pt", tmp_path)
    missing = tmp_path / "none.pt"
    with pytest.raises(ValueError, match=r"none\.pt: no such Inception classifier file"):
        stage.run(
            _params(inception_weights=str(missing)),
            data / "shards",
            data / "generator.pt",
            tmp_path,
        )


def test_inception_score_hand_values() -> None:
    one_hot = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert inception_score(one_hot)["inception_score"] == pytest.approx(2.0)
    assert inception_score(np.full((4, 3), 1 / 3))["inception_score"] == pytest.approx(1.0)
    many = np.eye(10)[np.arange(100) % 10]
    result = inception_score(many)
    assert result["inception_splits"] == 10 and result["inception_score"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="probs must be"):
        inception_score(np.zeros((0, 3)))


def test_gpu_path_scores_in_this_process_with_the_torch_metrics(
    report, data, tmp_path, monkeypatch
) -> None:
    """Where the model runs on a GPU, the workers hand the baselines' outputs back and this
    process scores them with ``metrics_torch`` (run here on the CPU): the same rows, the same
    sample grids, every score within 1e-4 of the CPU path's."""
    monkeypatch.setattr(stage, "on_gpu", lambda device: True)
    stage.run(_params(), data / "shards", data / "generator.pt", tmp_path)
    cpu_out, _ = report
    cpu_rows, gpu_rows = _csv(cpu_out / "per_image.csv"), _csv(tmp_path / "per_image.csv")
    assert [(r["id"], r["method"]) for r in gpu_rows] == [(r["id"], r["method"]) for r in cpu_rows]
    for cpu, gpu in zip(cpu_rows, gpu_rows, strict=True):
        for metric in ("psnr", "ssim", "mae", "delta_e2000", "psnr_gt_mean"):
            if cpu[metric] or gpu[metric]:
                assert float(gpu[metric]) == pytest.approx(float(cpu[metric]), abs=1e-4), metric
    for grid in (cpu_out / "samples").iterdir():
        assert (tmp_path / "samples" / grid.name).read_bytes() == grid.read_bytes()


def test_rerun_replaces_report_files_and_keeps_others(data, tmp_path) -> None:
    out = tmp_path / "reports"
    (out / "samples").mkdir(parents=True)
    (out / "samples" / "stale.png").write_bytes(b"old")
    (out / "plots").mkdir()
    (out / "plots" / "old.csv").write_text("x\n")
    (out / "keep.txt").write_text("mine")
    stage.run(_params(samples=1, baselines=["he"]), data / "shards", data / "generator.pt", out)
    (sample,) = (out / "samples").iterdir()
    assert sample.name in ("astro-tau.png", "coffee-tau.png")  # the first group: overexposed
    assert not (out / "plots" / "old.csv").exists() and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "breakdown.json", "keep.txt", "metrics", "per_image.csv", "plots",
        "samples",
    ]  # fmt: skip


def test_missing_test_split_and_foreign_model(data, tmp_path, demo_photos) -> None:
    with pytest.raises(UserError, match=r"noshards: no shard index.*run `prep shard` first"):
        stage.run(_params(), tmp_path / "noshards", data / "generator.pt", tmp_path / "out")
    pairs = data / "pairs"
    only_train = replace(_params(), shard=ShardParams(split=SplitFractions(1.0, 0.0, 0.0)))
    rows = [replace(r, split=None) for r in _manifest_rows(pairs)]
    write_jsonl(tmp_path / "pairs" / "manifest.jsonl", rows)
    for row in rows:
        for name in (row.input, row.target):
            (tmp_path / "pairs" / name).write_bytes((pairs / name).read_bytes())
    shard.run(only_train, tmp_path / "pairs", tmp_path / "train_only")
    with pytest.raises(ValueError, match=r"train_only: the shards hold no test split.*prep shard"):
        stage.run(_params(), tmp_path / "train_only", data / "generator.pt", tmp_path / "out")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        stage.run(_params(), data / "shards", foreign, tmp_path / "out")


def test_scored_methods_and_settings_checked_when_built() -> None:
    assert stage.scored_methods(EvaluateParams(baselines=["he"], oracle=False)) == ["model", "he"]
    with pytest.raises(ConfigError, match="tau_buckets: must be increasing"):
        EvaluateParams(tau_buckets=[0.7, 0.6])
    with pytest.raises(ConfigError, match="resolution: must be >= 0"):
        EvaluateParams(resolution=-1)
    with pytest.raises(ConfigError, match=r"baselines: unknown \['magic'\]"):
        EvaluateParams(baselines=["he", "magic"])


def _manifest_rows(pairs: Path) -> list[PairRow]:
    from exposure_core.manifest import read_jsonl

    return list(read_jsonl(pairs / "manifest.jsonl", PairRow))


def test_corrupt_sample_is_skipped_and_named(data, tmp_path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "index.json").write_bytes((data / "shards" / "index.json").read_bytes())
    name = next(p.name for p in (data / "shards").glob("test-*.tar"))
    with tarfile.open(data / "shards" / name) as src, tarfile.open(shards / name, "w") as dst:
        for member in src.getmembers():
            payload = src.extractfile(member).read()  # type: ignore[union-attr]
            if "astro-evp" in member.name and member.name.endswith(".in0.png"):
                payload = b"\x89PNG broken"
            member.size = len(payload)
            dst.addfile(member, io.BytesIO(payload))
    params = _params(samples=0, baselines=["identity"], oracle=False)
    model, out = data / "generator.pt", tmp_path / "out"
    # the tar's sha256 no longer matches index.json: the whole shard is corrupt
    with pytest.raises(UserError, match=rf"0 of {len(ROWS)} test pairs scored.*{name}: sha256"):
        stage.run(params, shards, model, out)
    # unverified, the damaged sample is found while reading: a shortfall, an error by default
    with pytest.raises(UserError, match=rf"{len(ROWS) - 1} of {len(ROWS)} test pairs.*astro-evp"):
        stage.run(params, shards, model, out, verify=False)
    summary = stage.run(params, shards, model, out, verify=False, allow_missing=True)
    metrics = read_metrics(tmp_path / "out" / "metrics")
    assert metrics["n_images"] == len(ROWS) - 1 and metrics["skipped"] == 1
    assert metrics["n_expected"] == len(ROWS)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert f"{len(ROWS) - 1} images of {len(ROWS)} listed in the shard index" in readme
    assert "1 skipped" in summary.line()
    assert any("astro-evp" in note for note in summary.notes)


def test_group_bucket_and_gt_mean_helpers() -> None:
    assert [exposure_group(k, e) for k, e in [("overexpose", None), ("ev", -1), ("ev", 0.5),
            ("ev", 0.0), ("native", -1.5)]] == [
        "overexpose", "ev_under", "ev_over", "unchanged", "native"]  # fmt: skip
    with pytest.raises(ValueError, match="cannot group"):
        exposure_group("ev", None)
    edges = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert [tau_bucket(t, edges) for t in (0.5, 0.55, 0.6, 0.99, None, 1.2)] == [
        0.5, 0.6, 0.6, 1.0, None, None]  # fmt: skip
    pred = np.full((4, 4, 3), 0.2, np.float32)
    target = np.full((4, 4, 3), 0.5, np.float32)
    assert np.allclose(gt_mean_rescale(pred, target), 0.5, atol=1e-6)  # one gain of 2.5
    scores = score_pair(np.full((16, 16, 3), 0.25, np.float32), np.full((16, 16, 3), 0.5,
                        np.float32), native=True)  # fmt: skip
    assert scores["psnr"] == pytest.approx(10 * np.log10(1 / 0.0625))  # MSE 1/16: 12.04 dB
    assert scores["psnr_gt_mean"] == 100.0  # a flat image rescaled to the target's mean
    counts = luma_histogram(np.ones((2, 3, 3), np.float32))
    assert counts.sum() == 6 and counts[-1] == 6


def test_panel_and_sample_choice() -> None:
    assert panel(np.zeros((100, 50, 3), np.float32)).shape == (PANEL_SIDE, PANEL_SIDE // 2, 3)
    with pytest.raises(ValueError, match="float32"):
        panel(np.zeros((4, 4, 3), np.uint8))
    chooser = SampleChooser(3, ("overexpose", "ev_under", "native"))
    image = np.zeros((8, 8, 3), np.float32)
    for i, (group, scene) in enumerate([("overexpose", "a"), ("overexpose", "b"),
                                        ("native", "a"), ("ev_under", "a")]):  # fmt: skip
        chooser.offer(group, f"id{i}", scene, "c", {"input": image})
    assert [c.id for c in chooser.chosen()] == ["id0", "id3", "id2"]
    chooser = SampleChooser(3, ("overexpose",))
    for i, scene in enumerate("aab"):
        chooser.offer("overexpose", f"id{i}", scene, "c", {"input": image})
    assert [c.id for c in chooser.chosen()] == ["id0", "id2", "id1"]  # new scenes first


def test_msec_protocol_every_reference_ev_group_and_the_ev0_render(data, tmp_path) -> None:
    _unpack(msec_split("validation", ["a0001-x", "a0002-y"]), tmp_path / "msec")
    _unpack(msec_split("testing", ["a0003-z"]), tmp_path / "msec")
    (tmp_path / "msec/testing/expert_d_testing_set").rename(tmp_path / "msec/testing/gone")
    folders = [tmp_path / "msec" / "validation", tmp_path / "msec" / "testing"]
    fast = _params(samples=2, baselines=["identity", "auto_exposure"], oracle=True)
    summary = stage.run(fast, data / "shards", data / "generator.pt", tmp_path / "out", folders)
    metrics = read_metrics(tmp_path / "out" / "metrics")["paired"]
    assert set(metrics) == {
        "validation", "validation_ev0", "testing", "testing_expert_a", "testing_expert_b",
        "testing_expert_e", "testing_ev0",
    }  # fmt: skip
    assert metrics["validation"]["n_images"] == 10 and metrics["testing_expert_b"]["n_images"] == 5
    assert {"under", "over", "native"} <= set(metrics["validation"]["ev0_render"])
    assert "ev0_render" not in metrics["validation_ev0"]  # not scored against itself
    rows = _csv(tmp_path / "out" / "per_image.csv")

    def row(set_name: str, method: str, token: str) -> dict:
        return next(
            r
            for r in rows
            if r["set"] == set_name and r["method"] == method and r["id"] == f"msec-{token}"
        )

    root = tmp_path / "msec" / "validation"
    ev0 = imageio.read_image(root / "INPUT_IMAGES" / "a0001-x_0.JPG")
    low = imageio.read_image(root / "INPUT_IMAGES" / "a0001-x_N1.5.JPG")
    expert = imageio.read_image(root / "GT_IMAGES" / "a0001-x.jpg")
    got = float(row("paired:validation", "ev0_render", "a0001-x_N1_5")["psnr"])
    assert got == pytest.approx(psnr(ev0, expert), abs=1e-4)
    got = float(row("paired:validation:ev0", "identity", "a0001-x_N1_5")["psnr"])
    assert got == pytest.approx(psnr(low, ev0), abs=1e-4)
    assert row("paired:validation:ev0", "identity", "a0001-x_0")["group"] == "unchanged"
    high = imageio.read_image(tmp_path / "msec/testing/expert_b_testing_set/a0003-z.jpg")
    z_low = imageio.read_image(tmp_path / "msec/testing/INPUT_IMAGES/a0003-z_P1.JPG")
    got = float(row("paired:testing:expert_b", "identity", "a0003-z_P1")["psnr"])
    assert got == pytest.approx(psnr(z_low, high), abs=1e-4)
    breakdown = json.loads((tmp_path / "out" / "breakdown.json").read_text())["paired"]
    assert breakdown["validation"]["by_ev_group"]["under"]["identity"]["n"] == 4
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "## Paired folder `validation`, against the EV 0 render: 10 images" in readme
    assert "## Paired folder `testing`, against expert b: 5 images" in readme
    assert "MSEC's EV groups (native pairs): PSNR (dB) / SSIM" in readme
    assert "| EV -1.5 | 2 |" in readme and "EV 0 render (not blind)" in readme
    msec_table = readme.split("MSEC's EV groups")[1].split("\n\n")[1]
    assert "oracle" not in msec_table and "auto_exposure" in msec_table
    note = next(n for n in summary.notes if "judged well exposed" in n)
    n_test = read_metrics(tmp_path / "out" / "metrics")["n_images"]
    assert f" of {n_test + 10 + 5} inputs" in note  # each input once, whatever its references
