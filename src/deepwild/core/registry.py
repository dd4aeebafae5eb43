"""One explicit registry per concept (models, tasks, ...), with helpful errors.

Entries are registered by the module that defines them, at the bottom of that module, and the
package imports its modules explicitly: nothing depends on import side effects elsewhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from deepwild.core.errors import ConfigError

T = TypeVar("T")


def closest_match(name: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name_message(kind: str, name: str, choices: list[str]) -> str:
    message = f"unknown {kind} {name!r}; valid: {', '.join(sorted(choices)) or '(none)'}"
    suggestion = closest_match(name, choices)
    if suggestion:
        message += f" — did you mean {suggestion!r}?"
    return message


class Registry(Generic[T]):
    """A named dict of factories: `register(name)(factory)`, `build(name, **cfg)`, `names()`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(unknown_name_message(self.kind, name, self.names())) from None

    def build(self, name: str, **kwargs: object) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
