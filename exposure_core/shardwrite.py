"""Writing the shard format of ``exposure_core.shardfmt``: samples, tar members, shard sizes.

A sample's members go into the tar in a fixed order with fixed metadata (mtime 0, uid/gid 0,
no owner names, mode 0444, PAX headers), so identical inputs give byte-identical tars. A PNG
target is re-encoded losslessly to decode fast (``stored_target``: Up filter; the same decoded
codes, so rendered variants are unchanged, at about the same size); other targets and stored
inputs are their files' bytes as they are. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from exposure_core import imageio, shardfmt
from exposure_core.fsutil import atomic_open, atomic_write_bytes

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


@dataclass
class Sample:
    """One photo: its target file, split, and the pairs (recipes or stored inputs) it holds."""

    key: str
    scene: str
    source: str
    split: str
    split_from: str  # "official" | "hash"
    target: Path
    width: int
    height: int
    variants: list[shardfmt.Variant] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)  # stored inputs, "in<k>" in this order

    @property
    def pairs(self) -> int:
        return len(self.variants)

    def meta(self) -> dict[str, Any]:
        """The sample's JSON: photo fields and the variants' recipes."""
        return {
            "format": shardfmt.FORMAT_VERSION,
            "key": self.key,
            "scene": self.scene,
            "source": self.source,
            "split": self.split,
            "split_from": self.split_from,
            "width": self.width,
            "height": self.height,
            "variants": [v.meta() | {"input": v.input} for v in self.variants],
        }

    def add_input(self, path: Path) -> str:
        """Store ``path`` as the next input; returns its member suffix (``"in<k>.<ext>"``)."""
        self.inputs.append(path)
        return f"in{len(self.inputs) - 1}.{_ext(path)}"

    def members(self) -> list[tuple[str, Path | bytes]]:
        """Tar member names and contents (a file to copy, or bytes) in their fixed order."""
        blob = json.dumps(self.meta(), sort_keys=True, separators=(",", ":")).encode()
        out: list[tuple[str, Path | bytes]] = [
            (f"{self.key}.target.{_ext(self.target)}", self.target)
        ]
        out += [(f"{self.key}.in{k}.{_ext(p)}", p) for k, p in enumerate(self.inputs)]
        out.append((f"{self.key}.{shardfmt.META_MEMBER}", blob))
        return out


def _ext(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _member_bytes(name: str, size: int) -> int:
    header = _tarinfo(name, size).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return len(header) + -(-size // _BLOCK) * _BLOCK


def sample_bytes(sample: Sample) -> int:
    """Bytes the sample adds to a tar (headers and padding included)."""
    return members_bytes(sample.members())


Members = list[tuple[str, "Path | str | bytes"]]  # name, and a file (path) or the bytes


def members_bytes(members: Members) -> int:
    """Bytes these members add to a tar (headers and padding included)."""
    total = 0
    for name, content in members:
        size = len(content) if isinstance(content, bytes) else os.stat(content).st_size
        total += _member_bytes(name, size)
    return total


def tar_bytes(payload: int) -> int:
    """Final size of a tar whose members take ``payload`` bytes (end blocks, record padding)."""
    return -(-(payload + 2 * _BLOCK) // _RECORD) * _RECORD


def plan_shards(
    samples: list[Sample],
    max_samples: int,
    max_bytes: int,
    sizes: list[int] | None = None,
) -> list[list[Sample]]:
    """Cut an ordered split into shards of at most ``max_samples`` and ``max_bytes`` each.

    A single sample larger than ``max_bytes`` gets a shard of its own. ``sizes``: each
    sample's ``sample_bytes`` when already known (worked out where its target was stored).
    """
    shards: list[list[Sample]] = []
    current: list[Sample] = []
    payload = 0
    for n, sample in enumerate(samples):
        size = sample_bytes(sample) if sizes is None else sizes[n]
        full = len(current) >= max_samples or tar_bytes(payload + size) > max_bytes
        if current and full:
            shards.append(current)
            current, payload = [], 0
        current.append(sample)
        payload += size
    if current:
        shards.append(current)
    return shards


def write_tar(path: Path, samples: list[Sample]) -> None:
    """Write one shard atomically; identical inputs give identical bytes."""
    write_members(path, [sample.members() for sample in samples])


class HashingWriter:
    """A binary file that counts and hashes (SHA-256) what is written through it, so a tar's
    size and digest are known without reading it back."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def tell(self) -> int:
        return self.size


def write_members(path: Path, samples: list[Members]) -> tuple[int, str]:
    """Write one shard of these samples' members (``Sample.members``, a file given as a
    ``Path`` or its text) atomically; identical inputs give identical bytes. Returns the tar's
    size and hex SHA-256."""
    with atomic_open(path, "wb") as handle:
        out = HashingWriter(handle)
        pax = tarfile.PAX_FORMAT
        with tarfile.open(fileobj=out, mode="w", format=pax, encoding="utf-8") as tar:
            for members in samples:
                for name, content in members:
                    data = content if isinstance(content, bytes) else Path(content).read_bytes()
                    tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
    return out.size, out.digest.hexdigest()


class TarSeries:
    """Samples of ``(name, bytes)`` members written as they come into ``<folder>/<prefix>-NNNNNN
    .tar`` (numbered from 0), each tar at most ``max_samples`` samples and ``max_bytes`` bytes
    (a larger sample gets a tar of its own), with the fixed member metadata above, so identical
    samples give identical tars. Each tar is written atomically: a failure inside the ``with``
    block leaves no half-written tar. ``written`` lists each finished tar's ``name``,
    ``samples``, ``bytes`` and ``sha256``."""

    def __init__(self, folder: Path, prefix: str, max_samples: int, max_bytes: int) -> None:
        if max_samples < 1 or max_bytes < 1:
            raise ValueError(f"need max_samples, max_bytes >= 1; got {max_samples}, {max_bytes}")
        self.folder, self.prefix = folder, prefix
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.written: list[dict[str, Any]] = []
        self._stack: ExitStack | None = None
        self._tar: tarfile.TarFile | None = None
        self._out: HashingWriter | None = None
        self._samples = self._payload = 0

    def add(self, members: list[tuple[str, bytes]]) -> None:
        """Append one sample's members, in their order, starting a new tar when it is full."""
        size = sum(_member_bytes(name, len(data)) for name, data in members)
        full = self._samples >= self.max_samples or tar_bytes(self._payload + size) > self.max_bytes
        if self._tar is not None and full:
            self._finish()
        if self._tar is None:
            self._open()
        assert self._tar is not None
        for name, data in members:
            self._tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
        self._samples += 1
        self._payload += size

    def _name(self) -> str:
        return f"{self.prefix}-{len(self.written):06d}.tar"

    def _open(self) -> None:
        self._stack = ExitStack()
        handle: IO[bytes] = self._stack.enter_context(atomic_open(self.folder / self._name(), "wb"))
        self._out = HashingWriter(handle)
        self._tar = self._stack.enter_context(
            tarfile.open(fileobj=self._out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8")  # noqa: SIM115
        )
        self._samples = self._payload = 0

    def _finish(self) -> None:
        assert self._stack is not None and self._out is not None
        self._stack.close()  # the tar's end blocks, then the rename into place
        self.written.append(
            {
                "name": self._name(),
                "samples": self._samples,
                "bytes": self._out.size,
                "sha256": self._out.digest.hexdigest(),
            }
        )
        self._stack = self._tar = self._out = None

    def __enter__(self) -> TarSeries:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is None:
            return
        if exc_type is None:
            self._finish()
        else:  # the tar in progress is discarded (atomic_open removes its temporary file)
            self._stack.__exit__(exc_type, exc, tb)
            self._stack = self._tar = None


# A re-encoded PNG target is kept when at most this much larger than the file it replaces
# (a palette or gray PNG becomes RGB and can grow several times; those are stored as they are).
MAX_TARGET_GROWTH = 1.25


def stored_target(target: Path, folder: Path, key: str) -> Path:
    """The file a sample stores as its target: for a PNG, ``<folder>/<key>.png`` re-encoded by
    ``imageio.encode_png_fast_decode`` (the same decoded codes; about a third faster to decode)
    unless that is more than ``MAX_TARGET_GROWTH`` times larger; else the file itself.

    The copy is written atomically and reused when present (a killed run resumes)."""
    if _ext(target) != "png":
        return target
    out = folder / f"{key}.png"
    if not out.is_file():
        data = imageio.encode_png_fast_decode(imageio.read_codes(target))
        if len(data) > MAX_TARGET_GROWTH * target.stat().st_size:
            return target
        atomic_write_bytes(out, data)
    return out
