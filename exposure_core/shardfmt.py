"""The shard format shared by ``prep shard``, the training loader and ``prep evaluate``.

A shard sample is one photo (format version ``FORMAT_VERSION``):

* ``<key>.target.<ext>``: the target image (the clean photo, or a native pair's ground truth):
  its file's bytes, or for a PNG the same codes re-encoded to decode fast (``prep shard``);
  readers decode any supported image;
* ``<key>.shard-format-<version>.json`` (``META_MEMBER``): ``format``, the photo's ``scene``,
  ``source``, ``split``, ``split_from``, ``width``, ``height`` and ``variants``: one recipe per
  pair, with the manifest's ``id``, ``kind``, ``tau``, ``ev``, ``gamma``, ``curve``, ``camera``
  (camera-like variants only: the curve's numbers, ``exposure_core.camera``) and ``input``
  (None for a variant rendered from the target, else the member suffix of a stored input, e.g.
  ``"in0.png"``);
* ``<key>.in<k>.<ext>``: stored inputs (native pairs, RAW renders), when there are any.

The metadata member's name carries the format version because a reader of format 1, which
knows nothing of versions, reports a sample it cannot use by listing its members: given these
shards it names ``shard-format-2``. Readers here also accept a plain ``<key>.json``.

A variant is rendered from the target's integer codes with the lookup tables of
``exposure_core.exposure`` or ``exposure_core.camera`` (``render``), the code ``prep
synthesize`` writes its files with, so a rendered input is bit-identical to the synthesized
file. Tar reading here is strict: a member header that does not parse, or fewer samples than
``index.json`` promises, is a corrupt shard (``tarfile`` alone stops silently at a bad header).
Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exposure_core import camera, exposure, imageio, storage
from exposure_core.errors import UserError
from exposure_core.exposure import CURVES
from exposure_core.schema import ConfigError

FORMAT_VERSION = 2
META_MEMBER = f"shard-format-{FORMAT_VERSION}.json"  # the suffix of each sample's metadata
INDEX_NAME = "index.json"
RECIPE_KINDS = frozenset({"overexpose", "ev", "camera"})
KINDS = RECIPE_KINDS | {"native"}
# The "format" of the plain pair shards ``prep export`` writes (``exposure_core.pairexport``):
# one input/target pair per sample, for readers that know nothing of recipes.
PLAIN_FORMAT = "plain-pairs-1"


class ShardFormatError(UserError):
    """Shards written in a format version this code does not read."""


class CorruptShardError(Exception):
    """A shard whose bytes or tar structure are not what ``index.json`` says."""


def check_format(found: Any, where: str) -> None:
    """Raise ``ShardFormatError`` naming both versions unless ``found`` is ``FORMAT_VERSION``
    (a plain pair shard of ``prep export`` is named as such)."""
    if found == FORMAT_VERSION:
        return
    if found == PLAIN_FORMAT:
        raise ShardFormatError(
            f"{where}: a plain pair shard written by `prep export` (one input/target pair per "
            "sample); this reads the shards `prep shard` writes (e.g. data/shards): read plain "
            "pairs with webdataset itself or pipeline.api.exported_pairs"
        )
    if found is None or (isinstance(found, int) and found < FORMAT_VERSION):
        version = 1 if found is None else found
        raise ShardFormatError(
            f"{where}: shard format version {version}, written by an older `prep shard`; this "
            f"version reads shard format {FORMAT_VERSION} (one sample per photo, variants as "
            "recipes): re-run `prep shard`"
        )
    raise ShardFormatError(
        f"{where}: shard format version {found!r}, newer than the {FORMAT_VERSION} this version "
        "reads: update the code, or re-run `prep shard` with this version"
    )


@dataclass(frozen=True)
class Variant:
    """One pair of a photo sample: a recipe rendered from the target, or a stored input."""

    id: str
    kind: str  # "overexpose" | "ev" | "camera" | "native"
    tau: float | None = None
    ev: float | None = None
    gamma: float | None = None
    curve: str = "gamma"
    input: str | None = None  # member suffix of a stored input ("in0.png"); None: rendered
    camera: dict[str, Any] | None = None  # kind "camera": slope, gamma, contrast, saturation,
    # quality of ``camera.CameraRecipe`` (its ev is ``ev``)

    def meta(self) -> dict[str, Any]:
        """The pair's manifest fields (``id``, ``kind``, ``tau``, ``ev``, ``gamma``, ``curve``,
        and ``camera`` when set)."""
        out = {
            "id": self.id,
            "kind": self.kind,
            "tau": self.tau,
            "ev": self.ev,
            "gamma": self.gamma,
            "curve": self.curve,
        }
        if self.camera is not None:
            out["camera"] = self.camera
        return out


def camera_recipe(v: Variant) -> camera.CameraRecipe:
    """The camera recipe of a ``kind="camera"`` variant (``ev`` plus its ``camera`` fields).

    Raises:
        ConfigError: naming the field (``camera.slope``, ``ev``, ...) that is missing, unknown
            or out of range.
    """
    if not isinstance(v.camera, dict):
        raise ConfigError("camera", f"expected the curve's numbers as an object, got {v.camera!r}")
    if "ev" in v.camera:
        raise ConfigError("camera.ev", "the exposure change is the variant's own ev field")
    missing = sorted(set(camera.CameraRecipe.__dataclass_fields__) - {"ev"} - set(v.camera))
    if missing:
        raise ConfigError(f"camera.{missing[0]}", "missing")
    try:
        return camera.CameraRecipe.from_dict({**v.camera, "ev": v.ev})
    except ConfigError as err:
        raise (err if err.key == "ev" else err.within("camera")) from err


def pointwise(v: Variant) -> bool:
    """Whether a rendered variant maps each pixel alone (so it commutes with crops, flips and
    rotations): every recipe but a camera-like one with a JPEG re-encode."""
    return not (v.kind == "camera" and isinstance(v.camera, dict) and v.camera.get("quality"))


def variant_problem(v: Variant) -> str | None:
    """Why a variant cannot be made (unknown kind, tau outside (0, 1], ...), or None."""
    if v.kind not in KINDS:
        return f"unknown kind {v.kind!r} (expected one of {sorted(KINDS)})"
    if v.kind == "camera":  # its numbers are checked for a stored input too (the oracle)
        try:
            camera_recipe(v)
        except ConfigError as err:
            return str(err)
        return None
    if v.input is not None:
        return None
    if v.kind == "native":
        return "a native pair without a stored input"
    if v.curve not in CURVES:
        return f"unknown curve {v.curve!r} (expected one of {sorted(CURVES)})"
    if v.curve == "gamma" and not (isinstance(v.gamma, int | float) and v.gamma > 0):
        return f"gamma {v.gamma!r} is not a positive number"
    if v.kind == "overexpose":
        if not isinstance(v.tau, int | float) or not 0.0 < v.tau <= 1.0:
            return f"tau {v.tau!r} is outside (0, 1]"
    elif not isinstance(v.ev, int | float) or not -8.0 <= v.ev <= 8.0:
        return f"ev {v.ev!r} is outside -8..+8"
    return None


def render(target: imageio.Codes, v: Variant, tau: float | None = None) -> imageio.Codes:
    """A rendered variant's codes: the target mapped through the recipe's lookup table.

    Args:
        target: the clean photo's 8- or 16-bit codes.
        v: a recipe (``kind`` "overexpose", "ev" or "camera"; ``variant_problem(v)`` is None).
        tau: overrides the recipe's tau (training with fresh draws), in (0, 1].
    Returns:
        Codes of the same size and bit depth (8-bit for "camera", ``camera.render_codes``),
        equal to what ``prep synthesize`` writes (for EV 0 that is the target itself).
    """
    if v.kind == "camera":
        return camera.render_codes(target, camera_recipe(v))
    if v.kind == "ev" and v.ev == 0:
        return target
    gamma = v.gamma if v.gamma is not None else exposure.DEFAULT_GAMMA
    curve = "srgb" if v.curve == "srgb" else "gamma"
    levels = exposure.code_levels(target.bits)
    if v.kind == "overexpose":
        t = v.tau if tau is None else tau
        if t is None:
            raise ValueError(f"{v.id}: an overexpose recipe without tau")
        table = exposure.overexpose(levels, float(t), gamma, curve)
    elif v.kind == "ev" and v.ev is not None:
        table = exposure.shift_ev(levels, float(v.ev), gamma, curve)
    else:
        raise ValueError(f"{v.id}: cannot render a {v.kind!r} variant with ev={v.ev}")
    return imageio.apply_curve(target, table)


@dataclass
class PhotoSample:
    """A decoded-enough shard sample: metadata, the target's bytes, usable variants."""

    key: str
    meta: dict[str, Any]  # scene, source, split, split_from, width, height, ...
    target: bytes
    target_name: str  # "<url>:<key>.target.<ext>", for messages
    variants: list[Variant]
    stored: dict[str, bytes]  # member suffix -> bytes of stored inputs
    bad: list[str] = field(default_factory=list)  # "<id>: <reason>" of skipped variants

    def input_codes(
        self, v: Variant, target: imageio.Codes, tau: float | None = None
    ) -> imageio.Codes:
        """The variant's input codes: its stored input decoded, or rendered from ``target``."""
        if v.input is None:
            return render(target, v, tau)
        where = f"{self.target_name.rsplit('.target.', 1)[0]}.{v.input}"
        return imageio.decode_codes(self.stored[v.input], where)


def _is_meta_member(suffix: str) -> bool:
    """``shard-format-<n>.json`` of any version (``check_format`` then judges the version)."""
    return suffix.startswith("shard-format-") and suffix.endswith(".json")


def parse_sample(members: dict[str, Any], where: str) -> PhotoSample:
    """A ``PhotoSample`` from a key's members (suffix -> bytes; ``__key__`` optional).

    Raises ``ShardFormatError`` for another format version, ``ValueError`` for an incomplete
    sample. Variants with a bad recipe are left out and listed in ``bad``.
    """
    names = {k: v for k, v in members.items() if not k.startswith("__")}
    metadata = [k for k in names if k == "json" or _is_meta_member(k)]
    if len(metadata) != 1:
        raise ValueError(f"{where}: expected one metadata member, found {sorted(names)}")
    try:
        meta = json.loads(names[metadata[0]])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: metadata is not a JSON object")
    check_format(meta.get("format"), where)
    targets = [k for k in names if k.startswith("target.")]
    if len(targets) != 1:
        raise ValueError(f"{where}: expected one target member, found {sorted(names)}")
    raw = meta.get("variants")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: metadata has no variants list")
    variants, bad = [], []
    known = {f for f in Variant.__dataclass_fields__}
    for item in raw:
        if not isinstance(item, dict) or "id" not in item or "kind" not in item:
            bad.append(f"{where}: variant {item!r}: not a recipe object")
            continue
        try:
            v = Variant(**{k: item[k] for k in item if k in known})
        except TypeError as exc:
            bad.append(f"{where}:{item.get('id')}: {exc}")
            continue
        reason = variant_problem(v)
        if reason is None and v.input is not None and v.input not in names:
            reason = f"stored input member {v.input!r} is missing"
        if reason is not None:
            bad.append(f"{where}:{v.id}: {reason}")
        else:
            variants.append(v)
    stored = {v.input: names[v.input] for v in variants if v.input is not None}
    info = {k: v for k, v in meta.items() if k != "variants"}
    return PhotoSample(
        where.rsplit(":", 1)[-1], info, names[targets[0]], f"{where}.{targets[0]}", variants,
        stored, bad,
    )  # fmt: skip


# --- tar files --------------------------------------------------------------------------------


def iter_tar(path: str | Path, expected: int | None = None) -> Iterator[dict[str, bytes]]:
    """Samples of a shard: dicts of member suffix -> bytes, plus ``__key__``.

    Raises ``CorruptShardError`` when the tar cannot be read, a member header is damaged, or it
    ends with fewer than ``expected`` samples (a bad header ends ``tarfile`` silently).
    """
    count = 0
    current: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                key, _, suffix = info.name.partition(".")
                if current and current["__key__"] != key.encode():
                    count += 1
                    yield _decoded(current)
                    current = {}
                handle = tar.extractfile(info)
                if handle is None:
                    raise CorruptShardError(f"{path}: member {info.name} has no data")
                current["__key__"] = key.encode()
                current[suffix] = handle.read()
                if len(current[suffix]) != info.size:
                    raise CorruptShardError(f"{path}: member {info.name} is truncated")
            if current:
                count += 1
                yield _decoded(current)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorruptShardError(f"{path}: unreadable tar ({exc})") from exc
    if expected is not None and count != expected:
        raise CorruptShardError(
            f"{path}: {count} sample(s) read, index.json lists {expected} (damaged member header?)"
        )


def _decoded(members: dict[str, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = dict(members)
    out["__key__"] = members["__key__"].decode()
    return out


# --- index and verification -------------------------------------------------------------------


def read_index(shards: Path) -> dict[str, Any]:
    """``<shards>/index.json``, its format version checked."""
    path = shards / INDEX_NAME
    if not path.is_file():
        raise UserError(f"{path}: no shard index; run `prep shard` first")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a valid shard index ({exc})") from exc
    if not isinstance(index, dict) or not isinstance(index.get("shards"), list):
        raise UserError(f"{path}: not a shard index (no 'shards' list)")
    check_format(index.get("format"), str(path))
    return index


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ShardCheck:
    """The shards of one split: usable entries, corrupt ones with reasons, expected pairs."""

    split: str
    usable: list[dict[str, Any]]  # index entries (name, samples, pairs, bytes, sha256)
    corrupt: list[str]  # "<file>: <reason>"
    expected_pairs: int  # pairs the index lists for the split (every shard)

    def urls(self, shards: str | Path) -> list[str]:
        """The usable tars' paths, or URLs under a shard URL."""
        if storage.is_url(shards):
            return [storage.join(str(shards), str(s["name"])) for s in self.usable]
        return [str(Path(shards) / s["name"]) for s in self.usable]

    def expected_sha256(self, shards: str | Path) -> dict[str, str]:
        """URL -> the sha256 ``index.json`` lists, for checking each tar as it is read."""
        return dict(
            zip(self.urls(shards), (str(s.get("sha256")) for s in self.usable), strict=True)
        )


def local_shards(shards: str | Path, splits: tuple[str, ...] = ()) -> Path:
    """The folder holding ``index.json``: ``shards`` itself, or for a URL its local mirror
    with a fresh ``index.json`` and the tars of ``splits`` (fetched when stale); the other
    splits' tars stay in the bucket, read as they are streamed."""
    if not storage.is_url(shards):
        return Path(shards)
    url = str(shards)
    local = storage.mirror_path(url)
    if not storage.download_file(storage.join(url, INDEX_NAME), local / INDEX_NAME):
        raise UserError(f"{storage.join(url, INDEX_NAME)}: no shard index; run `prep shard` first")
    names = [str(s["name"]) for s in read_index(local)["shards"] if s.get("split") in splits]
    storage.fetch_relative(url, names)
    return local


def check_shards(
    shards: Path, split: str, verify: bool = True, max_corrupt: float = 1.0, present: bool = True
) -> ShardCheck:
    """The split's shards from ``index.json``; with ``verify``, each file's sha256 checked once.

    A missing file or a sha256 mismatch makes a shard corrupt: it is left out and listed. More
    than ``max_corrupt`` (a fraction of the split's shards) corrupt is a ``UserError`` naming them.
    ``present`` False: the tars are elsewhere (streamed from a URL, checked as they are read);
    only the index is read.
    """
    index = read_index(shards)
    entries = [s for s in index["shards"] if s.get("split") == split]
    if not entries:
        raise UserError(f"{shards / INDEX_NAME}: no shards for split {split!r}")
    usable, corrupt = [], []
    for entry in entries:
        path = shards / str(entry["name"])
        reason = None
        if not present:
            pass
        elif not path.is_file():
            reason = "missing"
        elif verify:
            try:
                found = _sha256(path)
            except OSError as exc:
                reason = f"unreadable ({exc})"
            else:
                if found != entry.get("sha256"):
                    reason = f"sha256 {found[:12]}... differs from index.json's"
        if reason is None:
            usable.append(entry)
        else:
            corrupt.append(f"{path}: {reason}")
    pairs = sum(int(s.get("pairs", 0)) for s in entries)
    if len(corrupt) > max_corrupt * len(entries):
        raise UserError(
            f"{len(corrupt)} of {len(entries)} {split} shard(s) corrupt (more than "
            f"{max_corrupt:.0%}): " + "; ".join(corrupt)
        )
    return ShardCheck(split, usable, corrupt, pairs)
