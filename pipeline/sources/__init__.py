"""Source adapters: one module per source, listed in a plain dict."""

from __future__ import annotations

from pipeline.sources import demo, folder, lol, msec, places365
from pipeline.sources.base import FetchContext, SourceFetcher

SOURCES: dict[str, SourceFetcher] = {
    "demo": demo.fetch,
    "folder": folder.fetch,
    "msec": msec.fetch,
    "lol": lol.fetch,
    "places365": places365.fetch,
}

__all__ = ["SOURCES", "FetchContext", "SourceFetcher"]
