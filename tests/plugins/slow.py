"""A test plugin file for the signal tests: a transform that takes ``seconds`` per
document (or, on documents whose text holds ``stuck_on``, is stuck in one long C call), so
that a run can be stopped or killed while it works, or a stuck worker replaced. Configs
name it by path in ``[pipeline] plugins``, so that worker processes import it too."""

import time
from typing import ClassVar

import attrs

from docstage import hookimpl
from docstage.stages import Transform


@attrs.define(kw_only=True)
class Slow(Transform):
    """Sleeps ``seconds`` on every document."""

    name: ClassVar[str] = "test.slow"
    seconds: float = 1.0
    stuck_on: str = ""

    def process(self, doc):  # type: ignore[no-untyped-def]
        if self.stuck_on and self.stuck_on in doc.text:  # minutes in one C loop, deaf to signals
            sum(range(10**11))
        time.sleep(self.seconds)
        return doc


@hookimpl
def docstage_register_stages(registry):  # type: ignore[no-untyped-def]
    registry.add(Slow)
