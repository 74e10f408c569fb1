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
