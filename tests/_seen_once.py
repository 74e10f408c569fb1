"""Run by ``torchrun`` in tests/test_object_storage.py, once per node: one pass of the training
loader over the train shards in the bucket (two loader workers), the sample keys and shards
each rank and worker read written to ``<out>/rank<R>.json``; then ``prep train``'s stage for a
few steps from the same shards, checkpoints and logs to the bucket.

Usage: ``torchrun ... tests/_seen_once.py <shards URL> <params.yaml> <out folder> <run URL>``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from exposure_core import shardfmt
from exposure_models.training import distributed as ddp
from exposure_models.training.loader import LoaderConfig, make_loader
from pipeline.params import load_params
from pipeline.stages import train


def main(shards: str, params_file: str, out: str, run: str) -> None:
    ctx = ddp.init_distributed("cpu")
    local = shardfmt.local_shards(shards)
    checked = shardfmt.check_shards(local, "train", present=False)
    config = LoaderConfig(batch_size=1, crop=32, train=True, workers=2, shuffle_buffer=4)
    loader = make_loader(checked.urls(shards), config, checked.expected_sha256(shards))
    seen: list[dict[str, object]] = []
    for batch in loader:
        for meta in batch.meta:
            seen.append({"key": meta["__key__"], "url": meta["__url__"], "worker": batch.worker})
    Path(out, f"rank{ctx.rank}.json").write_text(json.dumps({"world": ctx.world, "seen": seen}))
    params = load_params(Path(params_file), {})
    train.run(params, shards, f"{run}/generator.pt", f"{run}/ckpt", f"{run}/logs")


if __name__ == "__main__":
    main(*sys.argv[1:5])
