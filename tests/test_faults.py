"""Faults and bad input: nothing lost, nothing hung, no silent wrong numbers.

One test per promise (docs/reliability.md); each reproduces the fault the way a hostile or
unlucky user meets it: a real CLI run where the CLI is what people use, a patched writer for a
full disk, ``os.kill`` on a pool child, a loopback ``file://`` or HTTP source for archives.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import signal
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pathspec
import pytest
from PIL import Image
from typer.testing import CliRunner

from exposure_core import fsutil, imageio
from exposure_core.discover import LOOP_REASON
from exposure_core.errors import UserError
from exposure_core.parallel import WorkerDiedError, map_ordered
from pipeline.cli import app
from pipeline.params import PRESETS, EnhanceParams, Params, load_params, read_yaml
from pipeline.sources.base import FetchContext
from pipeline.sources.remote import Archive, obtain
from pipeline.stages import enhance, filter, synthesize
from tests import _workers
from tests._datasets import photo
from tests._server import FileServer

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = """\
filter: {workers: 1}
synthesize: {workers: 1, tau_samples: 1, evs: [1.0]}
shard: {split: {train: 1.0, val: 0.0, test: 0.0}}
"""


# --- helpers ----------------------------------------------------------------------------------


def _photos(folder: Path, names: tuple[str, ...] = ("a.png", "b.png", "c.png")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        (folder / name).write_bytes(photo(seed, Path(name).suffix))
    return folder


def _params_file(tmp_path: Path, text: str = FAST) -> Path:
    path = tmp_path / "fast-params.yaml"
    path.write_text(text)
    return path


def _cli(*args: object, params: Path | None = None) -> object:
    argv = [str(a) for a in args] + (["--params", str(params)] if params else [])
    return runner.invoke(app, argv, terminal_width=200)


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with its SHA-256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _tiny_model(tmp_path: Path) -> Path:
    """A small untrained generator: enough for ``prep enhance`` to run end to end."""
    import torch

    from exposure_models.checkpoint import save_generator
    from exposure_models.generator import UNetConfig, UNetGenerator

    torch.manual_seed(0)
    model = tmp_path / "generator.pt"
    gen = UNetGenerator(UNetConfig(depth=3, width=4, norm="none", skip="gain", max_stops=2.0))
    save_generator(model, gen.eval(), {"resize": 0})
    return model


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: the fault under test used to block forever."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _full_disk_after(monkeypatch: pytest.MonkeyPatch, good_writes: int) -> None:
    """Image writes fail with ENOSPC after ``good_writes`` successful ones (a disk filling up)."""
    real = imageio.write.atomic_write_bytes
    calls: list[Path] = []

    def write(path: str | Path, data: bytes) -> None:
        calls.append(Path(path))
        if len(calls) > good_writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(imageio.write, "atomic_write_bytes", write)  # where write_image looks


# --- 1. an output never destroys an input or a folder the stage did not write ------------------


def test_output_overlapping_an_input_or_a_foreign_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = _params_file(tmp_path)
    v = _photos(tmp_path / "v")
    (v / "notes.txt").write_text("not a photo, not ours")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    before = _tree(tmp_path)
    for out in (v, tmp_path, v / "pairs", foreign):
        result = _cli("synthesize", "--input", v, "--output", out, params=params)
        assert result.exit_code == 2 and "--output" in result.output, result.output
        assert _tree(tmp_path) == before
        assert not list(tmp_path.rglob("*.partial"))

    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")  # the folder a shell stands in is never replaced
    result = _cli("synthesize", "--input", v, "--output", ".", params=params)
    assert result.exit_code == 2 and "current folder" in result.output, result.output
    monkeypatch.undo()

    pairs = tmp_path / "pairs"
    for _ in range(2):  # a stage may replace its own earlier output (it carries the marker)
        assert _cli("synthesize", "--input", v, "--output", pairs, params=params).exit_code == 0
    assert (pairs / fsutil.MARKER).is_file()
    before = _tree(tmp_path)
    for out in (pairs, tmp_path, foreign, v):
        result = _cli("shard", "--input", pairs, "--output", out, params=params)
        assert result.exit_code == 2 and "--output" in result.output, result.output
        assert _tree(tmp_path) == before


# --- 2. an I/O error on the output is fatal; the previous output stays whole ------------------


def test_disk_full_is_fatal_and_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = _params_file(tmp_path)
    v, out, fresh = _photos(tmp_path / "v"), tmp_path / "pairs", tmp_path / "fresh"
    assert _cli("synthesize", "--input", v, "--output", out, params=params).exit_code == 0
    before = _tree(out)

    _full_disk_after(monkeypatch, good_writes=3)
    result = _cli("synthesize", "--input", v, "--output", out, "--seed", 1, params=params)
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output and "resume" in result.output
    assert "Traceback" not in result.output
    assert _tree(out) == before  # the previous complete output, untouched
    staging = tmp_path / "pairs.partial"
    assert (staging / ".fingerprint").is_file()  # kept for the resume

    monkeypatch.undo()
    assert (
        _cli("synthesize", "--input", v, "--output", out, "--seed", 1, params=params).exit_code == 0
    )
    assert not staging.exists()
    assert (
        _cli("synthesize", "--input", v, "--output", fresh, "--seed", 1, params=params).exit_code
        == 0
    )
    assert _tree(out) == _tree(fresh)  # the resumed result equals an uninterrupted run


# --- 3. a dead pool worker is noticed: its item is retried once, or named ----------------------


def test_killed_pool_worker_is_retried_and_never_hangs(tmp_path: Path) -> None:
    jobs = [(n, str(tmp_path)) for n in range(8)]
    results = []
    killed = 0
    with _deadline(60):
        for n, result in enumerate(map_ordered(_workers.slow_square, jobs, workers=2)):
            results.append(result)
            if n == 0:  # item 2 is now running: kill its worker, as the OOM killer would
                pid_file = tmp_path / "pid-2"
                for _ in range(200):
                    if pid_file.exists() and pid_file.read_text():
                        break
                    time.sleep(0.05)
                killed = int(pid_file.read_text())
                os.kill(killed, signal.SIGKILL)
    assert results == [n * n for n in range(8)]
    assert int((tmp_path / "pid-2").read_text()) != killed  # item 2 ran again elsewhere


def test_item_that_kills_its_worker_twice_is_named() -> None:
    with _deadline(60), pytest.raises(WorkerDiedError, match="photo-7.*died twice"):
        list(
            map_ordered(
                _workers.die_on_seven, range(12), workers=2, describe=lambda n: f"photo-{n}"
            )
        )


# --- 6. prep enhance never writes two photos to one file --------------------------------------


def test_enhance_keeps_folders_apart_and_refuses_collisions(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path)
    nested = tmp_path / "in"
    _photos(nested / "d1", ("x.png",))
    _photos(nested / "d2", ("x.png",))
    out = tmp_path / "out"
    summary = enhance.run(Params(), [nested], model, out)
    assert summary.counts == {"written": 2}
    assert sorted(_tree(out)) == ["d1/x.png", "d2/x.png"]

    flat = _photos(tmp_path / "flat", ("a.png", "a.jpg"))
    as_jpg = dataclasses.replace(Params(), enhance=EnhanceParams(format="jpg"))
    for inputs in ([flat], [nested / "d1" / "x.png", nested / "d2" / "x.png"]):
        with pytest.raises(UserError, match=r"would both be written to .*(a\.jpg|x\.png)"):
            enhance.run(as_jpg if inputs == [flat] else Params(), inputs, model, tmp_path / "o2")
        assert not (tmp_path / "o2").exists()


# --- 7. a name from params never becomes a path outside its root ------------------------------


def test_names_from_params_stay_inside_their_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    src = tmp_path / "src"
    src.mkdir()
    (src / "outside.tar").write_bytes(_tar({"a.png": photo(0, ".png")}))
    raw = tmp_path / "work" / "data" / "raw"
    escape = "../../../../outside"
    params = _params_file(
        tmp_path,
        "data:\n  sources: [places365]\n  places365:\n"
        f"    base_url: {src.as_uri()}/\n    archive: '{escape}'\n    md5: '{'0' * 32}'\n",
    )
    result = _cli("download", "--output", raw, params=params)
    assert result.exit_code == 2 and "data.places365.archive" in result.output, result.output
    assert _tree(outside) == {"precious.txt": hashlib.sha256(b"keep").hexdigest()}

    # the same guard below the params check, where the name becomes a folder
    ctx = FetchContext(params=load_params(None), raw_root=raw)
    item = Archive(escape, (src / "outside.tar").as_uri(), "data.places365")
    with pytest.raises(fsutil.OutputError, match="plain name"):
        obtain(ctx, raw / "places365", item)
    assert (outside / "precious.txt").read_text() == "keep" and not ctx.lock.entries


# --- 8. no temporary file ever reaches a committed output -------------------------------------


def test_temporary_files_of_a_killed_run_never_reach_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = _params_file(tmp_path)
    v, out = _photos(tmp_path / "v"), tmp_path / "pairs"
    _full_disk_after(monkeypatch, good_writes=2)
    assert _cli("synthesize", "--input", v, "--output", out, params=params).exit_code == 1
    monkeypatch.undo()
    staging = tmp_path / "pairs.partial"
    photo_dir = next(p for p in staging.iterdir() if p.is_dir())
    # what SIGKILL leaves behind: the writers' temporary files, never renamed
    (staging / ".manifest.jsonl.99999.tmp").write_bytes(b"")
    (photo_dir / ".target.png.99999.tmp").write_bytes(b"\x89PNG half")
    assert _cli("synthesize", "--input", v, "--output", out, params=params).exit_code == 0
    names = [p.name for p in out.rglob("*")]
    assert not [n for n in names if fsutil.is_temp_name(n)], names
    assert len(list(out.glob("*/target.png"))) == 3


# --- 9. DVC never sees staging folders or temporary files -------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # DVC matches with this pathspec style
def test_dvcignore_covers_staging_and_temporary_names(tmp_path: Path) -> None:
    spec = pathspec.PathSpec.from_lines(
        "gitwildmatch", (ROOT / ".dvcignore").read_text().splitlines()
    )
    staged = fsutil.StagedDir(tmp_path / "pairs", "key", "synthesize")
    ignored = [
        f"data/{staged.path.name}/a/target.png",
        "data/" + fsutil._tmp_name(Path("pairs/manifest.jsonl")).as_posix(),
        "data/" + fsutil._tmp_name(Path("pairs/a/tau0.png")).as_posix(),
        "data/.pairs.old-x1y2/pairs/manifest.jsonl",
    ]
    for path in ignored:
        assert spec.match_file(path), path
    for path in (
        "data/pairs/manifest.jsonl",
        f"data/pairs/{fsutil.MARKER}",
        "data/pairs/a/tau0.png",
    ):
        assert not spec.match_file(path), path
    # a staging folder from other params is cleared, not mixed in
    (staged.path / "stale.png").write_bytes(b"x")
    fsutil.StagedDir(tmp_path / "pairs", "other-key", "synthesize")
    assert not (staged.path / "stale.png").exists()


# --- 10. each bad input gives one line naming the file or key, exit 2 --------------------------


def _case(tmp_path: Path, name: str) -> tuple[list[object], str]:
    """The command line of one bad-input case and the text its message must name."""
    photos = _photos(tmp_path / "v")
    if name == "params is a folder":
        (tmp_path / "pdir").mkdir()
        return [
            "filter",
            "--input",
            photos,
            "--output",
            tmp_path / "f",
            "--params",
            tmp_path / "pdir",
        ], "pdir"
    if name == "params not UTF-8":
        (tmp_path / "p.yaml").write_bytes(photo(0, ".png"))
        return [
            "filter",
            "--input",
            photos,
            "--output",
            tmp_path / "f",
            "--params",
            tmp_path / "p.yaml",
        ], "p.yaml"
    if name == "analysis_side 0":
        p = _params_file(tmp_path, "filter: {analysis_side: 0}\n")
        return [
            "filter",
            "--input",
            photos,
            "--output",
            tmp_path / "f",
            "--params",
            p,
        ], "filter.analysis_side"
    if name == "val_every 0":
        p = _params_file(tmp_path, "train: {val_every: 0}\n")
        return ["train", "--shards", tmp_path / "s", "--params", p], "train.val_every"
    if name == "device banana":
        return ["train", "--shards", tmp_path / "s", "--device", "banana"], "train.device"
    if name == "enhance device banana":
        return [
            "enhance",
            photos,
            "--output",
            tmp_path / "o",
            "--device",
            "banana",
        ], "enhance.device"
    if name == "enhance symlink loop":
        loop = tmp_path / "loop.jpg"
        loop.symlink_to(loop)
        return ["enhance", loop, "--output", tmp_path / "o"], "loop.jpg"
    if name == "synthesize input is a photo":
        return ["synthesize", "--input", photos / "a.png", "--output", tmp_path / "p"], "a.png"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    [
        "params is a folder",
        "params not UTF-8",
        "analysis_side 0",
        "val_every 0",
        "device banana",
        "enhance device banana",
        "enhance symlink loop",
        "synthesize input is a photo",
    ],
)
def test_bad_input_gives_one_line_naming_it(tmp_path: Path, name: str) -> None:
    argv, named = _case(tmp_path, name)
    result = _cli(*argv)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], result.output


# --- 11. a named params file must exist; built-in defaults are the shipped params.yaml ---------


def test_missing_params_file_is_an_error_and_defaults_equal_params_yaml(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "v")
    missing = tmp_path / "dir" / "params.yaml"
    result = _cli("synthesize", "--input", photos, "--output", tmp_path / "p", params=missing)
    assert result.exit_code == 2 and "no such params file" in result.output
    assert not (tmp_path / "p").exists()

    shipped = ROOT / "params.yaml"
    assert load_params(None) == load_params(shipped)
    assert "presets" not in read_yaml(shipped)["train"]  # written once: pipeline/params/presets
    for preset in PRESETS:
        chosen = {"train.preset": preset}
        assert load_params(None, chosen) == load_params(shipped, chosen)


# --- 12. values that would do nothing, or nonsense, are refused by the params loader ----------


@pytest.mark.parametrize(
    ("text", "key"),
    [("train: {steps: -5}\n", "train.steps"), ("data: {sources: []}\n", "data.sources")],
)
def test_negative_steps_and_empty_sources_are_refused(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        load_params(_params_file(tmp_path, text))
    result = _cli("download", "--output", tmp_path / "raw", params=tmp_path / "fast-params.yaml")
    assert result.exit_code == 2 and key in result.output
    assert not (tmp_path / "raw").exists()


# --- 13. alpha and link loops are reported, not silently dropped ------------------------------


def test_alpha_is_noted_and_link_loops_are_rejected(tmp_path: Path) -> None:
    v = _photos(tmp_path / "v", ("a.png",))
    rgba = np.zeros((64, 80, 4), np.uint8)
    rgba[..., :3] = np.linspace(20, 230, 80, dtype=np.uint8)[None, :, None]
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(v / "cutout.png")
    (v / "self.png").symlink_to(v / "self.png")
    (v / "up").symlink_to(v)
    params = load_params(_params_file(tmp_path))

    summary = synthesize.run(params, v, tmp_path / "pairs")
    assert summary.counts["photos"] == 2
    assert any("alpha" in note and "cutout.png" in note for note in summary.notes), summary.notes
    rejects = [
        json.loads(x) for x in (tmp_path / "pairs" / "rejects.jsonl").read_text().splitlines()
    ]
    assert sorted(Path(r["path"]).name for r in rejects) == ["self.png", "up"]
    assert {r["reason"] for r in rejects} == {LOOP_REASON}

    filter.run(params, v, tmp_path / "filtered")
    text = (tmp_path / "filtered" / "rejects.jsonl").read_text()
    assert "self.png" in text and LOOP_REASON in text

    notes = enhance.run(params, [v], _tiny_model(tmp_path), tmp_path / "enhanced").notes
    assert any("alpha" in note and "cutout.png" in note for note in notes), notes
    assert any("self.png" in note and LOOP_REASON in note for note in notes), notes


# --- 14. one name, two formats: two photos with distinct ids ----------------------------------


def test_same_stem_in_two_formats_gives_two_photos(tmp_path: Path) -> None:
    v = _photos(tmp_path / "v", ("good.jpg", "good.png"))
    result = _cli(
        "synthesize", "--input", v, "--output", tmp_path / "pairs", params=_params_file(tmp_path)
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()]
    folders = sorted({r["target"].split("/")[0] for r in rows})
    assert folders == ["folder-good-good-jpg", "folder-good-good-png"]
    assert len({r["id"] for r in rows}) == len(rows) and len({r["scene"] for r in rows}) == 1


# --- 15. a refused archive is not pinned: a fixed one at the same URL is accepted --------------


def test_refused_archive_is_not_pinned(tmp_path: Path) -> None:
    unsafe = _tar({"ok/a.png": photo(0, ".png"), "../evil.txt": b"escape"})
    fixed = _tar({"ok/a.png": photo(0, ".png")})
    raw = tmp_path / "raw"
    ctx = FetchContext(params=load_params(None), raw_root=raw)
    with FileServer(files={"/x/set.tar": unsafe}) as server:
        item = Archive("set", server.url("/x/set.tar"), "data.test.archive")
        with pytest.raises(UserError, match=r"evil.*nothing was extracted or recorded"):
            obtain(ctx, raw / "test", item)
        assert ctx.lock.get("test/set") is None and not (raw / "evil.txt").exists()
        server.files["/x/set.tar"] = fixed
        root = obtain(ctx, raw / "test", item)
    assert (root / "ok" / "a.png").is_file()
    assert ctx.lock.get("test/set").sha256 == hashlib.sha256(fixed).hexdigest()


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
