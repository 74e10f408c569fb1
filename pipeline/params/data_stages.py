"""The sections the data stages read (download, filter, synthesize, shard, and the engine they
run on): the part of
``Params`` that does not involve the networks, so a data stage never imports a model config
and a change to one never re-runs it (dvc.yaml lists these modules only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.params.data import DataParams, DownloadParams, EngineParams, IoParams
from pipeline.params.filter import FilterParams
from pipeline.params.shard import ShardParams
from pipeline.params.synthesize import SynthesizeParams


@dataclass(frozen=True)
class DataStageParams:
    io: IoParams = field(default_factory=IoParams)
    data: DataParams = field(default_factory=DataParams)
    download: DownloadParams = field(default_factory=DownloadParams)
    filter: FilterParams = field(default_factory=FilterParams)
    synthesize: SynthesizeParams = field(default_factory=SynthesizeParams)
    shard: ShardParams = field(default_factory=ShardParams)
    engine: EngineParams = field(default_factory=EngineParams)
