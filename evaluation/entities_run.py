"""The pipeline runs of ``pipeline eval entities``: a config's transforms on the gold texts.

:func:`entities_plan` builds the stages to evaluate (a config's transform stages, by
default a pipeline of one ``entities`` stage); :func:`evaluate_pipeline` runs them on the
gold texts through :func:`~docstage_eval.scratch.run_scratch` and scores what they find.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from docstage.config import Config, config_from_dict, load_config, parse_override
from docstage.document import Document
from docstage.errors import ConfigError, RunError, display
from docstage.plan import Plan
from docstage.resolve import make_plan
from docstage_eval.entities_gold import GoldIndex, text_digest
from docstage_eval.entities_scores import EntityScores, Evaluation, LabelMap
from docstage_eval.scratch import run_scratch

#: The stage that finds entities when no ``--config`` is given.
DEFAULT_STAGE = "entities"


def entities_plan(
    config: Path | None = None,
    *,
    backend: str | None = None,
    overrides: Sequence[str] = (),
    plugins: Sequence[tuple[str, object]] = (),
) -> Plan:
    """The transform stages of ``config`` (default: one ``entities`` stage), ready to run.

    Readers, corpus stages and renderers are left out: the gold texts are fed in, and
    nothing is written. A failing document is skipped (and scored without predictions).

    Args:
        config: A pipeline config; ``overrides`` are ``--set`` expressions for it. Without
            it, ``overrides`` are ``OPTION=VALUE`` for the ``entities`` stage.
        backend: The ``backend`` option of the ``entities`` stage.
        plugins: Extra ``(name, plugin)`` pairs.

    Raises:
        ConfigError: A bad config, option or override; no transform stage.
        PluginError: A plugin failed to load.
    """
    loaded: Config
    if config is not None:
        extra = [f"stages.{DEFAULT_STAGE}.backend={json.dumps(backend)}"] if backend else []
        loaded = load_config(config, [*overrides, *extra])
    else:
        options: dict[str, Any] = {"backend": backend} if backend else {}
        for text in overrides:
            parts, value = parse_override(text)
            if parts[:2] == ["stages", DEFAULT_STAGE]:
                parts = parts[2:]
            if len(parts) != 1:
                raise ConfigError(
                    f"--set {text!r}: without --config, --set takes an option of the "
                    f"{DEFAULT_STAGE} stage: --set OPTION=VALUE"
                )
            options[parts[0]] = value
        data = {
            "pipeline": {"name": "eval-entities"},
            "stages": [{"use": DEFAULT_STAGE, **options}],
        }
        loaded = config_from_dict(data, Path.cwd())
    plan = make_plan(loaded, extra_plugins=plugins, require_reader=False)
    transforms = tuple(stage for stage in plan.stages if stage.kind == "transform")
    if not transforms:
        raise ConfigError(
            "no transform stage to evaluate: entities are predicted by the config's "
            f"transform stages, e.g. use = {DEFAULT_STAGE!r}",
            file=loaded.display_path,
        )
    return attrs.evolve(plan, stages=transforms)


def evaluate_pipeline(
    gold: Path,
    labels: LabelMap,
    config: Path | None = None,
    *,
    backend: str | None = None,
    overrides: Sequence[str] = (),
    plugins: Sequence[tuple[str, object]] = (),
) -> Evaluation:
    """Run the transforms of ``config`` (or one ``entities`` stage) on the gold texts.

    The documents stream through the runner; only their gold spans are kept meanwhile.
    Documents the pipeline drops or fails on are scored as finding nothing.

    Raises:
        ConfigError: See :func:`entities_plan`; also a stage that changed a text.
        RunError: The run failed.
    """
    index = GoldIndex.read(gold)
    scores = EntityScores()
    done: set[str] = set()

    def collect(batch: list[Document]) -> None:
        for doc in batch:
            entry = index.entries.get(doc.id)
            if entry is None or doc.id in done:
                raise RunError(f"the pipeline returned a document not in the gold: {doc.id!r}")
            if text_digest(doc.text) != entry.digest:
                changed = ", ".join(doc.stages) or "?"
                raise ConfigError(
                    f"the pipeline changed the text of {doc.id!r} (gold line {entry.line}; "
                    f"stages that changed the document: {changed}), so its spans cannot be "
                    "compared with the gold; evaluate stages that keep the text",
                    file=display(config) if config is not None else None,
                )
            predicted = {(e.start, e.end, e.label) for e in doc.entities}
            scores.add(labels.apply(entry.spans), labels.apply(predicted))
            done.add(doc.id)

    try:
        plan = entities_plan(config, backend=backend, overrides=overrides, plugins=plugins)
        summary = run_scratch(plan, collect, documents=index.documents())
    except ConfigError as exc:
        if config is None and exc.where is not None:
            # The built-in pipeline has no file the user could look at.
            raise ConfigError(f"the {DEFAULT_STAGE} stage: {exc.message}") from None
        raise
    if summary.failed:
        raise RunError(f"the entity pipeline failed: {summary.failed}")
    unscored = []
    for key, entry in index.entries.items():
        if key not in done:
            unscored.append(key)
            scores.add(labels.apply(entry.spans), ())
    stages = ", ".join(stage.name for stage in plan.stages)
    if config is not None:
        source = f"{plan.config.display_path} ({stages})"
    else:
        source = f"the {stages} stage"
    if backend:
        source += f", backend {backend}"
    return Evaluation(scores, gold, labels.name, source, unscored)
