"""Each image metric and its constants are defined once, in ``exposure_core/metrics/``.

Outside it only the torch path (``exposure_models/metrics_torch.py``, held equal to the
reference by ``tests/test_image_metrics.py``) computes PSNR, SSIM, MAE or CIEDE2000; every
other module (SR scores, benchmarks, training validation) calls those functions. The metric
constants are assigned once in the whole tree, the ground floor's metrics import nothing above
them (nor torch), and no project modules import each other (lazy imports included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from exposure_core.metrics import reference
from tests.test_layers import cycles

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("exposure_core", "exposure_models", "pipeline")
SCANNED = (*PACKAGES, "benchmarks", "tools")
METRICS_PACKAGE = Path("exposure_core/metrics")
TORCH_PATH = Path("exposure_models/metrics_torch.py")
# Functions (or methods) that compute a metric; the definitions and their two fast paths only.
METRIC_FUNCTIONS = {
    "psnr",
    "ssim",
    "mae",
    "delta_e2000",
    "ciede2000",
    "psnr_array",
    "ssim_array",
    "rgb_to_lab",
}
# Library calls that compute a metric; PSNR's formula (``10 * log10(...)``) is found apart.
METRIC_CALLS = {
    "structural_similarity",
    "peak_signal_noise_ratio",
    "mean_squared_error",
    "deltaE_ciede2000",
    "deltaE_cie76",
    "rgb2lab",
}
CONSTANTS = {
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_SIGMA",
    "SSIM_RADIUS",
    "SSIM_MIN_SIDE",
    "XYZ_FROM_RGB",
    "D65_WHITE",
    "PSNR_CAP",
    "HU_LUMA_WEIGHTS",
}


def _sources() -> list[tuple[Path, ast.Module]]:
    files = sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py"))
    return [(f.relative_to(ROOT), ast.parse(f.read_text(), str(f))) for f in files]


def _in_metrics(path: Path) -> bool:
    return METRICS_PACKAGE in path.parents or path == TORCH_PATH


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _is_decibels(node: ast.AST) -> bool:
    """``10 * log10(x)`` or ``20 * log10(x)`` (either order): a PSNR written out."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
        return False
    sides = (node.left, node.right)
    scale = any(isinstance(s, ast.Constant) and s.value in (10, 20) for s in sides)
    log = any(isinstance(s, ast.Call) and _called_name(s) == "log10" for s in sides)
    return scale and log


def _assigned_names(node: ast.AST) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = []
    for target in targets:
        for leaf in ast.walk(target):
            if isinstance(leaf, ast.Name):
                names.append(leaf.id)
    return names


def test_metric_functions_and_formulas_only_in_the_metrics_modules() -> None:
    found = []
    for path, tree in _sources():
        if _in_metrics(path):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.lstrip("_") in METRIC_FUNCTIONS:
                    found.append(f"{path}:{node.lineno} def {node.name}")
            elif isinstance(node, ast.Call) and _called_name(node) in METRIC_CALLS:
                found.append(f"{path}:{node.lineno} calls {_called_name(node)}")
            elif _is_decibels(node):
                found.append(f"{path}:{node.lineno} computes 10 * log10(...)")
    assert not found, f"metrics computed outside exposure_core/metrics: {found}"


def test_metric_constants_assigned_once_in_the_metrics_package() -> None:
    where: dict[str, list[str]] = {name: [] for name in CONSTANTS}
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                for name in _assigned_names(node):
                    if name in where:
                        where[name].append(f"{path}:{node.lineno}")
    for name, places in where.items():
        assert len(places) == 1, f"{name} assigned {len(places)} times: {places}"
        assert Path(places[0].split(":")[0]).parent == METRICS_PACKAGE, (name, places)


def _module_file(name: str) -> Path | None:
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT)
    return None


def _imports(tree: ast.Module) -> set[str]:
    """Every module name ``tree`` imports, at the top or inside functions; ``from a import b``
    gives ``a`` and ``a.b`` (b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _import_graph() -> dict[Path, set[Path]]:
    """Project module -> the project modules it imports (a package's ``__init__`` left out
    for its own modules, which run it first anyway)."""
    graph = {}
    for path, tree in _sources():
        if path.parts[0] not in PACKAGES:
            continue
        edges = {_module_file(name) for name in _imports(tree)} - {None, path}
        graph[path] = {
            e for e in edges if not (e.name == "__init__.py" and e.parent in path.parents)
        }
    return graph


def test_no_import_cycles() -> None:
    found = [[str(p) for p in c] for c in cycles(_import_graph())]
    assert not found, f"modules that import each other: {found}"


def test_cycle_finder_sees_a_lazy_cycle() -> None:
    a, b, c = Path("a.py"), Path("b.py"), Path("c.py")
    assert cycles({a: {b}, b: {a, c}, c: set()}) == [[a, b]]


def test_ground_floor_metrics_import_nothing_above_them() -> None:
    for path, tree in _sources():
        if METRICS_PACKAGE not in path.parents:
            continue
        above = {n for n in _imports(tree) if n.split(".")[0] in ("torch", *PACKAGES[1:])}
        assert not above, f"{path} imports {sorted(above)}"


def test_constants_are_scikit_image_s() -> None:
    from skimage.color import colorconv

    np.testing.assert_array_equal(np.asarray(reference.XYZ_FROM_RGB), colorconv.xyz_from_rgb)
    assert colorconv._illuminants["D65"]["2"] == reference.D65_WHITE
    assert int(3.5 * reference.SSIM_SIGMA + 0.5) == reference.SSIM_RADIUS  # skimage's truncate
    window = reference.ssim_window()
    assert window.shape == (reference.SSIM_MIN_SIDE,) and window.sum() == pytest.approx(1.0)
