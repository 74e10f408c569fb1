"""params.yaml -> frozen dataclasses, one section per stage (``pipeline.params.loader``).

Unknown or mistyped keys and values out of range fail when params load, with one
``ConfigError`` (``ParamsError``) naming the dotted key. Each section's module holds its
schema; a component's schema lives beside the component (the filter's thresholds, the
enhancer's settings, the training run's config) and its section is built from it.

The data stages' sections import nothing of the networks; the other names (``Params``,
``TrainParams``, ``load_params``, ...) are imported on first use (``_LAZY``), so a data stage,
which imports only its sections and ``DataStageParams``, never loads a model config (dvc.yaml's
deps of the data stages follow; tests/test_dvc_deps.py resolves ``_LAZY`` names).
"""

from __future__ import annotations

from exposure_core.lazy import lazy_getattr
from pipeline.params.build import ParamsError, UnknownKeyError, build, read_yaml, to_dict
from pipeline.params.data import (
    ArchiveSpec,
    DataParams,
    DemoSource,
    DownloadParams,
    EngineParams,
    FolderSource,
    IoParams,
    LolSource,
    MsecSource,
    Places365Source,
)
from pipeline.params.data_stages import DataStageParams
from pipeline.params.filter import FilterParams
from pipeline.params.shard import ShardParams, SplitFractions
from pipeline.params.synthesize import MAX_EV, SynthesizeParams, parse_tau

# name -> module: the names the data stages do not use (their modules import the model
# configs, or the evaluation's method names)
_LAZY = {
    "EvaluateParams": "pipeline.params.evaluate",
    "PRESETS": "pipeline.params.presets",
    "Params": "pipeline.params.loader",
    "load_params": "pipeline.params.loader",
    "EnhanceParams": "pipeline.params.enhance",
    "TrainParams": "pipeline.params.train",
    "GeneratorParams": "pipeline.params.train",
    "DiscriminatorParams": "pipeline.params.train",
    "LossParams": "pipeline.params.train",
    "AugmentParams": "pipeline.params.train",
    "SRParams": "pipeline.params.train",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "MAX_EV",
    "ArchiveSpec",
    "DataParams",
    "DataStageParams",
    "DemoSource",
    "DownloadParams",
    "EngineParams",
    "FilterParams",
    "FolderSource",
    "IoParams",
    "LolSource",
    "MsecSource",
    "ParamsError",
    "Places365Source",
    "ShardParams",
    "SplitFractions",
    "SynthesizeParams",
    "UnknownKeyError",
    "build",
    "parse_tau",
    "read_yaml",
    "to_dict",
    *_LAZY,
]
