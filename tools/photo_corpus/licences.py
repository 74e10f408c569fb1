"""Licence and copyright of a photo: Debian copyright files, Plasma metadata, sklearn's README."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Licence:
    licence: str
    copyright: str
    source: str


def parse_dep5(text: str) -> list[dict[str, str]]:
    """Stanzas of a machine-readable Debian copyright file (fields joined over continuations)."""
    stanzas: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        name = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                name = name.strip()
                fields[name] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def dep5_licence(stanzas: list[dict[str, str]], upstream: str) -> tuple[str, str]:
    """Licence and copyright of ``upstream``: the last ``Files:`` stanza that matches wins."""
    found = ("", "")
    for stanza in stanzas:
        patterns = stanza.get("Files", "").split()
        if any(fnmatch.fnmatchcase(upstream, p) for p in patterns):
            licence = stanza.get("License", "").splitlines()[0] if stanza.get("License") else ""
            found = (licence, " ".join(stanza.get("Copyright", "").split()))
    return found


def plasma_licence(image: Path) -> tuple[str, str] | None:
    """Licence and author from a Plasma wallpaper's ``metadata.json``, if it has one."""
    meta = image.parents[2] / "metadata.json"
    if not meta.is_file():
        return None
    plugin = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
    authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
    return plugin.get("License", ""), authors


def sklearn_licence(readme: str, name: str) -> tuple[str, str, str]:
    """Licence URL, attribution and source URL of one image in sklearn's images README."""
    block = readme.split(f"Image: {name}", 1)[-1].split("Image:", 1)[0]
    refs = dict(re.findall(r"^\[(\d+)\]\s*(\S+)", block, flags=re.M))
    attribution = re.search(r"^Attribution:\s*(.+)$", block, flags=re.M)
    licence_url = refs.get("1", "")
    licence = "CC-BY-" + licence_url.rstrip("/").split("/")[-1] if "/by/" in licence_url else ""
    credit = re.sub(r"\s*\[\d+\]", "", attribution.group(1)).strip() if attribution else ""
    return licence or licence_url, credit, refs.get("3", "")
