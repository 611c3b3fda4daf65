"""JSON round trips for the workbench's small dataclasses.

Every result the workbench produces (a model summary, an environment report, a
diagnosis, a build result...) is a dataclass that derives from :class:`JsonRecord`.
``to_dict``/``from_dict`` rebuild nested dataclasses, lists, tuples and optionals from
the type hints, so a record written by one version of the CLI can be read back by the
UI, a notebook or a user's script without hand-written parsers.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

T = TypeVar("T", bound="JsonRecord")


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    # numpy scalars sneak in from statistics; keep the JSON plain.
    if hasattr(value, "item") and callable(value.item) and type(value).__module__ == "numpy":
        return value.item()
    return value


def _from_jsonable(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _from_jsonable(non_none[0], value)
        return value
    if origin in (list, typing.List):  # noqa: UP006
        return [_from_jsonable(args[0] if args else Any, v) for v in value]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_jsonable(args[0], v) for v in value)
        return tuple(_from_jsonable(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is dict:
        vt = args[1] if len(args) == 2 else Any
        return {k: _from_jsonable(vt, v) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_from_dict(tp, value)
    return value


def _dataclass_from_dict(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _from_jsonable(hints.get(f.name, Any), data[f.name])
    # Unknown keys are ignored: newer writers may add fields (the JSON is a public
    # contract we extend, never shrink), and older readers must still load them.
    return cls(**kwargs)


class JsonRecord:
    """Mixin for dataclasses: ``to_dict``, ``to_json``, ``from_dict``, ``from_json``, ``save``, ``load``."""

    def to_dict(self) -> dict[str, Any]:
        result = _to_jsonable(self)
        assert isinstance(result, dict)
        return result

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        result = _dataclass_from_dict(cls, data)
        assert isinstance(result, cls)
        return result

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        return cls.from_json(Path(path).read_text())
