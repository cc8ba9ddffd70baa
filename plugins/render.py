"""Built-in renderers: ``render.jsonl``, the machine-readable record of every document;
``render.csv``, ``render.markdown`` and ``render.html`` register from here too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import attrs

from docstage import Document, hookimpl
from docstage.errors import OptionError
from docstage.io import AtomicFile, writable_folder
from docstage.options import option
from docstage.records import to_record
from docstage.registry import StageRegistry
from docstage.stages import Renderer, StageContext
from docstage.summary import RunSummary


@attrs.define(kw_only=True)
class RenderJsonl(Renderer):
    """Write one JSON record per document (the machine contract; see docs/stages.md), atomically.

    The file appears under its name only when the run succeeds; a failed run leaves the
    previous file as it was.
    """

    name: ClassVar[str] = "render.jsonl"

    path: Path = option(path=True, help="The .jsonl file to write (its folder is created).")
    ensure_ascii: bool = option(False, help="Escape non-ASCII characters as \\uXXXX.")
    _file: AtomicFile | None = attrs.field(default=None, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        if self.path.is_dir():
            raise OptionError(
                "path", f"'{self.path}' is a folder; give the path of the .jsonl file to write"
            )
        if context.dry_run:
            writable_folder(self.path)
        else:
            self._file = AtomicFile.open(self.path)

    def write(self, doc: Document) -> None:
        assert self._file is not None, "render.jsonl used before setup"
        self._file.write(
            json.dumps(to_record(doc), ensure_ascii=self.ensure_ascii, allow_nan=False) + "\n"
        )

    def finish(self, summary: RunSummary) -> list[Path]:
        assert self._file is not None, "render.jsonl used before setup"
        file, self._file = self._file, None
        with file:
            pass  # every record is written; leaving the block commits the file
        return [file.path]

    def abort(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None


@hookimpl
def docstage_register_stages(registry: StageRegistry) -> None:
    from docstage_plugins.render_csv import STAGES as CSV_STAGES
    from docstage_plugins.render_html import STAGES as HTML_STAGES
    from docstage_plugins.render_markdown import STAGES as MARKDOWN_STAGES

    registry.add(RenderJsonl)
    for stage in (*CSV_STAGES, *MARKDOWN_STAGES, *HTML_STAGES):
        registry.add(stage)
