"""pipeline/evaluation."""
