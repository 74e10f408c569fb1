"""exposure_core.engines: the local engine is the process pool and never loads Ray; a wrong
engine name or a missing Ray fails with one line naming the key or the extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import exposure_core
from exposure_core import engines, parallel
from exposure_core.errors import EngineError, UserError
from pipeline.cli import app
from pipeline.params import load_params


def test_local_is_the_default_and_the_process_pool() -> None:
    assert load_params(None).engine.name == "local"
    engine = engines.connect()
    assert engine is engines.LOCAL
    assert list(engine.map_ordered(abs, [-3, 1, -2], workers=1)) == [3, 1, 2]
    assert list(engine.map_ordered(abs, [-3, 1, -2], workers=2)) == [3, 1, 2]

    calls: list[int] = []

    def pool(fn, items, workers, ahead=4, describe=repr):
        calls.append(workers)
        return iter([])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "map_ordered", pool)
        assert list(engine.map_ordered(abs, [1], workers=3)) == []
    assert calls == [3]


def test_unknown_engine_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"engine\.name: unknown engine 'spark'"):
        engines.connect("spark")
    args = ["filter", "--input", str(tmp_path), "--output", str(tmp_path / "f")]
    result = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert result.exit_code == 2
    assert "engine.name" in result.output and "spark" in result.output
    assert not (tmp_path / "f").exists()


def test_engine_shorthand_in_params(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("engine: ray\n")
    assert load_params(params).engine.name == "ray"
    assert load_params(params, {"engine.name": "local"}).engine.name == "local"


def test_ray_missing_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "exposure_core.ray_engine", None)  # import fails
    monkeypatch.delattr(exposure_core, "ray_engine", raising=False)  # even after an import
    with pytest.raises(EngineError, match=r'pip install -e "\.\[ray\]"'):
        engines.connect("ray", "auto")
    out = tmp_path / "f"
    result = CliRunner().invoke(
        app, ["filter", "--input", str(tmp_path), "--output", str(out), "--engine", "ray"]
    )
    assert result.exit_code == 1
    assert 'pip install -e ".[ray]"' in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not out.with_name("f.partial").exists()
