"""``pipeline eval dedup``: pair precision, recall and F1 (and ARI) of deduplication.

This module owns the evaluation as the command runs it (:func:`evaluate`: options checked,
gold read, predictions read or predicted, one row of scores per run), its table and the
click command. The gold and predictions files are read in :mod:`docstage_eval.dedup_gold`,
a config is run in :mod:`docstage_eval.dedup_run`, and the scores are counted in
:mod:`docstage_eval.dedup_scores`.

Exports :data:`dedup_command`, the click command the ``eval`` group adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from docstage.cli_support import overrides_option, user_errors
from docstage.config import parse_override
from docstage.errors import ConfigError, display
from docstage.log import configure_logging
from docstage_eval.command import eval_command, file_option, json_option, show
from docstage_eval.dedup_gold import RELATIONS, Gold, Predictions, read_gold, read_predictions
from docstage_eval.dedup_run import Sweep, predict
from docstage_eval.dedup_scores import DedupScores, score

# --- evaluations ----------------------------------------------------------------------------


@attrs.frozen
class Result:
    """The scores of one run: the only one, or the run of one ``--sweep`` value."""

    scores: DedupScores
    value: str | None = None


@attrs.frozen(kw_only=True)
class Evaluation:
    """The gold file, what was compared with it, and the scores (one row per run)."""

    gold: Gold
    relation: str
    predictions: str
    results: tuple[Result, ...]
    sweep: Sweep | None = None

    def as_dict(self) -> dict[str, Any]:
        head = {
            "gold": display(self.gold.path),
            "format": self.gold.format,
            "relation": self.relation,
            "predictions": self.predictions,
        }
        if self.sweep is None:
            return {**head, **self.results[0].scores.as_dict()}
        rows = [
            {"value": parse_override(f"v={r.value}")[1], **r.scores.as_dict()} for r in self.results
        ]
        return {**head, "sweep": self.sweep.key, "results": rows}

    def notes(self) -> list[str]:
        """Warnings for stderr, each once."""
        notes: dict[str, None] = {}
        for result in self.results:
            s = result.scores
            for ids, what in (
                (s.unmatched, "match no predicted id"),
                (s.ambiguous, "end like several predicted ids"),
            ):
                if ids:
                    shown = ", ".join(repr(i) for i in ids[:3]) + (", …" if len(ids) > 3 else "")
                    fate = "singletons" if self.gold.kind == "clusters" else "not scored"
                    note = f"{len(ids):,} of {s.gold_ids:,} gold ids {what} ({shown}): {fate}"
                    notes[note] = None
            notes.update(dict.fromkeys(s.notes))
        return list(notes)


def evaluate(
    gold_path: Path,
    *,
    predictions: Path | None = None,
    config: Path | None = None,
    overrides: Sequence[str] = (),
    sweep: str | None = None,
    relation: str | None = None,
    cluster_key: str | None = None,
    plugins: Sequence[tuple[str, object]] = (),
) -> Evaluation:
    """Score a predictions file, or a config's run (one per ``sweep`` value), against gold.

    Args:
        relation: ``copies`` or ``stories``; default ``stories`` against clusters, else
            ``copies``.
        plugins: Extra ``(name, plugin)`` pairs for the config's runs.

    Raises:
        ConfigError: Conflicting or missing options, a bad config or ``--sweep``.
        DataError: A bad gold or predictions file; no id matches.
        RunError: A run failed.
    """
    if predictions is not None and (config is not None or overrides or sweep):
        raise ConfigError(
            "--predictions scores a file; --config, --set and --sweep run a pipeline: give "
            "one or the other"
        )
    if config is None:
        for option, given in (("--sweep", sweep), ("--set", overrides)):
            if given:
                raise ConfigError(f"{option} changes a pipeline's config: give --config CONFIG")
        if predictions is None:
            raise ConfigError(
                "nothing to score: give --predictions FILE.jsonl (render.jsonl output) or "
                "--config CONFIG"
            )
    parsed = Sweep.parse(sweep) if sweep is not None else None
    gold = read_gold(gold_path, cluster_key)
    chosen = relation or ("stories" if gold.kind == "clusters" else "copies")
    if predictions is not None:
        runs: Iterable[tuple[str | None, Predictions]] = [(None, read_predictions(predictions))]
    elif parsed is not None:
        assert config is not None
        runs = parsed.run(config, overrides, plugins)
    else:
        assert config is not None
        runs = [(None, predict(config, overrides, plugins=plugins))]
    results = []
    source = ""
    for value, found in runs:
        results.append(Result(score(gold, found, chosen), value))
        source = found.source
    return Evaluation(
        gold=gold, relation=chosen, predictions=source, results=tuple(results), sweep=parsed
    )


# --- the command ----------------------------------------------------------------------------


def print_evaluation(console: Console, evaluation: Evaluation) -> None:
    """Pair precision, recall, F1, ARI and cluster counts: one row per run."""
    gold = evaluation.gold
    first = evaluation.results[0].scores
    sweep = evaluation.sweep
    title = f"Dedup: {evaluation.relation} against {gold.format}, pairs after transitive closure"
    matched = f"{first.matched:,} of {first.gold_ids:,} ids matched"
    if first.by_suffix:
        matched += f", {first.by_suffix:,} by path ending"
    caption = [
        f"gold: {display(gold.path)} ({gold.format}; {matched})",
        f"predictions: {evaluation.predictions}",
        f"documents scored: {first.documents:,}",
    ]
    if sweep is not None:
        caption.append(f"sweep: {sweep.key}")
    table = Table(
        title=escape(title),
        title_justify="left",
        caption=escape("\n".join(caption)),
        caption_justify="left",
    )
    table.add_column(sweep.key.rpartition(".")[2] if sweep is not None else "relation")
    for column in ("precision", "recall", "F1", "ARI", "clusters", "gold clusters"):
        table.add_column(column, justify="right")
    for result in evaluation.results:
        s = result.scores
        cells = (
            result.value if result.value is not None else evaluation.relation,
            f"{s.pairs.precision:.3f}",
            f"{s.pairs.recall:.3f}",
            f"{s.pairs.f1:.3f}",
            f"{s.ari:.3f}" if s.ari is not None else "-",
            f"{s.predicted_clusters:,}",
            f"{s.gold_clusters:,}",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


@eval_command("dedup")
@file_option(
    "--gold",
    "Labelled pairs or clusters, recognised from the content: a TSV of pairs with a "
    "header (the first two columns are ids), a TSV of groups (the last header column, "
    'paths or ids, and the cells after it), JSONL pairs {"a", "b"} or JSONL clusters '
    '{"id", "cluster_id"}.',
    required=True,
)
@file_option(
    "--predictions",
    "Score these records (render.jsonl output: duplicates, duplicate_of, story_id) "
    "instead of running a pipeline.",
    metavar="FILE.jsonl",
)
@file_option(
    "--config",
    "Predict by running this pipeline's readers, transforms and corpus stages "
    "(renderers and report files are left out, the state store is a scratch one).",
    metavar="CONFIG",
)
@overrides_option("With --config, override a config value as for pipeline run. Repeatable.")
@click.option(
    "--sweep",
    metavar="KEY=V1,V2,…",
    help="With --config, run the pipeline once per value and print a row each, e.g. "
    "--sweep stages.dedup.threshold=0.6,0.7,0.8,0.9.",
)
@click.option(
    "--relation",
    type=click.Choice(RELATIONS),
    help="What a predicted cluster is: 'copies' (a survivor and its exact and near "
    "copies) or 'stories' (one story_id; a copy joins its original's story). Default: "
    "copies against pairs or groups, stories against clusters.",
)
@click.option(
    "--cluster-key",
    metavar="KEY",
    help="The cluster field of a JSONL clusters gold file.  [default: cluster_id]",
)
@json_option()
def dedup_command(
    gold: Path,
    predictions: Path | None,
    config: Path | None,
    overrides: tuple[str, ...],
    sweep: str | None,
    relation: str | None,
    cluster_key: str | None,
    as_json: bool,
) -> None:
    """Pair precision, recall and F1 (and ARI) of dedup against labelled pairs or clusters.

    Predicted and gold clusters are closed transitively before pairs are counted; against
    clusters the adjusted Rand index is given too. Gold ids match predicted ids exactly or
    by their ending after a '/' (raw/sci.space/61268 ~ sci.space/61268).

    \b
    pipeline eval dedup --gold near_duplicates_j080.tsv --predictions out/news.jsonl
    pipeline eval dedup --gold giveme5w1h.jsonl --config news.toml
    pipeline eval dedup --gold pairs.tsv --config news.toml \\
        --sweep stages.dedup.threshold=0.6,0.7,0.8,0.9
    """
    configure_logging("console")
    with user_errors():
        evaluation = evaluate(
            gold,
            predictions=predictions,
            config=config,
            overrides=overrides,
            sweep=sweep,
            relation=relation,
            cluster_key=cluster_key,
        )
    show(
        evaluation.as_dict(),
        as_json=as_json,
        tables=lambda console: print_evaluation(console, evaluation),
        notes=evaluation.notes(),
    )
