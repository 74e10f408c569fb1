from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeline.sources.archive import STAMP_NAME, ArchiveError, extract, read_stamp, safe_member_path
from tests._datasets import tar_bytes, zip_bytes

FILES = {"top/a.txt": b"alpha", "top/sub/b.bin": bytes(range(256)) * 4, "c.txt": b""}


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz", "zip"])
def test_round_trip_every_format(tmp_path, mode):
    data = zip_bytes(FILES) if mode == "zip" else tar_bytes(FILES, mode)
    archive = tmp_path / "in.archive"  # the format is sniffed, not taken from the name
    archive.write_bytes(data)
    count = extract(archive, tmp_path / "out", stamp="abc")
    assert count == 3
    for name, content in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == content
    assert read_stamp(tmp_path / "out") == "abc"
    expected = ["in.archive", "out", "out/c.txt", f"out/{STAMP_NAME}", "out/top"]
    expected += ["out/top/a.txt", "out/top/sub", "out/top/sub/b.bin"]
    assert _listing(tmp_path) == sorted(expected)


def test_safe_member_path():
    assert safe_member_path("./a/./b.jpg").as_posix() == "a/b.jpg"
    assert safe_member_path("a\\b.jpg").as_posix() == "a/b.jpg"
    assert safe_member_path("./") is None
    for bad, reason in [("/etc/x", "absolute"), ("C:/x", "absolute"), ("a/../../x", "'..'")]:
        with pytest.raises(ValueError, match=reason):
            safe_member_path(bad)


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))  # a harmless member first: it must not survive
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def _zip_with(name: str, mode: int = 0o100644) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fine.txt", b"ok")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, b"../../outside" if stat.S_ISLNK(mode) else b"payload")
    return buffer.getvalue()


HOSTILE = [
    ("absolute", _tar_with(_member("/tmp/evil.txt"), b"x"), "/tmp/evil.txt", "absolute path"),
    ("traversal", _tar_with(_member("../evil.txt"), b"x"), "../evil.txt", "'..'"),
    ("deep", _tar_with(_member("a/../../evil.txt"), b"x"), "a/../../evil.txt", "'..'"),
    ("symlink", _tar_with(_member("ln", tarfile.SYMTYPE, "../..")), "ln", "symbolic link"),
    ("hardlink", _tar_with(_member("hl", tarfile.LNKTYPE, "/etc/passwd")), "hl", "hard link"),
    ("device", _tar_with(_member("dev", tarfile.CHRTYPE)), "dev", "device file"),
    ("fifo", _tar_with(_member("fifo", tarfile.FIFOTYPE)), "fifo", "FIFO"),
    ("zip-traversal", _zip_with("../evil.txt"), "../evil.txt", "'..'"),
    ("zip-absolute", _zip_with("/evil.txt"), "/evil.txt", "absolute path"),
    ("zip-symlink", _zip_with("ln", 0o120777), "ln", "symbolic link"),
]


@pytest.mark.parametrize(
    ("data", "member", "reason"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_archives_are_refused_and_leave_nothing(tmp_path, data, member, reason):
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "evil.archive"
    archive.write_bytes(data)
    before = _listing(tmp_path)
    with pytest.raises(ArchiveError, match=reason) as err:
        extract(archive, work / "out")
    assert err.value.member == member
    assert repr(member) in str(err.value) and str(archive) in str(err.value)
    assert _listing(tmp_path) == before  # no target, no temporary folder, nothing outside
    assert not Path("/tmp/evil.txt").exists()


def test_total_size_limit_guards_against_bombs(tmp_path):
    big = {"zeros.bin": bytes(50_000)}
    for name, data in [("z.zip", zip_bytes(big)), ("t.tgz", tar_bytes(big))]:
        archive = tmp_path / name
        archive.write_bytes(data)
        with pytest.raises(ArchiveError, match="more than|unpacks to"):
            extract(archive, tmp_path / "out", max_bytes=10_000)
        assert not (tmp_path / "out").exists()
    extract(tmp_path / "t.tgz", tmp_path / "out", max_bytes=50_000)  # the limit is inclusive
    assert (tmp_path / "out" / "zeros.bin").stat().st_size == 50_000


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
@pytest.mark.parametrize("keep", [0.5, 0.995])  # inside a member; only the end of the stream
def test_truncated_tars_are_refused(tmp_path, mode, keep):
    big = {"a.bin": bytes(range(256)) * 40, "b.bin": bytes(3000)}
    data = tar_bytes(big, mode)
    cut = tmp_path / "cut.archive"
    cut.write_bytes(data[: int(len(data) * keep)])
    if mode == "w" and keep > 0.9:  # only end-of-archive padding is lost: every byte is there
        extract(cut, tmp_path / "out")
        assert (tmp_path / "out" / "b.bin").read_bytes() == bytes(3000)
        return
    with pytest.raises(ArchiveError, match="broken archive|truncated|not a zip or tar"):
        extract(cut, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.archive"]


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an archive")
    with pytest.raises(ArchiveError, match="not a zip or tar archive"):
        extract(text, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_existing_target_is_not_overwritten(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes(FILES, "w"))
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        extract(archive, tmp_path / "out")
    assert read_stamp(tmp_path / "out") is None
