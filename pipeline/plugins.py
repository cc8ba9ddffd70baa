"""The plugins of one run as the runner and the CLI use them: the hook marker, what was
loaded (:class:`PluginInfo`), and :class:`Plugins`, which calls observer hooks and names
the plugin at fault when one raises. Building it is :mod:`docstage.loading`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal

import attrs
import pluggy

from docstage.errors import RunError
from docstage.registry import StageRegistry

#: Marks a plugin's hook implementations (``@hookimpl def docstage_register_stages(...)``).
hookimpl = pluggy.HookimplMarker("docstage")

Status = Literal["loaded", "blocked", "failed"]


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What ``pipeline plugins`` shows about one plugin.

    Attributes:
        name: The plugin's name: its entry-point name, module name or file path.
        source: How it was found: ``entry point``, ``config`` or ``in-process``.
        distribution: ``name version`` of the installed distribution, when known.
        location: The module name or file it was loaded from.
        status: ``loaded``, ``blocked`` or ``failed``.
        error: Why loading failed.
        hooks: The hooks it implements.
    """

    name: str
    source: str
    distribution: str | None = None
    location: str | None = None
    status: Status = "loaded"
    error: str | None = None
    hooks: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        dist = f" ({self.distribution})" if self.distribution else ""
        return f"plugin '{self.name}'{dist}"


@attrs.define
class Plugins:
    """The plugin manager of one run, the stage registry it filled, and what was loaded."""

    manager: pluggy.PluginManager
    registry: StageRegistry
    infos: list[PluginInfo]
    _observed: dict[str, bool] = attrs.Factory(dict)

    def info(self, name: str) -> PluginInfo | None:
        return next((i for i in self.infos if i.name == name), None)

    def label(self, plugin_name: str) -> str:
        info = self.info(plugin_name)
        return info.label if info else f"plugin '{plugin_name}'"

    def has_impls(self, hook: str) -> bool:
        """True when some plugin implements ``hook`` (cached: hot paths check it)."""
        if hook not in self._observed:
            caller = getattr(self.manager.hook, hook)
            self._observed[hook] = bool(caller.get_hookimpls())
        return self._observed[hook]

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call an observer hook; a plugin that raises stops the run, named in the error."""
        if not self.has_impls(hook):
            return
        caller = getattr(self.manager.hook, hook)
        try:
            caller(**kwargs)
        except Exception as exc:
            culprit = _implementation_in(exc.__traceback__, caller.get_hookimpls())
            who = self.label(culprit) if culprit else "a plugin"
            raise RunError(f"{who} raised in {hook}: {type(exc).__name__}: {exc}") from exc


def _implementation_in(tb: TracebackType | None, impls: Iterable[Any]) -> str | None:
    """Find which hook implementation's frame is on the traceback ``tb``."""
    codes: dict[Any, str] = {impl.function.__code__: impl.plugin_name for impl in impls}
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            return name
        tb = tb.tb_next
    return None
