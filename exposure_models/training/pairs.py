"""Rendering (input, target) pairs from shard samples: the loader's pipeline stage.

A shard sample is one photo (``exposure_core.shardfmt``): its target is decoded once per visit
and the input of the variant drawn is rendered from it with the lookup tables ``prep
synthesize`` uses (bit-identical to the synthesized file), or decoded when it is stored (native
pairs). Training draws one variant per view (with ``fresh_tau``, a new tau per visit);
evaluation yields every variant of every photo, in order.

Training: samples pass a shuffle buffer, and each pair gets one random crop and one set of
flips/rotations applied to input AND target alike (colour jitter touches the input only);
optionally downscaled first (``resize``), and optionally several crops per decoded pair
(``crops_per_sample``). When every variant of a photo is rendered, nothing is resized and the
target is an 8-bit RGB PNG (``imageio.top_rows_size``), the crop windows are drawn from its
header before decoding and only the rows down to the lowest window are decoded
(``imageio.decode_top_rows``; for the Up-filtered PNGs ``prep shard`` writes, about 2.6 ms
for two thirds of a 1024 px photo, against 10 ms for a full decode with OpenCV). The windows
are then drawn before the variants, an order that differs from other images' but is just as
reproducible. Evaluation: no shuffle, no augmentation, full images one at a time (or a centre
crop), with each sample's metadata. Images smaller than the crop are padded by reflection.

With ``pre_expose`` (``train.pre_exposure: stops``) each input is re-exposed by its estimated
error in stops, read on the whole input before any crop (``exposure_core.stops_correction``;
recorded as ``pre_stops`` in the pair's metadata), the lookup table applied to the finished
view; an identity view (``augment.identity``) gets the target's own re-exposure, as a
well-exposed photo does in the enhancer.

Every random choice comes from a generator seeded by (seed, rank, worker, epoch). Corrupt
samples are skipped with a warning and counted (``Skips``; ``Batch.skipped`` per worker).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, NamedTuple

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import get_worker_info

from exposure_core import imageio, shardfmt, stops_correction
from exposure_core.errors import UserError
from exposure_core.exposure import LUMA_WEIGHTS
from exposure_models.training.augment import shift_hue, square_resize
from exposure_models.training.loader_config import LoaderConfig


class Batch(NamedTuple):
    """One batch. Tensors: (B, 3, H, W) float32, RGB, gamma-encoded, range [0, 1]."""

    input: torch.Tensor
    target: torch.Tensor
    meta: list[dict[str, Any]]  # the samples' JSON rows plus __key__ and __url__
    worker: int  # DataLoader worker that built it (0 without workers)
    skipped: int  # corrupt samples that worker has skipped so far


class CorruptSampleWarning(RuntimeWarning):
    """Warned for each sample the loader skips (it is also counted, with its reason)."""


# Skipped items in a row, with no pair in between, after which the data is declared unreadable
# (an endless stream over corrupt shards would otherwise spin forever).
MAX_SKIPS_IN_ROW = 1000


class UnreadableShardsError(UserError):
    """``MAX_SKIPS_IN_ROW`` items skipped in a row: the shards give no readable pair."""


class Skips:
    """Per-process count and reasons of skipped items; ``handler`` is a webdataset exception
    handler."""

    def __init__(self) -> None:
        self.count = 0
        self.reasons: list[str] = []  # "<ExceptionType>: <message>", in order
        self.in_row = 0

    def handler(self, exn: Exception) -> bool:
        self.count += 1
        self.in_row += 1
        self.reasons.append(f"{type(exn).__name__}: {exn}")
        warnings.warn(f"skipping a corrupt sample: {exn!r}", CorruptSampleWarning, stacklevel=2)
        if self.in_row >= MAX_SKIPS_IN_ROW:
            raise UnreadableShardsError(
                f"{self.in_row} corrupt samples in a row and no readable pair (last: {exn}); "
                "check the shards (run without --no-verify to check their sha256)"
            )
        return True


def color_jitter(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation jitter, as torchvision's adjust_* in that order.

    Args:
        images: (B, 3, H, W) float RGB in [0, 1].
        factors: (B, 3) multipliers (brightness, contrast, saturation); 1 leaves an image as is.
    Returns:
        (B, 3, H, W) in [0, 1].
    """
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"images must be float (B, 3, H, W), got {images.dtype} {images.shape}")
    if factors.shape != (images.shape[0], 3):
        raise ValueError(f"factors must be ({images.shape[0]}, 3), got {tuple(factors.shape)}")
    f = factors.to(images.dtype).view(-1, 3, 1, 1)
    out = (images * f[:, 0:1]).clamp_(0, 1)
    mean = _luma(out).mean((1, 2)).view(-1, 1, 1, 1)
    out.mul_(f[:, 1:2]).add_(mean * (1 - f[:, 1:2])).clamp_(0, 1)  # (x - m) * c + m
    gray = _luma(out).unsqueeze(1).mul_(1 - f[:, 2:3])
    return out.mul_(f[:, 2:3]).add_(gray).clamp_(0, 1)  # (x - g) * s + g


def _luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H, W) luma, one plane at a time (no (B, 3, H, W) temporary)."""
    w0, w1, w2 = (float(w) for w in LUMA_WEIGHTS)
    return (images[:, 0] * w0).add_(images[:, 1], alpha=w1).add_(images[:, 2], alpha=w2)


def _to_float(arrays: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8/uint16 RGB codes -> (B, 3, H, W) float32 in [0, 1], one conversion."""
    if all(a.dtype == arrays[0].dtype for a in arrays):
        codes = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (B, 3, H, W) view
        out = _empty(tuple(codes.shape))
        out.copy_(codes)
        return out.div_(255.0 if arrays[0].dtype == np.uint8 else 65535.0)
    return torch.cat([_to_float([a]) for a in arrays])  # mixed 8/16-bit: rare


def _empty(shape: tuple[int, ...]) -> torch.Tensor:
    """A float32 tensor; in a worker, allocated in shared memory as default_collate does,
    which spares the copy into shared memory when the batch is sent to the main process."""
    if get_worker_info() is None:
        return torch.empty(shape)
    storage = torch.empty(0)._typed_storage()._new_shared(int(np.prod(shape)))
    return torch.empty(0).new(storage).view(shape)


def _window(size: int, crop: int, rng: np.random.Generator | None) -> tuple[int, int, int]:
    """(start, pad_before, pad_after) along one axis: random when ``rng``, else centred."""
    if size >= crop:
        start = int(rng.integers(0, size - crop + 1)) if rng is not None else (size - crop) // 2
        return start, 0, 0
    return 0, (crop - size) // 2, crop - size - (crop - size) // 2


class _Decoded:
    """A photo's images during one visit: the target decoded, the target resized (short side
    ``resize``, 0: as is), and its stored inputs, each decoded once when first drawn."""

    def __init__(self, photo: shardfmt.PhotoSample, target: imageio.Codes, resize: int) -> None:
        self.photo = photo
        self.target = target
        self.shrunk = imageio.shrink(target, resize)
        self._inputs: dict[str, imageio.Codes] = {}
        self._target_stops: float | None = None
        self._small: imageio.Codes | None = None

    def estimate_scale(self) -> imageio.Codes:
        """The target at the stops estimate's scale (``stops_correction.ESTIMATE_SIDE``); a
        pointwise recipe rendered on it gives the input's estimate without the full render."""
        if self._small is None:
            self._small = imageio.shrink(self.target, stops_correction.ESTIMATE_SIDE)
        return self._small

    def target_stops(self) -> float:
        """The target's own estimated error in stops (``stops_correction``), read once."""
        if self._target_stops is None:
            self._target_stops = stops_correction.estimate_stops(self.estimate_scale())
        return self._target_stops

    def input_codes(self, v: shardfmt.Variant, tau: float | None) -> imageio.Codes:
        """Variant ``v``'s input at full size: rendered from the target (with ``tau``, when
        not None), or its stored input, decoded at its first draw."""
        if v.input is None:
            return self.photo.input_codes(v, self.target, tau)
        if v.input not in self._inputs:
            self._inputs[v.input] = self.photo.input_codes(v, self.target)
        return self._inputs[v.input]


class PairStage:
    """Pipeline stage: samples -> (input codes, target codes, jitter, meta), augmented alike.

    ``split_samples``: every worker reads every shard and keeps every n-th sample (fewer
    shards than ranks x workers). ``skips`` counts what is skipped in this process.
    """

    def __init__(self, cfg: LoaderConfig, split_samples: bool, skips: Skips) -> None:
        self.cfg = cfg
        self.split_samples = split_samples
        self.augment = cfg.augment if cfg.train else None
        self.fresh_tau = cfg.fresh_tau if cfg.train else None
        self.skips = skips
        self.epoch = -1

    def __call__(self, src: Iterator[dict[str, Any]]) -> Iterator[tuple]:
        self.epoch += 1
        rank, world, worker, workers = wds.utils.pytorch_worker_info()
        rng = np.random.default_rng([self.cfg.seed, rank, worker, self.epoch])
        if self.split_samples:
            src = islice(src, rank * workers + worker, None, world * workers)
        if self.cfg.train and self.cfg.shuffle_buffer > 1:
            src = _shuffle(src, self.cfg.shuffle_buffer, rng)
        views = self._views(src, rng)
        per_sample = self.cfg.crops_per_sample
        if self.cfg.train and per_sample > 1:
            # crops of one decoded pair are spread over several batches
            views = _shuffle(views, per_sample * self.cfg.batch_size, rng)
        yield from views

    def _views(self, src: Iterator[dict[str, Any]], rng: np.random.Generator) -> Iterator[tuple]:
        """Decode each photo once. Training: ``crops_per_sample`` views, each of a variant drawn
        at random; evaluation: every variant once, in the sample's order."""
        for sample in src:
            try:
                photo = self._parse(sample)
                windows = self._windows(photo, rng)
                if windows:  # decode the rows the crops need only
                    bottom = max(y for (y, _, _), _ in windows) + self.cfg.crop
                    target = imageio.decode_top_rows(photo.target, bottom, photo.target_name)
                else:
                    target = imageio.decode_codes(photo.target, photo.target_name)
                decoded = _Decoded(photo, target, self.cfg.resize)
                for problem in photo.bad:
                    self.skips.handler(ValueError(f"bad recipe {problem}"))
                if not photo.variants:
                    raise ValueError(f"{photo.target_name}: no usable variant")
                if self.cfg.train:
                    for k in range(self.cfg.crops_per_sample):
                        v = photo.variants[int(rng.integers(len(photo.variants)))]
                        pair = self._pair(decoded, v, rng)
                        yield self._view(*pair, rng, windows[k] if windows else None)
                        self.skips.in_row = 0
                else:
                    for v in photo.variants:
                        yield self._view(*self._pair(decoded, v, None), rng)
                        self.skips.in_row = 0
            except (shardfmt.ShardFormatError, UnreadableShardsError):
                raise
            except Exception as exc:
                if not self.skips.handler(exc):
                    raise

    def _parse(self, sample: dict[str, Any]) -> shardfmt.PhotoSample:
        """The photo sample, its metadata completed with ``__key__`` and ``__url__``."""
        key, url = sample.get("__key__"), sample.get("__url__")
        photo = shardfmt.parse_sample(sample, f"{url}:{key}")
        photo.meta |= {"__key__": key, "__url__": url}
        return photo

    def _windows(self, photo: shardfmt.PhotoSample, rng: np.random.Generator) -> list[tuple]:
        """Training crop windows ((y, 0, 0), (x, 0, 0)), one per view, drawn before decoding
        when the target's top rows can be decoded alone (``imageio.top_rows_size``), every
        variant is rendered from it, nothing is resized and the photo is at least the crop;
        otherwise [] (the windows are then drawn per view from the decoded image)."""
        crop = self.cfg.crop
        if not self.cfg.train or crop is None or self.cfg.resize > 0 or self.cfg.pre_expose:
            return []  # the stops of a pre-exposed input are read on the whole image
        if not photo.variants or any(
            v.input is not None or not shardfmt.pointwise(v) for v in photo.variants
        ):
            return []  # a stored input or a JPEG re-encode needs the whole image
        size = imageio.top_rows_size(photo.target)
        if size is None or min(size) < crop:
            return []
        return [
            tuple(_window(n, crop, rng) for n in size)  # type: ignore[misc]
            for _ in range(self.cfg.crops_per_sample)
        ]

    def _pair(
        self,
        decoded: _Decoded,
        v: shardfmt.Variant,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], Callable | None, _PreExposure | None]:
        """(input, target) codes of one variant, meta, the rendering still to apply, and the
        re-exposure of the finished view (``pre_expose``; else None).

        A recipe is a pointwise map (lookup tables; a camera-like recipe's saturation change acts
        on each pixel alone), so with a crop and no resize the input is the target and the
        recipe is applied to the crop only (``render``: the same codes as
        cropping the full rendered image, at a fraction of the cost); with a resize the
        variant is rendered at full size, then resized; so is one with a JPEG re-encode (its
        8x8 blocks do not commute with crops). With ``fresh_tau`` and an ``rng``
        (training), an overexposure recipe gets a new tau drawn uniformly from the range at
        each visit instead of its stored one.
        """
        photo, target = decoded.photo, decoded.target
        tau = None
        fresh = self.fresh_tau
        if rng is not None and fresh is not None and v.kind == "overexpose" and v.input is None:
            lo, hi = fresh
            tau = float(lo + (hi - lo) * rng.random())
        resize = self.cfg.resize
        meta = photo.meta | v.meta()
        if tau is not None:
            meta["tau"] = tau
        pre, codes = None, None
        if self.cfg.pre_expose:
            if v.input is None and shardfmt.pointwise(v):  # rendered on the estimate's scale
                small = photo.input_codes(v, decoded.estimate_scale(), tau)
            else:
                small = codes = decoded.input_codes(v, tau)
            stops = stops_correction.estimate_stops(small)
            meta["pre_stops"] = stops
            pre = _PreExposure(stops, small.bits, decoded)
        square = self.cfg.square and resize > 0  # seed 000: both images to resize x resize
        tgt = square_resize(target.array, resize) if square else decoded.shrunk.array
        if v.input is None and resize <= 0 and self.cfg.crop is not None and shardfmt.pointwise(v):

            def render(window: np.ndarray) -> np.ndarray:
                codes = imageio.Codes(np.ascontiguousarray(window))
                return photo.input_codes(v, codes, tau).array

            return tgt, tgt, meta, render, pre
        codes = codes or decoded.input_codes(v, tau)
        inp = square_resize(codes.array, resize) if square else imageio.shrink(codes, resize).array
        if inp.shape != tgt.shape:
            raise ValueError(
                f"{photo.target_name}: input {inp.shape} and target {tgt.shape} differ"
            )
        return inp, tgt, meta, None, pre

    def _view(
        self,
        inp: np.ndarray,
        tgt: np.ndarray,
        meta: dict[str, Any],
        render: Callable | None,
        pre: _PreExposure | None,
        rng: np.random.Generator,
        window: tuple | None = None,
    ) -> tuple:
        """One crop with flips/rotation applied to both images alike (views, no copies);
        ``render`` then maps the input window (a lookup table commutes with all of them).
        ``window``: the crop's ((y, 0, 0), (x, 0, 0)) when drawn before decoding."""
        train, crop, aug = self.cfg.train, self.cfg.crop, self.augment
        if crop is not None:
            (y, top, bottom), (x, left, right) = window or (
                _window(n, crop, rng if train else None) for n in inp.shape[:2]
            )
            inp, tgt = inp[y : y + crop, x : x + crop], tgt[y : y + crop, x : x + crop]
            if top or bottom or left or right:
                pad = ((top, bottom), (left, right), (0, 0))
                inp, tgt = np.pad(inp, pad, mode="reflect"), np.pad(tgt, pad, mode="reflect")
        jitter = None
        if train and aug is not None:
            if aug.hflip and rng.random() < 0.5:
                inp, tgt = inp[:, ::-1], tgt[:, ::-1]
            if aug.vflip and rng.random() < 0.5:
                inp, tgt = inp[::-1], tgt[::-1]
            if aug.rot90:
                k = int(rng.integers(0, 4))
                inp, tgt = np.rot90(inp, k), np.rot90(tgt, k)
            if aug.identity > 0 and rng.random() < aug.identity:
                inp, render = tgt, None  # a well-exposed photo: the model must leave it alone
                if pre is not None:
                    pre = pre.for_target()
                    meta = meta | {"pre_stops": pre.stops}
            if (aug.jitter > 0 or aug.hue > 0) and (
                aug.jitter_p >= 1 or rng.random() < aug.jitter_p
            ):
                factors = (
                    rng.uniform(1 - aug.jitter, 1 + aug.jitter, 3) if aug.jitter > 0 else np.ones(3)
                )
                hue = [rng.uniform(-aug.hue, aug.hue)] if aug.hue > 0 else []
                jitter = np.concatenate([factors, hue]).astype(np.float32)
        if render is not None:
            inp = render(inp)
        if pre is not None:
            inp = pre.apply(inp)
        return inp, tgt, jitter, meta

    def collate(self, items: list[tuple]) -> Batch:
        inputs = _to_float([it[0] for it in items])
        targets = _to_float([it[1] for it in items])
        if any(it[2] is not None for it in items):
            ones = np.array([1, 1, 1, 0], np.float32)  # brightness, contrast, saturation, hue
            factors = np.stack(
                [ones if it[2] is None else np.r_[it[2], ones[len(it[2]) :]] for it in items]
            )
            inputs = color_jitter(inputs, torch.from_numpy(factors[:, :3]))
            if factors[:, 3].any():
                inputs = shift_hue(inputs, torch.from_numpy(factors[:, 3]))
        info = get_worker_info()
        worker = info.id if info is not None else 0
        return Batch(inputs, targets, [it[3] for it in items], worker, self.skips.count)


def _shuffle(src: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Buffer shuffle: keep ``size`` items, emit a random one as each new item arrives."""
    buffer: list[Any] = []
    for item in src:
        if len(buffer) < size:
            buffer.append(item)
            continue
        k = int(rng.integers(len(buffer)))
        buffer[k], item = item, buffer[k]
        yield item
    for k in rng.permutation(len(buffer)):
        yield buffer[k]


class _PreExposure:
    """The re-exposure of one view's input: a lookup table (``stops_correction``); an identity
    view takes the target's own (``for_target``)."""

    def __init__(self, stops: float, bits: int, decoded: _Decoded) -> None:
        self.stops = stops
        self.curve = stops_correction.correction_curve(stops, bits)
        self.decoded = decoded

    def for_target(self) -> _PreExposure:
        target = self.decoded.target
        return _PreExposure(self.decoded.target_stops(), target.bits, self.decoded)

    def apply(self, view: np.ndarray) -> np.ndarray:
        """The view's codes through the curve (same shape and depth)."""
        return imageio.apply_curve(imageio.Codes(np.ascontiguousarray(view)), self.curve).array
