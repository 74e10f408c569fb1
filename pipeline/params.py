"""params.yaml -> frozen dataclasses, one section per stage.

Unknown or mistyped keys fail with the dotted key, the expected type and what was found.
CLI flags override params: ``load_params(path, {"synthesize.tau": "0.7"})``.
The train section is resolved from a preset (``train.preset``): built-in defaults, then
``train.presets[<preset>]``, then any key set beside ``preset`` in params.yaml, then CLI flags.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import UserError


class ParamsError(UserError):
    """A params.yaml value that does not fit the schema, named by its dotted key."""


# --- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IoParams:
    """Decoding limits and output encodings shared by the data stages."""

    max_pixels: int = 200_000_000  # refuse larger images (decompression bombs)
    min_side: int = 64  # smaller images are rejected as unusable
    jpeg_quality: int = 95
    png_level: int = 1  # zlib level for PNG outputs: 1 is fast, 9 is ~3 % smaller on photos


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
    path: str = ""  # a local folder of photos (JPEG/PNG/TIFF/WebP/RAW), searched recursively
    recursive: bool = True


@dataclass(frozen=True)
class ArchiveSpec:
    url: str = ""
    sha256: str = ""  # optional; recorded in sources.lock.json on first download when empty
    md5: str = ""


@dataclass(frozen=True)
class MsecSource:
    training: ArchiveSpec = field(default_factory=ArchiveSpec)
    validation: ArchiveSpec = field(default_factory=ArchiveSpec)
    testing: ArchiveSpec = field(default_factory=ArchiveSpec)
    splits: list[str] = field(default_factory=lambda: ["training", "validation", "testing"])
    expert: Literal["a", "b", "c", "d", "e"] = "c"  # ground truth of the testing set


@dataclass(frozen=True)
class LolSource:
    archive: ArchiveSpec = field(default_factory=ArchiveSpec)


@dataclass(frozen=True)
class Places365Source:
    base_url: str = "http://data.csail.mit.edu/places/places365/"
    archive: str = "val_256"  # val_256, train_256_places365standard, val_large, ...
    max_images: int = 0  # 0 keeps all; otherwise a deterministic subset of this size
    seed: int = 0
    md5: str = ""  # overrides the built-in MD5 of the archive (a mirror or an unlisted archive)


@dataclass(frozen=True)
class DataParams:
    """Which sources ``prep download`` fetches, and each source's settings."""

    sources: list[str] = field(default_factory=lambda: ["demo"])
    demo: DemoSource = field(default_factory=DemoSource)
    folder: FolderSource = field(default_factory=FolderSource)
    msec: MsecSource = field(default_factory=MsecSource)
    lol: LolSource = field(default_factory=LolSource)
    places365: Places365Source = field(default_factory=Places365Source)


@dataclass(frozen=True)
class DownloadParams:
    retries: int = 5  # consecutive failed attempts (without new bytes) before giving up
    backoff_s: float = 1.0  # first retry delay; doubles each retry
    timeout_s: float = 60.0
    chunk_bytes: int = 1 << 20
    keep_archives: bool = True  # False deletes an archive once extracted (the lock keeps sha256)
    max_extract_bytes: int = 1 << 40  # refuse archives that unpack to more (zip bombs)


@dataclass(frozen=True)
class FilterParams:
    """Thresholds that decide whether a clean photo is well exposed (README: "prep filter")."""

    analysis_side: int = 1024  # stats use every k-th pixel so the long side is about this
    max_saturated: float = 0.03  # fraction of pixels at the top code
    max_clipping_spike: float = 15.0  # top-code count / mean count of the 20 codes below
    spike_min_saturated: float = 0.005  # the spike test applies from this saturated fraction
    max_crushed: float = 0.30  # fraction of pixels at most 2/255 in every channel
    min_mean: float = 0.12
    max_mean: float = 0.65
    min_p99: float = 0.65  # a photo without highlights is underexposed
    max_p01: float = 0.35  # a photo without shadows is washed out
    min_spread: float = 0.20
    workers: int = 2


@dataclass(frozen=True)
class SynthesizeParams:
    tau: str = "0.5..1"  # "lo..hi" draws tau uniformly per sample; "0.7" fixes it
    tau_samples: int = 2  # overexposed variants per clean image
    evs: list[float] = field(default_factory=lambda: [-1.5, -1.0, 0.0, 1.0, 1.5])
    gamma: float = 2.2
    curve: Literal["gamma", "srgb"] = "gamma"
    format: Literal["png", "tif"] = "png"  # lossless: targets and inputs keep every code
    seed: int = 0
    workers: int = 2


@dataclass(frozen=True)
class SplitFractions:
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1


@dataclass(frozen=True)
class ShardParams:
    split: SplitFractions = field(default_factory=SplitFractions)
    max_samples: int = 1000  # per shard
    max_bytes: int = 1 << 30  # per shard
    seed: int = 0  # order of samples inside a split


@dataclass(frozen=True)
class GeneratorParams:
    depth: int = 8  # stride-2 levels: 8 reaches 1x1 at 256x256
    width: int = 64
    norm: Literal["batch", "instance", "none"] = "batch"
    spectral_norm: bool = False
    noise: Literal["none", "encoder", "decoder", "both"] = "none"
    output: Literal["tanh", "sigmoid"] = "tanh"
    color_space: Literal["rgb", "ycrcb"] = "rgb"
    dropout: float = 0.5
    skip: Literal["none", "residual", "gain"] = "none"  # none = the seeds (output is the image)
    max_stops: float = 4.0  # skip = gain: largest exposure change, in stops
    # skip = gain: an image-level exposure estimate beside the local path (histogram |
    # pooled = histograms + mean of the deepest encoder map; exposure_models/global_exposure.py)
    global_branch: Literal["none", "histogram", "pooled"] = "none"
    global_bins: int = 32
    global_width: int = 64


@dataclass(frozen=True)
class DiscriminatorParams:
    n_layers: int = 3  # 3 -> 70 px receptive field
    width: int = 64
    norm: Literal["batch", "instance", "none"] = "batch"
    spectral_norm: bool = False


@dataclass(frozen=True)
class LossParams:
    gan: Literal["bce", "lsgan"] = "bce"
    gan_weight: float = 1.0
    l1_weight: float = 100.0
    perceptual_weight: float = 0.0
    vgg_weights: str = ""  # path to torchvision's vgg19-dcbb9e7d.pth (needed when perceptual > 0)


@dataclass(frozen=True)
class AugmentParams:
    hflip: bool = True  # the same flip on input and target
    vflip: bool = False
    rot90: bool = False
    jitter: float = 0.0  # colour jitter strength on the input only (0 disables)
    identity: float = 0.0  # chance a view's input is its target (a pair to leave alone)


@dataclass(frozen=True)
class TrainParams:
    preset: str = "demo"
    steps: int = 2000
    batch_size: int = 4
    crop: int = 256
    resize: int = 0  # short side images are downscaled to before cropping (0: stored size)
    crops_per_sample: int = 1  # training crops from each decoded pair (decoding is the cost)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_from: float = 0.5  # fraction of steps at constant lr before the linear decay to 0
    device: str = "auto"  # auto = cuda > mps > cpu
    amp: bool = True  # bf16/fp16 autocast on GPUs
    channels_last: bool = True
    compile: bool = False
    workers: int = 2
    shuffle_buffer: int = 500
    log_every: int = 50
    val_every: int = 500
    val_images: int = 8
    checkpoint_every: int = 500
    seed: int = 0
    generator: GeneratorParams = field(default_factory=GeneratorParams)
    discriminator: DiscriminatorParams = field(default_factory=DiscriminatorParams)
    loss: LossParams = field(default_factory=LossParams)
    augment: AugmentParams = field(default_factory=AugmentParams)


@dataclass(frozen=True)
class EvaluateParams:
    resolution: int = 0  # 0 = full resolution; otherwise the long side images are resized to
    max_images: int = 0  # 0 = every test pair
    baselines: list[str] = field(
        default_factory=lambda: ["identity", "he", "clahe", "auto_exposure"]
    )
    oracle: bool = True  # seed 002's inverse transform with the known tau/EV
    samples: int = 6  # sample grids written
    lpips_weights: str = ""  # TorchScript LPIPS model (optional)
    inception_weights: str = ""  # TorchScript Inception-v3 classifier for the Inception Score
    tau_buckets: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    seed: int = 0


@dataclass(frozen=True)
class EnhanceParams:
    """``prep enhance`` (and full-resolution evaluation): network at a working resolution,
    correction carried to full size with a guided filter (README: "prep enhance")."""

    long_side: int = 0  # working resolution (long side); 0: the model's training scale
    # (short side = its train.resize), or a 512 long side when it was trained unresized
    radius: int = 64  # guided-filter radius, in working-resolution pixels (chosen on val)
    eps: float = 1e-3  # guided-filter regularisation
    gain_eps: float = 1e-4  # linear-light offset that caps the gain in black areas
    highlight_lo: float = 0.95  # clipped input highlights take the network output itself ...
    highlight_hi: float = 0.99  # ... blending in between these levels of the brightest channel
    strip_rows: int = 512  # full-resolution rows processed at once (bounds memory)
    batch_size: int = 4  # photos of the same working size per forward pass
    device: str = "auto"
    format: Literal["same", "jpg", "png", "tif"] = "same"  # RAW inputs give 16-bit TIFF
    quality: int = 95  # JPEG quality


@dataclass(frozen=True)
class Params:
    io: IoParams = field(default_factory=IoParams)
    data: DataParams = field(default_factory=DataParams)
    download: DownloadParams = field(default_factory=DownloadParams)
    filter: FilterParams = field(default_factory=FilterParams)
    synthesize: SynthesizeParams = field(default_factory=SynthesizeParams)
    shard: ShardParams = field(default_factory=ShardParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    enhance: EnhanceParams = field(default_factory=EnhanceParams)


# --- typed construction -----------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _fail(key: str, tp: Any, value: Any) -> ParamsError:
    shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
    return ParamsError(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {shown}")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(key, tp, value)
        return build(tp, value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise _fail(key, tp, value)
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _convert(value, arg, key)
            except ParamsError:
                continue
        raise _fail(key, tp, value)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(key, tp, value)
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(key, tp, value)
        _, item = typing.get_args(tp)
        return {str(k): _convert(v, item, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(key, tp, value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, tp, value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(key, tp, value)
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _fail(key, tp, value)
        return str(value)
    raise ParamsError(f"{key}: unsupported schema type {tp!r}")


_T = typing.TypeVar("_T")


def build(cls: type[_T], raw: dict[str, Any] | None, prefix: str = "") -> _T:
    """Build dataclass ``cls`` from a mapping, checking every key and type.

    Missing keys take the dataclass defaults; unknown keys raise ``ParamsError`` naming them.
    """
    raw = raw or {}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ParamsError(
            f"unknown key {where}{unknown[0]!s}; expected one of: {', '.join(sorted(names))}"
        )
    values = {
        name: _convert(value, hints[name], f"{prefix}.{name}" if prefix else name)
        for name, value in raw.items()
    }
    return cls(**values)


def to_dict(obj: Any) -> Any:
    """A params dataclass as plain dicts and lists (for logs, checkpoints and fingerprints)."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


# --- presets and overrides --------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ParamsError(f"{dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _resolve_train(raw_train: dict[str, Any]) -> dict[str, Any]:
    raw_train = dict(raw_train)
    presets = raw_train.pop("presets", {}) or {}
    if not isinstance(presets, dict):
        raise ParamsError(f"train.presets: expected mapping, got {type(presets).__name__}")
    name = raw_train.get("preset", TrainParams.preset)
    if name not in presets:
        if presets:
            raise ParamsError(
                f"train.preset: unknown preset {name!r}; params.yaml defines: "
                f"{', '.join(sorted(presets))}"
            )
        return raw_train
    preset = presets[name] or {}
    if not isinstance(preset, dict):
        raise ParamsError(f"train.presets.{name}: expected mapping")
    build(TrainParams, preset, f"train.presets.{name}")  # fail early, naming the preset
    return _deep_merge(preset, raw_train)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a params file into a mapping ({} for an empty file)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def load_params(
    path: str | Path | None = "params.yaml", overrides: dict[str, Any] | None = None
) -> Params:
    """Load params.yaml (or defaults when ``path`` is None or missing) and apply overrides.

    Args:
        path: the params file; a missing default ``params.yaml`` means built-in defaults.
        overrides: dotted keys (``"synthesize.tau"``) to values, applied last (CLI flags).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.exists():
            raw = read_yaml(path)
        elif path.name != "params.yaml":
            raise ParamsError(f"{path}: no such params file")
    raw = copy.deepcopy(raw)
    for dotted, value in (overrides or {}).items():
        if value is not None:  # before presets: a --preset flag picks the preset
            _set_dotted(raw, dotted, value)
    if "train" in raw:
        if not isinstance(raw["train"], dict):
            raise ParamsError("train: expected mapping")
        raw["train"] = _resolve_train(raw["train"])
    try:
        return build(Params, raw)
    except TypeError as exc:  # e.g. a section given as a list
        raise ParamsError(str(exc)) from exc


def parse_tau(spec: str) -> tuple[float, float]:
    """Parse ``"0.5..1"`` (uniform range) or ``"0.7"`` (fixed) into ``(lo, hi)``."""
    text = str(spec).strip()
    try:
        if ".." in text:
            lo_text, hi_text = text.split("..", 1)
            lo, hi = float(lo_text), float(hi_text)
        else:
            lo = hi = float(text)
    except ValueError as exc:
        raise ParamsError(f"synthesize.tau: expected 'lo..hi' or a number, got {spec!r}") from exc
    if not (0.0 < lo <= hi <= 1.0):
        raise ParamsError(f"synthesize.tau: need 0 < lo <= hi <= 1, got {spec!r}")
    return lo, hi
