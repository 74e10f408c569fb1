"""Mappings (params.yaml, CLI flags) -> frozen config dataclasses, every key and type checked.

``build(cls, raw)`` converts each value by the field's type and constructs ``cls``, whose
``__post_init__`` checks its ranges (``exposure_core.schema``). Any ``ConfigError`` raised on the
way is prefixed with the section (``ConfigError.within``), so the message names the whole
dotted key. A field typed as a union of dataclasses that each carry an ``arch: Literal[...]``
field is built as the member the mapping's ``arch`` names (the default's when absent).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from exposure_core import storage
from exposure_core.schema import ConfigError, field_types

ParamsError = ConfigError  # the name params.yaml's errors have always had


class UnknownKeyError(ConfigError):
    """A key the section does not have; says which keys it has."""

    def __str__(self) -> str:
        return f"unknown key {self.key}; {self.reason}"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _fail(key: str, tp: Any, value: Any) -> ConfigError:
    shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
    return ConfigError(key, f"expected {_type_name(tp)}, got {type(value).__name__} {shown}")


def _arch_of(cls: Any) -> str | None:
    """The one ``arch`` a tagged union member declares (``arch: Literal["rrdb"]``), else None."""
    if not dataclasses.is_dataclass(cls):
        return None
    tp = field_types(cls).get("arch")
    args = typing.get_args(tp) if typing.get_origin(tp) is Literal else ()
    return args[0] if len(args) == 1 else None


def _tagged(value: Any, members: tuple[Any, ...], key: str, default: Any) -> Any:
    """Build the member of an arch-tagged union that ``value["arch"]`` names."""
    if not isinstance(value, dict):
        raise _fail(key, members[0], value)  # "expected mapping"
    by_arch = {_arch_of(m): m for m in members}
    fallback = getattr(default, "arch", None) or next(iter(by_arch))
    arch = value.get("arch", fallback)
    if arch not in by_arch:
        known = ", ".join(repr(a) for a in by_arch)
        raise ConfigError(f"{key}.arch", f"must be one of {known}, got {arch!r}")
    return build(by_arch[arch], value, key)


def _convert(value: Any, tp: Any, key: str, default: Any = None) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(key, tp, value)
        return build(tp, value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise _fail(key, tp, value)
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if all(_arch_of(a) is not None for a in args):
            return _tagged(value, args, key, default)
        for arg in args:
            if arg is type(None) and value is None:
                return None
            try:
                return _convert(value, arg, key)
            except ConfigError:
                continue
        raise _fail(key, tp, value)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(key, tp, value)
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(key, tp, value)
        _, item = typing.get_args(tp)
        return {str(k): _convert(v, item, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(key, tp, value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, tp, value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(key, tp, value)
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _fail(key, tp, value)
        return str(value)
    raise ConfigError(key, f"unsupported schema type {tp!r}")


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


_T = typing.TypeVar("_T")


def build(cls: type[_T], raw: dict[str, Any] | None, prefix: str = "") -> _T:
    """Build dataclass ``cls`` from a mapping, checking every key, type and range.

    Missing keys take the dataclass defaults. Every error is a ``ConfigError`` whose key is
    the dotted name under ``prefix``.
    """
    try:
        return _build(cls, raw or {})
    except ConfigError as err:
        raise err.within(prefix) from err


def _build(cls: type[_T], raw: dict[str, Any]) -> _T:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        arch = _arch_of(cls)
        names = ", ".join(sorted(fields))
        where = f"arch {arch!r} has no such field; " if arch else ""
        raise UnknownKeyError(str(unknown[0]), f"{where}expected one of: {names}")
    hints = field_types(cls)
    values = {}
    for name, value in raw.items():
        tp = hints[name]
        tagged = typing.get_origin(tp) in (typing.Union, types.UnionType)
        values[name] = _convert(value, tp, name, _default(fields[name]) if tagged else None)
    return cls(**values)


def to_dict(obj: Any) -> Any:
    """A params dataclass as plain dicts and lists (for logs, checkpoints and fingerprints)."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` laid over it, mappings merged key by key (copies, not views)."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw["a"]["b"] = value`` for ``dotted = "a.b"`` (sections made as needed)."""
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(dotted, f"{part} is not a section")
        node = child
    node[parts[-1]] = value


def _check_unique_keys(node: yaml.Node, key: str = "") -> None:
    """Refuse a mapping that names one key twice (YAML keeps the last one silently)."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique_keys(item, f"{key}[{i}]")
    if not isinstance(node, yaml.MappingNode):
        return
    lines: dict[str, int] = {}
    for name_node, value_node in node.value:
        name = str(name_node.value) if isinstance(name_node, yaml.ScalarNode) else ""
        dotted = f"{key}.{name}" if key else name
        line = name_node.start_mark.line + 1
        if name and name != "<<" and name in lines:
            raise ConfigError(dotted, f"duplicate key (lines {lines[name]} and {line})")
        lines[name] = line
        _check_unique_keys(value_node, dotted)


def _load_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys, naming the dotted key and both lines."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_unique_keys(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a params file into a mapping ({} for an empty file). ``path`` may be an fsspec URL
    (``s3://bucket/params.yaml``): the object is read (``exposure_core.storage``; a missing
    object or a refusal of the store is one line naming the URL), and messages name the URL."""
    name = str(path)
    if storage.is_url(path):
        read = storage.read_bytes(name, "params file").decode
    else:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(name, "is a folder, not a params file")
        read = path.read_text
    try:
        data = _load_unique(read(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            name,
            f"not a params file (not UTF-8 text: byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start})",
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(name, f"not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(name, "expected a mapping of sections at the top level")
    return data
