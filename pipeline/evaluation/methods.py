"""The names of the methods ``prep evaluate`` scores, defined once.

A method name is a key of ``metrics.json``, a value of the ``method`` column of
``per_image.csv``, a column of the plot tables and a panel of the sample grids.
"""

from __future__ import annotations

from pipeline.params.evaluate import BLIND  # the baselines that see only the image

MODEL = "model"  # the trained generator, through the prep enhance path
# the input itself; global histogram equalisation of luma; CLAHE; one global gain in linear
# light to a mean of 0.18; the stops estimator's re-exposure along the camera curve (the
# names params.yaml's evaluate.baselines accepts)
IDENTITY, HE, CLAHE, AUTO_EXPOSURE, STOPS = BLIND
ORACLE = "oracle"  # seed 002's inverse transform, given the pair's true tau/EV
ORACLE_LABEL = "oracle (known tau/EV)"
# MSEC folders: the scene's EV 0 camera render, scored against the experts (not blind: it is
# the correctly exposed rendering of the same raw photo)
EV0_RENDER = "ev0_render"
EV0_LABEL = "EV 0 render (not blind)"
NOT_BLIND = (ORACLE, EV0_RENDER)  # listed after the blind methods, never ranked
