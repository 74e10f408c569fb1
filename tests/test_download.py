from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from exposure_core.manifest import INDEX_NAME, FilterRow, SourceItem, read_jsonl
from pipeline.params import load_params
from pipeline.sources.archive import ArchiveError
from pipeline.sources.fetch import DownloadError
from pipeline.sources.integrity import LOCK_NAME, ChecksumError, RemoteChangedError
from pipeline.stages import download
from pipeline.stages import filter as filter_stage
from tests._datasets import lol_files, msec_split, photo, places_files, tar_bytes, zip_bytes
from tests._server import FileServer

SCENES = ["a0001-IMG_0001", "a0002-IMG_0002"]
FAST = {"download.retries": 2, "download.backoff_s": 0.001, "download.timeout_s": 5.0}
SERIAL = {"filter.workers": 1}


def _archives() -> dict[str, bytes]:
    testing = msec_split("testing", SCENES[:1])
    return {
        "/msec/training.zip": zip_bytes(msec_split("training", SCENES, drop_gt=(SCENES[1],))),
        "/msec/validation.tar.gz": tar_bytes(msec_split("validation", SCENES[:1])),
        "/msec/testing.tar.xz": tar_bytes(testing, "w:xz"),
        "/lol/LOLdataset.zip": zip_bytes(lol_files()),
        "/places/val_256.tar": tar_bytes(places_files(5), "w"),
    }


def _params(server: FileServer, sources: list[str], **extra):
    overrides = {
        "data.sources": sources,
        "data.msec.training.url": server.url("/msec/training.zip"),
        "data.msec.validation.url": server.url("/msec/validation.tar.gz"),
        "data.msec.testing.url": server.url("/msec/testing.tar.xz"),
        "data.lol.archive.url": server.url("/lol/LOLdataset.zip"),
        "data.places365.base_url": server.url("/places/"),
        "data.places365.md5": hashlib.md5(server.files["/places/val_256.tar"]).hexdigest(),
        **FAST,
        **SERIAL,
        **extra,
    }
    return load_params(None, overrides)


@pytest.fixture
def server():
    with FileServer(files=_archives()) as srv:
        yield srv


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_end_to_end_then_offline_rerun(server, tmp_path):
    raw = tmp_path / "raw"
    params = _params(server, ["msec", "lol", "places365"])
    server.cut_after["/msec/training.zip"] = [5000]  # one transfer dies and resumes
    summary = download.run(params, raw)
    assert summary.counts["archives downloaded"] == 5
    assert summary.counts["msec pairs"] == 5 + 5 + 5 and summary.counts["lol pairs"] == 5
    assert [s.range for s in server.requests("GET", "/msec/training.zip")] == [None, "bytes=5000-"]
    assert (raw / "msec" / "archives" / "training.zip").read_bytes() == server.files[
        "/msec/training.zip"
    ]

    lock = json.loads((raw / LOCK_NAME).read_text())
    assert lock["version"] == 1
    assert sorted(lock["archives"]) == [
        "lol/lol-v1", "msec/testing", "msec/training", "msec/validation", "places365/val_256",
    ]  # fmt: skip
    entry = lock["archives"]["msec/testing"]
    data = server.files["/msec/testing.tar.xz"]
    assert entry["url"] == server.url("/msec/testing.tar.xz") and entry["size"] == len(data)
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["path"] == "msec/archives/testing.tar.xz" and entry["etag"]
    assert entry["fetched_at"].endswith("Z") and entry["md5"] is None
    assert lock["archives"]["places365/val_256"]["md5"]

    msec = list(read_jsonl(raw / "msec" / INDEX_NAME, SourceItem))
    assert {i.split for i in msec} == {"train", "val", "test"}
    rejects = [json.loads(line) for line in (raw / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 5 + 1  # scene 2's inputs without GT; LOL's unpaired low image

    filtered = tmp_path / "filtered"
    filter_stage.run(params, raw, filtered)
    rows = list(read_jsonl(filtered / "manifest.jsonl", FilterRow))
    native = [r for r in rows if r.kind == "native"]
    assert len(native) == 15 + 5 and all(r.keep for r in native)
    assert all((r.width, r.height) == (80, 64) for r in native)
    assert all((filtered / r.path).is_file() and (filtered / r.target).is_file() for r in native)
    assert sum(r.source == "places365" for r in rows) == 5
    assert (filtered / "rejects.jsonl").read_text() == ""

    before = _snapshot(raw)
    server.close()  # any network I/O from here on fails
    again = download.run(params, raw)
    assert again.counts["archives up to date"] == 5 and "archives downloaded" not in again.counts
    assert _snapshot(raw) == before


def test_changed_remote_file_is_refused(server, tmp_path):
    raw = tmp_path / "raw"
    params = _params(server, ["lol"])
    download.run(params, raw)
    # The extraction and the archive are gone, and the server now has another file.
    shutil.rmtree(raw / "lol" / "lol-v1")
    shutil.rmtree(raw / "lol" / "archives")
    server.files["/lol/LOLdataset.zip"] = zip_bytes(lol_files("LOL/"))
    with pytest.raises(RemoteChangedError, match=r"size \d+ -> \d+.*delete the entry 'lol/lol-v1'"):
        download.run(params, raw)
    assert len(server.requests("GET")) == 1  # only the first run's transfer
    # Accepting the change: drop the entry and run again.
    lock = json.loads((raw / LOCK_NAME).read_text())
    del lock["archives"]["lol/lol-v1"]
    (raw / LOCK_NAME).write_text(json.dumps(lock))
    download.run(params, raw)
    assert (raw / "lol" / "lol-v1" / "LOL" / "eval15" / "low" / "1.png").is_file()


def test_wrong_checksum_extracts_nothing(server, tmp_path):
    raw = tmp_path / "raw"
    params = _params(server, ["lol"], **{"data.lol.archive.sha256": "ab" * 32})
    with pytest.raises(ChecksumError) as err:
        download.run(params, raw)
    actual = hashlib.sha256(server.files["/lol/LOLdataset.zip"]).hexdigest()
    message = str(err.value)
    assert "lol-v1.zip" in message and "ab" * 32 in message and actual in message
    assert "data.lol.archive.sha256" in message
    assert sorted(p.name for p in (raw / "lol").rglob("*")) == ["archives", "lol-v1.zip.bad"]
    assert not (raw / LOCK_NAME).exists()


def test_changed_url_and_params_checksum_are_checked_against_the_lock(server, tmp_path):
    raw = tmp_path / "raw"
    download.run(_params(server, ["lol"]), raw)
    server.close()
    moved = {"data.lol.archive.url": "http://127.0.0.1:9/elsewhere.zip"}
    with pytest.raises(RemoteChangedError, match="recorded lol/lol-v1 from"):
        download.run(_params(server, ["lol"], **moved), raw)
    pinned = {"data.lol.archive.sha256": "cd" * 32}
    with pytest.raises(ChecksumError, match="as recorded in sources.lock.json"):
        download.run(_params(server, ["lol"], **pinned), raw)


def test_dropping_archives_still_reruns_offline(server, tmp_path):
    raw = tmp_path / "raw"
    params = _params(server, ["places365"], **{"download.keep_archives": False})
    download.run(params, raw)
    assert not any((raw / "places365" / "archives").iterdir())
    server.close()
    assert download.run(params, raw).counts["archives up to date"] == 1


def test_hostile_archive_from_the_server_writes_nothing(server, tmp_path):
    server.files["/lol/LOLdataset.zip"] = zip_bytes({"../../escaped.png": b"x"})
    raw = tmp_path / "raw"
    with pytest.raises(ArchiveError, match=r"'\.\./\.\./escaped\.png'"):
        download.run(_params(server, ["lol"]), raw)
    assert not (tmp_path / "escaped.png").exists() and not (raw / "lol" / "lol-v1").exists()


def test_unreachable_server_and_unknown_source(server, tmp_path):
    server.close()
    with pytest.raises(DownloadError, match="giving up after 2 retries"):
        download.run(_params(server, ["lol"]), tmp_path / "raw")
    with pytest.raises(ValueError, match="unknown source 'flickr'"):
        download.run(_params(server, ["flickr"]), tmp_path / "raw")


def test_demo_only_run_writes_an_empty_lock_and_drops_stale_indexes(tmp_path):
    (tmp_path / "lol").mkdir()
    (tmp_path / "lol" / INDEX_NAME).write_text("")
    params = load_params(None, {"data.sources": ["demo"], "data.demo.images": ["coffee"]})
    summary = download.run(params, tmp_path)
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == {"archives": {}, "version": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert sorted(p.parent.name for p in tmp_path.glob(f"*/{INDEX_NAME}")) == ["demo"]
    assert "lol: not in data.sources any more" in summary.notes[0]


def test_folder_source_paths_resolve_through_filter(tmp_path):
    photos = tmp_path / "elsewhere" / "photos"
    photos.mkdir(parents=True)
    (photos / "a.jpg").write_bytes(photo(1))
    params = load_params(
        None, {"data.sources": ["folder"], "data.folder.path": str(photos), **SERIAL}
    )
    download.run(params, tmp_path / "raw")
    (item,) = read_jsonl(tmp_path / "raw" / "folder" / INDEX_NAME, SourceItem)
    assert item.path == "../../elsewhere/photos/a.jpg"
    filter_stage.run(params, tmp_path / "raw", tmp_path / "filtered")
    (row,) = read_jsonl(tmp_path / "filtered" / "manifest.jsonl", FilterRow)
    assert (row.width, row.height) == (80, 64)
    assert (tmp_path / "filtered" / row.path).resolve() == (photos / "a.jpg").resolve()
