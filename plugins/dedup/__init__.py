"""The ``dedup`` stage: exact and near copies, stories and shared passages across sources,
with provenance, and an index in the state store for later runs."""

from __future__ import annotations

from docstage.plugins import hookimpl
from docstage.registry import StageRegistry
from docstage_plugins.dedup import stage


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    for cls in stage.STAGES:
        registry.add(cls)
