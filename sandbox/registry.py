"""Name -> implementation registries, shared by sandboxes, verifiers, tasks and engines.

Built-in entries are given as ``"module:attr"`` strings and imported only when first asked
for, so listing names never imports Docker, torch or math-verify. Third-party packages add
entries through an entry-point group (e.g. ``fireassay.verifiers``) without touching ours.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that no built-in, registration or entry point provides."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str, builtins: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._lazy: dict[str, str] = dict(builtins or {})
        self._loaded: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def deco(o: T) -> T:
            self._loaded[name] = o
            self._lazy.pop(name, None)
            return o

        return deco if obj is None else deco(obj)

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        return sorted(set(self._loaded) | set(self._lazy) | set(self._entry_points()))

    def get(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._lazy:
            module, _, attr = self._lazy[name].partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._loaded[name] = obj
            return obj
        eps = self._entry_points()
        if name in eps:
            obj = eps[name].load()
            self._loaded[name] = obj
            return obj
        known = ", ".join(self.names()) or "none"
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; known: {known}. Third-party {self.kind}s register "
            f"through the entry-point group {self.group!r}."
        )

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        factory: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        return factory(*args, **kwargs)
