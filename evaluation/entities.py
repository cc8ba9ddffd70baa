"""``pipeline eval entities``: exact-span precision, recall and F1 of entity extraction.

This module owns the click command and its table. The predictions come from running a
pipeline's transform stages on the gold texts (:mod:`docstage_eval.entities_run`), or
from a JSONL file (``--predictions``, :mod:`docstage_eval.entities_gold`, which reads the
gold file too); the scores per label and overall are counted in
:mod:`docstage_eval.entities_scores`.

Exports :data:`entities_command`, the click command the ``eval`` group adds.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from docstage.cli_support import overrides_option, user_errors
from docstage.errors import ConfigError, display
from docstage.log import configure_logging
from docstage_eval.command import eval_command, file_option, json_option, show
from docstage_eval.entities_gold import evaluate_file
from docstage_eval.entities_run import evaluate_pipeline
from docstage_eval.entities_scores import Evaluation, LabelMap
from docstage_eval.metrics import Counts


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def print_evaluation(console: Console, evaluation: Evaluation) -> None:
    """Precision, recall and F1 per label and overall, as a table."""
    scores = evaluation.scores
    title = f"Entities, exact spans: {scores.documents:,} documents"
    caption = "\n".join(
        (
            f"gold: {display(evaluation.gold)}",
            f"predictions: {evaluation.predictions}",
            f"label map: {evaluation.label_map}",
        )
    )
    table = Table(
        title=escape(title), title_justify="left", caption=escape(caption), caption_justify="left"
    )
    table.add_column("label")
    for column in ("precision", "recall", "F1", "support", "predicted"):
        table.add_column(column, justify="right")

    def row(label: str, counts: Counts, *, style: str | None = None) -> None:
        cells = (
            label,
            _percent(counts.precision),
            _percent(counts.recall),
            _percent(counts.f1),
            f"{counts.gold:,}",
            f"{counts.predicted:,}",
        )
        table.add_row(*(Text(cell) for cell in cells), style=style)

    for label in sorted(scores.labels):
        row(label, scores.labels[label])
    table.add_section()
    row("overall", scores.overall, style="bold")
    console.print(table)


def _warnings(evaluation: Evaluation) -> list[str]:
    notes = []
    if evaluation.unscored:
        shown = ", ".join(repr(k) for k in evaluation.unscored[:3])
        more = ", …" if len(evaluation.unscored) > 3 else ""
        notes.append(
            f"{len(evaluation.unscored):,} document(s) without predictions ({shown}{more}): "
            "scored as finding nothing"
        )
    labels = evaluation.scores.labels
    gold = {label for label, c in labels.items() if c.gold}
    predicted = {label for label, c in labels.items() if c.predicted}
    if gold and predicted and not gold & predicted:
        notes.append(
            f"no predicted label is a gold label (gold: {', '.join(sorted(gold))}; predicted: "
            f"{', '.join(sorted(predicted))}); is --label-map right (conll, none, a .json file)?"
        )
    return notes


@eval_command("entities")
@file_option(
    "--gold",
    'JSONL, one {"id": …, "text": …, "entities": [{"start", "end", "label"}]} per line.',
    required=True,
)
@click.option(
    "--label-map",
    default="none",
    show_default=True,
    metavar="conll|none|FILE.json",
    help="Rename labels before comparing: 'conll' maps spaCy labels to PER, ORG, LOC, MISC "
    "(and drops the rest), a .json file maps each label to a label or null.",
)
@file_option(
    "--config",
    "Predict with this pipeline's transform stages (readers, corpus stages and "
    "renderers are left out). Default: one entities stage.",
    metavar="CONFIG",
)
@file_option(
    "--predictions",
    "Score these predictions (JSONL like the gold file, e.g. render.jsonl output) "
    "instead of running a pipeline.",
)
@click.option(
    "--backend",
    type=click.Choice(["rules", "spacy", "auto"]),
    help="The entities stage's backend.",
)
@overrides_option(
    "With --config, override a config value as for pipeline run "
    "(stages.entities.model=...); without, an option of the entities stage (model=...)."
)
@json_option()
def entities_command(
    gold: Path,
    label_map: str,
    config: Path | None,
    predictions: Path | None,
    backend: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
) -> None:
    """Exact-span precision, recall and F1 of entities against a gold JSONL file.

    \b
    pipeline eval entities --gold valid_docs.jsonl --label-map conll --backend rules
    pipeline eval entities --gold gold.jsonl --config news.toml
    pipeline eval entities --gold gold.jsonl --predictions out/docs.jsonl
    """
    configure_logging("console")
    with user_errors():
        if predictions is not None and (config is not None or backend or overrides):
            raise ConfigError(
                "--predictions scores a file; --config, --backend and --set run a pipeline: "
                "give one or the other"
            )
        labels = LabelMap.load(label_map)
        if predictions is not None:
            evaluation = evaluate_file(gold, predictions, labels)
        else:
            evaluation = evaluate_pipeline(
                gold, labels, config, backend=backend, overrides=overrides
            )
    show(
        evaluation.as_dict(),
        as_json=as_json,
        tables=lambda console: print_evaluation(console, evaluation),
        notes=_warnings(evaluation),
    )
