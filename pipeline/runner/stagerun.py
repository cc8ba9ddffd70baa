"""The runner's per-stage record (:class:`StageRun`) and the stream type its drivers pass on.

A ``StageRun`` is made once per stage when a run starts and carried by every driver, so no
code looks a stage's position, counters or stage key up again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Sequence

import attrs

from docstage.document import Document
from docstage.fingerprints import stage_keys
from docstage.plan import Plan, PlannedStage
from docstage.summary import StageStats

#: The stream between two stages: lists of documents, in order.
Batches = Iterator[list[Document]]

perf = time.perf_counter


@attrs.frozen(eq=False)
class StageRun:
    """One stage of the plan as this run executes it.

    Attributes:
        position: Its index in the plan's stages (and in ``run.stats``).
        stage: The planned stage: its config, type and configured instance.
        stats: Its live counters, the object hooks see in ``run.stats``.
        key: Its stage key (:func:`docstage.cache.stage_keys`): what the run cache files
            its outcomes under and the manifest records as the configuration hash.
    """

    position: int
    stage: PlannedStage
    stats: StageStats
    key: bytes

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def config_hash(self) -> str:
        """The stage key as the manifest writes it."""
        return self.key.hex()


def stage_runs(plan: Plan, stats: list[StageStats]) -> tuple[StageRun, ...]:
    """The records of every stage of ``plan``, with the counters in ``stats`` (config order)."""
    keys = stage_keys(plan)
    return tuple(
        StageRun(position=position, stage=stage, stats=counters, key=key)
        for position, (stage, counters, key) in enumerate(
            zip(plan.stages, stats, keys, strict=True)
        )
    )


def iter_batches(docs: Iterable[Document], size: int) -> Batches:
    """``docs`` in lists of ``size``."""
    it = iter(docs)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def stream_units(stages: Sequence[StageRun]) -> list[tuple[StageRun, ...]]:
    """The stages as the stream runs them, one driver each: first the readers together
    (the input; empty when documents are given to the runner), then each run of
    consecutive transforms as one segment, and every corpus stage and renderer alone."""
    units: list[tuple[StageRun, ...]] = [tuple(s for s in stages if s.stage.kind == "reader")]
    for where in stages:
        kind = where.stage.kind
        if kind == "reader":
            continue
        if kind == "transform" and units[-1] and units[-1][-1].stage.kind == "transform":
            units[-1] = (*units[-1], where)
        else:
            units.append((where,))
    return units
