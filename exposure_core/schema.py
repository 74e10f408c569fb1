"""The one mechanism for checking a config: ranges declared beside each field, checked when the
dataclass is built, failing with one error that names the (dotted) key.

A field declares its range with ``typing.Annotated``::

    @dataclass(frozen=True)
    class Example:
        steps: Annotated[int, AtLeast(1)] = 2000
        level: Annotated[float, Between(0.0, 1.0)] = 0.5
        mode: Literal["a", "b"] = "a"

        def __post_init__(self) -> None:
            check_fields(self)  # types, Literal choices and declared ranges
            if self.steps < 10 and self.mode == "b":  # a rule between fields
                raise ConfigError("steps", "mode 'b' needs at least 10")

``check_fields`` raises :class:`ConfigError` naming the field; whoever builds a config from a
nested mapping (``pipeline.params``, a checkpoint loader) calls :meth:`ConfigError.within` to
prefix the section, so the message names the whole dotted key (``train.generator.width``).
There is no other range mechanism: no bare ``ValueError`` strings to be re-prefixed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from exposure_core.errors import UserError


class ConfigError(UserError, ValueError):
    """A config value out of its range or of the wrong type; ``key`` is its (dotted) name."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason

    def within(self, prefix: str) -> ConfigError:
        """The same error one level down: ``within("train")`` turns ``lr`` into ``train.lr``."""
        if not prefix:
            return self
        key = f"{prefix}.{self.key}" if self.key else prefix
        return type(self)(key, self.reason)


@dataclass(frozen=True)
class AtLeast:
    """``value >= low`` (or ``> low`` with ``strict``)."""

    low: float
    strict: bool = False

    def problem(self, value: float) -> str | None:
        bad = value <= self.low if self.strict else value < self.low
        return (
            f"must be {'>' if self.strict else '>='} {self.low:g}, got {value!r}" if bad else None
        )


@dataclass(frozen=True)
class Between:
    """``low <= value <= high`` (``high`` excluded with ``open_high``)."""

    low: float
    high: float
    open_high: bool = False

    def problem(self, value: float) -> str | None:
        ok = self.low <= value < self.high if self.open_high else self.low <= value <= self.high
        if ok:
            return None
        close = ")" if self.open_high else "]"
        return f"must be in [{self.low:g}, {self.high:g}{close}, got {value!r}"


@dataclass(frozen=True)
class Matches:
    """Text matching the regular expression ``pattern`` whole; ``expected`` says what in words."""

    pattern: str
    expected: str

    def problem(self, value: str) -> str | None:
        if re.fullmatch(self.pattern, value):
            return None
        return f"unknown value {value!r}; expected {self.expected}"


Constraint = AtLeast | Between | Matches


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _type_problem(value: Any, tp: Any) -> str | None:
    """Why ``value`` is not of the plain type ``tp`` (None when it is, or not checked here)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            return f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
        return None
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, arg) for arg in typing.get_args(tp)]
        return None if any(p is None for p in problems) else f"unexpected value {value!r}"
    if tp is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"must be an integer, got {value!r}"
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        return None if ok else f"must be a number, got {value!r}"
    if tp is str:
        return None if isinstance(value, str) else f"must be text, got {value!r}"
    if tp is type(None):
        return None if value is None else f"must be null, got {value!r}"
    return None  # lists, mappings and nested dataclasses are checked by their own builders


def check_fields(obj: Any) -> None:
    """Check every field of dataclass ``obj``: its type, its ``Literal`` choices and the
    constraints declared with ``Annotated``. Raises :class:`ConfigError` naming the field."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        tp = hints[f.name]
        value = getattr(obj, f.name)
        constraints: tuple[Any, ...] = ()
        if typing.get_origin(tp) is typing.Annotated:
            tp, *extra = typing.get_args(tp)
            constraints = tuple(c for c in extra if hasattr(c, "problem"))
        problem = _type_problem(value, tp)
        if problem is None and not isinstance(value, bool):
            for constraint in constraints:
                problem = constraint.problem(value)
                if problem:
                    break
        if problem:
            raise ConfigError(f.name, problem)


def plain_type(tp: Any) -> Any:
    """``Annotated[T, ...]`` -> ``T`` (other types unchanged), for builders that walk types."""
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def field_types(cls: type) -> dict[str, Any]:
    """The resolved, ``Annotated``-free type of each field of dataclass ``cls``."""
    return {name: plain_type(tp) for name, tp in _hints(cls).items()}
