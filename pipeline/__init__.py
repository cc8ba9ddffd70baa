"""docstage: plugin-based document processing pipelines.

The public API for plugin authors: the document model, the stage kinds, ``option`` to
declare stage options, and ``hookimpl`` to mark hook implementations.

The names are imported when first used (PEP 562), so that ``import docstage`` (which
pytest does in every project where docstage is installed, for its pytest plugin) costs
nothing until a docstage name is needed.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docstage.document import REMOVED, STORY_ID, Document, Entity, Key, Removal
    from docstage.errors import ConfigError, DocstageError, OptionError, PluginError, RunError
    from docstage.options import option
    from docstage.plugins import hookimpl
    from docstage.stages import (
        BadInput,
        CorpusStage,
        Drop,
        Failed,
        Reader,
        Renderer,
        StageContext,
        Transform,
    )

try:
    __version__ = version("docstage")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: Where each public name lives.
_HOMES = {
    "docstage.document": ("REMOVED", "STORY_ID", "Document", "Entity", "Key", "Removal"),
    "docstage.errors": ("ConfigError", "DocstageError", "OptionError", "PluginError", "RunError"),
    "docstage.options": ("option",),
    "docstage.plugins": ("hookimpl",),
    "docstage.stages": (
        "BadInput",
        "CorpusStage",
        "Drop",
        "Failed",
        "Reader",
        "Renderer",
        "StageContext",
        "Transform",
    ),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'docstage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "REMOVED",
    "STORY_ID",
    "BadInput",
    "ConfigError",
    "CorpusStage",
    "DocstageError",
    "Document",
    "Drop",
    "Entity",
    "Failed",
    "Key",
    "OptionError",
    "PluginError",
    "Reader",
    "Removal",
    "Renderer",
    "RunError",
    "StageContext",
    "Transform",
    "__version__",
    "hookimpl",
    "option",
]
