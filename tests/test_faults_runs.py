"""Two runs at once, photo names people really have, and params that say one thing twice.

Each test holds one promise of docs/reliability.md. Concurrent runs are real ``prep``
processes; the lock helper (``fsutil.output_lock``) is the barrier that lets a test decide which
run holds an output while the other one starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pathspec
import pytest
from typer.testing import CliRunner

from exposure_core import fsutil
from exposure_core.manifest import path_id
from pipeline.cli import app
from pipeline.params import load_params
from tests._datasets import photo

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = "filter: {workers: 1}\nsynthesize: {workers: 1, tau_samples: 1, evs: [1.0]}\n"
# a real `prep` process whose lock on its output waits, once taken, for the file $PREP_TEST_GO
HOLDING_PREP = """
import os, sys, time
from contextlib import contextmanager
from pathlib import Path
from exposure_core import fsutil
real = fsutil.output_lock

@contextmanager
def waiting(output, stage):
    with real(output, stage) as path:
        while not Path(os.environ["PREP_TEST_GO"]).exists():
            time.sleep(0.02)
        yield path

fsutil.output_lock = waiting
from pipeline.cli import app
app()
"""


def _photos(folder: Path, count: int, first: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(first, first + count):
        (folder / f"p{k}.png").write_bytes(photo(k, ".png"))
    return folder


def _params_file(tmp_path: Path, text: str = FAST) -> Path:
    path = tmp_path / "fast-params.yaml"
    path.write_text(text)
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PREP_TEST_GO": str(tmp_path / "go")}


def _prep(tmp_path: Path, *args: object, holding: bool = False) -> subprocess.Popen[str]:
    """Start ``prep <args>`` as its own process (``holding``: its lock waits for ``go``)."""
    head = ["-c", HOLDING_PREP] if holding else ["-m", "pipeline"]
    return subprocess.Popen(
        [sys.executable, *head, *map(str, args)],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_lock(output: Path, proc: subprocess.Popen[str]) -> None:
    lock = fsutil.lock_path(output)
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().startswith(f"{proc.pid} ")):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the holding run never took its lock"
        time.sleep(0.05)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _rows(output: Path) -> list[dict]:
    text = (output / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _assert_refused(text: str, stage: str, output: Path, pid: int) -> None:
    assert f"another prep {stage} is writing {output} (pid {pid})" in text, text
    for blame in ("cannot write", "fix the cause", ".partial", "Errno", "Traceback"):
        assert blame not in text, text


# --- 5, 6. one lock per output: the second run is refused, the first one's result intact -------


@pytest.mark.parametrize("stage", ["filter", "synthesize"])
def test_a_run_into_an_output_being_written_is_refused(tmp_path: Path, stage: str) -> None:
    """The lock held by this process (the helper every stage uses): a real ``prep`` run into
    the same output exits 1 naming the holder, and touches neither the output nor staging."""
    params = _params_file(tmp_path)
    photos, out = _photos(tmp_path / "v", 3), tmp_path / "out"
    first = _prep(tmp_path, stage, "--input", photos, "--output", out, "--params", params)
    assert first.wait(120) == 0, first.communicate()[0]
    before = _tree(out)
    _photos(tmp_path / "w", 5, first=10)
    with fsutil.output_lock(out, stage):
        second = _prep(tmp_path, stage, "--input", tmp_path / "w", "--output", out)
        text = second.communicate(timeout=120)[0]
    assert second.returncode == 1, text
    _assert_refused(text, stage, out, os.getpid())
    assert _tree(out) == before
    assert not (tmp_path / "out.partial").exists()
    assert not fsutil.lock_path(out).exists()  # removed by the holder on release


@pytest.mark.parametrize("stage", ["filter", "synthesize"])
def test_two_prep_runs_into_one_output(tmp_path: Path, stage: str) -> None:
    """Two real runs, the second started while the first holds the output: the second exits 1
    naming the first one's pid; the first completes with its own rows and the marker."""
    params = _params_file(tmp_path)
    out = tmp_path / "out"
    mine, other = _photos(tmp_path / "v", 3), _photos(tmp_path / "w", 5, first=10)
    first = _prep(
        tmp_path, stage, "--input", mine, "--output", out, "--params", params, holding=True
    )
    try:
        _wait_for_lock(out, first)
        second = _prep(tmp_path, stage, "--input", other, "--output", out, "--params", params)
        text = second.communicate(timeout=120)[0]
        assert second.returncode == 1, text
        _assert_refused(text, stage, out, first.pid)
        (tmp_path / "go").touch()
        assert first.wait(120) == 0, first.communicate()[0]
    finally:
        first.kill()
    assert (out / fsutil.MARKER).is_file()
    rows = _rows(out)
    sources = {Path(r["path"] if stage == "filter" else r["target"]).parent.name for r in rows}
    assert sources == ({"v"} if stage == "filter" else {"folder-p0", "folder-p1", "folder-p2"}), (
        sources
    )
    assert len(rows) == 3 if stage == "filter" else 3 * 2  # tau_samples 1 + one EV per photo
    assert not (tmp_path / "out.partial").exists()
    assert not fsutil.lock_path(out).exists()


def test_racing_filter_runs_leave_one_complete_output(tmp_path: Path) -> None:
    """Two runs started together, no barrier: every loser is refused with the message, never
    a disk error; the folder holds exactly the rows of a run that exited 0, with its marker."""
    params = _params_file(tmp_path)
    out = tmp_path / "out"
    inputs = {"v": _photos(tmp_path / "v", 3), "w": _photos(tmp_path / "w", 5, first=10)}
    for _ in range(2):
        procs = {
            name: _prep(tmp_path, "filter", "--input", folder, "--output", out, "--params", params)
            for name, folder in inputs.items()
        }
        texts = {name: proc.communicate(timeout=120)[0] for name, proc in procs.items()}
        winners = {name for name, proc in procs.items() if proc.returncode == 0}
        assert winners, texts
        for name, proc in procs.items():
            if proc.returncode != 0:
                assert proc.returncode == 1, texts[name]
                assert "another prep filter is writing" in texts[name], texts[name]
                for blame in ("cannot write", ".partial", "Errno", "Traceback"):
                    assert blame not in texts[name], texts[name]
        assert (out / fsutil.MARKER).is_file()
        folders = {Path(r["path"]).parent.name for r in _rows(out)}
        assert len(folders) == 1 and folders <= winners, (folders, texts)
        assert len(_rows(out)) == len(list(inputs[folders.pop()].iterdir()))
        assert not (tmp_path / "out.partial").exists()


def test_a_killed_run_leaves_no_stale_lock(tmp_path: Path) -> None:
    """``kill -9`` on the run holding the output: the kernel drops its lock; its lock file
    (naming a dead pid) stays but blocks nobody, and the next run completes."""
    params = _params_file(tmp_path)
    photos, out = _photos(tmp_path / "v", 3), tmp_path / "out"
    first = _prep(tmp_path, "filter", "--input", photos, "--output", out, "--params", params)
    assert first.wait(120) == 0
    held = _prep(
        tmp_path, "filter", "--input", photos, "--output", out, "--params", params, holding=True
    )
    _wait_for_lock(out, held)
    os.kill(held.pid, signal.SIGKILL)
    held.wait(60)
    assert fsutil.lock_path(out).read_text().startswith(f"{held.pid} ")
    again = _prep(tmp_path, "filter", "--input", photos, "--output", out, "--params", params)
    text = again.communicate(timeout=120)[0]
    assert again.returncode == 0, text
    assert len(_rows(out)) == 3 and (out / fsutil.MARKER).is_file()
    assert not fsutil.lock_path(out).exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # DVC matches with this pathspec style
def test_dvcignore_covers_the_lock_file(tmp_path: Path) -> None:
    spec = pathspec.PathSpec.from_lines(
        "gitwildmatch", (ROOT / ".dvcignore").read_text().splitlines()
    )
    with fsutil.output_lock(tmp_path / "data" / "pairs", "synthesize") as lock:
        assert lock.is_file() and lock.parent == tmp_path / "data"
        assert spec.match_file(f"data/{lock.name}")
        assert spec.match_file(fsutil.lock_path(Path("reports")).name)
    for kept in ("dvc.lock", "data/raw/sources.lock.json", "data/pairs/manifest.jsonl"):
        assert not spec.match_file(kept), kept


# --- 7, 10, 11. params checked when they load, from the command line and from params.yaml -------


_IN = ROOT / "tests"  # never read: each of these runs is refused when params load


def _cli(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args], terminal_width=200)


def _params_error(tmp_path: Path, text: str) -> str:
    path = _params_file(tmp_path, text)
    result = _cli("synthesize", "--input", _IN, "--output", tmp_path / "o", "--params", path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.strip()


def test_negative_seed_is_refused_when_params_load(tmp_path: Path) -> None:
    flag = _cli("synthesize", "--input", _IN, "--output", tmp_path / "o", "--seed", "-1")
    assert flag.exit_code == 2, flag.output
    assert flag.output.strip() == "error: synthesize.seed: must be >= 0, got -1"
    assert _params_error(tmp_path, "synthesize: {seed: -1}\n") == flag.output.strip()
    for section, key in [
        ("shard", "seed"),
        ("evaluate", "seed"),
        ("synthesize", "tau_samples"),
        ("synthesize", "workers"),
    ]:
        text = _params_error(tmp_path, f"{section}: {{{key}: -1}}\n")
        assert text == f"error: {section}.{key}: must be >= 0, got -1", text
    text = _params_error(tmp_path, "data: {places365: {seed: -1}}\n")
    assert text == "error: data.places365.seed: must be >= 0, got -1", text
    for args in (["--tau-samples", "-1"], ["--workers", "-1"]):
        result = _cli("synthesize", "--input", _IN, "--output", tmp_path / "o", *args)
        assert result.exit_code == 2 and "must be >= 0, got -1" in result.output, result.output
    upscale = _cli("enhance", _IN, "--output", tmp_path / "e", "--upscale", "-1")
    assert upscale.exit_code == 2 and "--upscale" in upscale.output, upscale.output


def test_repeated_evs_are_refused_when_params_load(tmp_path: Path) -> None:
    flag = _cli("synthesize", "--input", _IN, "--output", tmp_path / "o", "--evs", "1,1,1")
    assert flag.exit_code == 2, flag.output
    assert flag.output.strip() == "error: synthesize.evs: repeated value 1.0"
    text = _params_error(tmp_path, "synthesize: {evs: [-1, 0, -1.0]}\n")
    assert text == "error: synthesize.evs: repeated value -1.0", text
    assert load_params(None, {"synthesize.evs": [-1.0, 0.0, 1.0]}).synthesize.evs == [-1, 0, 1]


def test_duplicate_params_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    lines = (ROOT / "params.yaml").read_text(encoding="utf-8").splitlines()
    section = lines.index("synthesize:")
    at = next(k for k in range(section, len(lines)) if lines[k].startswith("  seed:"))
    doubled = [*lines[:at], "  seed: 5", *lines[at:]]
    text = _params_error(tmp_path, "\n".join(doubled) + "\n")
    assert text == f"error: synthesize.seed: duplicate key (lines {at + 1} and {at + 2})", text
    text = _params_error(tmp_path, "filter: {workers: 1}\nshard: {}\nfilter: {workers: 2}\n")
    assert text == "error: filter: duplicate key (lines 1 and 3)", text
    nested = "data:\n  places365:\n    seed: 1\n    max_images: 3\n    seed: 2\n"
    text = _params_error(tmp_path, nested)
    assert text == "error: data.places365.seed: duplicate key (lines 3 and 5)", text


# --- 9. photo ids that cannot collide -------------------------------------------------------------


def test_photo_ids_are_distinct_and_stable(tmp_path: Path) -> None:
    """Names that sanitise alike get distinct ids (a short hash of the path is added when
    sanitising lost anything; ids of plain names unchanged); filter and synthesize agree."""
    names = ["c/夏.png", "c/冬.png", "photo 1.png", "photo_1.png", "c/IMG_2.png"]
    photos = tmp_path / "v"
    for seed, name in enumerate(names):
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        (photos / name).write_bytes(photo(seed, ".png"))
    params = _params_file(tmp_path)
    filtered = tmp_path / "filtered"
    result = _cli("filter", "--input", photos, "--output", filtered, "--params", params)
    assert result.exit_code == 0, result.output
    scenes = {Path(r["path"]).relative_to("../v").as_posix(): r["scene"] for r in _rows(filtered)}
    assert len(set(scenes.values())) == len(names), scenes
    assert scenes["photo_1.png"] == "folder-photo_1"  # nothing lost: today's id
    assert scenes["c/IMG_2.png"] == "folder-c_IMG_2"
    assert scenes["photo 1.png"] == "folder-" + path_id("photo 1")
    assert path_id("photo 1") == "photo_1-" + path_id("photo 1").rsplit("-", 1)[1]
    for source in (photos, filtered):
        out = tmp_path / f"pairs-{source.name}"
        result = _cli("synthesize", "--input", source, "--output", out, "--params", params)
        assert result.exit_code == 0, result.output
        ids = {r["scene"]: r["id"].split("--")[0] for r in _rows(out)}
        assert set(ids) == set(scenes.values()) and len(set(ids.values())) == len(names)
        assert all(scene == key for scene, key in ids.items())  # one photo per scene
    again = tmp_path / "again"
    assert _cli("filter", "--input", photos, "--output", again, "--params", params).exit_code == 0
    assert _rows(again) == _rows(filtered)  # stable


def test_a_clash_of_photo_ids_names_both_files(tmp_path: Path) -> None:
    photos = tmp_path / "v"
    (photos / "c").mkdir(parents=True)
    (photos / "c" / "a.png").write_bytes(photo(0, ".png"))
    (photos / "c_a.png").write_bytes(photo(1, ".png"))
    params = _params_file(tmp_path)
    for stage in ("filter", "synthesize"):
        out = tmp_path / stage
        result = _cli(stage, "--input", photos, "--output", out, "--params", params)
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert str(photos / "c" / "a.png") in text and str(photos / "c_a.png") in text, text
        assert "'folder-c_a'" in text, text
        assert not out.exists()
