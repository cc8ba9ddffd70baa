"""Loading the plugins of one run: specs, blocking, entry points, config plugins.

:func:`load_plugins` does the whole sequence, in a fixed order, and nothing happens at
import time:

1. add the hook specifications of :mod:`docstage.hookspecs`;
2. block the names in ``[pipeline] disabled_plugins`` and ``DOCSTAGE_DISABLE_PLUGINS``;
3. load the ``docstage`` entry points (docstage's own built-in plugins come this way too);
4. load the ``[pipeline] plugins`` of the config (module names or ``.py`` files);
5. ``check_pending``: a ``docstage_*`` function that matches no hook is an error;
6. ask every plugin to ``docstage_register_stages``.

Every failure names the plugin and the distribution it comes from.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pluggy
import structlog

from docstage import hookspecs
from docstage.errors import ConfigError, PluginError, did_you_mean, one_line
from docstage.plugins import PluginInfo, Plugins
from docstage.registry import StageRegistry

log = structlog.get_logger()

ENTRY_POINT_GROUP = "docstage"
DISABLE_ENV = "DOCSTAGE_DISABLE_PLUGINS"
HOOK_PREFIX = "docstage_"


class _PluginManager(pluggy.PluginManager):
    """Treats every ``docstage_*`` function as a hook implementation, marked or not.

    So a misspelled ``docstage_befor_run`` is caught by ``check_pending`` instead of
    being silently ignored.
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(HOOK_PREFIX):
            method = getattr(plugin, name, None)
            if inspect.isroutine(method):
                return {
                    "wrapper": False,
                    "hookwrapper": False,
                    "optionalhook": False,
                    "tryfirst": False,
                    "trylast": False,
                    "specname": None,
                }
        return opts


def _distribution_of_module(module_name: str) -> str | None:
    top = module_name.split(".")[0]
    try:
        names = importlib.metadata.packages_distributions().get(top)
    except Exception:
        return None
    if not names:
        return None
    try:
        return f"{names[0]} {importlib.metadata.version(names[0])}"
    except importlib.metadata.PackageNotFoundError:
        return names[0]


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or os.sep in spec


def _import_file(path: Path) -> ModuleType:
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"docstage_local_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def disabled_names(configured: Iterable[str] = ()) -> set[str]:
    """Names blocked by the config and by ``DOCSTAGE_DISABLE_PLUGINS``."""
    names = set(configured)
    names.update(n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip())
    return names


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault((ep.name, ep.value), ep)
    # docstage's own plugins first, then third parties by name: a stable order.
    return sorted(seen.values(), key=lambda ep: (not ep.name.startswith("docstage."), ep.name))


def entry_point_distribution(ep: importlib.metadata.EntryPoint) -> str | None:
    """``name version`` of the distribution that declares ``ep``, when known."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    return f"{dist.metadata['Name']} {dist.version}"


def load_plugins(
    *,
    config_plugins: Sequence[str] = (),
    disabled: Iterable[str] = (),
    config_dir: Path | None = None,
    config_file: str | None = None,
    config_line: int | None = None,
    extra: Sequence[tuple[str, object]] = (),
    strict: bool = True,
) -> Plugins:
    """Build the plugin manager and stage registry for one run.

    Args:
        config_plugins: ``[pipeline] plugins``: module names or ``.py`` paths.
        disabled: ``[pipeline] disabled_plugins``; the environment variable adds more.
        config_dir: Folder that relative plugin paths resolve against.
        config_file: The config file, for error messages.
        config_line: The line of ``plugins`` in the config file, for error messages.
        extra: ``(name, plugin object)`` pairs to register too (tests, embedding).
        strict: Raise on a plugin that fails to load; when False (``pipeline plugins``),
            record the failure and go on.

    Raises:
        PluginError: A plugin failed to import, declares an unknown hook or a bad hook
            signature, or two plugins register one stage name.
        ConfigError: A ``[pipeline] plugins`` entry cannot be imported.
    """
    loader = _Loader(
        manager=_PluginManager("docstage"),
        strict=strict,
        config_file=config_file,
        config_line=config_line,
    )
    loader.add_specs()
    loader.block(disabled_names(disabled))
    loader.load_entry_points()
    loader.load_config_plugins(config_plugins, config_dir)
    loader.register_extras(extra)
    loader.check_pending()
    return Plugins(manager=loader.manager, registry=loader.register_stages(), infos=loader.infos)


@attrs.define
class _Loader:
    """The steps of :func:`load_plugins`, each named, in the order it calls them."""

    manager: pluggy.PluginManager
    strict: bool
    config_file: str | None
    config_line: int | None
    blocked: set[str] = attrs.Factory(set)
    infos: list[PluginInfo] = attrs.Factory(list)

    def add_specs(self) -> None:
        self.manager.add_hookspecs(hookspecs)

    def block(self, names: set[str]) -> None:
        self.blocked = names
        for name in names:
            self.manager.set_blocked(name)

    def load_entry_points(self) -> None:
        for ep in _entry_points():
            info = PluginInfo(
                name=ep.name,
                source="entry point",
                distribution=entry_point_distribution(ep),
                location=ep.value,
            )
            if ep.name in self.blocked:
                self.infos.append(attrs.evolve(info, status="blocked"))
                continue
            try:
                obj = ep.load()
            except Exception as exc:
                failed = attrs.evolve(info, status="failed", error=one_line(exc))
                self._fail(
                    failed, f"; fix or uninstall it, or disable it with {DISABLE_ENV}={ep.name}"
                )
                continue
            self._register(obj, info)

    def load_config_plugins(self, specs: Sequence[str], config_dir: Path | None) -> None:
        for spec in specs:
            info = PluginInfo(name=spec, source="config", location=spec)
            if spec in self.blocked:
                self.infos.append(attrs.evolve(info, status="blocked"))
                continue
            try:
                if _is_file_spec(spec):
                    path = Path(spec).expanduser()
                    if not path.is_absolute() and config_dir is not None:
                        path = config_dir / path
                    if not path.is_file():
                        raise FileNotFoundError(f"no such file: {path}")
                    obj = _import_file(path)
                    info = attrs.evolve(info, location=str(path))
                else:
                    obj = importlib.import_module(spec)
                    info = attrs.evolve(info, distribution=_distribution_of_module(spec))
            except Exception as exc:
                message = f"plugin '{spec}' failed to import: {one_line(exc)}"
                if self.strict:
                    raise ConfigError(
                        message,
                        file=self.config_file,
                        line=self.config_line,
                        where="[pipeline] plugins",
                    ) from None
                self.infos.append(attrs.evolve(info, status="failed", error=one_line(exc)))
                continue
            self._register(obj, info)

    def register_extras(self, extra: Sequence[tuple[str, object]]) -> None:
        for name, obj in extra:
            self._register(obj, PluginInfo(name=name, source="in-process"))

    def check_pending(self) -> None:
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.manager.get_name(exc.plugin) or "?"
            info = next(
                (i for i in self.infos if i.name == name), PluginInfo(name=name, source="?")
            )
            raise PluginError(f"{info.label}: {_validation_message(exc)}") from None

    def register_stages(self) -> StageRegistry:
        registry = StageRegistry()
        by_name = {info.name: info for info in self.infos}
        for impl in self.manager.hook.docstage_register_stages.get_hookimpls():
            info = by_name.get(impl.plugin_name, PluginInfo(name=impl.plugin_name, source="?"))
            registry.registering_for(info.name, info.distribution)
            try:
                impl.function(registry=registry)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"{info.label} raised in docstage_register_stages: {one_line(exc)}"
                ) from exc
        return registry

    def _fail(self, info: PluginInfo, hint: str) -> None:
        self.infos.append(info)
        if self.strict:
            raise PluginError(f"{info.label} failed to load: {info.error}{hint}")
        log.warning("plugin failed to load", plugin=info.name, error=info.error)

    def _register(self, obj: object, info: PluginInfo) -> None:
        try:
            self.manager.register(obj, name=info.name)
        except pluggy.PluginValidationError as exc:
            failed = attrs.evolve(info, status="failed", error=_validation_message(exc))
            self._fail(failed, f"; disable it with {DISABLE_ENV}={info.name}")
            return
        except ValueError:
            # pluggy refuses an object or a name it already has.
            first = self.manager.get_name(obj) or info.name
            failed = attrs.evolve(
                info, status="failed", error=f"already loaded (as plugin '{first}')"
            )
            self._fail(failed, "; load each plugin module once")
            return
        hooks = tuple(sorted(c.name for c in self.manager.get_hookcallers(obj) or ()))
        self.infos.append(attrs.evolve(info, hooks=hooks))


def _validation_message(exc: pluggy.PluginValidationError) -> str:
    """One line from pluggy's multi-line validation message."""
    text = str(exc)
    unknown = re.search(r"unknown hook '(\w+)'", text)
    if unknown:
        hook = unknown.group(1)
        specs = [n for n in dir(hookspecs) if n.startswith(HOOK_PREFIX)]
        return f"unknown hook '{hook}'{did_you_mean(hook, specs)}; hooks: {', '.join(specs)}"
    hook_match = re.search(r"for hook '(\w+)'", text)
    args = re.search(r"Argument\(s\) (\{.*?\})", text)
    if hook_match and args:
        hook = hook_match.group(1)
        spec = getattr(hookspecs, hook, None)
        expected = ", ".join(inspect.signature(spec).parameters) if spec else "?"
        return (
            f"hook '{hook}' declares argument(s) {args.group(1)} that the hook does not "
            f"provide; it takes: {expected}"
        )
    return " ".join(text.split())
