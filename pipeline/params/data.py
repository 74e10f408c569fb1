"""``io``, ``data``, ``download`` and ``engine``: decoding limits, the photo sources and how they
are fetched (docs/stages.md: "download"), and where the data stages run (docs/scale-out.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from exposure_core.schema import AtLeast, Between, ConfigError, check_fields

Count = Annotated[int, AtLeast(0)]


@dataclass(frozen=True)
class IoParams:
    """Decoding limits and output encodings shared by the data stages."""

    max_pixels: Annotated[int, AtLeast(1)] = 200_000_000  # refuse larger (decompression bombs)
    min_side: Annotated[int, AtLeast(1)] = 64  # smaller images are rejected as unusable
    jpeg_quality: Annotated[int, Between(0, 100)] = 95
    png_level: Annotated[int, Between(-1, 9)] = -1  # -1: OpenCV's fast default (RLE, Sub
    # filter); 0..9: zlib level

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class DemoSource:
    images: list[str] = field(
        default_factory=lambda: [
            "astronaut",
            "coffee",
            "chelsea",
            "rocket",
            "motorcycle_left",
            "motorcycle_right",
        ]
    )


@dataclass(frozen=True)
class FolderSource:
    path: str = ""  # a folder of photos (JPEG/PNG/TIFF/WebP/RAW) or its URL, searched recursively
    recursive: bool = True

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ArchiveSpec:
    url: str = ""
    sha256: str = ""  # optional; recorded in sources.lock.json on first download when empty
    md5: str = ""

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class MsecSource:
    training: ArchiveSpec = field(default_factory=ArchiveSpec)
    validation: ArchiveSpec = field(default_factory=ArchiveSpec)
    testing: ArchiveSpec = field(default_factory=ArchiveSpec)
    splits: list[str] = field(default_factory=lambda: ["training", "validation", "testing"])
    expert: Literal["a", "b", "c", "d", "e"] = "c"  # ground truth of the testing set
    # a local copy in MSEC's layout (<path>/training/INPUT_IMAGES, ...): read in place, no
    # archives fetched; empty: the archives above
    path: str = ""
    # each render's target: expert (MSEC's protocol: GT_IMAGES, expert C; testing: `expert`)
    # or ev0 (the scene's EV 0 render: the pair differs by exposure only)
    target: Literal["expert", "ev0"] = "expert"
    # the MSEC split that becomes the pipeline's test split: testing (MSEC's protocol), or
    # validation for a copy without MSEC's testing set (its pairs then are `test`, none `val`)
    test_split: Literal["testing", "validation"] = "testing"

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class LolSource:
    archive: ArchiveSpec = field(default_factory=ArchiveSpec)


@dataclass(frozen=True)
class Places365Source:
    base_url: str = "http://data.csail.mit.edu/places/places365/"
    archive: str = "val_256"  # val_256, train_256_places365standard, val_large, ...
    max_images: Count = 2000  # 0 keeps all; otherwise a deterministic subset of this size
    seed: Count = 0
    md5: str = ""  # overrides the built-in MD5 of the archive (a mirror or an unlisted archive)

    def __post_init__(self) -> None:
        check_fields(self)
        name = self.archive
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ConfigError(
                "archive",
                f"{name!r} must be an archive name such as val_256 "
                "(no '/' or '..': it becomes a folder under data/raw/places365)",
            )


@dataclass(frozen=True)
class DataParams:
    """Which sources ``prep download`` fetches, and each source's settings."""

    sources: list[str] = field(default_factory=lambda: ["demo"])
    demo: DemoSource = field(default_factory=DemoSource)
    folder: FolderSource = field(default_factory=FolderSource)
    msec: MsecSource = field(default_factory=MsecSource)
    lol: LolSource = field(default_factory=LolSource)
    places365: Places365Source = field(default_factory=Places365Source)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError(
                "sources", "empty; list at least one source (demo, folder, msec, lol, places365)"
            )


@dataclass(frozen=True)
class DownloadParams:
    retries: Count = 5  # consecutive failed attempts (without new bytes) before giving up
    backoff_s: Annotated[float, AtLeast(0)] = 1.0  # first retry delay; doubles each retry
    timeout_s: Annotated[float, AtLeast(0, strict=True)] = 60.0
    chunk_bytes: Annotated[int, AtLeast(1)] = 1 << 20
    keep_archives: bool = True  # False deletes an archive once extracted (the lock keeps sha256)
    max_extract_bytes: Annotated[int, AtLeast(1)] = 1 << 40  # refuse larger unpacks (zip bombs)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class EngineParams:
    """Where the data stages' per-photo work runs (``exposure_core.engines``).

    ``local``: worker processes of this machine (``<stage>.workers``). ``ray``: Ray tasks on the
    cluster at ``address`` (``""``: a Ray instance started for the run, or ``RAY_ADDRESS``;
    ``auto``: the cluster this machine joined; ``host:port``; ``ray://host:port``). Either
    engine writes the same bytes, so dvc.yaml lists this section under no stage.
    """

    name: Literal["local", "ray"] = "local"
    address: str = ""
