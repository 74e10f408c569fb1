"""Each rule has one home: a constant, an atomic write, a folder walk for photos.

The three packages are scanned (AST, no imports): a second copy of a constant, a rename into
place outside ``exposure_core/fsutil.py`` or a folder walk outside
``exposure_core/discover.py`` fails here, unless it is listed below with the reason it is not
a copy.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("exposure_core", "exposure_models", "pipeline")

# Constants that were copied before; each must be assigned in exactly one module.
ONE_HOME_CONSTANTS = ("LUMA_WEIGHTS", "IMAGENET_MEAN", "IMAGENET_STD", "UNRESIZED_LONG_SIDE")

# Renames into place (os.replace / os.rename / Path.rename / Path.replace) outside fsutil.
RENAME_ALLOWED = {
    # a whole extracted folder is swapped in (a folder commit, not a file write)
    ("pipeline/sources/archive.py", "extract"),
    # the report's entries are swapped into a folder that also holds files the stage does not
    # manage (a folder commit, not a file write)
    ("pipeline/stages/evaluate.py", "_publish"),
    # a download that failed its checksum or was refused is moved aside to <name>.bad (kept
    # for inspection, not written)
    ("pipeline/sources/remote.py", "_verify"),
    ("pipeline/sources/remote.py", "_refused"),
}

# Folder listings (os.walk, os.scandir, os.listdir, Path.rglob/glob/iterdir) outside discover.py.
WALK_ALLOWED = {
    # temporary files a killed writer left in an output folder (not photos)
    ("exposure_core/fsutil.py", "remove_temp_files"),
    # "is this output folder empty?" checks
    ("exposure_core/fsutil.py", "check_replaceable"),
    ("exposure_core/fsutil.py", "StagedDir.__init__"),
    # linked files (DVC's cache) given their own copies before they are written in place
    ("exposure_core/fsutil.py", "unshare"),
    # the JSON files of a metrics folder
    ("pipeline/evaluation/results.py", "read_metrics"),
    # the source indexes left by an earlier download
    ("pipeline/stages/download.py", "_run"),
    # every file of a URL's local mirror (not photos): stale ones removed, finished ones uploaded
    ("exposure_core/storage.py", "pull"),
    ("exposure_core/storage.py", "publish"),
    # the files of a mirror before `prep enhance --in-place`, to find the ones it rewrote
    ("exposure_core/storage.py", "snapshot"),
}
WALK_CALLS = {"walk", "scandir", "listdir", "rglob", "glob", "iterdir"}
RENAME_CALLS = {"replace", "rename"}


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"), rel)))
    return out


def _calls(tree: ast.Module) -> list[tuple[str, ast.Call]]:
    """Every call with the dotted name of the function or method it is in."""
    found: list[tuple[str, ast.Call]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, f"{where}.{child.name}" if where else child.name)
            else:
                if isinstance(child, ast.Call):
                    found.append((where, child))
                visit(child, where)

    visit(tree, "")
    return found


def _outer(where: str) -> str:
    """``Class.method`` or ``function`` (nested functions count as their outer one)."""
    parts = where.split(".")
    return ".".join(parts[:2]) if parts and parts[0][:1].isupper() else parts[0]


def _assigned_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level ``NAME = <value>`` (and annotated) with an upper-case name."""
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id.lstrip("_").isupper():
                out[target.id] = value
    return out


def _is_alias(value: ast.expr) -> bool:
    return isinstance(value, ast.Name | ast.Attribute)


def test_named_constants_have_one_home() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for rel, tree in _modules():
        for name, value in _assigned_constants(tree).items():
            if name in ONE_HOME_CONSTANTS and not _is_alias(value):
                homes[name].append(rel)
    assert all(len(homes[name]) == 1 for name in ONE_HOME_CONSTANTS), dict(homes)


def test_no_constant_value_is_written_twice() -> None:
    """A tuple, list, set or array of two or more literal items bound at module level in two
    modules is one constant written twice: import it from its first home instead."""
    seen: dict[str, list[str]] = defaultdict(list)
    for rel, tree in _modules():
        for name, value in _assigned_constants(tree).items():
            literal = value.args[0] if isinstance(value, ast.Call) and value.args else value
            if (
                isinstance(literal, ast.Tuple | ast.List | ast.Set)
                and len(literal.elts) >= 2
                and all(isinstance(e, ast.Constant) for e in literal.elts)
            ):
                key = repr(sorted(repr(e.value) for e in literal.elts))
                seen[key].append(f"{rel}:{name}")
    twice = {k: v for k, v in seen.items() if len({s.split(":")[0] for s in v}) > 1}
    assert not twice, twice


def test_renames_into_place_live_in_fsutil() -> None:
    found = set()
    for rel, tree in _modules():
        if rel == "exposure_core/fsutil.py":
            continue
        for where, call in _calls(tree):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr in RENAME_CALLS:
                owner = func.value
                name = owner.id if isinstance(owner, ast.Name) else None
                is_os = name == "os"
                # Path.rename(target) / Path.replace(target): one positional argument (str.replace
                # takes two, dataclasses.replace keywords)
                is_path = name != "dataclasses" and len(call.args) == 1 and not call.keywords
                if is_os or is_path:
                    found.add((rel, _outer(where)))
            if isinstance(func, ast.Attribute) and func.attr in {"mkstemp", "NamedTemporaryFile"}:
                found.add((rel, _outer(where)))
    assert found - RENAME_ALLOWED == set(), "use exposure_core.fsutil (atomic_open, ...)"


def test_folders_are_walked_for_photos_in_discover_only() -> None:
    found = set()
    for rel, tree in _modules():
        if rel == "exposure_core/discover.py":
            continue
        for where, call in _calls(tree):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr in WALK_CALLS:
                if isinstance(func.value, ast.Name) and func.value.id in {"re", "fnmatch"}:
                    continue
                found.add((rel, _outer(where)))
    assert found - WALK_ALLOWED == set(), "find photos with exposure_core.discover.find_photos"
    assert found >= WALK_ALLOWED, "an allowed walk is gone: drop it from WALK_ALLOWED"


def test_upsampler_has_no_defaults_of_its_own() -> None:
    """The guided upsampler's settings come from EnhanceParams only (no second default)."""
    tree = ast.parse((ROOT / "exposure_core/upsample.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in {
            "transfer_strips",
            "transfer_correction",
        }:
            defaults = {
                arg.arg
                for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                if default is not None
            }
            assert not defaults & {"gain_eps", "highlight_lo", "highlight_hi", "strip_rows"}


# --- the photo-discovery rules, and every caller following them ------------------------------


def _photo_folder(root: Path) -> Path:
    """Photos nested two deep, with what is never a photo: macOS ``._x.jpg`` forks, hidden
    files and folders, ``__MACOSX/``, a non-image, a folder named like a photo, a link loop."""
    import numpy as np

    from exposure_core import imageio

    pixel = np.full((8, 8, 3), 0.5, np.float32)
    for rel in ("b.png", "a.jpg", "sub/c.png", "sub/deeper/d.tif"):
        imageio.write_image(root / rel, pixel)
    for rel in (".hidden.png", ".cache/e.png", "__MACOSX/f.jpg", "sub/g.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "._a.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "sub" / "._c.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "folder.jpg").mkdir()
    (root / "sub" / "loop").symlink_to(root)
    return root


def test_find_photos_rules(tmp_path: Path) -> None:
    from exposure_core.discover import find_photos

    root = _photo_folder(tmp_path / "photos")
    found = find_photos(root)
    assert [p.relative_to(root).as_posix() for p in found.photos] == [
        "a.jpg", "b.png", "sub/c.png", "sub/deeper/d.tif",
    ]  # fmt: skip
    assert found.loops == [root / "sub" / "loop"]
    flat = find_photos(root, recursive=False)
    assert [p.name for p in flat.photos] == ["a.jpg", "b.png"] and flat.loops == []


def test_every_caller_finds_the_same_photos(tmp_path: Path) -> None:
    """prep filter/synthesize (discover), prep download's folder source, prep enhance and
    prep evaluate --task sr list the same photos in the same order."""
    from exposure_core.discover import LOOP_REASON, discover, find_photos
    from pipeline.params import FolderSource, Params
    from pipeline.sources import folder
    from pipeline.sources.base import FetchContext
    from pipeline.stages import enhance, evaluate_sr

    root = _photo_folder(tmp_path / "photos")
    expected = find_photos(root).photos
    assert [root / item.path for item, _ in discover(root)] == expected
    listed, skipped = enhance.list_photos([root])
    assert [p for p, _ in listed] == expected
    assert skipped == [(root / "sub" / "loop", LOOP_REASON)]
    assert [name for name, _ in evaluate_sr._photos([root], 10**6)] == [p.stem for p in expected]
    params = Params()
    params = dataclasses.replace(
        params, data=dataclasses.replace(params.data, folder=FolderSource(str(root)))
    )
    ctx = FetchContext(params, tmp_path / "raw")
    items = folder.fetch(ctx, tmp_path / "raw" / "folder")
    assert [(tmp_path / "raw" / "folder" / i.path).resolve() for i in items] == [
        p.resolve() for p in expected
    ]
    assert [r.path for r in ctx.rejects] == [str(root / "sub" / "loop")]
