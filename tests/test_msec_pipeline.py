"""configs/msec.yaml: MSEC's layout through download -> filter -> synthesize -> shard -> train
-> evaluate, on a synthetic copy always and on two real scenes of ../shared/msec when present."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.evaluation.results import read_metrics
from pipeline.params import load_params
from pipeline.stages import download, evaluate, filter, shard, synthesize, train
from tests.test_camera import shared
from tests.test_msec_local import TOKENS, make_copy

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "msec.yaml"
TINY = {
    "train.steps": 2, "train.batch_size": 2, "train.crop": 64, "train.resize": 64,
    "train.workers": 0, "train.log_every": 1, "train.checkpoint_every": 2,
    "train.generator.depth": 6, "train.generator.width": 4, "train.discriminator.width": 4,
    "evaluate.samples": 1, "evaluate.resolution": 96, "evaluate.workers": 1,
    "evaluate.baselines": ["identity", "auto_exposure"], "filter.workers": 1,
}  # fmt: skip


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_documented_experiment_line_sets_the_params_file(tmp_path: Path) -> None:
    """docs/data-sources.md's `dvc exp run -S ...`, applied to params.yaml by DVC's own code,
    gives the params configs/msec.yaml gives."""
    hydra = pytest.importorskip("dvc.utils.hydra")
    text = (ROOT / "docs" / "data-sources.md").read_text(encoding="utf-8")
    line = re.search(r"^dvc exp run (.*)$", text.replace("\\\n", " "), re.MULTILINE)
    assert line is not None
    args = shlex.split(line.group(1))
    assert set(args[0::2]) == {"-S"}
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    hydra.apply_overrides(str(tmp_path / "params.yaml"), args[1::2])
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert {a.lstrip("+").split("=", 1)[0] for a in args[1::2]} == set(_flat(config))
    assert load_params(tmp_path / "params.yaml") == load_params(CONFIG)
    params = load_params(CONFIG)
    assert params.data.msec.path == "../shared/msec" and params.train.val_images == 0


def _run_all(root: Path, work: Path, scenes: int) -> dict:
    params = load_params(CONFIG, {"data.msec.path": str(root), **TINY})
    raw, pairs, shards = work / "raw", work / "pairs", work / "shards"
    download.run(params, raw)
    filter.run(params, raw, work / "filtered")
    synthesize.run(params, work / "filtered", pairs)
    shard.run(params, pairs, shards)
    model = work / "generator.pt"
    train.run(params, shards, model, work / "checkpoints", work / "dvclive")
    paired = [root / "validation"]
    evaluate.run(params, shards, model, work / "reports", paired)
    metrics = read_metrics(work / "reports" / "metrics")
    assert metrics["n_images"] == 5 * scenes  # validation's renders are the test split
    assert metrics["model"]["native"]["psnr"] > 0
    for key in ("validation", "validation_ev0"):
        assert metrics["paired"][key]["n_images"] == 5 * scenes
    assert "under" in metrics["paired"]["validation"]["ev0_render"]
    return metrics


def test_synthetic_msec_copy_runs_every_stage(tmp_path: Path) -> None:
    scenes = {"training": ["a0001-x", "a0002-y"], "validation": ["a0003-z"]}
    _run_all(make_copy(tmp_path / "msec", scenes), tmp_path / "work", 1)


def test_real_msec_scenes_run_every_stage(tmp_path: Path) -> None:
    base = shared()
    if base is None or not (base / "msec" / "validation").is_dir():
        pytest.skip("../shared/msec not present (set SHARED_DATA to the shared data folder)")
    copy = tmp_path / "msec"
    for split, count in (("training", 2), ("validation", 1)):
        source = base / "msec" / split
        names = sorted(p.stem for p in (source / "GT_IMAGES").glob("*.jpg"))[:count]
        for sub in ("INPUT_IMAGES", "GT_IMAGES"):
            (copy / split / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(source / "GT_IMAGES" / f"{name}.jpg", copy / split / "GT_IMAGES")
            for token in TOKENS:
                shutil.copy(
                    source / "INPUT_IMAGES" / f"{name}_{token}.JPG", copy / split / "INPUT_IMAGES"
                )
    _run_all(copy, tmp_path / "work", 1)
