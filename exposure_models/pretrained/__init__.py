"""The models shipped with the project, and what ``prep enhance`` uses without ``--model``.

The default, ``stops``, needs no file here: each photo is re-exposed by its estimated error in
stops along the fitted camera curve (``exposure_core.stops_correction``; the estimator's
weights ship as ``exposure_core/ev_estimator.json``), with no network after it. Beside this
module, as package data (in the wheel and in an installed package as in a checkout), with
their card ``README.md``, two generators:

- ``real.pt`` (``--model real``): the ``real`` preset trained on MSEC's real camera renders mixed
  with synthetic and camera-like copies of the real-photo corpus;
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
SHIPPED_MODEL = SHIPPED_MODELS["real"]  # the default generator, where one is needed
STOPS = "stops"  # the stops re-exposure alone: a model name, no file
DEFAULT_MODEL = STOPS  # what prep enhance uses without --model


def resolve_model(model: Path | None, shipped: Path | None = None) -> Path:
    """``model`` when given (a shipped model's name, ``real`` or ``synthetic``, when no file of
    that name exists; ``stops`` stays a name); else ``shipped`` when given, else the default,
    ``stops`` (``DEFAULT_MODEL``).

    Raises:
        CheckpointError: no ``model`` given and no shipped generator at ``shipped``; the
            message names ``--model``.
    """
    if model is not None:
        name = str(model)
        return SHIPPED_MODELS[name] if name in SHIPPED_MODELS and not Path(name).exists() else model
    if shipped is None:
        return Path(DEFAULT_MODEL)
    if not shipped.is_file():
        raise CheckpointError(
            f"no shipped model at {shipped}: pass --model PATH, a generator written by "
            "`prep train` (models/generator.pt by default)"
        )
    return shipped
