"""docs/experiments.md as a user runs it: every `$ dvc ...` line of the page, verbatim, in a
tiny copy of the project (git and DVC initialised, the demo source on three photos, a
network small enough that a hundred steps take seconds), each giving what the page shows:
the same stages run, the same columns and rows, the same metrics compared, the same plots."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exposure_core.fsutil import unshare
from exposure_models.training.loop import open_live
from pipeline.params.build import deep_merge

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGE = ROOT / "docs" / "experiments.md"

# The page's commands, in a project whose every stage takes seconds: 3 demo photos, one
# recipe of each kind, a 32 px network, the model scored against identity alone.
TINY = {
    "data": {"demo": {"images": ["coffee", "rocket", "chelsea"]}},
    "synthesize": {"tau_samples": 1, "evs": [-1.0, 1.0], "workers": 1},
    "filter": {"workers": 1},
    "train": {"batch_size": 1, "crop": 32, "resize": 32, "workers": 0, "log_every": 10,
              "val_every": 1000, "val_images": 1, "checkpoint_every": 1000,
              "generator": {"depth": 5, "width": 4},
              "discriminator": {"n_layers": 1, "width": 4}},
    "evaluate": {"samples": 1, "baselines": ["identity"], "oracle": False, "workers": 1},
}  # fmt: skip


def page_sessions() -> list[tuple[str, list[str]]]:
    """Each `$ command` of the page's console blocks with the output lines shown under it."""
    sessions: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                sessions.append((line[2:], []))
            elif sessions:
                sessions[-1][1].append(line)
    return sessions


def _project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    for name in ("exposure_core", "exposure_models", "pipeline"):
        shutil.copytree(ROOT / name, project / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pt"))  # fmt: skip
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, project / name)
    params = deep_merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(project),  # the stages run the copy's code, which DVC hashes
            "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "250",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def _run(project: Path, command: str, stderr: int = subprocess.STDOUT) -> str:
    """The command's output as a terminal shows it (stderr interleaved), unless ``stderr``."""
    args = shlex.split(command)
    args[0] = str(BIN / "dvc") if args[0] == "dvc" else args[0]
    done = subprocess.run(args, cwd=project, env=_env(project), stdout=subprocess.PIPE,
                          stderr=stderr, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"{command}\n{done.stdout[-6000:]}\n{done.stderr or ''}"
    return done.stdout


def _stage_lines(lines: list[str]) -> list[str]:
    keep = ("Running stage", "is cached", "resumed from", "Ran experiment")
    return [line.strip() for line in lines if line.strip().startswith(keep)]


def _columns(header: str) -> list[str]:
    return re.split(r"\s{2,}", header.strip())


def _exp_table(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """`dvc exp show`'s header and its rows by experiment name (cells split on 2+ spaces)."""
    text = [line for line in lines if line.strip() and not line.strip().startswith("─")]
    header = _columns(text[0])
    rows = {}
    for line in text[1:]:
        cells = _columns(re.sub(r"^[\s│├└─]+", "", line))
        name = re.sub(r"^\w+ \[(.+)\]$", r"\1", cells[0])  # "0beeeac [steps50]" -> steps50
        rows[name] = cells
    return header, rows


def _diff_rows(lines: list[str]) -> set[tuple[str, str]]:
    """`dvc metrics diff`'s (path, metric) pairs."""
    return {tuple(line.split()[:2]) for line in lines[1:] if line.strip()}  # type: ignore[misc]


@pytest.mark.slow
def test_the_experiments_page_runs_as_shown(tmp_path: Path) -> None:
    sessions = page_sessions()
    commands = [command for command, _ in sessions]
    assert [c.split()[:3] for c in commands if c.startswith("dvc exp run")] == [
        ["dvc", "exp", "run"]
    ] * 2, commands
    project = _project(tmp_path)
    for setup in ("git init -q -b main", "dvc init -q", "git add -A", "git commit -qm start"):
        _run(project, setup)

    for command, shown in sessions:
        got = _run(project, command).splitlines()
        if command.startswith("dvc exp run"):
            assert _stage_lines(got) == _stage_lines(shown), command
        elif command.startswith("dvc exp show"):
            shown_header, shown_rows = _exp_table(shown)
            header, rows = _exp_table(got)
            assert header == shown_header
            assert set(rows) == set(shown_rows), rows
            for name in ("steps50", "steps100"):
                cells = dict(zip(header, rows[name], strict=True))
                assert cells["train.steps"] == name.removeprefix("steps")
                assert cells["synthesize.tau"] == "0.7"
                metrics = [v for k, v in cells.items() if "psnr" in k or "ssim" in k]
                assert metrics and all(re.fullmatch(r"[\d.]+", v) for v in metrics), cells
        elif command.startswith("dvc metrics diff"):
            assert _diff_rows(got) == _diff_rows(shown), got
            assert got[0].split() == shown[0].split()  # Path Metric steps50 steps100 Change
        elif command.startswith("dvc plots diff"):
            index = project / "plots-diff" / "index.html"
            assert got[-1].endswith(shown[-1].rsplit("/", 2)[-2] + "/index.html"), got
            html = index.read_text(encoding="utf-8")
            for plot in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]:
                title = next(iter(plot)) if isinstance(plot, dict) else f"{plot}/"  # a folder
                assert title in html, title
            images = {p.name.split("_")[0] for p in (index.parent / "static").iterdir()}
            assert images == {"steps50", "steps100"}  # the grids of both experiments
        else:
            raise AssertionError(f"the test does not know how to check {command!r}")

    # every plot of dvc.yaml, from both experiments, with no error
    plots = json.loads(_run(project, "dvc plots diff steps50 steps100 --json", subprocess.PIPE))
    assert not plots.get("errors"), plots["errors"]
    losses = plots["data"]["Training losses"]
    assert {rev for entry in losses for rev in entry["revisions"]} == {"steps50", "steps100"}


def test_resumed_logs_never_write_through_a_cache_link(tmp_path: Path) -> None:
    """DVC links cached outputs (dvclive/ among them) to its cache; a resumed `prep train`
    appends to its logs, so each gets its own copy first and the cache stays as it was."""
    cache, logs = tmp_path / "cache", tmp_path / "logs"
    (logs / "plots/metrics/train").mkdir(parents=True)
    cache.mkdir()
    (cache / "a").write_text("step\tloss_g\n0\t1.0\n")
    (cache / "b").write_text('{"step": 0}\n')
    os.link(cache / "a", logs / "plots/metrics/train/loss_g.tsv")
    (logs / "metrics.json").symlink_to(cache / "b")
    live = open_live(logs, {"steps": 2}, resume=True)
    live.log_metric("train/loss_g", 0.5)
    live.next_step()
    live.end()
    assert (cache / "a").read_text() == "step\tloss_g\n0\t1.0\n"
    assert (cache / "b").read_text() == '{"step": 0}\n'
    assert "0.5" in (logs / "plots/metrics/train/loss_g.tsv").read_text()
    assert not (logs / "metrics.json").is_symlink()
    assert unshare(logs) == 0  # nothing linked any more
