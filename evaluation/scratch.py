"""The evaluations' scratch run: a config's stages on gold data, touching nothing of its own.

Every ``pipeline eval`` command runs a user's config on documents that are not the
user's corpus. Whatever the config says, that run must not read or write the config's
state store (a dedup index would learn the gold pages and drop tomorrow's real articles
as their copies), its run cache, its quarantine file or its outputs. :func:`run_scratch`
is the one way the evaluations run a plan, so that promise is kept in one place.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from docstage.document import Document
from docstage.plan import Plan
from docstage.runner import Runner
from docstage.summary import RunSummary


def scratch_plan(plan: Plan, folder: Path) -> Plan:
    """``plan`` made harmless: state, cache and quarantine in ``folder``, no incremental
    work, failing documents skipped, no renderers and no ``report`` files of other stages.
    """
    run = attrs.evolve(
        plan.config.run,
        on_error="skip",
        incremental=False,
        state=str(folder / "state.sqlite"),
        cache=str(folder / "cache"),
        quarantine=str(folder / "quarantine.jsonl"),
    )
    stages = []
    for stage in plan.stages:
        if stage.kind == "renderer":
            continue
        instance: Any = stage.instance
        if getattr(instance, "report", None) is not None:
            stage = attrs.evolve(stage, instance=attrs.evolve(instance, report=None))
        stages.append(stage)
    return attrs.evolve(plan, config=attrs.evolve(plan.config, run=run), stages=tuple(stages))


def run_scratch(
    plan: Plan,
    on_output: Callable[[list[Document]], None],
    *,
    documents: Iterable[Document] | None = None,
) -> RunSummary:
    """Run ``plan`` as :func:`scratch_plan` makes it; each batch that comes out goes to
    ``on_output``. The scratch folder is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="docstage-eval-") as folder:
        safe = scratch_plan(plan, Path(folder))
        return Runner(safe, documents=documents, on_output=on_output).execute()
