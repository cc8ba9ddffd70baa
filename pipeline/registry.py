"""The stage registry: which stage types exist in this run and which plugin gave each."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import attrs

from docstage.errors import ConfigError, PluginError, did_you_mean
from docstage.options import OptionSpec, option_specs
from docstage.stages import stage_kind


@attrs.frozen
class StageType:
    """A registered stage type.

    Attributes:
        name: The name configs use (``use = "read.files"``).
        cls: The stage's attrs class.
        kind: reader, transform, corpus or renderer.
        plugin: The name of the plugin that registered it.
        distribution: The installed distribution the plugin comes from, when known.
    """

    name: str
    cls: type[Any]
    kind: str
    plugin: str
    distribution: str | None

    @property
    def summary(self) -> str:
        """The first line of the stage's docstring."""
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def options(self) -> list[OptionSpec]:
        return option_specs(self.cls)

    @property
    def origin(self) -> str:
        return f"{self.plugin} ({self.distribution})" if self.distribution else self.plugin


@attrs.define
class StageRegistry:
    """Collects stage types from plugins; handed to ``docstage_register_stages``."""

    _types: dict[str, StageType] = attrs.Factory(dict)
    _plugin: str = "?"
    _distribution: str | None = None

    def registering_for(self, plugin: str, distribution: str | None) -> None:
        """Attribute the next registrations to ``plugin`` (called by the plugin manager)."""
        self._plugin = plugin
        self._distribution = distribution

    def add(self, cls: type[Any]) -> None:
        """Register a stage class under its ``name`` class variable.

        Raises:
            PluginError: When ``cls`` is not a stage class, has no name, or the name is
                already registered by another plugin.
        """
        kind = stage_kind(cls)
        owner = f"plugin '{self._plugin}'" + (
            f" ({self._distribution})" if self._distribution else ""
        )
        if kind is None:
            raise PluginError(
                f"{owner} registered {cls!r}, which is not a stage class: subclass "
                "docstage.Reader, Transform, CorpusStage or Renderer"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"{owner} registered {cls.__name__} without a name: set name: "
                'ClassVar[str] = "my.stage" on the class'
            )
        if not attrs.has(cls):
            raise PluginError(
                f"{owner} registered {cls.__name__} ({name}), which is not an attrs class: "
                "decorate it with @attrs.define(kw_only=True)"
            )
        existing = self._types.get(name)
        if existing is not None:
            raise PluginError(
                f"stage '{name}' is registered twice: by plugin '{existing.plugin}'"
                + (f" ({existing.distribution})" if existing.distribution else "")
                + f" and by {owner}; disable one of them with [pipeline] disabled_plugins"
            )
        self._types[name] = StageType(name, cls, kind, self._plugin, self._distribution)

    def get(self, name: str) -> StageType | None:
        return self._types.get(name)

    def lookup(self, name: str, *, file: str, line: int | None, where: str) -> StageType:
        """Return the stage type called ``name`` or raise a ConfigError with suggestions."""
        found = self._types.get(name)
        if found is None:
            names = sorted(self._types)
            raise ConfigError(
                f"unknown stage '{name}'{did_you_mean(name, names)}; installed stages: "
                + (", ".join(names) or "(none)")
                + " (see `pipeline plugins`)",
                file=file,
                line=line,
                where=where,
            )
        return found

    def __iter__(self) -> Iterator[StageType]:
        return iter(sorted(self._types.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._types)

    def by_plugin(self, plugin: str) -> list[StageType]:
        return [t for t in self if t.plugin == plugin]
