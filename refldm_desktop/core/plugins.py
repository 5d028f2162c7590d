"""Typed registries of plugins found through entry points."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from refldm_desktop.errors import PluginError  # noqa: F401 (also exported here)


@dataclass(frozen=True)
class Registry:
    group: str

    def names(self) -> list[str]:
        return sorted(ep.name for ep in entry_points(group=self.group))

    def factory(self, name: str) -> Callable[..., Any]:
        for ep in entry_points(group=self.group):
            if ep.name == name:
                return ep.load()
        known = ", ".join(self.names()) or "none installed"
        raise PluginError(f"no plugin named {name!r} in {self.group} (known: {known})")

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.factory(name)(**kwargs)
