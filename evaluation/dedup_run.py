"""The config runs of ``pipeline eval dedup`` (``--config``, ``--sweep``): their predictions.

A config's readers, transforms and corpus stages run through
:func:`~docstage_eval.scratch.run_scratch` and the documents they put out become
:class:`~docstage_eval.dedup_gold.Predictions` (:func:`predict`); ``--sweep`` runs it once
per value (:class:`Sweep`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from docstage.document import DUPLICATE_OF, DUPLICATES, STORY_ID, Document, to_jsonable
from docstage.errors import ConfigError, RunError
from docstage.resolve import load_plan
from docstage_eval.dedup_gold import Predictions
from docstage_eval.scratch import run_scratch


def _record(doc: Document) -> dict[str, Any]:
    keys = (DUPLICATES.name, DUPLICATE_OF.name, STORY_ID.name)
    found = {key: to_jsonable(doc.annotations[key]) for key in keys if key in doc.annotations}
    return {"id": doc.id, **found}


def predict(
    config: Path, overrides: Sequence[str] = (), *, plugins: Sequence[tuple[str, object]] = ()
) -> Predictions:
    """Run ``config`` without its renderers and report files (see
    :func:`~docstage_eval.scratch.scratch_plan`) and collect what its documents say.

    The run uses a scratch state store and quarantine, so it neither sees nor changes an
    earlier run's dedup index; a document a stage fails on is skipped.

    Raises:
        ConfigError: A bad config or override.
        PluginError: A plugin failed to load.
        RunError: The run failed.
    """
    plan = load_plan(config, overrides, extra_plugins=plugins)
    stages = ", ".join(s.name for s in plan.stages if s.kind != "renderer")
    predictions = Predictions(f"{plan.config.display_path} ({stages})")

    def collect(batch: list[Document]) -> None:
        for doc in batch:
            try:
                predictions.add(_record(doc))
            except ValueError as exc:
                raise RunError(f"document {doc.id!r}: {exc}") from None

    summary = run_scratch(plan, collect)
    if summary.failed:
        raise RunError(f"the pipeline failed: {summary.failed}")
    predictions.skipped = summary.errors
    return predictions


@attrs.frozen
class Sweep:
    """``--sweep KEY=V1,V2,…``: one ``--set KEY=V`` per value, one run each."""

    text: str
    key: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Sweep:
        key, sep, raw = text.partition("=")
        values = tuple(value.strip() for value in raw.split(","))
        if not sep or not key.strip() or not all(values):
            raise ConfigError(
                f"--sweep {text!r}: expected KEY=V1,V2,…, e.g. --sweep "
                "stages.dedup.threshold=0.6,0.7,0.8,0.9"
            )
        return cls(text, key.strip(), values)

    def run(
        self, config: Path, overrides: Sequence[str], plugins: Sequence[tuple[str, object]]
    ) -> Iterator[tuple[str, Predictions]]:
        """Each value with the predictions of its run."""
        for value in self.values:
            override = f"{self.key}={value}"
            try:
                yield value, predict(config, [*overrides, override], plugins=plugins)
            except ConfigError as exc:
                said = f"--set {override!r}"
                if not exc.message.startswith(said):
                    raise
                raise ConfigError(f"--sweep {self.text!r}{exc.message[len(said) :]}") from None
