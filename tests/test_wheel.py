"""The package as a user installs it: `python -m build` makes a wheel that carries the shipped
model and the data files, and that wheel, installed into a fresh virtual environment, runs
`prep enhance` without `--model` from a folder outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from exposure_core import exposure, imageio
from exposure_models import pretrained
from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = (
    "exposure_core/camera_ranges.json",
    "exposure_core/ev_estimator.json",
    "exposure_models/pretrained/real.pt",
    "exposure_models/pretrained/synthetic.pt",
    "exposure_models/pretrained/README.md",
)


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that points Python at the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_wheel_installs_and_enhances_with_the_shipped_model(
    tmp_path: Path, demo_photos, monkeypatch
) -> None:
    env = _clean_env()
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], ROOT, env)
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as packed:
        names = set(packed.namelist())
        assert set(PACKAGE_DATA) <= names, sorted(set(PACKAGE_DATA) - names)
        assert packed.read("exposure_models/pretrained/real.pt") == (
            pretrained.SHIPPED_MODEL.read_bytes()
        )

    # a fresh environment: no system site-packages, nothing but torch and the wheel's own
    # dependencies (from the configured index; torch pinned to the version running here)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python, prep = venv / "bin" / "python", venv / "bin" / "prep"
    torch_pin = f"torch=={torch.__version__.split('+')[0]}"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile",
          torch_pin, wheel], tmp_path, env)  # fmt: skip

    elsewhere = tmp_path / "elsewhere"  # no params.yaml, no checkout above it
    elsewhere.mkdir()
    shipped = Path(_run([python, "-c", "from exposure_models.pretrained import SHIPPED_MODEL;"
                         "print(SHIPPED_MODEL)"], elsewhere, env).strip())  # fmt: skip
    assert shipped.is_relative_to(venv) and shipped.is_file(), shipped

    photo = elsewhere / "dark.png"
    imageio.write_image(photo, exposure.shift_ev(demo_photos["coffee"], -1.5))
    before = imageio.read_image(photo)
    monkeypatch.chdir(elsewhere)
    # the default (the stops re-exposure, the estimator's weights from the wheel) and the
    # shipped generator by name: each gives what the checkout gives
    for name, flags in (("default", []), ("real", ["--model", "real"])):
        _run([prep, "enhance", photo.name, "--output", f"out-{name}", "--device", "cpu",
              *flags], elsewhere, env)  # fmt: skip
        installed = imageio.read_image(elsewhere / f"out-{name}" / "dark.png")
        result = CliRunner().invoke(app, ["enhance", photo.name, "--output", f"ref-{name}",
                                          "--device", "cpu", *flags])  # fmt: skip
        assert result.exit_code == 0, result.output
        reference = imageio.read_image(elsewhere / f"ref-{name}" / "dark.png")
        assert installed.shape == before.shape
        assert installed.mean() > before.mean() * 1.2, name  # corrected, not copied
        assert np.abs(installed - reference).max() <= 1 / 255 + 1e-6, name
