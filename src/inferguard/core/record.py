"""Plain data classes without `dataclasses`: equality and repr as a dataclass has them.

`@dataclass` writes each class's `__init__`, `__repr__` and `__eq__` as source text and
runs it through `exec` when the class is created: about 0.3 ms a class, paid by every
process for every data class on its import path. A class built on `Record` writes its
`__init__` by hand and lists its fields once; `__eq__` and `__repr__` read that list, with
the same results as the dataclass it replaces (fields compared as a tuple, only against the
same class; `Name(field=value, ...)`; unhashable, as a mutable dataclass is).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any


class Record:
    __slots__ = ()
    _fields: tuple[str, ...] = ()          # in declaration order
    _no_repr: frozenset[str] = frozenset()     # fields a dataclass would declare repr=False
    _no_compare: frozenset[str] = frozenset()  # fields a dataclass would declare compare=False

    __hash__ = None  # type: ignore[assignment]

    def _compared(self) -> tuple[Any, ...]:
        skip = self._no_compare
        return tuple(getattr(self, f) for f in self._fields if f not in skip)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._compared() == other._compared()  # type: ignore[attr-defined]
        return NotImplemented

    def __repr__(self) -> str:
        skip = self._no_repr
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields if f not in skip)
        return f"{type(self).__qualname__}({inner})"


class FrozenRecord(Record):
    """A `Record` that cannot change once built, hashable on its compared fields, as a
    `@dataclass(frozen=True)` is. `__init__` sets fields with `object.__setattr__`."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._compared())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__qualname__}")
