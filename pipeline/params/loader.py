"""params.yaml -> ``Params``: every section built and checked when params load.

CLI flags override params: ``load_params(path, {"synthesize.tau": "0.7"})``. The train section
is resolved from a preset (``train.preset``): the ``TrainParams`` field defaults, then the
preset (built-in, ``pipeline.params.presets``, or one params.yaml defines under
``train.presets``), then any key set beside ``preset`` in params.yaml, then CLI flags.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exposure_core import storage
from pipeline.params.build import ParamsError, build, deep_merge, read_yaml, set_dotted
from pipeline.params.data_stages import DataStageParams
from pipeline.params.enhance import EnhanceParams
from pipeline.params.evaluate import EvaluateParams
from pipeline.params.presets import PRESETS
from pipeline.params.train import TrainParams


@dataclass(frozen=True)
class Params(DataStageParams):
    """Every section of params.yaml, one per stage."""

    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    enhance: EnhanceParams = field(default_factory=EnhanceParams)


def _resolve_train(raw_train: dict[str, Any]) -> dict[str, Any]:
    """The train mapping with its preset laid under it. params.yaml's ``train.presets`` add to
    the built-in presets (one of the same name replaces the built-in).

    A key set to null (``steps: null``) takes the preset's value: params.yaml lists the knobs
    people sweep that way, so that ``dvc exp run -S train.steps=40`` finds them. A run length
    in steps replaces a preset's epochs unless ``epochs`` is set too (as ``--steps`` does).
    """
    raw_train = {key: value for key, value in raw_train.items() if value is not None}
    if "steps" in raw_train and "epochs" not in raw_train:
        raw_train["epochs"] = 0.0
    own = raw_train.pop("presets", None) or {}
    if not isinstance(own, dict):
        raise ParamsError("train.presets", f"expected mapping, got {type(own).__name__}")
    presets = {**PRESETS, **own}
    name = raw_train.get("preset", TrainParams.preset)
    if name not in presets:
        raise ParamsError(
            "train.preset", f"unknown preset {name!r}; known: {', '.join(sorted(presets))}"
        )
    preset = presets[name] or {}
    if not isinstance(preset, dict):
        raise ParamsError(f"train.presets.{name}", "expected mapping")
    build(TrainParams, preset, f"train.presets.{name}")  # fail early, naming the preset
    preset = dict(preset)
    for net in ("generator", "discriminator"):  # another arch: the preset's fields do not apply
        own, base = raw_train.get(net), preset.get(net)
        if isinstance(own, dict) and isinstance(base, dict) and "arch" in own:
            default = TrainParams.__dataclass_fields__[net].default_factory().arch
            if own["arch"] != base.get("arch", default):
                preset.pop(net)
    return deep_merge(preset, raw_train)


def load_params(
    path: str | Path | None = "params.yaml", overrides: dict[str, Any] | None = None
) -> Params:
    """Load a params file (or the built-in defaults when ``path`` is None) and apply overrides.

    Every value is checked here (types, ranges, the rules between them), so a stage never
    starts with values it would refuse later. A file that is named but missing is an error:
    silently training with other values is worse than stopping.

    Args:
        path: the params file (a path or an fsspec URL, ``s3://bucket/params.yaml``), or None
            for the built-in defaults.
        overrides: dotted keys (``"synthesize.tau"``) to values, applied last (CLI flags).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        if not storage.is_url(path) and not Path(path).exists():
            raise ParamsError(str(path), "no such params file")
        raw = read_yaml(path)  # a URL: read from its store, or one line naming it
    raw = copy.deepcopy(raw)
    if isinstance(raw.get("engine"), str):  # `engine: ray` is short for `engine: {name: ray}`
        raw["engine"] = {"name": raw["engine"]}
    for dotted, value in (overrides or {}).items():
        if value is not None:  # before presets: a --preset flag picks the preset
            set_dotted(raw, dotted, value)
    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise ParamsError("train", f"expected mapping, got {type(train).__name__}")
    raw["train"] = _resolve_train(train)
    return build(Params, raw)
