"""The names of the methods ``prep evaluate`` scores, defined once.

A method name is a key of ``metrics.json``, a value of the ``method`` column of
``per_image.csv``, a column of the plot tables and a panel of the sample grids.
"""

from __future__ import annotations

MODEL = "model"  # the trained generator, through the prep enhance path
IDENTITY = "identity"  # the input itself
HE = "he"  # global histogram equalisation of luma
CLAHE = "clahe"
AUTO_EXPOSURE = "auto_exposure"  # one global gain in linear light to a mean of 0.18
BLIND = (IDENTITY, HE, CLAHE, AUTO_EXPOSURE)  # the baselines that see only the image
ORACLE = "oracle"  # seed 002's inverse transform, given the pair's true tau/EV
ORACLE_LABEL = "oracle (known tau/EV)"
