"""params.yaml -> frozen dataclasses: defaults, typos, types, presets and overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.params import Params, ParamsError, TrainParams, load_params, parse_tau

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_project_params_file_loads() -> None:
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.sources == ["demo"]


def test_named_params_file_must_exist(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_params(None) == load_params(ROOT / "params.yaml")  # built-in defaults
    for missing in ("params.yaml", tmp_path / "other.yaml"):
        with pytest.raises(ParamsError, match="no such params file"):
            load_params(missing)


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Params().synthesize.seed = 3  # type: ignore[misc]


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "synthesize:\n  tua: 0.5\n")
    with pytest.raises(ParamsError, match=r"unknown key synthesize\.tua; expected one of: .*tau"):
        load_params(path)


def test_unknown_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="unknown key synthesise"):
        load_params(write(tmp_path, "synthesise: {}\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("synthesize:\n  tau_samples: two\n", r"synthesize\.tau_samples: expected int, got str"),
        ("synthesize:\n  evs: [1, x]\n", r"synthesize\.evs\[1\]: expected float, got str"),
        ("synthesize:\n  curve: log\n", r"synthesize\.curve: expected 'gamma' \| 'srgb'"),
        ("filter:\n  workers: true\n", r"filter\.workers: expected int, got bool"),
        ("train:\n  generator: 3\n", r"train\.generator: expected mapping, got int"),
        ("[1, 2]\n", "expected a mapping of sections"),
    ],
)
def test_wrong_types_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        load_params(write(tmp_path, text))


def test_int_accepted_for_float(tmp_path: Path) -> None:
    params = load_params(write(tmp_path, "synthesize:\n  gamma: 2\n"))
    assert params.synthesize.gamma == 2.0 and isinstance(params.synthesize.gamma, float)


def test_cli_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, "synthesize:\n  tau: '0.6'\n  seed: 1\n")
    params = load_params(path, {"synthesize.tau": "0.5..1", "synthesize.seed": None})
    assert params.synthesize.tau == "0.5..1"
    assert params.synthesize.seed == 1  # None means "flag not given"


def test_train_presets_then_explicit_keys(tmp_path: Path) -> None:
    text = """
train:
  preset: small
  steps: 7
  presets:
    small: {steps: 3, batch_size: 2, loss: {gan: lsgan}}
    big: {steps: 9}
"""
    params = load_params(write(tmp_path, text))
    assert params.train.steps == 7  # explicit key beside the preset wins
    assert params.train.batch_size == 2 and params.train.loss.gan == "lsgan"
    assert params.train.loss.l1_weight == 100.0  # untouched default
    assert load_params(write(tmp_path, text), {"train.preset": "big"}).train.steps == 7
    # a CLI flag selects the preset, and a CLI flag beats the preset's value
    big = load_params(write(tmp_path, text.replace("  steps: 7\n", "")), {"train.preset": "big"})
    assert big.train.steps == 9 and big.train.batch_size == TrainParams().batch_size
    small = load_params(write(tmp_path, text), {"train.batch_size": 5})
    assert small.train.batch_size == 5 and small.train.loss.gan == "lsgan"


def test_bad_preset_named(tmp_path: Path) -> None:
    text = "train:\n  preset: nope\n  presets:\n    a: {}\n"
    with pytest.raises(ParamsError, match="unknown preset 'nope'.*a"):
        load_params(write(tmp_path, text))
    text = "train:\n  preset: a\n  presets:\n    a: {stepz: 1}\n"
    with pytest.raises(ParamsError, match=r"train\.presets\.a\.stepz"):
        load_params(write(tmp_path, text))


def test_project_presets_all_valid() -> None:
    raw = load_params(ROOT / "params.yaml")
    assert raw.train.preset
    from pipeline.params import read_yaml

    presets = read_yaml(ROOT / "params.yaml").get("train", {}).get("presets", {})
    for name in presets:
        load_params(ROOT / "params.yaml", {"train.preset": name})


@pytest.mark.parametrize(("spec", "expected"), [("0.5..1", (0.5, 1.0)), ("0.7", (0.7, 0.7))])
def test_parse_tau(spec: str, expected: tuple[float, float]) -> None:
    assert parse_tau(spec) == expected


@pytest.mark.parametrize("spec", ["0..1", "0.9..0.5", "abc", "1.2"])
def test_parse_tau_errors(spec: str) -> None:
    with pytest.raises(ParamsError, match="synthesize.tau"):
        parse_tau(spec)
