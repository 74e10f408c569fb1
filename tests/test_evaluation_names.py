"""Evaluation speaks in named constants: method names defined once, skipped samples counted by
the loader (not read back from its warning text)."""

from __future__ import annotations

import io
import json
import tarfile
import warnings
from pathlib import Path

import pytest
import yaml

from exposure_models.training.loader import LoaderConfig, make_loader
from pipeline.evaluation import methods, testsets
from pipeline.evaluation.baselines import BLIND_BASELINES
from pipeline.evaluation.results import PLOT_METHODS
from pipeline.params import EvaluateParams
from pipeline.params.evaluate import DEFAULT_BASELINES
from tests._pairs import make_shards

ROOT = Path(__file__).resolve().parents[1]


def test_method_names_agree_with_the_baselines_params_and_plots() -> None:
    assert tuple(BLIND_BASELINES) == methods.BLIND
    assert tuple(EvaluateParams().baselines) == DEFAULT_BASELINES == methods.BLIND[:4]
    assert (methods.MODEL, *DEFAULT_BASELINES, methods.ORACLE) == PLOT_METHODS
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    columns = [
        cols
        for plot in plots
        if isinstance(plot, dict)
        for spec in plot.values()
        for file, cols in spec.get("y", {}).items()
        if file.startswith("reports/plots/psnr_by")
    ]
    assert columns and all(tuple(c) == PLOT_METHODS for c in columns)


@pytest.fixture(scope="module")
def broken_test_shards(tmp_path_factory, demo_photos) -> tuple[Path, str]:
    """Shards whose test photo has one variant with an unknown recipe kind (the others are
    fine); returns the shards and that variant's id."""
    shards = make_shards(tmp_path_factory.mktemp("data"), demo_photos)
    name = next(p for p in shards.glob("test-*.tar"))
    with tarfile.open(name) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    broken = ""
    with tarfile.open(name, "w") as out:
        for member, data in members:
            if member.name.endswith(".json") and not broken:
                meta = json.loads(data)
                meta["variants"][0]["kind"] = "bogus"
                broken = str(meta["variants"][0]["id"])
                data = json.dumps(meta).encode()
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    assert broken
    return shards, broken


def test_loader_records_skip_reasons_whatever_the_warning_filters(broken_test_shards) -> None:
    shards, key = broken_test_shards
    loader = make_loader(
        str(next(shards.glob("test-*.tar"))), LoaderConfig(batch_size=1, crop=None, train=False)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nothing is shown, yet the skip is recorded
        list(loader)
    assert loader.stats.skipped == 1
    (reason,) = loader.skipped_here
    assert key in reason


def test_test_set_lists_the_skipped_sample(broken_test_shards) -> None:
    shards, key = broken_test_shards
    test = testsets.test_set(shards, verify=False)  # the tar was edited on purpose
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the skip warning is not let through
        items = list(test.items)
    assert items and all(item.id != key for item in items)
    assert len(test.skipped) == 1 and key in test.skipped[0]
