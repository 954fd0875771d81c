"""A tiny name -> object registry that refuses duplicates and lists choices in its errors."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from ecomtune.errors import EcomtuneError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; `register` refuses a name twice, `get` lists the known names on a miss."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T | None = None):
        """Register `item` under `name`; usable as a decorator when `item` is omitted."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            return obj

        return add(item) if item is not None else add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise EcomtuneError(
                f"unknown {self.kind} '{name}' — choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self):
        return self._items.items()

    def names(self) -> list[str]:
        return list(self._items)
