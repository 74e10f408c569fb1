"""`dvc repro` end to end in a temporary copy of the project, with tiny params."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exposure_core.fsutil import MARKER
from pipeline.params.build import deep_merge

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = {
    "data": {"demo": {"images": ["coffee", "rocket", "chelsea"]}},
    "synthesize": {"tau_samples": 1, "evs": [-1.0, 1.0], "workers": 1},
    "filter": {"workers": 1},
    "train": {"steps": 3, "batch_size": 2, "crop": 64, "resize": 64, "workers": 0,
              "log_every": 1, "val_every": 3, "val_images": 1, "checkpoint_every": 3,
              "generator": {"depth": 6, "width": 4}, "discriminator": {"width": 4}},
    "evaluate": {"samples": 1},
}  # fmt: skip


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
    return subprocess.run([str(BIN / "dvc"), *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip


@pytest.mark.slow
def test_dvc_repro_runs_every_stage(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("exposure_core", "exposure_models", "pipeline"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", project)
    params = deep_merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert dvc(project, "init", "--no-scm", "-q").returncode == 0

    done = dvc(project, "repro")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for stage in ("download", "filter", "synthesize", "shard", "train", "evaluate"):
        assert f"Running stage '{stage}'" in done.stdout
    index = json.loads((project / "data/shards/index.json").read_text())
    assert index["counts"] == {"test": 1, "train": 1, "val": 1}  # photos
    assert index["pair_counts"] == {"test": 3, "train": 3, "val": 3}
    pairs = sorted(p.name for p in (project / "data/pairs").iterdir())
    assert pairs == [MARKER, "manifest.jsonl", "rejects.jsonl"]  # recipes only: no image bytes
    assert (project / "models/generator.pt").is_file()
    assert (project / "reports/README.md").is_file()

    metrics = dvc(project, "metrics", "show", "--json")
    assert metrics.returncode == 0, metrics.stderr
    shown = json.dumps(json.loads(metrics.stdout))
    assert "reports/metrics/auto_exposure.json" in shown and '"all": {"psnr"' in shown
    plots = dvc(project, "plots", "show", "--json")
    assert plots.returncode == 0, plots.stderr
    shown_plots = json.loads(plots.stdout)
    assert not shown_plots.get("errors"), shown_plots.get("errors")
    names = set(shown_plots["data"])
    assert {"PSNR against tau (overexposed test pairs)", "Training losses"} <= names
    assert any(name.startswith("reports/samples/") for name in names)

    again = dvc(project, "repro")  # nothing changed: every stage is cached
    assert again.returncode == 0 and "Running stage" not in again.stdout

    # a code change in train's deps reruns it; the checkpoint already holds every step, so it
    # resumes at the end, and its logs (persisted with the checkpoint) are still there for DVC
    loop = project / "exposure_models/training/loop.py"
    loop.write_text(loop.read_text() + "\n# a comment\n")
    rerun = dvc(project, "repro")
    assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-4000:]
    shown = rerun.stdout + rerun.stderr
    assert "Running stage 'train'" in shown and "already trained" in shown, shown[-3000:]
    assert (project / "dvclive/plots/metrics/train/loss_g.tsv").is_file()
