"""Source adapters: one module per source, listed in a plain dict."""

from __future__ import annotations

from pipeline.sources import demo
from pipeline.sources.base import FetchContext, SourceFetcher

SOURCES: dict[str, SourceFetcher] = {
    "demo": demo.fetch,
}

__all__ = ["SOURCES", "FetchContext", "SourceFetcher"]
