"""Where a run is, for the progress bars of ``pipeline run``: one lane per kind of work.

The lanes are the readers, the transforms (every segment of them), each corpus stage on
its own, and the renderers. :class:`RunProgress` is told little by the stream (when a
driver's output ends, when a corpus stage has read its whole input, the steps a corpus
stage names through :class:`~docstage.stages.StageProgress`) and reads the rest from the
stages' live counters. It is read from another thread (the display's refresh)
while the run goes on, so it only ever writes plain values; nothing is computed for it
per document.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from docstage.runner.stagerun import Batches, StageRun, stream_units
from docstage.stages import StageProgress
from docstage.summary import StageStats

#: The lane labels of the kinds whose stages share one lane.
SHARED_LANES = {"reader": "read", "transform": "transforms", "renderer": "render"}


@attrs.frozen
class LaneView:
    """A lane as it stands.

    Attributes:
        label: ``read``, ``transforms``, ``render``, or a corpus stage's name.
        phase: ``waiting`` before its first document, ``done`` at the end; between them
            empty, or for a corpus stage ``input``, a step the stage named, ``working``
            (between its input and a first step or output) and ``output``. A new phase
            restarts the rate and the estimate of the time left.
        completed: Documents done in this phase.
        total: Documents this phase expects, or None when unknown.
    """

    label: str
    phase: str
    completed: int
    total: int | None


@attrs.define(eq=False)
class _Unit:
    """One driver of the stream (:func:`~docstage.runner.stagerun.stream_units`)."""

    stages: tuple[StageRun, ...]
    yielded: int = 0
    finished: bool = False


@attrs.define(eq=False)
class CorpusProgress(StageProgress):
    """The lane of one corpus stage, and the :class:`StageProgress` it reports to."""

    stats: StageStats
    received: bool = False
    step: str | None = None
    step_done: int = 0
    step_total: int | None = None
    #: The documents it had put out when it named its step: more mean output has begun.
    out_before: int = 0

    def phase(self, name: str, total: int | None = None) -> None:
        self.out_before = _put_out(self.stats)
        self.step_done, self.step_total = 0, total
        self.step = name

    def advance(self, count: int = 1) -> None:
        self.step_done += count

    def view(self, label: str, expected: int | None, finished: bool) -> LaneView:
        stats = self.stats
        out = _put_out(stats)
        if finished:
            return LaneView(label, "done", out, out)
        if self.step is None and not self.received:
            phase = "input" if stats.docs_in else "waiting"
            return LaneView(label, phase, stats.docs_in, expected)
        if out > self.out_before:
            return LaneView(label, "output", out, stats.docs_in)
        if self.step is not None:
            return LaneView(label, self.step, self.step_done, self.step_total)
        return LaneView(label, "working", 0, None)


def _put_out(stats: StageStats) -> int:
    """Documents a stage kept, dropped or failed on so far."""
    try:
        dropped = sum(stats.dropped.values())
    except RuntimeError:  # a new reason added while this thread counts: nearly all
        dropped = 0
    return stats.docs_out + dropped + stats.errors


@attrs.define(eq=False)
class RunProgress:
    """The lanes of one run and what their stages have done.

    Attributes:
        units: The stream's drivers, the input first (the readers, or nothing when
            documents are given to the runner).
        estimate: The documents the readers expect to produce, when known.
        shown: Whether a display reads this run's progress; the runner then asks the
            readers for their estimate.
    """

    stages: Sequence[StageRun]
    units: list[_Unit] = attrs.field(init=False)
    estimate: int | None = None
    shown: bool = False
    _corpus: dict[int, CorpusProgress] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.units = [_Unit(unit) for unit in stream_units(self.stages)]
        for unit in self.units[1:]:
            first = unit.stages[0]
            if first.stage.kind == "corpus":
                self._corpus[first.position] = CorpusProgress(first.stats)

    def stage(self, position: int) -> StageProgress:
        """What the stage at ``position`` reports to (a corpus stage's own lane)."""
        return self._corpus.get(position) or StageProgress()

    def watch(self, index: int, batches: Batches) -> Batches:
        """The output of unit ``index``, counted; its end is the end of the unit."""
        unit = self.units[index]
        for batch in batches:
            unit.yielded += len(batch)
            yield batch
        unit.finished = True

    def received(self, where: StageRun) -> None:
        """The corpus stage ``where`` asked for more input and there was none."""
        self._corpus[where.position].received = True

    def labels(self) -> list[str]:
        """The lanes' labels, in the order of the stream."""
        return [view.label for view in self.views()]

    def views(self) -> list[LaneView]:
        """Every lane as it stands now."""
        shared: dict[str, list[LaneView]] = {}
        views: list[LaneView | str] = []
        for index, unit in enumerate(self.units):
            if not unit.stages:
                continue
            first = unit.stages[0]
            kind = first.stage.kind
            if kind == "corpus":
                lane = self._corpus[first.position]
                views.append(lane.view(first.name, self._expected_input(index), unit.finished))
                continue
            # Every reader counts; a segment's first stage sees each of its documents.
            counted = unit.stages if index == 0 else unit.stages[:1]
            done = sum(where.stats.docs_in for where in counted)
            if unit.finished:
                total: int | None = done
            else:
                total = self.estimate if index == 0 else self._expected_input(index)
            label = SHARED_LANES[kind]
            if label not in shared:
                shared[label] = []
                views.append(label)
            shared[label].append(LaneView(label, "", done, total))
        return [_merge(shared[v]) if isinstance(v, str) else v for v in views]

    def _expected_input(self, index: int) -> int | None:
        """The documents unit ``index`` will receive: what the nearest unit upstream
        that has finished put out, else the readers' estimate."""
        for unit in reversed(self.units[:index]):
            if unit.finished:
                return unit.yielded
        return self.estimate


def _merge(views: list[LaneView]) -> LaneView:
    """One lane of several units of a kind (segments of transforms, renderers)."""
    completed = sum(v.completed for v in views)
    totals = [v.total for v in views]
    total = None if None in totals else sum(t or 0 for t in totals)
    done = total is not None and completed >= total and all(v.total == v.completed for v in views)
    phase = "done" if done else ("" if completed else "waiting")
    return LaneView(views[0].label, phase, completed, total)
