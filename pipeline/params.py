"""params.yaml -> frozen dataclasses, one section per stage.

Unknown or mistyped keys fail with the dotted key, the expected type and what was found.
CLI flags override params: ``load_params(path, {"synthesize.tau": "0.7"})``.
The train section is resolved from a preset (``train.preset``): built-in defaults, then
``train.presets[<preset>]``, then any key set beside ``preset`` in params.yaml, then CLI flags.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from exposure_core.errors import UserError
from exposure_core.exposure import DEFAULT_GAMMA, Encoding
from exposure_core.schema import ConfigError
from exposure_core.splits import check_fractions
from exposure_models.config import (
    SR_ARCHS,
    DiscriminatorConfig,
    GeneratorConfig,
    LossWeights,
    PatchConfig,
    UNetConfig,
)


class ParamsError(UserError):
    """A params.yaml value that does not fit the schema, named by its dotted key."""


MAX_EV = 8.0  # synthesize.evs: largest exposure shift, in stops


# --- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IoParams:
    """Decoding limits and output encodings shared by the data stages."""

    max_pixels: int = 200_000_000  # refuse larger images (decompression bombs)
    min_side: int = 64  # smaller images are rejected as unusable
    jpeg_quality: int = 95
    png_level: int = -1  # -1: OpenCV's fast default (RLE, Sub filter); 0..9: zlib level


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
    max_images: int = 2000  # 0 keeps all; otherwise a deterministic subset of this size
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
    """Thresholds that decide whether a clean photo is well exposed (README: "prep filter").

    Tuned on the calibration half of the real-photo corpus (``tools/real_photos.py``).
    """

    analysis_side: int = 1024  # stats use every k-th pixel so the long side is about this
    min_highlight: float = 0.65  # brightest 0.1 % of pixels below this: no highlights
    shadow_level: float = 0.10  # luma below this is deep shadow (named in the reason)
    max_blown: float = 0.01  # fraction of pixels in blown (white, clipped) regions
    min_blown_region: float = 0.0005  # a white region counts from this fraction of the image
    min_blown_spike: float = 1.0  # white pixels at the top code / in the 24 codes below
    light_level: float = 0.45  # a clipped pixel is light, not colour, if every channel >= this
    max_clipped_light: float = 0.002  # with a spike above min_clipped_spike: clipped highlights
    min_clipped_spike: float = 24.0  # clipped light at the top code / at the codes just below
    rolloff_codes: int = 1  # how many codes just below the top the spike compares with
    max_p05: float = 0.76  # 5th percentile luma above this: no shadows, washed out
    workers: int = 2

    def __post_init__(self) -> None:
        if self.analysis_side < 16:
            raise ParamsError(f"filter.analysis_side: expected >= 16, got {self.analysis_side}")
        if self.workers < 1:
            raise ParamsError(f"filter.workers: expected >= 1, got {self.workers}")
        if not 1 <= self.rolloff_codes <= 64:
            raise ParamsError(f"filter.rolloff_codes: expected 1..64, got {self.rolloff_codes}")
        for name in (
            "min_highlight",
            "shadow_level",
            "max_blown",
            "min_blown_region",
            "light_level",
            "max_clipped_light",
            "max_p05",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ParamsError(f"filter.{name}: expected a level in [0, 1], got {value}")
        for name in ("min_blown_spike", "min_clipped_spike"):
            if getattr(self, name) < 0:
                raise ParamsError(f"filter.{name}: expected >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class SynthesizeParams:
    tau: str = "0.5..1"  # "lo..hi" draws tau uniformly per sample; "0.7" fixes it
    tau_samples: int = 4  # overexposed variants per clean image
    evs: list[float] = field(default_factory=lambda: [-1.5, -1.0, 0.0, 1.0, 1.5])
    gamma: float = DEFAULT_GAMMA
    curve: Literal["gamma", "srgb"] = "gamma"
    format: Literal["png", "tif"] = "png"  # lossless: targets and inputs keep every code
    seed: int = 0
    workers: int = 2
    write_images: bool = True  # false: the manifest of recipes only (shards render variants)

    def __post_init__(self) -> None:
        parse_tau(self.tau)
        for ev in self.evs:
            if not -MAX_EV <= ev <= MAX_EV:
                raise ValueError(f"evs: {ev} is outside -{MAX_EV:g}..+{MAX_EV:g} EV")
        if self.tau_samples < 0:
            raise ValueError(f"tau_samples must be >= 0, got {self.tau_samples}")
        Encoding(self.curve, self.gamma)  # gamma > 0


@dataclass(frozen=True)
class SplitFractions:
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        check_fractions(dataclasses.asdict(self))


@dataclass(frozen=True)
class ShardParams:
    split: SplitFractions = field(default_factory=SplitFractions)
    max_samples: int = 1000  # per shard
    max_bytes: int = 1 << 30  # per shard
    seed: int = 0  # order of samples inside a split

    def __post_init__(self) -> None:
        if self.max_samples < 1 or self.max_bytes < 1:
            raise ValueError(
                f"max_samples and max_bytes must be >= 1, got {self.max_samples}, {self.max_bytes}"
            )


# The learning components have one schema each, defined beside the models (torch-free) and
# built here by keyword like every section: train.generator, train.discriminator, train.loss.


@dataclass(frozen=True)
class AugmentParams:
    hflip: bool = True  # the same flip on input and target
    vflip: bool = False
    rot90: bool = False
    jitter: float = 0.0  # colour jitter strength on the input only (0 disables)
    jitter_p: float = 1.0  # probability a sample is jittered (albumentations' ColorJitter p)
    hue: float = 0.0  # hue jitter: shift up to +-hue of the hue circle (albumentations: 0.2)
    identity: float = 0.0  # chance a view's input is its target (a pair to leave alone)

    def __post_init__(self) -> None:
        for name in ("jitter", "jitter_p", "hue", "identity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class SRParams:
    """``train.task: sr``: pairs made from the clean photos by ``degradation`` at ``scale``."""

    scale: int = 4
    degradation: Literal["bicubic", "avgpool"] = "bicubic"  # avgpool: seed 003's own


@dataclass(frozen=True)
class TrainParams:
    preset: str = "demo"
    steps: int = 2000
    batch_size: int = 4
    crop: int = 256
    resize: int = 0  # short side images are downscaled to before cropping (0: stored size)
    crops_per_sample: int = 1  # training crops from each decoded pair (decoding is the cost)
    fresh_tau: bool = False  # a new tau from synthesize.tau at each visit (seed 002), not stored
    max_corrupt: float = 0.1  # fraction of train shards that may fail verification (skipped)
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
    # resume on the uninterrupted run's data stream (the batches already trained on are read
    # again and dropped); false starts a new stream at once (faster, another model)
    exact_resume: bool = True
    generator: GeneratorConfig = field(default_factory=UNetConfig)
    discriminator: DiscriminatorConfig = field(default_factory=PatchConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    augment: AugmentParams = field(default_factory=AugmentParams)
    # --- the seeds as written (README: presets) ---
    epochs: float = 0.0  # > 0: steps = ceil(epochs * training samples / batch_size)
    resize_mode: Literal["short_side", "square"] = "short_side"  # square: resize x resize
    init: Literal["native", "pytorch"] = "native"  # pytorch: PyTorch's default init everywhere
    task: Literal["exposure", "sr"] = "exposure"
    sr: SRParams = field(default_factory=SRParams)

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ConfigError("epochs", f"must be >= 0, got {self.epochs}")
        sr_net = self.generator.arch in SR_ARCHS
        if sr_net != (self.task == "sr"):
            raise ConfigError(
                "generator.arch",
                f"{self.generator.arch!r} does not fit train.task {self.task!r}: task sr needs "
                f"one of {', '.join(SR_ARCHS)}, task exposure one of the others",
            )
        if self.task != "sr":
            return
        if self.generator.scale != self.sr.scale:
            raise ConfigError(
                "generator.scale",
                f"must equal train.sr.scale ({self.sr.scale}), got {self.generator.scale}",
            )
        if self.crop % self.sr.scale:
            raise ConfigError(
                "crop", f"({self.crop}) must be a multiple of train.sr.scale ({self.sr.scale})"
            )
        if self.discriminator.arch != "seed003":
            raise ConfigError(
                "discriminator.arch",
                "task sr needs the unconditional discriminator seed003 (input and output sizes "
                f"differ), got {self.discriminator.arch!r}",
            )


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
    workers: int = 2  # scoring processes on the CPU (0 or 1: in the main process)

    def __post_init__(self) -> None:
        if min(self.resolution, self.max_images, self.samples, self.workers) < 0:
            raise ValueError(
                "resolution, max_images, samples and workers must be >= 0, got "
                f"{self.resolution}, {self.max_images}, {self.samples}, {self.workers}"
            )
        edges = self.tau_buckets
        if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError(f"tau_buckets must be increasing upper edges, got {edges}")


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
    # A photo that prep filter keeps and the network lifts by less than max_lift (log2 of its
    # mean-luma ratio) is returned unchanged (exposure_models/inference/gate.py).
    leave_well_exposed: bool = True
    max_lift: float = 0.2  # chosen on the calibration half of the real-photo corpus

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_lift <= 4.0:
            raise ValueError(f"max_lift must be in [0, 4] (log2 units), got {self.max_lift}")
        for name, low in (("long_side", 0), ("radius", 1), ("strip_rows", 1), ("batch_size", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if not (self.eps > 0 and self.gain_eps > 0):
            raise ValueError(f"eps and gain_eps must be > 0, got {self.eps}, {self.gain_eps}")
        if not 0.0 <= self.highlight_lo < self.highlight_hi <= 1.0:
            raise ValueError(
                "highlight_lo and highlight_hi need 0 <= highlight_lo < highlight_hi <= 1, got "
                f"{self.highlight_lo}, {self.highlight_hi}"
            )
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be within 1..100, got {self.quality}")


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
        members = typing.get_args(tp)
        if all(dataclasses.is_dataclass(m) for m in members):  # tagged by arch
            if not isinstance(value, dict):
                raise _fail(key, members[0], value)
            by_arch = {m.__dataclass_fields__["arch"].default: m for m in members}
            arch = value.get("arch", next(iter(by_arch)))
            if arch not in by_arch:
                raise ParamsError(f"{key}.arch: must be one of {', '.join(by_arch)}, got {arch!r}")
            return build(by_arch[arch], value, key)
        for arg in members:
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
    try:
        return cls(**values)
    except ValueError as exc:  # a range check in the section's __post_init__
        text = str(exc)
        raise ParamsError(text if text.startswith(prefix) else f"{prefix}.{text}") from exc


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
    if path.is_dir():
        raise ParamsError(f"{path}: is a folder, not a params file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ParamsError(
            f"{path}: not a params file (not UTF-8 text: byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start})"
        ) from exc
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
    """Load a params file (or the built-in defaults when ``path`` is None) and apply overrides.

    The built-in defaults, presets included, equal the shipped params.yaml (a test keeps them
    so). A file that is named but missing is an error: silently training with other values is
    worse than stopping.

    Args:
        path: the params file, or None for the built-in defaults.
        overrides: dotted keys (``"synthesize.tau"``) to values, applied last (CLI flags).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ParamsError(f"{path}: no such params file")
        raw = read_yaml(path)
    raw = copy.deepcopy(raw)
    for dotted, value in (overrides or {}).items():
        if value is not None:  # before presets: a --preset flag picks the preset
            _set_dotted(raw, dotted, value)
    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise ParamsError("train: expected mapping")
    if "presets" not in train:
        train = {**train, "presets": BUILTIN_PRESETS}
    raw["train"] = _resolve_train(train)
    try:
        params = build(Params, raw)
    except TypeError as exc:  # e.g. a section given as a list
        raise ParamsError(str(exc)) from exc
    check_ranges(params)
    return params


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


# --- built-in presets (the shipped params.yaml repeats them; tests/test_faults.py compares) ---

BUILTIN_PRESETS: dict[str, dict[str, Any]] = {
    "seed000": {
        "epochs": 250,
        "batch_size": 32,
        "crop": 256,
        "resize": 256,
        "resize_mode": "square",
        "lr": 0.00012,
        "decay_from": 1.0,
        "init": "pytorch",
        "generator": {
            "depth": 8,
            "width": 64,
            "norm": "batch",
            "output": "tanh",
            "bottleneck_padding": "zeros",
        },
        "discriminator": {"n_layers": 3, "width": 64, "norm": "batch"},
        "loss": {"gan": "bce", "gan_weight": 1.0, "l1_weight": 100.0, "perceptual_weight": 0.0},
        "augment": {"hflip": True, "jitter": 0.2, "jitter_p": 0.2, "hue": 0.2},
    },
    "seed001": {
        "epochs": 150,
        "batch_size": 64,
        "crop": 256,
        "resize": 256,
        "resize_mode": "square",
        "lr": 0.0001,
        "decay_from": 1.0,
        "init": "pytorch",
        "generator": {
            "depth": 8,
            "width": 64,
            "norm": "batch",
            "output": "tanh",
            "bottleneck_padding": "zeros",
        },
        "discriminator": {"n_layers": 3, "width": 64, "norm": "batch"},
        "loss": {"gan": "bce", "gan_weight": 1.0, "l1_weight": 100.0, "perceptual_weight": 0.0},
        "augment": {"hflip": True, "jitter": 0.2, "jitter_p": 0.2, "hue": 0.2},
    },
    "seed002": {
        "steps": 100000,
        "batch_size": 16,
        "crop": 256,
        "lr": 0.0002,
        "generator": {
            "arch": "seed002",
            "fov": 140,
            "width": 64,
            "norm": "batch",
            "spectral_norm": True,
            "noise": "both",
        },
        "discriminator": {"arch": "seed002", "fov": 70, "width": 64, "spectral_norm": True},
        "loss": {
            "gan": "lsgan",
            "gan_weight": 0.5,
            "l1_weight": 50.0,
            "perceptual_weight": 100.0,
            "perceptual_norm": "eq5",
            "vgg_weights": "models/vgg19-dcbb9e7d.pth",
        },
        "augment": {"hflip": True},
    },
    "seed003": {
        "epochs": 100,
        "batch_size": 8,
        "crop": 256,
        "lr": 0.0001,
        "decay_from": 1.0,
        "generator": {"arch": "seed003", "width": 64, "color_space": "ycrcb"},
        "discriminator": {"arch": "seed003", "width": 64, "color_space": "ycrcb"},
        "loss": {"gan": "bce", "gan_weight": 0.01, "l1_weight": 1.0, "content_space": "ycrcb"},
        "augment": {"hflip": True, "vflip": True, "rot90": True, "jitter": 0.2, "hue": 0.2},
    },
    "seed003_sr": {
        "task": "sr",
        "epochs": 10,
        "batch_size": 8,
        "crop": 256,
        "lr": 0.0002,
        "decay_from": 1.0,
        "sr": {"scale": 4, "degradation": "avgpool"},
        "generator": {"arch": "seed003_sr", "width": 64, "upsampling": "bilinear"},
        "discriminator": {"arch": "seed003", "width": 64, "color_space": "rgb"},
        "loss": {"gan": "bce", "gan_weight": 0.01, "l1_weight": 1.0},
        "augment": {"hflip": True},
    },
    "sr_demo": {
        "task": "sr",
        "steps": 800,
        "batch_size": 8,
        "crop": 128,
        "crops_per_sample": 4,
        "lr": 0.0005,
        "decay_from": 0.5,
        "workers": 1,
        "shuffle_buffer": 200,
        "log_every": 50,
        "checkpoint_every": 200,
        "sr": {"scale": 4, "degradation": "bicubic"},
        "generator": {"arch": "rrdb", "features": 32, "blocks": 2, "growth": 16, "base": "bicubic"},
        "discriminator": {"arch": "seed003", "width": 8},
        "loss": {"gan": "bce", "gan_weight": 0.0, "l1_weight": 1.0},
        "augment": {"hflip": True, "vflip": True, "rot90": True},
    },
    "demo": {
        "steps": 1000,
        "batch_size": 8,
        "crop": 128,
        "resize": 128,
        "crops_per_sample": 2,
        "lr": 0.001,
        "decay_from": 0.5,
        "workers": 1,
        "shuffle_buffer": 200,
        "log_every": 50,
        "val_every": 250,
        "val_images": 4,
        "checkpoint_every": 100,
        "generator": {"depth": 7, "width": 16, "norm": "none", "skip": "gain", "dropout": 0.0},
        "discriminator": {"n_layers": 3, "width": 16},
        "loss": {"gan": "bce", "gan_weight": 0.1, "l1_weight": 100.0},
        "augment": {"hflip": True, "vflip": True, "rot90": True},
    },
    "real": {
        "steps": 1800,
        "batch_size": 8,
        "crop": 128,
        "resize": 128,
        "crops_per_sample": 4,
        "lr": 0.001,
        "decay_from": 0.5,
        "workers": 1,
        "shuffle_buffer": 300,
        "log_every": 50,
        "val_every": 500,
        "val_images": 8,
        "checkpoint_every": 250,
        "generator": {
            "depth": 5,
            "width": 16,
            "norm": "none",
            "skip": "gain",
            "dropout": 0.0,
            "global_branch": "histogram",
        },
        "discriminator": {"n_layers": 3, "width": 16},
        "loss": {"gan": "bce", "gan_weight": 0.1, "l1_weight": 100.0},
        "augment": {"hflip": True, "vflip": True, "rot90": True, "identity": 0.25},
    },
}


# --- ranges a type cannot express -------------------------------------------------------------

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?|xpu(:\d+)?")
_AT_LEAST_ONE = (
    "filter.analysis_side",
    "train.steps",
    "train.batch_size",
    "train.crop",
    "train.log_every",
    "train.val_every",
    "train.checkpoint_every",
    "enhance.strip_rows",
    "enhance.batch_size",
)


def _get(params: Params, dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def check_ranges(params: Params) -> None:
    """Values of the right type that would still crash a stage or silently do nothing.

    Raises ``ParamsError`` naming the key (the message is one line; the CLI exits 2).
    """
    for key in _AT_LEAST_ONE:
        value = _get(params, key)
        if value < 1:
            raise ParamsError(f"{key}: must be at least 1, got {value}")
    if not params.data.sources:
        raise ParamsError(
            "data.sources: empty; list at least one source (demo, folder, msec, lol, places365)"
        )
    for key in ("train.device", "enhance.device"):
        value = _get(params, key)
        if not _DEVICE.fullmatch(value):
            raise ParamsError(
                f"{key}: unknown device {value!r}; expected auto, cpu, cuda, cuda:N or mps"
            )
    name = params.data.places365.archive
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ParamsError(
            f"data.places365.archive: {name!r} must be an archive name such as val_256 "
            "(no '/' or '..': it becomes a folder under data/raw/places365)"
        )
