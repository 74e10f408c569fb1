"""The JSON Lines contracts between stages.

* ``data/raw/<source>/index.jsonl``: one ``SourceItem`` per clean photo or native pair,
  written by ``prep download`` (paths relative to the index file).
* ``<filter output>/manifest.jsonl``: one ``FilterRow`` per item (paths relative to it).
* ``<synthesize output>/manifest.jsonl``: one ``PairRow`` per training pair (DESIGN.md).
* ``rejects.jsonl`` beside each: what was left out and why.

Paths inside a manifest are relative to the manifest's folder, with forward slashes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from exposure_core.errors import UserError
from exposure_core.fsutil import atomic_open

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")
INDEX_NAME = "index.jsonl"
MANIFEST_NAME = "manifest.jsonl"
REJECTS_NAME = "rejects.jsonl"
OMIT_IF_NONE = "omit_if_none"  # field metadata: a None value is left out of the JSON line


class ManifestError(UserError):
    """A manifest file or row that does not follow its contract."""


@dataclass(frozen=True)
class SourceItem:
    """A clean photo (``kind="clean"``) or a native input/target pair (``kind="native"``)."""

    source: str
    scene: str  # photos of one scene never cross splits
    path: str  # the photo (clean) or the input (native)
    kind: Literal["clean", "native"] = "clean"
    target: str | None = None  # native pairs: the ground truth
    split: str | None = None  # official split when the source has one
    ev: float | None = None  # native pairs: the input's relative exposure, when known


@dataclass(frozen=True)
class FilterRow:
    """The filter's verdict on one item; native pairs pass through unscored."""

    source: str
    scene: str
    path: str
    keep: bool
    reason: str
    kind: Literal["clean", "native"] = "clean"
    target: str | None = None
    split: str | None = None
    ev: float | None = None
    width: int | None = None
    height: int | None = None
    stats: dict[str, float] | None = None
    ev_estimate: float | None = None  # estimated exposure error, stops (negative: under)
    # the photo's embedded ICC profile: "sRGB", its description, or "unknown" (unparsable);
    # left out of the JSON line without a profile (read as sRGB), so other rows are unchanged
    colour_space: str | None = field(default=None, metadata={OMIT_IF_NONE: True})


@dataclass(frozen=True)
class PairRow:
    """One training pair (DESIGN.md): input and target paths relative to the manifest.

    ``recipe`` True: the input is the target mapped by (``kind``, ``tau``, ``ev``, ``gamma``,
    ``curve``, ``camera``) with ``exposure_core.shardfmt.render``; shards keep the recipe, not
    the file, and ``input`` is None when ``prep synthesize`` wrote the manifest only.
    ``camera``: for ``kind="camera"`` only, the camera curve's numbers (``slope``, ``gamma``,
    ``contrast``, ``saturation``, ``quality``; ``exposure_core.camera.CameraRecipe`` with
    ``ev``); left out of the JSON line when None, so other rows read as they always did.
    ``colour_space``: the source photo's ICC profile (as ``FilterRow.colour_space``; left out
    without one). The pairs hold the photo's codes as they are, never converted.
    """

    id: str
    scene: str
    source: str
    split: str | None
    input: str | None
    target: str
    kind: Literal["overexpose", "ev", "camera", "native"]
    tau: float | None
    ev: float | None
    gamma: float | None
    width: int
    height: int
    curve: Literal["gamma", "srgb"] | None = None  # None: gamma when ``gamma`` is set, else srgb
    recipe: bool = False
    camera: dict[str, Any] | None = field(default=None, metadata={OMIT_IF_NONE: True})
    colour_space: str | None = field(default=None, metadata={OMIT_IF_NONE: True})


@dataclass(frozen=True)
class Reject:
    """An item left out of a stage's output, with the reason."""

    path: str
    reason: str
    stage: str
    extra: dict[str, Any] = field(default_factory=dict)


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Layout:
    """A row class's field names in order (and as a set), those marked ``OMIT_IF_NONE``, the
    required ones, the defaults (a factory's marked ``_FACTORY``), and whether a row can be
    filled in directly (``plain``: every field in ``__init__``, no ``__post_init__``, no
    slots): worked out once per
    class, as rows are written and read by the million."""

    names: tuple[str, ...]
    known: frozenset[str]
    omit: frozenset[str]
    required: frozenset[str]
    defaults: dict[str, Any]
    plain: bool


_FACTORY = object()


@functools.cache
def _layout(cls: type) -> _Layout:
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    omit = frozenset(f.name for f in fields if f.metadata.get(OMIT_IF_NONE))
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else _FACTORY
        for f in fields
        if f.name not in required
    }
    plain = all(f.init for f in fields) and not any(
        hasattr(cls, name) for name in ("__post_init__", "__slots__")
    )
    return _Layout(names, frozenset(names), omit, required, defaults, plain)


def _nested(value: Any) -> Any:
    """A dataclass inside a row's field, as ``dataclasses.asdict`` gives it (json's hook)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_nested)


def to_json(row: Any) -> str:
    """One compact JSON line for a row dataclass (keys in field order; a None field marked
    ``OMIT_IF_NONE`` left out): the line of ``json.dumps(dataclasses.asdict(row))``, without
    its deep copy of every value."""
    layout = _layout(type(row))
    data = {}
    for name in layout.names:
        value = getattr(row, name)
        if value is None and name in layout.omit:
            continue
        data[name] = value
    return _ENCODER.encode(data)


def from_mapping(cls: type[_T], data: dict[str, Any], where: str) -> _T:
    """Build a row dataclass from a decoded JSON object, naming the file and line on error."""
    layout = _layout(cls)
    if not layout.required <= data.keys():
        missing = sorted(layout.required - data.keys())
        raise ManifestError(f"{where}: missing field(s) {', '.join(missing)}")
    if not layout.plain:
        return cls(**{k: v for k, v in data.items() if k in layout.known})
    # What the dataclass's own __init__ does (each field set in order, a default where the
    # data has none), without its one object.__setattr__ call per field of a frozen class.
    row = object.__new__(cls)
    values = row.__dict__
    for name in layout.names:
        if name in data:
            values[name] = data[name]
        else:
            value = layout.defaults[name]
            values[name] = _factory(cls, name) if value is _FACTORY else value
    return row


def _factory(cls: type, name: str) -> Any:
    """A fresh default of the field ``name`` of ``cls`` made by its ``default_factory``."""
    field_ = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field_.default_factory()  # type: ignore[misc]


def read_jsonl(path: str | Path, cls: type[_T], digest: Any = None) -> Iterator[_T]:
    """Stream rows of ``cls`` from a JSON Lines file; errors name the file and line.

    ``digest`` (a ``hashlib`` object) is updated with every byte read, so a caller that reads
    the rows to the end has the file's hash without reading it again."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    with _open_text(path, digest) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                row = row_from_line(cls, line, f"{path}:{number}")
                if row is not None:
                    yield row
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path}: not a JSON Lines manifest (not UTF-8 text)") from exc


class _HashingReader(io.RawIOBase):
    """A binary file read through a hash of every byte read."""

    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self.raw = raw
        self.digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return n or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_text(path: Path, digest: Any = None) -> io.TextIOBase:
    """``open(path, encoding="utf-8")``, read through ``digest`` when one is given."""
    if digest is None:
        return open(path, encoding="utf-8")
    raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed with the text wrapper
    return io.TextIOWrapper(io.BufferedReader(_HashingReader(raw, digest)), encoding="utf-8")


def read_lines(path: str | Path) -> tuple[list[str], str]:
    """The lines of a JSON Lines file as ``read_jsonl`` reads them (line ``n`` at ``n - 1``),
    unparsed: to be parsed elsewhere with ``row_from_line``; and the file's hex SHA-256,
    taken in the same read."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    digest = hashlib.sha256()
    with _open_text(path, digest) as handle:
        try:
            lines = handle.readlines()
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path}: not a JSON Lines manifest (not UTF-8 text)") from exc
    return lines, digest.hexdigest()


def row_from_line(cls: type[_T], line: str, where: str) -> _T | None:
    """The row of ``cls`` one manifest line holds (None for a blank line); errors name
    ``where`` (``file:line``)."""
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object")
    return from_mapping(cls, data, where)


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    """Write rows atomically as JSON Lines; returns the number of rows."""
    count = 0
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(to_json(row) + "\n")
            count += 1
    return count


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def slug(text: str) -> str:
    """A file- and WebDataset-key-safe name: letters, digits, ``_`` and ``-`` only (no dots)."""
    cleaned = _UNSAFE.sub("_", text).strip("_")
    return cleaned or "_"


def path_id(text: str) -> str:
    """The id of a photo from its relative path without suffix (or any name): ``slug(text)``
    when sanitising loses nothing but the folder separators (``c/IMG_1`` -> ``c_IMG_1``),
    else that slug plus 8 hex digits of the SHA-256 of ``text``, so ``photo 1`` and
    ``photo_1``, or ``夏`` and ``冬``, never share an id. Depends on ``text`` alone (stable);
    the clash left (``c/a`` and ``c_a``) is refused by ``check_distinct_ids``."""
    cleaned = slug(text)
    if cleaned == text.replace("/", "_"):
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return digest if cleaned == "_" else f"{cleaned}-{digest}"


def check_distinct_ids(named: Iterable[tuple[str, str, str]]) -> None:
    """Refuse one id made from two different texts, naming both files.

    ``named``: (id, the text it was made from, the file) triples. Files with one text (a RAW
    file and its JPEG, ``IMG_1.CR2`` and ``IMG_1.JPG``) share their id on purpose.
    """
    first: dict[str, tuple[str, str]] = {}
    for ident, text, path in named:
        seen = first.setdefault(ident, (text, path))
        if seen[0] != text:
            raise ManifestError(f"{seen[1]} and {path} get one id {ident!r}: rename one of them")


def ev_tag(ev: float) -> str:
    """``-1.5 -> "N1_5"``, ``1 -> "P1"``, ``0 -> "0"`` (MSEC's style, dot-free for keys)."""
    if ev == 0:
        return "0"
    text = f"{abs(ev):g}".replace(".", "_")
    return ("N" if ev < 0 else "P") + text


def normalise_split(name: str | None) -> str | None:
    """Map official split names (training, validation, testing, our485, eval15...) to ours."""
    if name is None:
        return None
    aliases = {
        "train": "train",
        "training": "train",
        "our485": "train",
        "val": "val",
        "valid": "val",
        "validation": "val",
        "test": "test",
        "testing": "test",
        "eval15": "test",
    }
    key = name.strip().lower()
    if key not in aliases:
        raise ManifestError(f"unknown split name {name!r}; expected one of {sorted(aliases)}")
    return aliases[key]
