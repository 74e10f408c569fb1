"""The top floor: the `prep` command line, its stages, the sources, evaluation and params."""
