"""``enhance``: the enhancer's settings, defined beside it
(``exposure_models.inference.settings``) and read from params.yaml as they are."""

from __future__ import annotations

from exposure_models.inference.settings import EnhanceSettings

EnhanceParams = EnhanceSettings
