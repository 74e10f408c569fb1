"""exposure_models/training."""
