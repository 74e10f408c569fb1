from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from pipeline.params import DownloadParams
from pipeline.sources.fetch import DownloadError, RemoteInfo, download, head, is_remote, local_path
from pipeline.sources.integrity import ChecksumError, check_digest, file_digests
from tests._server import FileServer

FAST = DownloadParams(retries=3, backoff_s=0.001, timeout_s=5.0, chunk_bytes=4096)
DATA = os.urandom(100_000)


@pytest.fixture
def server():
    with FileServer(files={"/data.bin": DATA}) as srv:
        yield srv


def test_download_streams_the_file(server, tmp_path):
    dest = tmp_path / "data.bin"
    info = download(server.url("/data.bin"), dest, FAST)
    assert dest.read_bytes() == DATA
    assert info.size == len(DATA) and info.etag == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert not (tmp_path / "data.bin.part").exists()
    assert not (tmp_path / "data.bin.part.json").exists()
    assert [s.method for s in server.seen] == ["HEAD", "GET"]


def test_cut_connection_resumes_with_range(server, tmp_path):
    server.cut_after["/data.bin"] = [30_000, 20_000]
    dest = tmp_path / "data.bin"
    download(server.url("/data.bin"), dest, FAST)
    assert dest.read_bytes() == DATA
    ranges = [s.range for s in server.requests("GET")]
    assert ranges == [None, "bytes=30000-", "bytes=50000-"]


def test_transient_5xx_is_retried_and_404_is_not(server, tmp_path):
    server.fail["/data.bin"] = [503, 500]
    download(server.url("/data.bin"), tmp_path / "a.bin", FAST)
    assert (tmp_path / "a.bin").read_bytes() == DATA
    assert len(server.requests("GET")) == 3
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("/missing.bin"), tmp_path / "b.bin", FAST)
    assert len(server.requests(path="/missing.bin")) == 1


def test_retries_run_out_and_keep_the_partial_file(server, tmp_path):
    server.fail["/data.bin"] = [503] * 10
    with pytest.raises(DownloadError, match=r"giving up after 3 retries"):
        download(server.url("/data.bin"), tmp_path / "a.bin", FAST)
    assert len(server.requests("GET")) == 4  # the first try and 3 retries
    assert not (tmp_path / "a.bin").exists()


def test_a_part_file_from_an_earlier_run_is_resumed(server, tmp_path):
    dest = tmp_path / "data.bin"
    server.cut_after["/data.bin"] = [40_000]
    with pytest.raises(DownloadError):
        download(server.url("/data.bin"), dest, DownloadParams(retries=0, backoff_s=0.001))
    assert (tmp_path / "data.bin.part").stat().st_size == 40_000
    download(server.url("/data.bin"), dest, FAST)
    assert dest.read_bytes() == DATA
    assert server.requests("GET")[-1].range == "bytes=40000-"


def test_a_part_file_of_another_version_is_discarded(server, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"x" * 500)
    stale = RemoteInfo(size=len(DATA), etag='"old"', last_modified=None)
    (tmp_path / "data.bin.part.json").write_text(json.dumps(dataclasses.asdict(stale)))
    download(server.url("/data.bin"), dest, FAST)
    assert dest.read_bytes() == DATA
    assert server.requests("GET")[-1].range is None


def test_range_past_the_end(server, tmp_path):
    # A server that gave no size: a complete part is recognised from the 416 answer...
    dest = tmp_path / "data.bin"
    info = RemoteInfo(size=None, etag="e", last_modified=None)
    (tmp_path / "data.bin.part").write_bytes(DATA)
    (tmp_path / "data.bin.part.json").write_text(json.dumps(dataclasses.asdict(info)))
    assert download(server.url("/data.bin"), dest, FAST, info).size == len(DATA)
    assert dest.read_bytes() == DATA
    # ...and a part longer than the file is dropped, with a message to run again.
    (tmp_path / "data.bin.part").write_bytes(DATA + b"extra")
    (tmp_path / "data.bin.part.json").write_text(json.dumps(dataclasses.asdict(info)))
    with pytest.raises(DownloadError, match="refused to resume"):
        download(server.url("/data.bin"), tmp_path / "data.bin", FAST, info)
    assert not (tmp_path / "data.bin.part").exists()


def test_a_server_that_ignores_ranges_restarts_the_file(server, tmp_path):
    server.ignore_range = True
    server.cut_after["/data.bin"] = [10_000]
    download(server.url("/data.bin"), tmp_path / "data.bin", FAST)
    assert (tmp_path / "data.bin").read_bytes() == DATA


def test_head_falls_back_to_a_one_byte_get(server):
    server.head_allowed = False
    info = head(server.url("/data.bin"), FAST)
    assert info.size == len(DATA)
    assert server.requests("GET")[-1].range == "bytes=0-0"


def test_local_paths_and_schemes(tmp_path):
    assert is_remote("https://example.org/a.tar") and not is_remote("file:///a.tar")
    assert local_path("http://example.org/a.tar") is None
    assert local_path(f"file://{tmp_path}/a b.tar") == tmp_path / "a b.tar"
    assert local_path("data/a.tar") == Path("data/a.tar")
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        local_path("ftp://example.org/a.tar")
    with pytest.raises(ValueError, match="not an http"):
        download("data/a.tar", tmp_path / "a.tar", FAST)


def test_digests_and_checksum_error(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    digests = file_digests(path, ("sha256", "md5"))
    # Hand values: the standard test vectors for "abc".
    assert digests["md5"] == "900150983cd24fb0d6963f7d28e17f72"
    assert digests["sha256"].startswith("ba7816bf8f01cfea414140de5dae2223")
    check_digest(path, "md5", "900150983CD24FB0D6963F7D28E17F72", digests["md5"], "table")
    with pytest.raises(ChecksumError) as err:
        check_digest(path, "md5", "0" * 32, digests["md5"], "the table")
    assert str(err.value) == (
        f"{path}: md5 mismatch: expected {'0' * 32} (the table), "
        "got 900150983cd24fb0d6963f7d28e17f72"
    )
