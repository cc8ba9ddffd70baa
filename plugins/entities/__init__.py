"""The entity stages: ``entities`` finds people, places, organisations and dates in each
document and links short mentions to full ones; ``entities.link`` gives one id to every
mention of the same entity across documents and sources."""

from __future__ import annotations

from docstage.plugins import hookimpl
from docstage.registry import StageRegistry
from docstage_plugins.entities import extract, link


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    for module in (extract, link):
        for stage in module.STAGES:
            registry.add(stage)
