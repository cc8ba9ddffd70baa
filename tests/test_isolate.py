"""A batch a worker was stuck on goes again one document and one stage at a time
(:func:`docstage.executors.isolate.isolate`): the result is the whole batch's, with a
``DocumentTimeout`` at the stage where the worker was stuck, for that document only."""

from __future__ import annotations

from typing import ClassVar

import attrs

from docstage.document import Document
from docstage.executors.isolate import Stuck, isolate
from docstage.segments import DocumentTimeout, Segment, SegmentResult, run_segment
from docstage.stages import Drop, Transform


@attrs.define
class Upper(Transform):
    name: ClassVar[str] = "test.upper"

    def process(self, doc: Document) -> Document:
        return doc.evolve(text=doc.text.upper())


@attrs.define
class DropShort(Transform):
    name: ClassVar[str] = "test.drop_short"

    def process(self, doc: Document) -> Document | Drop:
        return Drop("short") if len(doc.text) < 5 else doc


@attrs.define
class FailOn(Transform):
    name: ClassVar[str] = "test.fail_on"

    def process(self, doc: Document) -> Document:
        if "BOOM" in doc.text:
            raise ValueError("boom")
        return doc


STAGES = [("test.upper", Upper()), ("test.drop_short", DropShort()), ("test.fail_on", FailOn())]
SEGMENT = Segment(positions=(4, 5, 6))  # positions in a plan: not the segment's own indexes


def runner(stuck_on: tuple[str, int] | None, calls: list[tuple[int, ...]]):  # type: ignore[no-untyped-def]
    """A ``run_one`` that runs the stages here, and is stuck on one (document, position)."""

    def run_one(positions: tuple[int, ...], docs: list[Document]) -> SegmentResult:
        calls.append(positions)
        (position,) = positions
        if stuck_on == (docs[0].id, position):
            raise Stuck(6.0)
        return run_segment([STAGES[position - 4]], docs)

    return run_one


def batch() -> list[Document]:
    texts = ["a long text", "tiny", "a boom text", "stuck here", "another long one"]
    return [Document(id=f"d{n}", text=text) for n, text in enumerate(texts)]


def test_without_a_stuck_document_the_result_is_the_whole_batch_s() -> None:
    whole = run_segment(STAGES, batch())
    calls: list[tuple[int, ...]] = []
    alone = isolate(SEGMENT, batch(), runner(None, calls))
    assert alone.documents == whole.documents
    assert alone.origins == whole.origins == [0, 3, 4]
    key = [(e.stage, e.origin, e.kind, e.reason, str(e.error)) for e in whole.events]
    assert [(e.stage, e.origin, e.kind, e.reason, str(e.error)) for e in alone.events] == key
    counts = [(c.docs_in, c.docs_out) for c in whole.counts]
    assert [(c.docs_in, c.docs_out) for c in alone.counts] == counts == [(5, 5), (5, 4), (4, 3)]
    assert calls[:3] == [(4,), (5,), (6,)]  # one stage at a time


def test_only_the_stuck_document_fails_at_the_stage_it_was_stuck_in() -> None:
    result = isolate(SEGMENT, batch(), runner(("d3", 5), []))
    assert [doc.id for doc in result.documents] == ["d0", "d4"]
    stuck = [e for e in result.events if isinstance(e.error, DocumentTimeout)]
    (event,) = stuck
    assert (event.stage, event.origin, event.document.text) == (1, 3, "STUCK HERE")
    assert str(event.error).startswith("stuck for over 6 s in a call that cannot be interrupted")
    assert [(e.stage, e.origin) for e in result.events] == [(1, 1), (1, 3), (2, 2)]
    assert [(c.docs_in, c.docs_out) for c in result.counts] == [(5, 5), (5, 3), (3, 2)]
