"""Carry a correction computed at working resolution to the full-resolution photo.

``prep enhance`` runs the network on a copy of the photo whose long side is a few
hundred pixels (as MSEC does), then transfers the result to full size here:

1. At working resolution, the correction is a per-channel gain in linear light,
   ``gain = (out_lin + gain_eps) / (in_lin + gain_eps)``. Per channel (not on luminance)
   because the network also changes colour (white balance, saturation), which a
   luminance gain would drop; ``gain_eps`` keeps the ratio finite in the deep shadows.
2. Its logarithm is fitted by the guided filter (He et al.) as a local affine function
   of the working-resolution input colour. The log makes a change of exposure additive
   (stops), so windows average in stops and large shadow gains do not dominate.
3. The affine coefficients are bilinearly upsampled and applied to the full-resolution
   input colour ("fast guided filter"), so the gain follows full-resolution edges.
   With a pure power-law encoding, multiplying linear light by ``g`` multiplies the
   encoded value by ``g ** (1 / gamma)``: the full-resolution pass never decodes. With the
   sRGB curve (``curve="srgb"``) it decodes each strip, applies the gain and re-encodes.
4. Where the input is clipped (brightest channel near 1), a gain cannot bring back
   detail, so the result blends towards the upsampled network output there.

All filtering happens at working resolution; the full-resolution pass is pointwise
given the interpolated coefficients, so horizontal strips need no overlap and join
exactly, and temporaries scale with the strip, not with the megapixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

from exposure_core.exposure import (
    DEFAULT_GAMMA,
    LUMA_WEIGHTS,
    Curve,
    from_linear,
    to_linear,
)

# The working long side of a model trained on unresized crops (as MSEC), when no other is set.
UNRESIZED_LONG_SIDE = 512


def _check_image(image: np.ndarray, name: str, rgb: bool = True) -> None:
    """``rgb``: must be ``(H, W, 3)``; otherwise ``(H, W)`` or ``(H, W, C)`` will do."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {image.dtype}")
    if not (image.ndim == 3 and image.shape[2] == 3 if rgb else image.ndim in (2, 3)):
        raise ValueError(
            f"{name} must have shape {'(H, W, 3)' if rgb else '(H, W[, C])'}, got {image.shape}"
        )
    if image.size == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}")


def working_size(height: int, width: int, long_side: int, multiple: int) -> tuple[int, int]:
    """The (height, width) the network runs at, before padding (see ``pad_amounts``).

    The photo is scaled down (never up) so that even after padding each side up to a
    multiple of ``multiple`` it fits within ``long_side``: the cap on the long side is
    ``long_side`` rounded down to a multiple of ``multiple``. The aspect ratio is kept
    up to rounding; no side is smaller than 1.
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height} x {width}")
    if multiple < 1 or long_side < multiple:
        raise ValueError(f"need 1 <= multiple <= long_side, got {multiple=} {long_side=}")
    cap = long_side - long_side % multiple
    scale = min(1.0, cap / max(height, width))
    return max(1, min(cap, round(height * scale))), max(1, min(cap, round(width * scale)))


def pad_amounts(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Rows to add at the bottom and columns at the right to reach multiples of ``multiple``."""
    if height < 1 or width < 1 or multiple < 1:
        raise ValueError(f"need positive sizes, got {height} x {width}, {multiple=}")
    return -height % multiple, -width % multiple


def resize_area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale with pixel-area averaging (``cv2.INTER_AREA``).

    Args:
        image: float32 ``(H, W)`` or ``(H, W, C)``, any colour space.
        size: target ``(height, width)``, each no larger than the image's.
    Returns:
        float32 array of the target size (a copy of ``image`` when the size is unchanged).
    """
    _check_image(image, "image", rgb=False)
    height, width = size
    if not (1 <= height <= image.shape[0] and 1 <= width <= image.shape[1]):
        raise ValueError(f"size must be within 1..{image.shape[:2]} (downscale), got {size}")
    if (height, width) == image.shape[:2]:
        return image.copy()
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return out.reshape(height, width, *image.shape[2:])


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    out = cv2.boxFilter(x, -1, (side, side), borderType=cv2.BORDER_REFLECT)
    return out.reshape(x.shape)


def _guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged affine coefficients: ``q[..., c] = a[..., c, :] @ guide + b[..., c]``.

    ``guide`` is ``(H, W, G)``, ``src`` is ``(H, W, C)``; returns ``a`` ``(H, W, C, G)``
    and ``b`` ``(H, W, C)``, float64 (the variance ``E[I^2] - E[I]^2`` cancels badly in
    float32).
    """
    height, width, g = guide.shape
    c = src.shape[2]
    guide = guide.astype(np.float64)
    src = src.astype(np.float64)
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    outer_ii = (guide[..., :, None] * guide[..., None, :]).reshape(height, width, g * g)
    sigma = _box(outer_ii, radius).reshape(height, width, g, g)
    sigma -= mean_i[..., :, None] * mean_i[..., None, :]
    sigma += eps * np.eye(g)
    outer_ip = (guide[..., :, None] * src[..., None, :]).reshape(height, width, g * c)
    cov_ip = _box(outer_ip, radius).reshape(height, width, g, c)
    cov_ip -= mean_i[..., :, None] * mean_p[..., None, :]
    a = np.linalg.solve(sigma, cov_ip).swapaxes(-1, -2)  # (H, W, C, G)
    b = mean_p - (a @ mean_i[..., None])[..., 0]
    mean_a = _box(a.reshape(height, width, c * g), radius).reshape(height, width, c, g)
    return mean_a, _box(b, radius)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` steered by ``guide`` (He et al., 2010/2013).

    Args:
        guide: float32 ``(H, W)`` gray or ``(H, W, 3)`` colour, values roughly in [0, 1].
        src: float32 ``(H, W)`` or ``(H, W, C)``, same height and width.
        radius: window radius in pixels (window side ``2 * radius + 1``), >= 1.
        eps: regularisation (> 0) in squared guide units: edges whose guide variance
            is well above ``eps`` are kept, flatter areas are smoothed.
    Returns:
        float32 array shaped like ``src``.
    """
    _check_image(guide, "guide", rgb=not (isinstance(guide, np.ndarray) and guide.ndim == 2))
    _check_image(src, "src", rgb=False)
    _check_filter(radius, eps)
    if guide.shape[:2] != src.shape[:2]:
        raise ValueError(f"guide and src sizes differ: {guide.shape} vs {src.shape}")
    guide3 = guide.reshape(*guide.shape[:2], -1)
    a, b = _guided_coefficients(guide3, src.reshape(*src.shape[:2], -1), radius, eps)
    q = (a @ guide3[..., None])[..., 0] + b
    return q.astype(np.float32).reshape(src.shape)


def _check_filter(radius: int, eps: float) -> None:
    if not isinstance(radius, (int, np.integer)) or radius < 1:
        raise ValueError(f"radius must be an int >= 1, got {radius!r}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")


def _bilinear_rows(low: np.ndarray, size: tuple[int, int], top: int, bottom: int) -> np.ndarray:
    """Rows ``top:bottom`` of ``cv2.resize(low, size[::-1], INTER_LINEAR)``, nothing more.

    ``low`` is a float32 ``(h, w)`` plane; ``size`` is the full ``(H, W)``. The vertical
    step reproduces OpenCV's half-pixel mapping; the horizontal step is OpenCV itself
    (a resize that keeps the row count copies rows).
    """
    h = low.shape[0]
    height, width = size
    sy = np.maximum((np.arange(top, bottom) + 0.5) * (h / height) - 0.5, 0.0)
    y0 = np.minimum(np.floor(sy).astype(np.intp), h - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fy = (sy - y0).astype(np.float32)[:, None]
    rows = low[y0] * (1 - fy) + low[y1] * fy
    return cv2.resize(rows, (width, bottom - top), interpolation=cv2.INTER_LINEAR)


def _log_gain_coefficients(
    low_input: np.ndarray,
    low_output: np.ndarray,
    radius: int,
    eps: float,
    gamma: float,
    gain_eps: float,
    curve: Curve = "gamma",
) -> list[list[np.ndarray]]:
    """Per output channel c: float32 planes ``[a_c0, a_c1, a_c2, b_c]`` such that the log of
    the factor is ``a_c0 * R + a_c1 * G + a_c2 * B + b_c``: a factor on encoded values for the
    power law, on linear light for the sRGB curve."""
    in_lin = to_linear(low_input, gamma, curve)
    out_lin = to_linear(low_output, gamma, curve)
    log_factor = np.log((out_lin + gain_eps) / (in_lin + gain_eps))
    if curve == "gamma":
        # (light * g) ** (1 / gamma) == pixel * g ** (1 / gamma): log g / gamma acts on pixels
        log_factor /= np.float32(gamma)
    a, b = _guided_coefficients(low_input, log_factor, radius, eps)
    ab = np.concatenate([a, b[..., None]], axis=3).astype(np.float32)  # (h, w, 3, 4)
    return [[np.ascontiguousarray(ab[:, :, c, k]) for k in range(4)] for c in range(3)]


def _check_transfer(
    low_input: np.ndarray,
    low_output: np.ndarray,
    size: tuple[int, int],
    radius: int,
    eps: float,
    gamma: float,
    gain_eps: float,
    highlight_lo: float,
    highlight_hi: float,
    strip_rows: int,
) -> None:
    _check_image(low_input, "low_input")
    _check_image(low_output, "low_output")
    _check_filter(radius, eps)
    if low_output.shape != low_input.shape:
        raise ValueError(f"low_output {low_output.shape} must match low_input {low_input.shape}")
    if low_input.shape[0] > size[0] or low_input.shape[1] > size[1]:
        raise ValueError(f"low_input {low_input.shape} larger than the full size {size}")
    if not (gamma > 0 and gain_eps > 0 and strip_rows >= 1):
        raise ValueError(
            f"need gamma, gain_eps > 0, strip_rows >= 1: {gamma} {gain_eps} {strip_rows}"
        )
    if not 0.0 <= highlight_lo < highlight_hi <= 1.0:
        raise ValueError(
            f"need 0 <= highlight_lo < highlight_hi <= 1: {highlight_lo} {highlight_hi}"
        )


def transfer_strips(
    read_strip: Callable[[int, int], np.ndarray],
    size: tuple[int, int],
    low_input: np.ndarray,
    low_output: np.ndarray,
    *,
    radius: int,
    eps: float,
    gamma: float = DEFAULT_GAMMA,
    gain_eps: float,
    highlight_lo: float,
    highlight_hi: float,
    strip_rows: int,
    curve: Curve = "gamma",
) -> Iterator[tuple[int, int, np.ndarray]]:
    """The correction of ``transfer_correction``, one horizontal strip at a time.

    ``read_strip(top, bottom)`` returns rows ``top:bottom`` of the full-resolution input as
    float32 ``(bottom - top, W, 3)``; ``size`` is its ``(H, W)``. Yields
    ``(top, bottom, corrected_strip)``, so a caller can keep the full photo as 8/16-bit codes
    and never hold a full-size float image.
    """
    _check_transfer(
        low_input,
        low_output,
        size,
        radius,
        eps,
        gamma,
        gain_eps,
        highlight_lo,
        highlight_hi,
        strip_rows,
    )
    if tuple(size) == low_input.shape[:2]:
        yield 0, size[0], low_output.copy()
        return
    if curve not in ("gamma", "srgb"):
        raise ValueError(f"curve must be 'gamma' or 'srgb', got {curve!r}")
    coef = _log_gain_coefficients(low_input, low_output, radius, eps, gamma, gain_eps, curve)
    low_luma = np.ascontiguousarray(low_input @ LUMA_WEIGHTS)
    for top in range(0, size[0], strip_rows):
        bottom = min(top + strip_rows, size[0])
        strip = read_strip(top, bottom)
        planes = cv2.split(strip)
        brightest = np.maximum(np.maximum(planes[0], planes[1]), planes[2])
        mask = detail = None
        if brightest.max() > highlight_lo:
            t = np.clip((brightest - highlight_lo) / (highlight_hi - highlight_lo), 0.0, 1.0)
            mask = t * t * (3.0 - 2.0 * t)
            # The photo's own fine detail (luma above what the working resolution holds):
            # zero where every channel is clipped, texture where only some are, so a pixel
            # with one clipped channel keeps its texture on top of the network's output.
            luma = strip @ LUMA_WEIGHTS
            detail = luma - _bilinear_rows(low_luma, size, top, bottom)
        result = np.empty_like(strip)
        for c in range(3):
            *a_planes, s = (_bilinear_rows(p, size, top, bottom) for p in coef[c])
            for a_k, plane in zip(a_planes, planes, strict=True):
                s += np.multiply(a_k, plane, out=a_k)
            np.exp(s, out=s)
            if curve == "gamma":
                np.minimum(np.multiply(s, planes[c], out=s), 1.0, out=s)
            else:
                light = np.multiply(s, to_linear(planes[c], gamma, curve), out=s)
                s = from_linear(light, gamma, curve)
            if mask is not None:
                smooth = _bilinear_rows(low_output[..., c], size, top, bottom) + detail
                s += mask * (np.clip(smooth, 0.0, 1.0) - s)
            result[..., c] = s
        yield top, bottom, result


def transfer_correction(
    full_input: np.ndarray,
    low_input: np.ndarray,
    low_output: np.ndarray,
    *,
    radius: int,
    eps: float,
    gamma: float = DEFAULT_GAMMA,
    gain_eps: float,
    highlight_lo: float,
    highlight_hi: float,
    strip_rows: int,
    curve: Curve = "gamma",
) -> np.ndarray:
    """Apply the correction ``low_input -> low_output`` to the full-resolution photo.

    Args:
        full_input: float32 ``(H, W, 3)`` RGB in [0, 1], encoded with ``curve``.
        low_input: float32 ``(h, w, 3)``, ``full_input`` downscaled (``resize_area``),
            unpadded, with ``h <= H`` and ``w <= W``.
        low_output: float32 ``(h, w, 3)``, the network's result for ``low_input``.
        radius: guided-filter radius in working-resolution pixels.
        eps: guided-filter regularisation, in squared units of the encoded input.
        gamma: exponent of the power-law encoding, for the linear-light gain.
        curve: ``"gamma"`` (power law, no decoding at full size) or ``"srgb"``.
        gain_eps: linear-light offset of the gain ratio; caps the gain in black areas.
        highlight_lo, highlight_hi: where the input's brightest channel rises from
            ``highlight_lo`` to ``highlight_hi``, the result moves (smoothstep) from the
            gain-corrected input to the bilinearly upsampled ``low_output``.
        strip_rows: full-resolution rows processed at once; bounds the temporaries.
    Returns:
        float32 ``(H, W, 3)`` RGB in [0, 1], gamma-encoded. When the photo already is at
        working resolution (same shape as ``low_input``), ``low_output`` itself (a copy).
    """
    _check_image(full_input, "full_input")
    result = np.empty_like(full_input)
    strips = transfer_strips(
        lambda top, bottom: full_input[top:bottom],
        full_input.shape[:2],
        low_input,
        low_output,
        radius=radius,
        eps=eps,
        gamma=gamma,
        gain_eps=gain_eps,
        highlight_lo=highlight_lo,
        highlight_hi=highlight_hi,
        strip_rows=strip_rows,
        curve=curve,
    )
    for top, bottom, strip in strips:
        result[top:bottom] = strip
    return result
