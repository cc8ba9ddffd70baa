"""A third-party docstage plugin, installed as its own distribution: the ``shout`` stage."""

from __future__ import annotations

from typing import ClassVar

import attrs

from docstage import Document, hookimpl
from docstage.options import option
from docstage.registry import StageRegistry
from docstage.stages import Drop, Transform


@attrs.define(kw_only=True)
class Shout(Transform):
    """Upper-case the text; drop documents shorter than ``min_length`` characters."""

    name: ClassVar[str] = "shout"

    min_length: int = option(0, help="Drop documents shorter than this many characters.")

    def process(self, doc: Document) -> Document | Drop:
        if len(doc.text) < self.min_length:
            return Drop("shorter than min_length")
        return doc.evolve(text=doc.text.upper())


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    registry.add(Shout)
