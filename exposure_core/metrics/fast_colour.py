"""CIEDE2000 in numpy float32, for the CPU: ``reference.delta_e2000`` organised for speed.

Term for term scikit-image's ``rgb2lab`` and ``deltaE_ciede2000`` (with ``reference``'s
``XYZ_FROM_RGB`` and ``D65_WHITE``), computed in float32 (the images' own precision; the mean
moves by a few 1e-6) over strips of pixels (``(3, N)`` CIELAB planes) small enough to stay in
the CPU's cache, with in-place numpy maths and masks applied by arithmetic; its hue weighting
``T`` comes from one sine and cosine of the mean hue (two polynomials in the cosine, by the
multiple-angle identities) instead of four cosines. Pixels come in as float32 ``(N, 3)`` sRGB
in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from exposure_core.metrics.reference import D65_WHITE, XYZ_FROM_RGB

XYZ_WHITE_FROM_RGB = (np.asarray(XYZ_FROM_RGB) / np.asarray(D65_WHITE)[:, None]).astype(np.float32)
# CIEDE2000 works on strips of about this many pixels (a few dozen float32 buffers of this
# size stay in a CPU core's L2 cache).
STRIP_PIXELS = 1 << 14
# CIEDE2000's hue weighting T(h) = 1 - 0.17 cos(h - 30°) + 0.24 cos 2h + 0.32 cos(3h + 6°)
# - 0.20 cos(4h - 63°) = 1 + sum_k (A_k cos kh + B_k sin kh), k = 1..4; with c = cos h,
# s = sin h (Chebyshev: cos 2h = 2c^2 - 1, cos 3h = 4c^3 - 3c, cos 4h = 8c^4 - 8c^2 + 1,
# sin 2h = 2sc, sin 3h = s (4c^2 - 1), sin 4h = s (8c^3 - 4c)) it is T_COSINE(c) + s T_SINE(c),
# two polynomials in c (coefficients from the constant term up).
_T_TERMS = ((1, -0.17, -30.0), (2, 0.24, 0.0), (3, 0.32, 6.0), (4, -0.20, -63.0))
_A = {k: w * math.cos(math.radians(p)) for k, w, p in _T_TERMS}
_B = {k: -w * math.sin(math.radians(p)) for k, w, p in _T_TERMS}
T_COSINE = (
    1.0 - _A[2] + _A[4],
    _A[1] - 3.0 * _A[3],
    2.0 * _A[2] - 8.0 * _A[4],
    4.0 * _A[3],
    8.0 * _A[4],
)
T_SINE = (_B[1] - _B[3], 2.0 * _B[2] - 4.0 * _B[4], 4.0 * _B[3], 8.0 * _B[4])


def blend(out: np.ndarray, other: np.ndarray, mask: np.ndarray) -> None:
    """``out[mask] = other[mask]`` in place, by arithmetic (``out += mask * (other - out)``):
    many times faster than a masked store where the mask changes from pixel to pixel.

    Exact where ``mask`` is False; within a rounding of ``other`` where it is True.
    """
    other = np.subtract(other, out, out=other)
    other *= mask
    out += other


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(N, 3)`` float32 in [0, 1] -> CIELAB ``(3, N)`` float32 (D65, 2 degrees).

    skimage's ``rgb2lab`` (sRGB transfer curve, its matrix and white point) in float32.
    """
    linear = np.power((rgb + np.float32(0.055)) * np.float32(1 / 1.055), np.float32(2.4))
    blend(linear, rgb * np.float32(1 / 12.92), rgb <= np.float32(0.04045))
    xyz = np.matmul(XYZ_WHITE_FROM_RGB, linear.T)  # (3, N), each row over its white
    f = np.cbrt(xyz)
    low = xyz <= np.float32(0.008856)
    linear = np.multiply(xyz, np.float32(7.787), out=xyz)
    linear += np.float32(16 / 116)
    blend(f, linear, low)
    lab = np.empty_like(f)
    np.multiply(f[1], np.float32(116), out=lab[0])
    lab[0] -= np.float32(16)
    np.multiply(np.subtract(f[0], f[1], out=lab[1]), np.float32(500), out=lab[1])
    np.multiply(np.subtract(f[1], f[2], out=lab[2]), np.float32(200), out=lab[2])
    return lab


def _half_chroma_weight(c: np.ndarray) -> np.ndarray:
    """``sqrt(c^7 / (c^7 + 25^7))`` of a chroma array (a new float32 array)."""
    c7 = c * c
    c7 *= c7
    c7 *= c
    c7 *= c * c
    out = c7 + np.float32(25.0**7)
    return np.sqrt(np.divide(c7, out, out=out), out=out)


def chroma(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sqrt(a^2 + b^2)`` (a new float32 array): numpy's ``hypot`` guards against overflow
    that CIELAB's range never reaches, and is several times slower."""
    out = a * a
    out += b * b
    return np.sqrt(out, out=out)


def _polar(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chroma ``|(a, b)|`` and hue ``atan2(b, a)`` in [0, 2 pi) (new float32 arrays)."""
    hue = np.arctan2(b, a)
    hue += (hue < 0) * np.float32(2 * math.pi)
    return chroma(a, b), hue


def hue_weighting(hbar: np.ndarray) -> np.ndarray:
    """CIEDE2000's ``T`` of mean hues ``hbar`` (radians): ``T_COSINE(c) + s T_SINE(c)`` with
    ``c, s = cos hbar, sin hbar`` (Horner's rule; one cosine and one sine, not four)."""
    c = np.cos(hbar)
    cosine = horner(T_COSINE, c)
    cosine += horner(T_SINE, c) * np.sin(hbar)
    return cosine


def horner(coefficients: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """The polynomial ``sum_i coefficients[i] x^i`` at every ``x`` (a new float32 array)."""
    out = x * np.float32(coefficients[-1])
    for coefficient in coefficients[-2:0:-1]:
        out += np.float32(coefficient)
        out *= x
    out += np.float32(coefficients[0])
    return out


def ciede2000(lab1: np.ndarray, lab2: np.ndarray, chroma2: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel CIEDE2000 of two CIELAB ``(3, N)`` float32 arrays (kL = kC = kH = 1).

    Term for term skimage's ``deltaE_ciede2000`` (Sharma et al. 2005) in float32;
    ``chroma2`` is ``chroma(a2, b2)`` when the caller has it already. Returns ``(N,)`` float32.
    """
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    cbar = chroma(a1, b1)
    cbar += chroma(a2, b2) if chroma2 is None else chroma2
    cbar *= np.float32(0.5)
    scale = _half_chroma_weight(cbar)
    np.subtract(np.float32(1.5), scale * np.float32(0.5), out=scale)  # 1 + G
    c1, h1 = _polar(a1 * scale, b1)
    c2, h2 = _polar(a2 * scale, b2)

    lbar = l1 + l2
    lbar *= np.float32(0.5)
    lbar -= np.float32(50.0)
    lbar *= lbar
    sl = np.sqrt(lbar + np.float32(20.0))
    np.divide(lbar, sl, out=sl)
    sl *= np.float32(0.015)
    sl += np.float32(1.0)
    l_term = l2 - l1
    l_term /= sl

    cbar = c1 + c2
    cbar *= np.float32(0.5)
    c_term = c2 - c1
    c_term /= np.float32(0.045) * cbar + np.float32(1.0)

    h_diff = h2 - h1
    hbar = np.add(h1, h2, out=h1)  # h_sum
    cc = np.multiply(c1, c2, out=c1)
    grey = cc == 0.0
    above, below = h_diff > np.float32(math.pi), h_diff < np.float32(-math.pi)
    # dH: h_diff brought into [-pi, pi]; 0 where a colour is grey.
    dh = h_diff
    dh -= above * np.float32(2 * math.pi)
    dh += below * np.float32(2 * math.pi)
    dh *= ~grey
    dh *= np.float32(0.5)
    h_term = np.sin(dh, out=dh)
    h_term *= np.sqrt(cc, out=cc)
    h_term *= np.float32(2.0)
    # mean hue: half the sum, turned by pi when the hues lie across 0; the sum when grey.
    wrap = np.logical_or(above, below, out=above)
    wrap &= ~grey
    low_sum = hbar < np.float32(2 * math.pi)
    hbar += (wrap & low_sum) * np.float32(2 * math.pi)
    hbar -= (wrap & ~low_sum) * np.float32(2 * math.pi)
    hbar *= grey * np.float32(0.5) + np.float32(0.5)

    sh = hue_weighting(hbar)
    sh *= cbar
    sh *= np.float32(0.015)
    sh += np.float32(1.0)
    h_term /= sh

    rc = _half_chroma_weight(cbar)
    # exp(-z^2) below exp(-80) (< 2e-35, a rotation of nothing) is taken as exp(-80): float32
    # would go subnormal there, which is slow.
    z = hbar
    z *= np.float32(180 / math.pi / 25)
    z -= np.float32(275 / 25)
    z *= z
    np.negative(z, out=z)
    np.maximum(z, np.float32(-80.0), out=z)
    rotation = np.exp(z, out=z)
    rotation *= np.float32(2 * math.radians(30))  # 2 dtheta
    np.sin(rotation, out=rotation)
    rotation *= rc
    rotation *= np.float32(2.0)
    rotation *= c_term
    rotation *= h_term  # -R_term

    total = np.multiply(l_term, l_term, out=l_term)
    total += np.multiply(c_term, c_term, out=c_term)
    total += np.multiply(h_term, h_term, out=sh)
    total -= rotation
    np.maximum(total, np.float32(0.0), out=total)
    return np.sqrt(total, out=total)


def strips(image: np.ndarray) -> Iterator[np.ndarray]:
    """An image's pixels as ``(N, 3)`` views of ``STRIP_PIXELS`` (the last one fewer)."""
    pixels = image.reshape(-1, 3)
    for start in range(0, len(pixels), STRIP_PIXELS):
        yield pixels[start : start + STRIP_PIXELS]
