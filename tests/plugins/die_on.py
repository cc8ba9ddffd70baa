"""A test plugin file for the executor tests: a transform whose process ends on a
document, as a crash would. Configs name it by path in ``[pipeline] plugins``, so that
worker processes and Ray actors import it too."""

import os
from typing import ClassVar

import attrs

from docstage import hookimpl
from docstage.stages import Transform


@attrs.define(kw_only=True)
class DieOn(Transform):
    """Ends its process on documents containing ``word``."""

    name: ClassVar[str] = "test.die_on"
    word: str = "die"

    def process(self, doc):  # type: ignore[no-untyped-def]
        if self.word in doc.text:
            os._exit(3)
        return doc


@hookimpl
def docstage_register_stages(registry):  # type: ignore[no-untyped-def]
    registry.add(DieOn)
