"""ICC profiles made at test time (no profile file is shipped): matrix/TRC RGB profiles from
published primaries (Adobe RGB (1998), Display P3) and a grey gamma profile, ICC v2 layout."""

from __future__ import annotations

import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY = (0.3127, 0.3290)
ADOBE_RGB = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))  # primaries' chromaticities (x, y)
DISPLAY_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998)'s 2.19921875, stored as u8Fixed8
SRGB_PARA = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # ICC parametric type 3
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)


def _xyz_of(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def d50_colorants(primaries: tuple[tuple[float, float], ...]) -> np.ndarray:
    """RGB linear -> XYZ (D50) matrix, columns = the colorants an ICC profile stores."""
    white = _xyz_of(*D65_XY)
    prim = np.stack([_xyz_of(*p) for p in primaries], axis=1)
    scale = np.linalg.solve(prim, white)
    to_xyz = prim * scale
    cone_src, cone_dst = _BRADFORD @ white, _BRADFORD @ D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return adapt @ to_xyz


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67
    )


def gamma_curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def srgb_curve() -> bytes:
    return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in SRGB_PARA)


def build_profile(
    description: str,
    tags: dict[str, bytes],
    space: bytes = b"RGB ",
    version: int = 0x02100000,
    device: bytes = b"mntr",
) -> bytes:
    """An ICC profile (v2.1 display by default) with ``tags`` plus its description and white
    point."""
    tags = {"desc": _desc_tag(description), "wtpt": _xyz_tag(D50), **tags}
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, data = [], b""
    for sig, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        entries.append(struct.pack(">4sII", sig.encode("latin-1"), offset + len(data), len(body)))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", version, device, space, b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
    header += b"".join(_s15(v) for v in D50)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + data


def rgb_profile(description: str, primaries, curve: bytes) -> bytes:  # type: ignore[no-untyped-def]
    colorants = d50_colorants(primaries)
    tags = {f"{c}XYZ": _xyz_tag(colorants[:, i]) for i, c in enumerate("rgb")}
    tags |= {f"{c}TRC": curve for c in "rgb"}
    return build_profile(description, tags)


def adobe_rgb() -> bytes:
    return rgb_profile("Adobe RGB (1998) primaries, test", ADOBE_RGB, gamma_curve(ADOBE_GAMMA))


def display_p3() -> bytes:
    return rgb_profile("Display P3 primaries, test", DISPLAY_P3, srgb_curve())


def srgb_like() -> bytes:
    """sRGB built from its primaries here (not littleCMS's bytes): must take the fast path."""
    return rgb_profile("sRGB IEC61966-2.1 like, test", SRGB_PRIMARIES, srgb_curve())


def grey_gamma(gamma: float = 2.2) -> bytes:
    return build_profile("Grey gamma 2.2, test", {"kTRC": gamma_curve(gamma)}, space=b"GRAY")


def lut_input_profile() -> bytes:
    """An ICC v4 input profile of lookup-table type only (``A2B0`` a ``mAB`` of three gamma
    curves, RGB straight to PCS XYZ), as cameras and Apple's sharing profile are made: no
    matrix/TRC tags, no way back from the PCS."""
    curve = b"para\0\0\0\0" + struct.pack(">HH", 0, 0) + _s15(2.2)
    head = b"mAB \0\0\0\0" + struct.pack(">BBH", 3, 3, 0) + struct.pack(">5I", 32, 0, 0, 0, 0)
    a2b = head + curve * 3
    return build_profile("Lookup-table input profile, test", {"A2B0": a2b}, version=0x04300000,
                         device=b"scnr")  # fmt: skip
