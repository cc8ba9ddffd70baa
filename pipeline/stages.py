"""The four kinds of stage, and the values stages hand back to the runner.

A stage type is an attrs class that subclasses one of :class:`Reader`, :class:`Transform`,
:class:`CorpusStage` or :class:`Renderer` and sets a ``name`` class variable. Its attrs
fields, declared with :func:`docstage.options.option`, are its options: the config schema
and the documentation at once::

    @attrs.define(kw_only=True)
    class Shout(Transform):
        \"\"\"Upper-case the text.\"\"\"

        name: ClassVar[str] = "shout"
        min_length: int = option(0, help="Leave shorter documents alone.")

        def process(self, doc: Document) -> Document | Drop:
            if len(doc.text) < self.min_length:
                return Drop("too short")
            return doc.evolve(text=doc.text.upper())

The runner calls ``setup`` once before the first document and ``close`` once at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from docstage.document import Document

if TYPE_CHECKING:
    import structlog

    from docstage.state import StateStore
    from docstage.summary import RunSummary

KINDS = ("reader", "transform", "corpus", "renderer")


@attrs.frozen
class Drop:
    """A stage's decision to drop a document, with the reason shown in the run summary.

    A transform returns ``Drop(reason)`` for the document it received; a corpus stage or
    reader yields ``Drop(reason, document=doc)`` (or ``location=`` for input it skipped).
    """

    reason: str
    document: Document | None = None
    location: str | None = None


@attrs.frozen
class BadInput:
    """Input a reader could not turn into a document (a malformed JSONL line, say).

    The runner treats it as an error at ``location`` (``file:line``): quarantined, skipped
    or fatal, as ``[run] on_error`` says.
    """

    location: str
    reason: str
    raw: str | None = None


@attrs.frozen
class Failed:
    """A corpus stage's failure on one document, yielded in its place.

    The runner treats it as a transform's exception on that document: quarantined with
    the error, skipped, or the run stops, as ``[run] on_error`` says; the stage goes on
    with the others. (An exception raised out of ``process_stream`` itself stops the run:
    a generator cannot go on after it.)
    """

    document: Document
    error: BaseException


class StageProgress:
    """What a corpus stage tells the progress bars of ``pipeline run`` about its work.

    A corpus stage's bar counts the documents it receives, then the documents it puts out
    (kept or dropped), on its own. What it does in between (learning, clustering,
    building an index) the runner cannot see: the stage names that work with
    :meth:`phase` and counts it, in documents, with :meth:`advance`::

        progress = context.progress
        progress.phase("stories")  # not counted: the bar shows that it works
        ids = cluster(docs)
        progress.phase("passages", total=len(docs))
        for doc in docs:
            index.add(doc)
            progress.advance()

    The bar shows the latest phase until the stage puts a document out (or names
    another phase). Calls are cheap and never fail; without a terminal to draw on, or in
    a stage that is not a corpus stage, nothing listens.
    """

    def phase(self, name: str, total: int | None = None) -> None:
        """Start the step ``name``, of ``total`` documents (None: not counted)."""

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more documents of the current step as done."""


@attrs.frozen(kw_only=True)
class StageContext:
    """What a stage learns about its run in ``setup``.

    Attributes:
        run_id: The id of the current run.
        config_dir: The folder of the config file; relative paths resolve against it.
        stage_name: The stage's name in the config (its ``name`` key, else its type).
        index: The stage's 1-based position in ``[[stages]]``.
        log: A structlog logger bound to the run and the stage.
        dry_run: True when the run only validates: check inputs and outputs, write nothing.
        state: The run's state store (``[run] state``), for stages that remember across
            runs; opened on first use. None in a dry run and when no store is configured.
        memory: The memory budget in bytes (``[run] memory``) a corpus stage keeps its
            working set within, spilling the rest to temporary files
            (:mod:`docstage.spill`).
        progress: Where a corpus stage reports the steps of its work for the progress
            bars (:class:`StageProgress`).
    """

    run_id: str
    config_dir: Path
    stage_name: str
    index: int
    log: structlog.typing.FilteringBoundLogger
    dry_run: bool = False
    state: StateStore | None = None
    memory: int = 128 << 20
    progress: StageProgress = attrs.field(factory=StageProgress)


class Stage:
    """Behaviour shared by every kind of stage."""

    name: ClassVar[str]
    kind: ClassVar[str]

    def setup(self, context: StageContext) -> None:
        """Prepare for the run: check inputs, open outputs, load models.

        Raise :class:`docstage.errors.OptionError` for a bad option value; the user then
        sees the config file, line and stage.
        """

    def close(self) -> None:
        """Release what ``setup`` acquired; called once, also after a failed run."""


class Reader(Stage):
    """Produces documents. Readers come first in ``[[stages]]``; several are chained."""

    kind: ClassVar[str] = "reader"

    def read(self) -> Iterator[Document | Drop | BadInput]:
        """Yield documents, lazily: memory must not grow with the size of the input."""
        raise NotImplementedError

    def estimate(self) -> int | None:
        """Return the number of documents ``read`` will yield, if it is cheap to know."""
        return None


class Transform(Stage):
    """One document in, one document (or a :class:`Drop`) out. Runs in parallel executors."""

    kind: ClassVar[str] = "transform"

    def process(self, doc: Document) -> Document | Drop:
        """Return the changed document (``doc.evolve(...)``), ``doc`` itself, or a Drop."""
        raise NotImplementedError

    def process_batch(self, docs: Sequence[Document]) -> Sequence[Document | Drop]:
        """Process a whole batch at once, when that is faster (a model's ``nlp.pipe``).

        Optional: override it and the runner calls it instead of :meth:`process`, with
        up to ``[run] batch_size`` documents. Return one result per document, in order.
        If it raises, the runner falls back to :meth:`process` for each document of the
        batch, so that only the document at fault is quarantined.
        """
        return [self.process(doc) for doc in docs]


class CorpusStage(Stage):
    """Sees the whole stream and keeps state across documents (dedup, learned boilerplate).

    ``process_stream`` receives an iterator and yields documents or Drops, in any order
    and at any time; it may hold documents back (to pick a survivor, say). An exception
    raised here stops the run: catch what fails on one document and yield
    :class:`Failed` for it, and the run goes on without it (quarantined).
    """

    kind: ClassVar[str] = "corpus"

    def process_stream(self, docs: Iterator[Document]) -> Iterable[Document | Drop | Failed]:
        """Yield every document to keep (changed or not), a Drop for every other, and a
        Failed for one the stage failed on."""
        raise NotImplementedError


class Renderer(Stage):
    """Writes documents out. Documents pass through a renderer unchanged.

    ``setup`` opens the output (through :class:`docstage.io.AtomicFile`, so a failed
    run leaves the previous output intact), ``write`` receives each document, ``finish``
    commits with the run summary, ``abort`` discards what was written.
    """

    kind: ClassVar[str] = "renderer"

    def write(self, doc: Document) -> None:
        """Write one document."""
        raise NotImplementedError

    def finish(self, summary: RunSummary) -> list[Path]:
        """Complete and commit the output; return the files written."""
        raise NotImplementedError

    def abort(self) -> None:
        """Discard partial output; the previous output (if any) stays as it was."""


def stage_kind(cls: type[Any]) -> str | None:
    """Return the kind of a stage class, or None when it is not a stage."""
    for base, kind in (
        (Reader, "reader"),
        (Transform, "transform"),
        (CorpusStage, "corpus"),
        (Renderer, "renderer"),
    ):
        if isinstance(cls, type) and issubclass(cls, base):
            return kind
    return None
