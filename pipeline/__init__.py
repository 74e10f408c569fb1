"""The top floor: the `prep` command line, its stages, the sources, evaluation and params.

The public Python API (``pipeline.api``, docs/api.md) is importable from here:
``from pipeline import ShardPairs, enhance``. Its names are imported on first use (``_LAZY``),
so ``import pipeline`` and the data stages stay free of torch.
"""

from __future__ import annotations

from exposure_core.lazy import lazy_getattr

# name -> module, imported on first use
_LAZY = {
    "AugmentConfig": "pipeline.api",
    "EnhanceSettings": "pipeline.api",
    "Enhancer": "pipeline.api",
    "ShardFormatError": "pipeline.api",
    "ShardPairs": "pipeline.api",
    "collate_pairs": "pipeline.api",
    "enhance": "pipeline.api",
    "exported_pairs": "pipeline.api",
    "load_enhancer": "pipeline.api",
    "pair_pipeline": "pipeline.api",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = sorted(_LAZY)
