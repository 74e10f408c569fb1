"""Plain pair shards (``prep export``): one input/target pair per sample, for any WebDataset user.

The shards ``prep shard`` writes store each photo once with its variants' recipes
(``exposure_core.shardfmt``); the inputs exist only once rendered. A plain pair sample, keyed
by the pair's ``id``, holds:

* ``<id>.input.png`` (or ``<id>.input.jpg``, at the quality the JSON states): the pair's input,
  from ``shardfmt.PhotoSample.input_codes``, the call the training loader renders it with (a
  recipe through its lookup tables, or the stored input decoded);
* ``<id>.json``: ``format`` (``shardfmt.PLAIN_FORMAT``), the recipe (``id``, ``kind``, ``tau``,
  ``ev``, ``gamma``, ``curve``, ``camera`` for the camera-like kind), the photo's ``photo`` key,
  ``scene``, ``source``, ``split``, ``split_from``, ``width``, ``height``, the PNGs' ``bits``,
  ``input_format`` and ``quality`` (JPEG inputs; None for PNG);
* ``<id>.target.png``: the target, lossless.

PNGs keep the photo's bit depth (8 or 16); a JPEG input is 8-bit. Each PNG is encoded with
``imageio.encode_png_fast_decode``, so identical shards export to identical bytes. Images are
decoded here with OpenCV (EXIF orientation applied) and re-encoded without EXIF, so any decoder
reads the same pixels. Nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from exposure_core import imageio, shardfmt
from exposure_core.errors import UserError

INPUT_FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class ExportOptions:
    """How inputs are encoded: ``png`` (lossless) or ``jpg`` at ``quality`` (1..100)."""

    input_format: Literal["png", "jpg"] = "png"
    quality: int = 95

    def __post_init__(self) -> None:
        if self.input_format not in INPUT_FORMATS:
            raise ValueError(f"input format {self.input_format!r}: choose png or jpg")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"JPEG quality {self.quality} is outside 1..100")


@dataclass
class ExportedPhoto:
    """One photo sample's plain pairs, each a list of ``(member name, bytes)`` in tar order."""

    split: str
    pairs: list[list[tuple[str, bytes]]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # "<where>:<id>: <reason>" of skipped variants


def encode_input(codes: imageio.Codes, options: ExportOptions) -> bytes:
    """A pair's input as its member's bytes: a fast-decoding PNG, or a JPEG at the quality."""
    if options.input_format == "png":
        return imageio.encode_png_fast_decode(codes)
    return imageio.encode(codes, ".jpg", quality=options.quality)


def export_photo(members: dict[str, Any], where: str, options: ExportOptions) -> ExportedPhoto:
    """The plain pairs of one ``prep shard`` sample (member suffix -> bytes, ``__key__``).

    Args:
        members: the sample as ``shardfmt.iter_tar`` yields it.
        where: ``<shard>:<key>``, for messages.
        options: the inputs' encoding.
    Raises:
        ShardFormatError: the sample is of another format (a plain pair among them).
        ValueError: an incomplete sample; ImageError: an image that does not decode.
    """
    photo = shardfmt.parse_sample(members, where)
    target = imageio.decode_codes(photo.target, photo.target_name)
    target_png = imageio.encode_png_fast_decode(target)
    out = ExportedPhoto(str(photo.meta.get("split")), bad=list(photo.bad))
    fields = ("scene", "source", "split", "split_from", "width", "height")
    common = {"format": shardfmt.PLAIN_FORMAT, "photo": photo.key}
    common |= {k: photo.meta.get(k) for k in fields}
    quality = options.quality if options.input_format == "jpg" else None
    for v in photo.variants:
        codes = photo.input_codes(v, target)
        if codes.array.shape != target.array.shape:
            out.bad.append(f"{where}:{v.id}: input {codes.array.shape} and target differ in size")
            continue
        meta = common | v.meta() | {"bits": target.bits}
        meta |= {"input_format": options.input_format, "quality": quality}
        blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
        out.pairs.append(
            [
                (f"{v.id}.input.{options.input_format}", encode_input(codes, options)),
                (f"{v.id}.json", blob),
                (f"{v.id}.target.png", target_png),
            ]
        )
    return out


def read_pair(members: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """A plain pair sample decoded: (input, target, meta).

    Args:
        members: member suffix -> bytes (as webdataset or ``shardfmt.iter_tar`` give them).
        where: ``<shard>:<key>``, for messages.
    Returns:
        input and target as float32 (H, W, 3) RGB in [0, 1], gamma-encoded (16-bit PNGs at
        full depth), and the sample's JSON.
    Raises:
        ShardFormatError: a ``prep shard`` sample (one photo with its variants' recipes).
        ValueError: a member is missing or the JSON does not parse.
    """
    names = [k for k in members if not k.startswith("__")]
    meta: Any = None
    if "json" in names:
        try:
            meta = json.loads(members["json"])
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}.json: not valid JSON ({exc})") from exc
    found = meta.get("format") if isinstance(meta, dict) else None
    if any(k.startswith("shard-format-") for k in names) or found == shardfmt.FORMAT_VERSION:
        raise shardfmt.ShardFormatError(
            f"{where}: a `prep shard` sample (one photo, its variants as recipes), not a plain "
            "pair of `prep export`: export the shards first (`prep export --input <shards> "
            "--output <folder>`), or read them with pipeline.api.ShardPairs"
        )
    if found != shardfmt.PLAIN_FORMAT:
        raise ValueError(
            f"{where}: not a plain pair of `prep export` (members {sorted(names)}, format "
            f"{found!r}; expected a json member with format {shardfmt.PLAIN_FORMAT!r})"
        )
    images = []
    for role in ("input", "target"):
        found_names = [k for k in names if k.startswith(f"{role}.")]
        if len(found_names) != 1:
            raise ValueError(f"{where}: expected one {role} member, found {sorted(names)}")
        name = f"{where}.{found_names[0]}"
        images.append(imageio.codes_to_float(imageio.decode_codes(members[found_names[0]], name)))
    return images[0], images[1], meta


def plain_shard_urls(folder: Path, split: str) -> list[str]:
    """The tars of ``split`` in a ``prep export`` folder, from its ``index.json``.

    Raises:
        ShardFormatError: the folder holds the shards of ``prep shard``.
        UserError: no index, not a plain pair index, or no shards of ``split``.
    """
    path = folder / shardfmt.INDEX_NAME
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no index of plain pairs; run `prep export` first") from exc
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable index ({exc})") from exc
    found = index.get("format") if isinstance(index, dict) else None
    if found == shardfmt.FORMAT_VERSION:
        raise shardfmt.ShardFormatError(
            f"{path}: the shards of `prep shard` (one photo per sample, variants as recipes), not "
            "plain pairs: export them first (`prep export --input <shards> --output <folder>`)"
        )
    if found != shardfmt.PLAIN_FORMAT:
        raise UserError(f"{path}: format {found!r}, not {shardfmt.PLAIN_FORMAT!r} of `prep export`")
    urls = [str(folder / s["name"]) for s in index.get("shards", []) if s.get("split") == split]
    if not urls:
        raise UserError(f"{path}: no shards for split {split!r}")
    return urls
