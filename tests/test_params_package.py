"""pipeline.params as a package: presets resolve as recorded, params.yaml states only field
defaults, every range is refused when params load (CLI exit 2 naming the dotted key), and the
builder dispatches arch-tagged unions."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from typer.testing import CliRunner

from exposure_core.schema import AtLeast, ConfigError, check_fields
from pipeline.cli import app
from pipeline.params import PRESETS, Params, build, load_params, read_yaml, to_dict

ROOT = Path(__file__).resolve().parents[1]
# Recorded from the 787-line params; the network sections re-recorded when each network got its
# own config (only the fields a network never read dropped, its own internals made explicit).
SNAPSHOT = Path(__file__).with_name("params_snapshot.json")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_as_recorded(name: str) -> None:
    recorded = json.loads(SNAPSHOT.read_text())
    chosen = {"train.preset": name}
    assert to_dict(load_params(ROOT / "params.yaml", chosen)) == recorded[name]
    assert to_dict(load_params(None, chosen)) == recorded[name]


def test_snapshot_covers_every_preset() -> None:
    recorded = json.loads(SNAPSHOT.read_text())
    assert set(recorded) - {"__none__"} == set(PRESETS)
    assert to_dict(load_params(None)) == recorded["__none__"]


def _leaves(raw: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {prefix: raw}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


# Keys params.yaml leaves out on purpose: overrides nobody needs to see (an archive's MD5 is
# built in per archive name); train lists only what no preset sets.
UNLISTED = ("data.msec.training.md5", "data.msec.validation.md5", "data.msec.testing.md5")
UNLISTED_PREFIX = ("data.lol.archive.md5", "data.places365.md5", "train.")


def test_params_yaml_states_the_field_defaults() -> None:
    """params.yaml documents the defaults; the dataclass fields define them. A value stated in
    params.yaml that differs from its field default fails here (change the field instead)."""
    stated = _leaves(read_yaml(ROOT / "params.yaml"))
    # train's null keys stand for the preset's value (they are there for `dvc exp run -S`)
    stated = {k: v for k, v in stated.items() if not (k.startswith("train.") and v is None)}
    defaults = Params()
    differ = {k: v for k, v in stated.items() if _get(defaults, k) != v}
    assert not differ, f"params.yaml differs from the field defaults: {differ}"
    listed = _leaves(to_dict(defaults))
    missing = [
        k
        for k in listed
        if k not in stated and k not in UNLISTED and not k.startswith(UNLISTED_PREFIX)
    ]
    assert not missing, f"params.yaml does not list {missing} (DVC tracks what it lists)"


def test_params_yaml_no_longer_repeats_the_presets() -> None:
    assert "presets" not in read_yaml(ROOT / "params.yaml")["train"]


def test_null_train_keys_are_the_presets_values_and_can_be_swept(tmp_path: Path) -> None:
    """params.yaml lists `steps: null` (and the like) so that `dvc exp run -S train.steps=40`
    finds the key; null changes nothing (test_every_preset_resolves_as_recorded), a number wins
    over the preset, and steps replace the preset's epochs unless epochs is set too."""
    raw = read_yaml(ROOT / "params.yaml")
    assert {"steps", "epochs", "batch_size", "lr"} <= {k for k, v in raw["train"].items()
                                                      if v is None}  # fmt: skip
    raw["train"].update(preset="seed000", steps=40, lr=0.5)
    swept = tmp_path / "swept.yaml"
    swept.write_text(yaml.safe_dump(raw))
    train = load_params(swept).train
    assert (train.steps, train.epochs, train.lr, train.batch_size) == (40, 0.0, 0.5, 32)
    raw["train"]["epochs"] = 3
    swept.write_text(yaml.safe_dump(raw))
    assert load_params(swept).train.epochs == 3.0


def test_own_presets_add_to_the_built_ins(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("train:\n  preset: mine\n  presets:\n    mine: {steps: 7}\n")
    assert load_params(path).train.steps == 7
    assert load_params(path, {"train.preset": "seed003"}).train.epochs == 100.0


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["synthesize", "--seed", "-1"], "synthesize.seed: must be >= 0, got -1"),
        (["train", "--steps", "0"], "train.steps: must be >= 1, got 0"),
    ],
)
def test_cli_refuses_out_of_range_flags_naming_the_key(
    tmp_path: Path, args: list[str], text: str
) -> None:
    base = {
        "synthesize": ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")],
        "train": ["--shards", str(tmp_path / "s"), "--model", str(tmp_path / "g.pt")],
    }[args[0]]
    params = tmp_path / "params.yaml"
    params.write_text("")
    result = CliRunner().invoke(app, [*args, *base, "--params", str(params)])
    assert result.exit_code == 2, result.output
    assert text in " ".join(result.output.split()), result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("train: {task: sr, preset: demo}\n", "train.generator.arch"),
        ("train: {preset: sr_demo, discriminator: {arch: patch}}\n", "train.discriminator.arch"),
        ("train: {epochs: -1}\n", "train.epochs"),
        ("evaluate: {baselines: [nope]}\n", "evaluate.baselines"),
        ("synthesize: {seed: -1}\n", "synthesize.seed"),
    ],
)
def test_refused_when_params_load_by_every_command(tmp_path: Path, text: str, key: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text)
    result = CliRunner().invoke(
        app, ["download", "--output", str(tmp_path / "raw"), "--params", str(params)]
    )
    assert result.exit_code == 2 and f"{key}:" in result.output, result.output
    assert not (tmp_path / "raw").exists()


# --- arch-tagged unions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Small:
    arch: Literal["small"] = "small"
    width: Annotated[int, AtLeast(1)] = 8

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class Deep:
    arch: Literal["deep"] = "deep"
    depth: Annotated[int, AtLeast(2)] = 4
    width: int = 16

    def __post_init__(self) -> None:
        check_fields(self)


Net = Small | Deep


@dataclass(frozen=True)
class Holder:
    generator: Net = field(default_factory=Deep)
    other: Small | Deep = field(default_factory=Small)


def test_union_member_picked_by_arch() -> None:
    held = build(Holder, {"generator": {"arch": "small", "width": 3}})
    assert held.generator == Small(width=3) and held.other == Small()
    assert build(Holder, {"generator": {"depth": 5}}).generator == Deep(depth=5)  # default's arch
    assert build(Holder, {"other": {"width": 2}}).other == Small(width=2)
    assert dataclasses.asdict(build(Holder, {}))["generator"]["arch"] == "deep"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"generator": {"arch": "small", "depth": 3}}, r"train\.generator\.depth.*arch 'small'"),
        (
            {"generator": {"arch": "wide"}},
            r"train\.generator\.arch: must be one of 'small', 'deep'",
        ),
        ({"generator": {"depth": 1}}, r"train\.generator\.depth: must be >= 2, got 1"),
        ({"generator": 3}, r"train\.generator: expected mapping, got int"),
    ],
)
def test_union_errors_name_the_dotted_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(Holder, raw, "train")
