"""The prep command: help texts, flags overriding params, and no torch in data stages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
STAGES = ("download", "filter", "synthesize", "shard", "train", "evaluate", "enhance")


def test_help_lists_every_stage() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for stage in STAGES:
        assert stage in result.output


@pytest.mark.parametrize("stage", STAGES)
def test_every_command_help_has_an_example(stage: str) -> None:
    result = runner.invoke(app, [stage, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output and f"prep {stage}" in result.output


def test_params_error_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("synthesize:\n  tua: 1\n")
    result = runner.invoke(
        app,
        [
            "synthesize",
            "--input",
            str(tmp_path),
            "--output",
            str(tmp_path / "o"),
            "--params",
            str(bad),
        ],
    )
    assert result.exit_code == 2 and "synthesize.tua" in result.output


def test_demo_data_stages_from_the_cli(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  demo:\n    images: [coffee, chelsea]\n")
    raw, filtered, pairs = tmp_path / "raw", tmp_path / "filtered", tmp_path / "pairs"
    common = ["--params", str(params)]
    assert runner.invoke(app, ["download", "--output", str(raw), *common]).exit_code == 0
    assert (
        runner.invoke(
            app,
            ["filter", "--input", str(raw), "--output", str(filtered), "--workers", "1", *common],
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "synthesize",
            "--input",
            str(filtered),
            "--output",
            str(pairs),
            "--tau",
            "0.6",
            "--tau-samples",
            "1",
            "--evs=-1,1",
            "--workers",
            "1",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (pairs / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3
    assert {r["tau"] for r in rows if r["kind"] == "overexpose"} == {0.6}
    assert {r["ev"] for r in rows if r["kind"] == "ev"} == {-1.0, 1.0}


def test_data_stages_do_not_import_torch(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from typer.testing import CliRunner
        from pipeline.cli import app
        r = CliRunner()
        p = {str(tmp_path)!r}
        (open(p + "/params.yaml", "w")).write("data:\\n  demo:\\n    images: [coffee]\\n")
        for args in (["download", "--output", p + "/raw"],
                     ["filter", "--input", p + "/raw", "--output", p + "/f", "--workers", "1"],
                     ["synthesize", "--input", p + "/f", "--output", p + "/s", "--workers", "1"]):
            res = r.invoke(app, args + ["--params", p + "/params.yaml"])
            assert res.exit_code == 0, res.output
        assert "torch" not in sys.modules, "a data stage imported torch"
        assert "ray" not in sys.modules, "the local engine imported ray"
        print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip().endswith("ok")
