"""dvc.yaml's deps cover every project module a stage imports, so no code change skips a re-run.

For each stage the test follows the imports of ``pipeline/stages/<stage>.py`` (transitively,
including imports inside functions) and checks each project module is listed in the stage's
deps, as the file itself or a folder above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("exposure_core", "exposure_models", "pipeline")
STAGES = ("download", "filter", "synthesize", "shard", "train", "evaluate")


def module_file(name: str) -> Path | None:
    """The project file for a dotted module name, or None for third-party modules."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def lazy_names(init: Path) -> dict[str, str]:
    """A package's ``_LAZY`` table (name -> module imported on first use), {} without one."""
    for node in ast.parse(init.read_text(), str(init)).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return {}


def imported_files(path: Path) -> set[Path]:
    """Project files imported by ``path`` (``from pkg import mod`` resolves to the module, and
    a name of the package's ``_LAZY`` table to the module it is imported from)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            package = module_file(node.module)
            if package is not None and package.name == "__init__.py":
                lazy = lazy_names(package)
                names += [lazy[a.name] for a in node.names if a.name in lazy]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a package's __init__ runs too
                file = module_file(".".join(parts[:i]))
                if file is not None:
                    found.add(file)
    return found


def import_closure(start: Path) -> set[Path]:
    seen: set[Path] = set()
    todo = [start]
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        todo.extend(imported_files(file) - seen)
    return seen


def covered(file: Path, deps: list[str]) -> bool:
    rel = file.relative_to(ROOT)
    return any(rel == Path(dep) or Path(dep) in rel.parents for dep in deps)


@pytest.mark.parametrize("stage", STAGES)
def test_stage_deps_cover_its_imports(stage: str) -> None:
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    deps = [d for d in dvc["stages"][stage]["deps"] if isinstance(d, str)]
    closure = import_closure(ROOT / "pipeline" / "stages" / f"{stage}.py")
    missing = sorted(str(f.relative_to(ROOT)) for f in closure if not covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} imports modules its deps miss: {missing}"


def test_closure_follows_imports_inside_functions(tmp_path: Path) -> None:
    closure = import_closure(ROOT / "pipeline" / "stages" / "evaluate.py")
    names = {str(f.relative_to(ROOT)) for f in closure}
    assert "exposure_core/imageio/read.py" in names  # through the test-set reader
    assert "exposure_models/inference/enhancer.py" in names


DATA_STAGES = ("download", "filter", "synthesize", "shard")


@pytest.mark.parametrize("stage", DATA_STAGES)
def test_data_stages_do_not_reach_the_networks(stage: str) -> None:
    """A change to a network's config (exposure_models) never re-runs a data stage."""
    closure = import_closure(ROOT / "pipeline" / "stages" / f"{stage}.py")
    models = sorted(str(f.relative_to(ROOT)) for f in closure if "exposure_models" in f.parts)
    assert not models, f"data stage {stage!r} imports {models}"
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    assert not [d for d in deps if isinstance(d, str) and d.startswith("exposure_models")]


def test_lazy_names_are_followed() -> None:
    closure = import_closure(ROOT / "pipeline" / "stages" / "train.py")
    names = {str(f.relative_to(ROOT)) for f in closure}
    assert "pipeline/params/loader.py" in names  # `from pipeline.params import Params`
    assert "exposure_models/training/config.py" in names


def test_no_module_imports_a_stage() -> None:
    stages = ROOT / "pipeline" / "stages"
    for file in sorted(ROOT.glob("*/**/*.py")):
        if stages in file.parents or file.parts[len(ROOT.parts)] not in PACKAGES:
            continue
        if file == ROOT / "pipeline" / "cli.py":
            continue  # the CLI is the one place that calls stages
        bad = [f for f in imported_files(file) if stages in f.parents]
        assert not bad, f"{file.relative_to(ROOT)} imports a stage: {bad}"
    for file in sorted(stages.glob("*.py")):
        bad = [f for f in imported_files(file) if stages in f.parents and f.name != "__init__.py"]
        assert not bad, f"{file.relative_to(ROOT)} imports another stage: {bad}"
