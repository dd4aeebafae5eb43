"""Strict, typed, frozen configs.

A config is a frozen dataclass (nested dataclasses allowed). Files (`--config x.yaml`) and CLI
overrides (`--set train.lr=0.01`) are applied on top of the defaults; an unknown key is an error
that names the valid keys and the closest match; a value of the wrong type is an error that names
the field and the expected type. The resolved config is what a run saves.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from deepwild.core.errors import ConfigError
from deepwild.core.registry import closest_match

C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls: type[C], data: dict[str, Any], where: str = "") -> C:
    """Build `cls` from a (possibly partial) dict; missing keys take their defaults."""
    return _merge(cls, cls(), data, where)  # type: ignore[call-arg]


def apply_overrides(config: C, data: dict[str, Any], where: str = "") -> C:
    """A copy of `config` with the (possibly nested) keys of `data` replaced."""
    return _merge(type(config), config, data, where)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """Turn CLI `key.sub=value` strings into a nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"cannot read override {assignment!r}", hint="write it as key=value, e.g. train.lr=0.01")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"override {assignment!r} conflicts with an earlier one for {part!r}")
        target[parts[-1]] = value
    return nested


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict, with one clear error for every failure."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid YAML/JSON: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, not {type(data).__name__}")
    return data


def _merge(cls: type[C], base: C, data: dict[str, Any], where: str) -> C:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {data!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in fields:
            message = f"unknown config key {name!r}; valid keys{' of ' + where if where else ''}: {', '.join(fields)}"
            suggestion = closest_match(str(key), list(fields))
            raise ConfigError(message + (f" — did you mean {suggestion!r}?" if suggestion else ""))
        hint = hints[key]
        current = getattr(base, key)
        if dataclasses.is_dataclass(hint):
            changes[key] = _merge(hint, current, value, name)
        else:
            changes[key] = _coerce(value, hint, name)
    merged = dataclasses.replace(base, **changes)  # type: ignore[type-var]
    validate = getattr(merged, "validate", None)
    if callable(validate):
        validate()
    return merged


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, name)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin is typing.Literal:
        if value in args:
            return value
        if str(value) in {str(a) for a in args}:
            return next(a for a in args if str(a) == str(value))
        raise ConfigError(f"config key {name!r} must be one of {', '.join(map(str, args))}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_type = args[0] if args else Any
        return tuple(_coerce(item, item_type, f"{name}[{i}]") for i, item in enumerate(value))
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin in (list, dict) or hint in (list, dict):
        if isinstance(value, origin or hint):
            return value
    elif dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value, name)
    else:
        return value
    raise ConfigError(f"config key {name!r} must be {getattr(hint, '__name__', hint)}, got {value!r}")
