"""The enhancer: a trained generator run at a working resolution, carried to full size.

The network runs at a working resolution (long side ``enhance.long_side``, padded to the
model's multiple); its correction is carried to full resolution edge-aware
(``exposure_core.upsample``), strip by strip from the 8/16-bit codes, so a 24 MP photo keeps its
detail and memory does not grow with the megapixels beyond the photo itself.
``prep enhance`` and ``prep evaluate`` both score and correct through this one path.

A model trained with ``train.pre_exposure: stops`` (its file says so) sees each photo first
re-exposed by its estimated error in stops (``exposure_core.stops_correction``); the gate and
the carry to full size compare the network's output with the photo as it was, so the whole
correction, re-exposure and network, is carried at once.

``--model stops`` (``STOPS_ONLY``) is that re-exposure alone, with no network: the curve is
applied to the full-size codes directly (a lookup table), and the gate judges its change of
brightness as it judges a network's.

With ``enhance.leave_well_exposed`` a photo that ``prep filter`` would keep, and that the
network neither brightens by ``enhance.max_lift`` nor darkens by ``enhance.max_darken`` or
more, is returned unchanged
(``exposure_models.inference.gate``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from exposure_core import imageio, stops_correction, upsample
from exposure_core.exposure import Encoding
from exposure_core.exposure_stats import FilterThresholds
from exposure_models.checkpoint import CheckpointError, load_generator
from exposure_models.generator import UNetGenerator, predict_padded
from exposure_models.inference.gate import Verdict, decide, float_analysis_sample
from exposure_models.inference.settings import EnhanceSettings
from exposure_models.pretrained import STOPS
from exposure_models.runtime import autocast_dtype, pick_device
from exposure_models.seednets.registry import SR_ARCHS, arch_of

STOPS_ONLY = STOPS  # the model name of the stops re-exposure alone (no network)


@dataclass
class Enhancer:
    """A loaded generator plus the working-resolution, upsampling and gate settings;
    ``model`` None: the stops re-exposure alone (``--model stops``)."""

    model: UNetGenerator | None
    device: torch.device
    params: EnhanceSettings
    train_resize: int = 0  # the short side the model was trained at (0: stored size)
    thresholds: FilterThresholds | None = None  # the filter's, when well-exposed photos are kept
    left_alone: int = 0  # photos returned unchanged so far (the gate said well exposed)
    pre_exposure: str = "none"  # "stops": inputs re-exposed by their estimate first
    # the stops estimates of the photos in flight (a batch), read once per photo: keyed by the
    # codes object, which the entry holds so that its id stays its own
    _estimates: dict[int, tuple[imageio.Codes, float]] = field(default_factory=dict, repr=False)

    @property
    def encoding(self) -> Encoding:
        """The transfer curve the model was trained on (from its checkpoint)."""
        return self.model.encoding if self.model is not None else Encoding()

    @classmethod
    def load(
        cls, path: Path, params: EnhanceSettings, thresholds: FilterThresholds | None = None
    ) -> Enhancer:
        """Load ``models/generator.pt``; raises ``CheckpointError`` for anything else.

        ``thresholds``: ``prep filter``'s, for the well-exposed gate (default: the defaults);
        unused when ``params.leave_well_exposed`` is off. ``path`` ``stops``, when no file has
        that name: the stops re-exposure alone (``stops_only``).
        """
        if str(path) == STOPS_ONLY and not Path(path).exists():
            return cls.stops_only(params, thresholds)
        device = pick_device(params.device)
        model, extra = load_generator(path, map_location="cpu")
        if arch_of(model) in SR_ARCHS:
            raise CheckpointError(
                f"{path}: a super-resolution model; use it with --task sr or --upscale"
            )
        resize = int(extra.get("resize", 0) or 0)
        pre_exposure = str(extra.get("pre_exposure", "none"))
        if pre_exposure not in stops_correction.PRE_EXPOSURES:
            raise CheckpointError(f"{path}: unknown pre_exposure {pre_exposure!r}")
        gate = (thresholds or FilterThresholds()) if params.leave_well_exposed else None
        return cls(model.to(device).eval(), device, params, resize, gate, 0, pre_exposure)

    @classmethod
    def stops_only(
        cls, params: EnhanceSettings, thresholds: FilterThresholds | None = None
    ) -> Enhancer:
        """The stops re-exposure alone (``exposure_core.stops_correction``), no network; the
        gate as ``load`` sets it."""
        gate = (thresholds or FilterThresholds()) if params.leave_well_exposed else None
        return cls(None, torch.device("cpu"), params, 0, gate, 0, "stops")

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """Size the network runs at (before padding to its multiple), never above the photo.

        ``enhance.long_side`` when set; else the model's training scale (short side =
        ``train.resize``); else a long side of ``upsample.UNRESIZED_LONG_SIDE``, as MSEC.
        """
        multiple = self.model.multiple if self.model is not None else 1
        if self.params.long_side > 0 or self.train_resize <= 0:
            long_side = max(self.params.long_side or upsample.UNRESIZED_LONG_SIDE, multiple)
            return upsample.working_size(height, width, long_side, multiple)
        scale = min(1.0, self.train_resize / min(height, width))
        return max(1, round(height * scale)), max(1, round(width * scale))

    @torch.inference_mode()
    def forward(self, lows: list[np.ndarray]) -> list[np.ndarray]:
        """Run the network on same-size float32 (h, w, 3) images; returns the outputs (the
        images themselves when there is no network)."""
        if self.model is None:
            return [np.ascontiguousarray(low) for low in lows]
        batch = torch.from_numpy(np.stack(lows)).permute(0, 3, 1, 2)  # (B, 3, h, w)
        batch = batch.to(self.device, non_blocking=True)
        dtype = autocast_dtype(self.device)
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            out = predict_padded(self.model, batch)
        out = out.float().clamp_(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(o) for o in out]

    def network_input(self, codes: imageio.Codes, low: np.ndarray) -> np.ndarray:
        """What the network sees of a photo: its working-resolution image, re-exposed by the
        photo's estimated error in stops when the model was trained so (else ``low`` itself).

        Args:
            codes: the photo at full size (the estimate is read on it).
            low: float32 ``(h, w, 3)`` gamma-encoded RGB in [0, 1], the photo at working size.
        """
        if self.pre_exposure != "stops":
            return low
        return stops_correction.correct_float(low, self.stops_of(codes))

    def stops_of(self, codes: imageio.Codes) -> float:
        """The photo's estimated error in stops (``stops_correction.estimate_stops``), read
        once for the network's input and the full-size curve."""
        held = self._estimates.get(id(codes))
        if held is not None and held[0] is codes:
            return held[1]
        if len(self._estimates) >= 2 * self.params.batch_size:
            self._estimates.clear()
        stops = stops_correction.estimate_stops(codes)
        self._estimates[id(codes)] = (codes, stops)
        return stops

    def predict(self, photos: list[tuple[imageio.Codes, np.ndarray]]) -> list[np.ndarray]:
        """The network's outputs for same-size photos given as (codes, working image)."""
        return self.forward([self.network_input(codes, low) for codes, low in photos])

    def verdict(
        self, codes: imageio.Codes, low_input: np.ndarray, low_output: np.ndarray
    ) -> Verdict | None:
        """The well-exposed gate's decision for one photo (None when the gate is off)."""
        if self.thresholds is None:
            return None
        sample = float_analysis_sample(codes, self.thresholds.analysis_side)
        return decide(
            sample,
            low_input,
            low_output,
            self.thresholds,
            self.params.max_lift,
            self.params.max_darken,
        )

    def strips(self, codes: imageio.Codes, low_input: np.ndarray, low_output: np.ndarray):
        """Full-resolution corrected strips ``(top, bottom, float32 rows)``.

        A photo the gate leaves alone gives its own rows back (and counts in ``left_alone``).
        """
        if self.leaves_alone(codes, low_input, low_output):
            return unchanged_strips(codes, self.params.strip_rows)
        return self.corrected_strips(codes, low_input, low_output)

    def leaves_alone(
        self, codes: imageio.Codes, low_input: np.ndarray, low_output: np.ndarray
    ) -> bool:
        """True when the gate leaves the photo alone (then counted in ``left_alone``)."""
        verdict = self.verdict(codes, low_input, low_output)
        if verdict is not None and verdict.leave_alone:
            self.left_alone += 1
            return True
        return False

    def corrected_strips(self, codes: imageio.Codes, low_input: np.ndarray, low_output: np.ndarray):  # type: ignore[no-untyped-def]
        """Full-resolution corrected strips ``(top, bottom, float32 rows)``, gate not asked."""
        p = self.params
        if self.model is None:  # the re-exposure alone: its curve on the full-size codes
            stops = self.stops_of(codes)
            curve = stops_correction.correction_curve(stops, codes.bits)
            return unchanged_strips(imageio.apply_curve(codes, curve), p.strip_rows)
        return upsample.transfer_strips(
            lambda top, bottom: imageio.rows_to_float(codes, top, bottom),
            (codes.height, codes.width),
            low_input,
            low_output,
            radius=p.radius,
            eps=p.eps,
            gamma=self.encoding.gamma,
            curve=self.encoding.curve,
            gain_eps=p.gain_eps,
            highlight_lo=p.highlight_lo,
            highlight_hi=p.highlight_hi,
            strip_rows=p.strip_rows,
        )

    def correct_codes(self, codes: imageio.Codes, bits: int | None = None) -> imageio.Codes:
        """Correct one photo given as codes; the result has ``bits`` (default: the input's)."""
        low_in = imageio.downscale(codes, self.working_size(codes.height, codes.width))
        (low_out,) = self.predict([(codes, low_in)])
        strips = self.strips(codes, low_in, low_out)
        return imageio.assemble(strips, codes.height, codes.width, bits or codes.bits)

    def correct(self, image: np.ndarray) -> np.ndarray:
        """Correct one float32 (H, W, 3) RGB [0, 1] image; returns the same layout."""
        codes = imageio.float_to_codes(image, 16)
        return imageio.codes_to_float(self.correct_codes(codes, 16))


def unchanged_strips(codes: imageio.Codes, strip_rows: int):  # type: ignore[no-untyped-def]
    """The photo's own rows as float32 strips ``(top, bottom, rows)``."""
    for top in range(0, codes.height, strip_rows):
        bottom = min(codes.height, top + strip_rows)
        yield top, bottom, imageio.rows_to_float(codes, top, bottom)


class BatchedForward:
    """Photos decoded, same-size working images batched through the network: iterating yields
    ``(path, codes, low_in, low_out)``. An unreadable photo is skipped and listed in
    ``failures`` ("path: reason"), complete once iteration ends. ``read`` (path, max_pixels)
    -> codes in the network's space (default ``imageio.read_codes``: the file's own codes)."""

    def __init__(
        self,
        photos: list[Path],
        enhancer: Enhancer,
        max_pixels: int,
        read: Callable[[Path, int], imageio.Codes] = imageio.read_codes,
    ) -> None:
        self.photos = photos
        self.enhancer = enhancer
        self.max_pixels = max_pixels
        self.read = read
        self.failures: list[str] = []

    def __iter__(self) -> Iterator[tuple[Path, imageio.Codes, np.ndarray, np.ndarray]]:
        enhancer = self.enhancer
        buckets: dict[tuple[int, int], list[tuple[Path, imageio.Codes, np.ndarray]]]
        buckets = defaultdict(list)

        def flush(key: tuple[int, int]) -> Iterator[tuple]:
            items = buckets.pop(key)
            outputs = enhancer.predict([(codes, low) for _, codes, low in items])
            for (path, codes, low), out in zip(items, outputs, strict=True):
                yield path, codes, low, out

        for photo in self.photos:
            try:
                codes = self.read(photo, self.max_pixels)
            except (imageio.ImageError, OSError) as exc:
                self.failures.append(f"{photo}: {getattr(exc, 'reason', exc)}")
                continue
            size = enhancer.working_size(codes.height, codes.width)
            buckets[size].append((photo, codes, imageio.downscale(codes, size)))
            if len(buckets[size]) >= enhancer.params.batch_size:
                yield from flush(size)
        for key in list(buckets):
            yield from flush(key)
