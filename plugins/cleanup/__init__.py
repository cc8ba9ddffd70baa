"""The cleanup stages: metadata out of stray headers and footers, mail and Usenet headers,
learned boilerplate, Unicode and whitespace normalisation."""

from __future__ import annotations

from docstage.plugins import hookimpl
from docstage.registry import StageRegistry
from docstage_plugins.cleanup import boilerplate, mail, metadata, normalize


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    for module in (mail, metadata, boilerplate, normalize):
        for stage in module.STAGES:
            registry.add(stage)
