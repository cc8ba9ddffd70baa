"""docstage: plugin-based document processing pipelines.

The public API for plugin authors: the document model, the stage kinds, ``option`` to
declare stage options, and ``hookimpl`` to mark hook implementations.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pipeline.document import REMOVED, STORY_ID, Document, Entity, Key, Removal
from pipeline.errors import ConfigError, DocstageError, OptionError, PluginError, RunError
from pipeline.options import option
from pipeline.plugins import hookimpl
from pipeline.stages import (
    BadInput,
    CorpusStage,
    Drop,
    Reader,
    Renderer,
    StageContext,
    Transform,
)

try:
    __version__ = version("docstage")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

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
