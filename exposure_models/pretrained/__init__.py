"""The generator shipped with the project: what ``prep enhance`` uses without ``--model``.

``real.pt`` beside this module (``exposure_models/pretrained/real.pt``, package data: it is
in the wheel and in an installed package as in a checkout) was trained with the ``real`` preset
of ``params.yaml`` on real photographs; ``README.md`` beside it is its model card.
"""

from __future__ import annotations

from pathlib import Path

from exposure_models.checkpoint import CheckpointError

SHIPPED_MODEL = Path(__file__).resolve().parent / "real.pt"


def resolve_model(model: Path | None, shipped: Path | None = None) -> Path:
    """``model`` when given; else the shipped generator (``shipped``, default
    ``SHIPPED_MODEL``).

    Raises:
        CheckpointError: no ``model`` given and no shipped generator at ``shipped``; the
            message names ``--model``.
    """
    if model is not None:
        return model
    shipped = shipped if shipped is not None else SHIPPED_MODEL
    if not shipped.is_file():
        raise CheckpointError(
            f"no shipped model at {shipped}: pass --model PATH, a generator written by "
            "`prep train` (models/generator.pt by default)"
        )
    return shipped
