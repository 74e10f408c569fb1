"""pipeline/core."""
