"""The three floors import downwards only: exposure_core imports neither exposure_models nor
pipeline, exposure_models never imports pipeline (imports inside functions and under
TYPE_CHECKING included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (absolute imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _top(names: set[str], package: str) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("exposure_core"), ids=lambda p: p.name)
def test_core_imports_nothing_above_it(path: Path) -> None:
    names = imports(path)
    assert not _top(names, "pipeline"), f"{path.relative_to(ROOT)} imports pipeline"
    assert not _top(names, "exposure_models"), f"{path.relative_to(ROOT)} imports exposure_models"


@pytest.mark.parametrize(
    "path", modules("exposure_models"), ids=lambda p: str(p.relative_to(ROOT / "exposure_models"))
)
def test_models_never_import_pipeline(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    found = _top(imports(path), "pipeline")
    assert not found, f"{rel} imports {sorted(found)}"
    assert not _top(found, "pipeline.params"), f"{rel} imports a stage's params"


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pipeline.params import Params\n"
        "def f():\n    import pipeline.cli\n"
    )
    assert _top(imports(module), "pipeline") == {"pipeline.params", "pipeline.cli"}


PACKAGES = ("exposure_core", "exposure_models", "pipeline")


def part_of(module: str) -> str | None:
    """The part a dotted module belongs to: its package's direct child (``pipeline.params``,
    ``exposure_models.training``, ``exposure_core.imageio``), or None outside the project."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    return ".".join(parts[:2])


def part_graph() -> dict[str, set[str]]:
    """part -> the other parts its modules import (imports inside functions included)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in modules(package):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            part = part_of(name) or package
            targets = {part_of(m) for m in imports(path)} - {None, part, package}
            graph.setdefault(part, set()).update(t for t in targets if t is not None)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_parts_import_each_other() -> None:
    """No circle among the parts (each package's direct children), not only among modules."""
    assert not cycles(part_graph())


def test_the_cycle_finder_sees_a_circle() -> None:
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert cycles(graph) == [["a.x", "a.y", "a.z"]]
