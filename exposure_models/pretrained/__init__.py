"""The generators shipped with the project: what ``prep enhance`` uses without ``--model``.

Beside this module, as package data (in the wheel and in an installed package as in a
checkout), with their card ``README.md``:

- ``real.pt``, the default: the ``real`` preset trained on MSEC's real camera renders mixed
  with synthetic and camera-like copies of the real-photo corpus (``--model real``);
- ``synthetic.pt``: the same network trained on the corpus's synthetic copies alone (tau
  clipping, EV shifts), the better one on such copies, blind to real overexposed renders
  (``--model synthetic``).
"""

from __future__ import annotations

from pathlib import Path

from exposure_models.checkpoint import CheckpointError

SHIPPED_MODELS = {
    name: Path(__file__).resolve().parent / f"{name}.pt" for name in ("real", "synthetic")
}
SHIPPED_MODEL = SHIPPED_MODELS["real"]


def resolve_model(model: Path | None, shipped: Path | None = None) -> Path:
    """``model`` when given (a shipped model's name, ``real`` or ``synthetic``, when no file of
    that name exists); else the shipped generator (``shipped``, default ``SHIPPED_MODEL``).

    Raises:
        CheckpointError: no ``model`` given and no shipped generator at ``shipped``; the
            message names ``--model``.
    """
    if model is not None:
        name = str(model)
        return SHIPPED_MODELS[name] if name in SHIPPED_MODELS and not Path(name).exists() else model
    shipped = shipped if shipped is not None else SHIPPED_MODEL
    if not shipped.is_file():
        raise CheckpointError(
            f"no shipped model at {shipped}: pass --model PATH, a generator written by "
            "`prep train` (models/generator.pt by default)"
        )
    return shipped
