"""Configuration: frozen dataclasses filled from defaults < YAML preset < `--set key=value` flags.

One loader for every stage and for the trainer: unknown keys, wrong types and malformed YAML are
one clear `UserError` naming the file, the key and the fix.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import UserError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing file or a syntax error is one line with the position."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; check the path")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{path}: malformed YAML{where}: {problem}; fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of keys to values at the top, got {type(data).__name__}")
    return data


def parse_overrides(pairs: Sequence[str]) -> dict:
    """`["generate.steps=4", "n=10k"]` -> nested dict; values are parsed as YAML scalars."""
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--set {pair!r}: expected key=value, e.g. --set generate.batch_size=8")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def deep_merge(base: Mapping, update: Mapping) -> dict:
    """Merge `update` into a copy of `base`, recursing into nested mappings."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def from_mapping(cls: type[T], data: Mapping | None, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types are user errors."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain dict, for writing the resolved config."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except UserError as err:
                errors.append(str(err))
        raise UserError(errors[0])
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return from_mapping(hint, value, where)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint in _SCALARS:
        convert, expected = _SCALARS[hint]
        converted = convert(value)
        if converted is None:
            raise UserError(f"{where}: expected {expected}, got {value!r}")
        return converted
    return value


def _to_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None  # YAML's true/false only: "yes" is text


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return parse_count(value)  # "10k", "1.5M" wherever a whole number is expected
        except UserError:
            return None
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _to_str(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


# scalar type -> (converter returning None when the value does not fit, what the error expects)
_SCALARS = {bool: (_to_bool, "true or false"), int: (_to_int, "a whole number"),
            float: (_to_float, "a number"), str: (_to_str, "text")}


_SUFFIXES = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def parse_count(text: str | int) -> int:
    """'2000', '10k', '1.5M', '2_000' -> int. Used for `--n` and every sample count."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    s = str(text).strip().lower().replace("_", "").replace(",", "")
    scale = 1
    if s and s[-1] in _SUFFIXES:
        scale, s = _SUFFIXES[s[-1]], s[:-1]
    try:
        value = float(s) * scale
    except ValueError:
        raise UserError(f"cannot read {text!r} as a count; write e.g. 2000, 10k or 1.5M") from None
    if not value.is_integer():
        raise UserError(f"{text!r} is not a whole number of samples")
    return int(value)
