"""Checked config fields: each field of a config dataclass is checked where it is declared.

The annotation is the field's type and `field(default, ge=..., le=..., gt=..., choices=...)` its
range; `validate(self)` in `__post_init__` checks every field, so a bad value is a one-line
error when the config is built, not a traceback deep in training:

    @dataclasses.dataclass(frozen=True)
    class NetConfig:
        dim: int = field(32, ge=1)       # "dim must be an int >= 1, not 0"

Types: an `int` is not a bool, and a float only without a fraction (it becomes an int); a
`float` takes an int (it becomes a float); `Optional[X]` takes None; a dataclass field takes an
instance of it; `dict` any mapping.
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from typing import Any, Mapping, Optional

__all__ = ["FieldError", "field", "validate"]


class FieldError(ValueError):
    """A bad config field: `path` names it (dotted inside a nested config), `problem` says why."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path} {problem}")
        self.path, self.problem = path, problem

    def within(self, parent: str) -> FieldError:
        """The same error one level up: `parent.path`."""
        return FieldError(f"{parent}.{self.path}", self.problem)


@dataclasses.dataclass(frozen=True)
class Range:
    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    choices: Optional[tuple] = None

    def holds(self, value) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.choices is None or value in self.choices))

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.ge is not None and self.le is not None:
            return f"in [{self.ge}, {self.le}]"
        return " and ".join(f"{op} {bound}" for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le))
                            if bound is not None)


def field(default: Any, *, ge=None, gt=None, le=None, choices=None) -> Any:
    """A dataclass field with `default` whose value must be >= `ge`, > `gt`, <= `le` and one of
    `choices` (each where given); its type is the annotation."""
    choices = None if choices is None else tuple(choices)
    return dataclasses.field(default=default, metadata={"range": Range(ge, gt, le, choices)})


@functools.lru_cache(maxsize=None)
def _types(cls) -> dict:
    return typing.get_type_hints(cls)


def _optional(kind) -> tuple[Any, bool]:
    """(X, True) for Optional[X] or X | None, else (kind, False)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0], True
    return kind, False


def _conform(kind, value) -> tuple[bool, Any]:
    """(whether `value` is a `kind`, the value as one: 64.0 -> 64 for an int, 5 -> 5.0 for a float)."""
    if kind is bool:
        return isinstance(value, bool), value
    if kind is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return True, int(value)
        integral = isinstance(value, float) and value.is_integer()
        return integral, int(value) if integral else value
    if kind is float:
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return real, float(value) if real else value
    if kind is dict:
        return isinstance(value, Mapping), value
    return isinstance(value, kind), value


def _noun(kind) -> str:
    if kind is bool:
        return "true or false"
    if dataclasses.is_dataclass(kind):
        return f"an object of {kind.__name__} fields"
    return {int: "an int", float: "a number", str: "a string", dict: "an object", tuple: "a tuple"}.get(
        kind, f"a {getattr(kind, '__name__', kind)}")


def validate(config) -> None:
    """Checks every field of the dataclass instance `config` against its annotation and range,
    and stores ints and floats as such (64.0 -> 64, 5 -> 5.0).

    Raises:
      FieldError: naming the first bad field, its type and range, and the value given.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind, optional = _optional(_types(type(config))[f.name])
        rng = f.metadata.get("range")
        if optional and value is None:
            continue
        ok, conformed = _conform(kind, value)
        if not ok or (rng is not None and not rng.holds(conformed)):
            if rng is not None and rng.choices is not None:
                wanted = rng.describe()
            else:
                wanted = " ".join(filter(None, [_noun(kind), rng and rng.describe()]))
            raise FieldError(f.name, f"must be {wanted}{' or None' if optional else ''}, not {value!r}")
        if conformed is not value:
            object.__setattr__(config, f.name, conformed)
