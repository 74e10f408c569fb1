"""``python -m pipeline`` runs the ``prep`` command (used by ``torchrun -m pipeline train``)."""

from pipeline.cli import app

app()
