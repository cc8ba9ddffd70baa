"""A local-file plugin for benchmarks: ``bench.noop``, a transform that changes nothing.

Load it the way a user loads a plugin that is not installed, by path in the config::

    [pipeline]
    plugins = ["./noop_plugin.py"]

    [[stages]]
    use = "bench.noop"

Every document passes through unchanged (the same object is returned), so a run with
``bench.noop`` stages measures what the runner itself costs per document and per stage.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from docstage import Document, Transform, hookimpl
from docstage.registry import StageRegistry


@attrs.define(kw_only=True)
class Noop(Transform):
    """Pass every document on unchanged (for measuring the runner's own overhead)."""

    name: ClassVar[str] = "bench.noop"

    def process(self, doc: Document) -> Document:
        return doc


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    registry.add(Noop)
