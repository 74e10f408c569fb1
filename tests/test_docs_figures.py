"""The figures of README.md and docs/ are generated from docs/figures/*.json, never typed.

No training here: the pages are rendered again from the committed sources; the demo source is
compared with ``reports/`` only where a demo run of the reference model exists.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "tools" / "docs_figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)

PAGES = figures.pages(ROOT)
SOURCES = sorted((ROOT / "docs" / "figures").glob("*.json"))


def _blocks(text: str) -> list[str]:
    return [m.group("name") for m in figures.MARKER.finditer(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_marked_block_equals_its_source(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert text == figures.regenerate(text), (
        f"{page.relative_to(ROOT)}: a figure differs from docs/figures/; "
        "run python tools/docs_figures.py"
    )


def test_markers_are_paired_and_every_source_is_used() -> None:
    used = set()
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        opened = re.findall(r"<!-- figures:([a-z0-9-]+) -->", text)
        closed = re.findall(r"<!-- /figures:([a-z0-9-]+) -->", text)
        assert opened == closed == _blocks(text), page
        used.update(opened)
    assert {p.stem for p in SOURCES} == used


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_a_measured_figure_names_its_command_date_and_machine(source: Path) -> None:
    data = json.loads(source.read_text(encoding="utf-8"))
    if source.stem == "demo":
        assert data["command"] == "make demo"
        return
    assert data["command"] and data["measured"] and data["machine"]
    assert "table" in data or "metrics" in data or data.get("notes")


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) < 12_000
    assert "make demo" in readme and "make test" in readme
    assert "<!-- figures:demo -->" in readme
    for link in re.findall(r"\]\(((?:docs|models)/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_links_between_pages_resolve() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for link in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text):
            assert (page.parent / link).exists(), f"{page.relative_to(ROOT)}: {link}"


def test_a_changed_source_changes_the_page(tmp_path: Path) -> None:
    demo = json.loads((ROOT / "docs/figures/demo.json").read_text(encoding="utf-8"))
    demo["metrics"]["model"]["overexpose"]["psnr"] += 0.01
    for source in SOURCES:  # the README's other blocks, as they are
        (tmp_path / source.name).write_bytes(source.read_bytes())
    (tmp_path / "demo.json").write_text(json.dumps(demo), encoding="utf-8")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert figures.regenerate(text, tmp_path) != text


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _locked_generator_md5() -> str | None:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    outs = lock["stages"]["train"]["outs"]
    return next((o["md5"] for o in outs if o["path"] == "models/generator.pt"), None)


def test_demo_figures_are_what_the_demo_wrote() -> None:
    """After `make demo`: docs/figures/demo.json == reports/ of that run, when the run trained
    the reference model (another machine trains another one: docs/reproducibility.md)."""
    reports, model = ROOT / "reports", ROOT / "models" / "generator.pt"
    if not (reports / "metrics").is_dir() or not model.is_file():
        pytest.skip("no demo run here (make demo)")
    if _md5(model) != _locked_generator_md5():
        pytest.skip("models/generator.pt is not dvc.lock's: trained on another machine")
    committed = json.loads((ROOT / "docs/figures/demo.json").read_text(encoding="utf-8"))
    assert figures.demo_from_reports(reports) == committed, (
        "run python tools/docs_figures.py --from reports/"
    )


def test_files_and_folders_named_in_the_pages_exist() -> None:
    """A module or folder named in README.md or docs/ (`pkg/...`) is still there."""
    roots = ("pipeline", "exposure_core", "exposure_models", "tests", "tools", "benchmarks")
    pattern = re.compile("`((?:" + "|".join(roots) + r")/[A-Za-z0-9_/.]*)`")
    for page in PAGES:
        for path in pattern.findall(page.read_text(encoding="utf-8")):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)}: {path}"
