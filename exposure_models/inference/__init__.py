"""exposure_models/inference."""
