"""exposure_core.schema: the one range-check mechanism every config uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import pytest

from exposure_core.errors import UserError
from exposure_core.schema import AtLeast, Between, ConfigError, Matches, check_fields, field_types


@dataclass(frozen=True)
class _Example:
    steps: Annotated[int, AtLeast(1)] = 10
    lr: Annotated[float, AtLeast(0.0, strict=True)] = 0.1
    level: Annotated[float, Between(0.0, 1.0)] = 0.5
    dropout: Annotated[float, Between(0.0, 1.0, open_high=True)] = 0.0
    mode: Literal["a", "b"] = "a"
    flag: bool = False

    def __post_init__(self) -> None:
        check_fields(self)


def test_defaults_pass_and_types_resolve() -> None:
    _Example()
    assert field_types(_Example)["steps"] is int


@pytest.mark.parametrize(
    ("kwargs", "key", "text"),
    [
        ({"steps": 0}, "steps", "must be >= 1, got 0"),
        ({"steps": 1.5}, "steps", "must be an integer"),
        ({"steps": True}, "steps", "must be an integer"),
        ({"lr": 0.0}, "lr", "must be > 0"),
        ({"level": 1.5}, "level", "must be in [0, 1]"),
        ({"dropout": 1.0}, "dropout", "must be in [0, 1)"),
        ({"mode": "c"}, "mode", "must be one of 'a', 'b'"),
        ({"flag": 1}, "flag", "must be true or false"),
        ({"lr": float("nan")}, "lr", "finite"),
    ],
)
def test_each_violation_names_its_field(kwargs: dict, key: str, text: str) -> None:
    with pytest.raises(ConfigError) as err:
        _Example(**kwargs)
    assert err.value.key == key
    assert text in str(err.value)
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)


def test_within_prefixes_the_dotted_key() -> None:
    err = ConfigError("width", "must be >= 1, got 0").within("generator").within("train")
    assert err.key == "train.generator.width"
    assert str(err) == "train.generator.width: must be >= 1, got 0"


def test_matches_names_what_it_expects() -> None:
    device = Matches(r"cpu|cuda(:\d+)?", "cpu or cuda:N")
    assert device.problem("cuda:1") is None
    assert device.problem("gpu") == "unknown value 'gpu'; expected cpu or cuda:N"
