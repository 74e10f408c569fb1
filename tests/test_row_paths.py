"""The fast paths a stage's driver takes per row give what the plain ones gave: a manifest line is
``json.dumps(dataclasses.asdict(row))``, a row read back is the one the dataclass's own
``__init__`` builds, a file resolved folder by folder is ``Path.resolve()``, and an output
holding an input file (through a link or ``..``) is still refused."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from exposure_core.fsutil import OutputError, check_output, real_paths
from exposure_core.manifest import (
    OMIT_IF_NONE,
    FilterRow,
    ManifestError,
    PairRow,
    Reject,
    SourceItem,
    from_mapping,
    read_jsonl,
    read_lines,
    row_from_line,
    to_json,
)

ROWS: list[Any] = [
    SourceItem("msec", "msec-a0001", "../x/a0001_N1.JPG", "native", "../x/a0001.jpg", "val", -1.0),
    FilterRow(
        "folder", "folder-p1", "../crops/p1.jpg", True, "ok", width=256, height=256,
        stats={"clipped_high": 0.01, "mean": 0.4}, ev_estimate=-0.25, colour_space="Display P3",
    ),
    FilterRow("demo", "demo-coffee", "coffee.png", False, "dark"),
    PairRow(
        "p1--cam0", "folder-p1", "folder", None, None, "../crops/p1.jpg", "camera", None, 1.5,
        None, 256, 256, recipe=True, camera={"slope": 1.2, "gamma": 2.0, "quality": None},
    ),
    PairRow("夏--evP1", "folder-夏", "folder", "train", "夏/evP1.png", "夏/target.png", "ev",
            None, 1.0, 2.2, 40, 30, curve="gamma"),
    Reject("a.jpg", "too small", "filter", {"files": ["a.jpg", "b.png"], "id": "x"}),
]  # fmt: skip


def _asdict_line(row: Any) -> str:
    """The line as manifests were written before: ``asdict``, the omitted Nones deleted."""
    data = dataclasses.asdict(row)
    for f in dataclasses.fields(row):
        if f.metadata.get(OMIT_IF_NONE) and data[f.name] is None:
            del data[f.name]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: type(r).__name__)
def test_lines_and_rows_are_those_of_asdict_and_init(row: Any) -> None:
    line = to_json(row)
    assert line == _asdict_line(row)
    data = json.loads(line)
    built, read = type(row)(**data), from_mapping(type(row), data, "m:1")
    assert read == built == row
    assert list(vars(read).items()) == list(vars(built).items())  # same fields, same order
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.source = "changed"  # type: ignore[misc]


def test_defaults_unknown_keys_and_missing_fields() -> None:
    first = from_mapping(Reject, {"path": "a", "reason": "r", "stage": "s", "later": 1}, "m:2")
    second = from_mapping(Reject, {"path": "a", "reason": "r", "stage": "s"}, "m:3")
    assert first == second == Reject("a", "r", "s")
    assert first.extra == {} and first.extra is not second.extra  # a fresh default each
    with pytest.raises(ManifestError, match=r"m:4: missing field\(s\) reason, stage"):
        from_mapping(Reject, {"path": "a"}, "m:4")


def test_lines_read_and_parsed_apart_name_the_same_line(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    good = to_json(ROWS[3])
    manifest.write_bytes(f"{good}\r\n\n{good}\n[1]\n".encode())
    with pytest.raises(ManifestError, match=r"manifest.jsonl:4: expected a JSON object"):
        list(read_jsonl(manifest, PairRow))
    lines, digest = read_lines(manifest)
    with open(manifest, encoding="utf-8") as handle:  # as read_jsonl reads it: \r\n -> \n
        assert lines == handle.readlines()
    assert digest == hashlib.sha256(manifest.read_bytes()).hexdigest()  # in the same read
    streamed = hashlib.sha256()
    with pytest.raises(ManifestError):  # line 4, read through the hash all the same
        list(read_jsonl(manifest, PairRow, streamed))
    (tmp_path / "good.jsonl").write_bytes(f"{good}\r\n\n{good}\n".encode())
    streamed = hashlib.sha256()
    assert list(read_jsonl(tmp_path / "good.jsonl", PairRow, streamed)) == [ROWS[3], ROWS[3]]
    assert (
        streamed.hexdigest() == hashlib.sha256((tmp_path / "good.jsonl").read_bytes()).hexdigest()
    )
    where = [f"{manifest}:{n}" for n in range(1, len(lines) + 1)]
    assert [row_from_line(PairRow, lines[n], where[n]) for n in range(3)] == [
        ROWS[3],
        None,
        ROWS[3],
    ]
    with pytest.raises(ManifestError, match=r"manifest.jsonl:4: expected a JSON object"):
        row_from_line(PairRow, lines[3], where[3])
    (tmp_path / "latin.jsonl").write_bytes(b"\xff\n")
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        read_lines(tmp_path / "latin.jsonl")


def test_real_paths_are_path_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "photos" / "deep").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    for name in ("a.jpg", "deep/b.jpg"):
        (tmp_path / "photos" / name).write_bytes(b"x")
    (tmp_path / "other" / "a.jpg").write_bytes(b"y")
    os.symlink(tmp_path / "photos", tmp_path / "linked")  # a linked folder
    os.symlink(tmp_path / "other" / "a.jpg", tmp_path / "photos" / "c.jpg")  # a linked file
    os.symlink(tmp_path / "photos" / "deep", tmp_path / "other" / "jump")  # `..` after a link
    os.symlink(tmp_path / "nowhere.jpg", tmp_path / "photos" / "dangling.jpg")
    names = [
        "photos/a.jpg", "photos/deep/b.jpg", "linked/a.jpg", "linked/deep/b.jpg",
        "photos/c.jpg", "other/jump/../a.jpg", "photos/dangling.jpg", "photos/missing.jpg",
        "photos/./a.jpg", "photos/deep/..", "photos",
    ]  # fmt: skip
    given = [str(tmp_path / name) for name in names]
    assert list(real_paths(given)) == [str(Path(p).resolve()) for p in given]
    monkeypatch.chdir(tmp_path / "photos")
    assert list(real_paths(["a.jpg", "deep/b.jpg"])) == [
        str(Path("a.jpg").resolve()), str(Path("deep/b.jpg").resolve())
    ]  # fmt: skip


def test_an_output_holding_an_input_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "photo.jpg").write_bytes(b"x")
    (tmp_path / "in").mkdir()
    os.symlink(out / "sub" / "photo.jpg", tmp_path / "in" / "linked.jpg")
    os.symlink(out / "sub", tmp_path / "in" / "folder")
    check_output(out, files=[tmp_path / "in"])  # beside it: fine
    for inside in ("in/linked.jpg", "in/folder/photo.jpg", "in/../out/sub/photo.jpg", "out"):
        with pytest.raises(OutputError, match="contains the input file"):
            check_output(out, files=[tmp_path / "in", tmp_path / inside])
