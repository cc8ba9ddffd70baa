"""``pipeline eval stories``: stories replayed a day at a time, against one batch run.

A dated corpus with gold stories (:mod:`docstage_eval.stories_replay` reads it and runs
the pipeline) goes through the real runner and ``dedup`` stage twice, each time against
a fresh state store: all of it in one run, and a publication day at a time, one run per
day with one state store (:func:`replay`). Both are scored against the gold stories with
``pipeline eval dedup``'s pair counts and ARI (a copy joins its original's story; the
replay's ids resolved through the merges the store recorded), and against each other.
The replay also checks the story index's promise: a document's story id changes only
through a recorded merge, and a ``story_docs`` row never changes once written.

Exports :data:`stories_command`, the click command the ``eval`` group adds.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.progress import Progress

from docstage.cli_support import overrides_option, user_errors
from docstage.document import DUPLICATE_OF, STORY_ID
from docstage.errors import RunError, display
from docstage.log import configure_logging, log_console
from docstage.tables import Column, Grid, print_grid, print_lines
from docstage_eval.command import eval_command, file_option, json_option, show
from docstage_eval.dedup_gold import Gold, Predictions
from docstage_eval.dedup_scores import DedupScores, score
from docstage_eval.stories_replay import FIELDS, Corpus, RunOutput, Runs, read_corpus
from docstage_eval.stories_replay import read_story_state as read_state

#: The replay's state store, in the scratch folder (the batch run has its own).
STATE = "replay.sqlite"

# --- the two ways through the corpus --------------------------------------------------------


def _predictions(
    source: str, outputs: Iterable[RunOutput], story: Callable[[str], str]
) -> Predictions:
    """The runs' records and copies as predictions, each story id passed through
    ``story``; a copy dropped against an earlier run's original joins its story."""
    found = Predictions(source)
    for output in outputs:
        for record in output.records:
            if STORY_ID.name in record:
                record = {**record, STORY_ID.name: story(record[STORY_ID.name])}
            found.add(record)
        for copy in output.copies:
            found.add({"id": copy["id"], DUPLICATE_OF.name: copy["original"]})
        found.skipped += output.errors
    return found


@attrs.frozen(kw_only=True)
class Replay:
    """What a day-by-day replay predicted, and whether its story ids kept their promise.

    Attributes:
        predictions: The documents with their final story (the day's id resolved).
        runs: Runs, one per day.
        merges: Merges the state store recorded.
        assigned: Documents given a story id on their day.
        by_merge: Those whose id changed since, through recorded merges.
        unexplained: Those whose id changed otherwise (their ids).
        rewritten: Documents whose ``story_docs`` row changed once written (their ids).
    """

    predictions: Predictions
    runs: int
    merges: int
    assigned: int
    by_merge: int
    unexplained: tuple[str, ...]
    rewritten: tuple[str, ...]


def replay(corpus: Corpus, runs: Runs, on_run: Callable[[str], None]) -> Replay:
    """Run the corpus a day at a time against one fresh state store (``on_run`` is told
    of each run before it starts) and check what became of each day's story ids."""
    outputs: list[RunOutput] = []
    assigned: dict[str, str] = {}  # each document's story id on its day
    written: dict[str, str] = {}  # each story_docs row as first written
    rewritten: dict[str, None] = {}
    days = corpus.days()
    for number, (day, articles) in enumerate(days, start=1):
        on_run(f"day {number:,} of {len(days):,}" + (f" ({day})" if day else ""))
        output = runs.run(f"day-{number:04d}", articles, state=STATE)
        outputs.append(output)
        for record in output.records:
            if STORY_ID.name in record:
                assigned[str(record["id"])] = str(record[STORY_ID.name])
        state = read_state(runs.folder / STATE)
        if assigned and not state.docs:
            raise RunError(
                "the replay's state store holds no story index (story_docs): the replay "
                "needs dedup's index = true and stories = true"
            )
        for ident, story in state.docs.items():
            if written.setdefault(ident, story) != story:
                rewritten[ident] = None
    final = read_state(runs.folder / STATE)
    unexplained: list[str] = []
    by_merge = 0
    for ident, story in assigned.items():
        now = final.resolve(final.docs.get(ident, story))
        if final.resolve(story, recorded=True) != now:
            unexplained.append(ident)
        elif now != story:
            by_merge += 1
    return Replay(
        predictions=_predictions(f"{len(days)} runs", outputs, final.resolve),
        runs=len(days),
        merges=len(final.merges),
        assigned=len(assigned),
        by_merge=by_merge,
        unexplained=tuple(unexplained),
        rewritten=tuple(rewritten),
    )


# --- the evaluation -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Evaluation:
    """Both ways through the corpus, scored against the gold stories and each other.

    Attributes:
        agreement: The ARI between the replay's stories and the batch run's.
        seconds: Wall-clock seconds of the batch run and of the replay.
    """

    corpus: Corpus
    overrides: tuple[str, ...]
    batch: DedupScores
    replay: DedupScores
    agreement: float
    facts: Replay
    seconds: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "gold": display(self.corpus.path),
            "documents": len(self.corpus.articles),
            "days": facts.runs,
            "undated": self.corpus.undated,
            "overrides": list(self.overrides),
            "batch": {**self.batch.as_dict(), "runs": 1, "seconds": round(self.seconds[0], 1)},
            "replay": {
                **self.replay.as_dict(),
                "runs": facts.runs,
                "seconds": round(self.seconds[1], 1),
                "merges": facts.merges,
                "assigned": facts.assigned,
                "changed_by_merge": facts.by_merge,
                "changed_without_merge": len(facts.unexplained),
                "rows_rewritten": len(facts.rewritten),
            },
            "replay_vs_batch_ari": round(self.agreement, 4),
        }

    def notes(self) -> list[str]:
        """Warnings for stderr, each once."""
        notes: dict[str, None] = {}
        days = self.corpus.days()
        if self.corpus.undated:
            first = f" ({days[0][0]})" if days[0][0] else ""
            note = f"document(s) without a date: replayed on the first day{first}"
            notes[f"{self.corpus.undated:,} {note}"] = None
        for ids, what in (
            (self.facts.unexplained, "changed their story id without a recorded merge"),
            (self.facts.rewritten, "had their story_docs row rewritten"),
        ):
            if ids:
                shown = ", ".join(repr(i) for i in ids[:3]) + (", …" if len(ids) > 3 else "")
                notes[f"{len(ids):,} document(s) {what} ({shown})"] = None
        for scores in (self.batch, self.replay):
            if scores.unmatched:
                note = "document(s) did not come out of the pipeline: singletons"
                notes[f"{len(scores.unmatched):,} {note}"] = None
            notes.update(dict.fromkeys(scores.notes))
        return list(notes)


@contextlib.contextmanager
def _progress(shown: bool, total: int) -> Iterator[Callable[[str], None]]:
    """A bar of the runs on stderr when ``shown``; yields what to call before each run."""
    if not shown:
        yield lambda what: None
        return
    with Progress(console=log_console(), transient=True) as bar:
        task = bar.add_task("stories", total=total)
        done = 0

        def started(what: str) -> None:
            nonlocal done
            bar.update(task, completed=done, description=f"stories: {what}")
            done += 1

        yield started


def evaluate(
    gold: Path,
    *,
    fields: dict[str, str] | None = None,
    overrides: Sequence[str] = (),
    progress: bool = False,
) -> Evaluation:
    """Run the corpus in ``gold`` in one batch and a day at a time, and score both.

    Args:
        fields: Record keys by what they hold (see :data:`~.stories_replay.FIELDS`).
        overrides: ``--set`` values for the pipeline's config.
        progress: Show a bar of the runs on stderr.

    Raises:
        DataError: A bad corpus file.
        ConfigError: A bad ``--set``.
        RunError: A run failed.
    """
    corpus = read_corpus(gold, fields)
    truth = Gold(gold, "clusters", {a.id: a.gold for a in corpus.articles})
    with tempfile.TemporaryDirectory(prefix="docstage-eval-") as folder:
        runs = Runs(Path(folder), overrides)
        runs.prepare()
        with _progress(progress, 1 + len(corpus.days())) as started:
            start = time.perf_counter()
            started("one run")
            one = runs.run("batch", corpus.articles, state="batch.sqlite")
            batch = _predictions("one run", [one], lambda story: story)
            middle = time.perf_counter()
            facts = replay(corpus, runs, started)
            end = time.perf_counter()
    both = Gold(gold, "clusters", batch.clusters("stories"))
    return Evaluation(
        corpus=corpus,
        overrides=tuple(overrides),
        batch=score(truth, batch, "stories"),
        replay=score(truth, facts.predictions, "stories"),
        agreement=score(both, facts.predictions, "stories").ari or 0.0,
        facts=facts,
        seconds=(middle - start, end - middle),
    )


# --- the command ----------------------------------------------------------------------------


def print_evaluation(console: Console, evaluation: Evaluation) -> None:
    """One row each for the batch run and the replay, then what became of the ids."""
    facts = evaluation.facts
    corpus = evaluation.corpus
    days = corpus.days()
    span = f": {days[0][0]} to {days[-1][0]}" if days[0][0] else ""
    columns = ("runs", "precision", "recall", "F1", "ARI", "stories", "gold", "seconds")
    rows = []
    for name, runs, s, seconds in (
        ("one run", 1, evaluation.batch, evaluation.seconds[0]),
        ("by day", facts.runs, evaluation.replay, evaluation.seconds[1]),
    ):
        cells = (f"{runs:,}", f"{s.pairs.precision:.3f}", f"{s.pairs.recall:.3f}")
        ari = f"{s.ari:.3f}" if s.ari is not None else "-"
        more = (f"{s.predicted_clusters:,}", f"{s.gold_clusters:,}", f"{seconds:.1f}")
        rows.append((name, *cells, f"{s.pairs.f1:.3f}", ari, *more))
    grid = Grid.of([Column(""), *(Column(c, right=True) for c in columns)], rows)
    title = "Stories: one run, and a day at a time (pairs after transitive closure)"
    print_grid(console, grid, title=title)
    lines = [
        f"gold: {display(corpus.path)} ({len(corpus.articles):,} documents, "
        f"{facts.runs:,} days{span})",
        "stories, gold: stories of two or more documents",
        f"by day against one run: ARI {evaluation.agreement:.3f}",
        f"merges recorded: {facts.merges:,}",
        f"story ids given on their day: {facts.assigned:,}; changed through a recorded "
        f"merge: {facts.by_merge:,}; without one: {len(facts.unexplained):,}",
        f"story_docs rows rewritten: {len(facts.rewritten):,}",
    ]
    if evaluation.overrides:
        lines.append("--set " + " --set ".join(evaluation.overrides))
    print_lines(console, lines)


def _field_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for what, default in reversed(FIELDS.items()):
        role = "gold story" if what == "gold" else what
        command = click.option(
            f"--{what}-field",
            default=default,
            show_default=True,
            metavar="KEY",
            help=f"The record key of a document's {role}.",
        )(command)
    return command


@eval_command("stories")
@file_option(
    "--gold",
    "The corpus: one JSON object per document with its id, source, date (ISO 8601), "
    "title, text and gold story (the keys below). A document without a date is replayed "
    "on the first day; without a source it takes the file's name.",
    metavar="FILE.jsonl",
    required=True,
)
@_field_options
@overrides_option(
    "Override a value of the pipeline run (read.jsonl, dedup, render.jsonl), e.g. "
    "stages.dedup.story_threshold=0.4. Repeatable."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a bar of the runs on stderr (default: only on a terminal).",
)
@json_option()
def stories_command(
    gold: Path,
    id_field: str,
    source_field: str,
    date_field: str,
    title_field: str,
    text_field: str,
    gold_field: str,
    overrides: tuple[str, ...],
    progress: bool | None,
    as_json: bool,
) -> None:
    """Stories of a corpus replayed a publication day at a time, against one run.

    Runs read.jsonl, dedup and render.jsonl on the corpus twice, each time with a fresh
    state store: once over all documents, and once a day at a time (one run per day,
    one state store). Both are scored against the gold stories (pair precision, recall,
    F1, ARI; a dropped copy joins its original's story, the replay's ids are resolved
    through the merges recorded), and against each other. Counts the story ids given on
    a day that changed later without a recorded merge.

    \b
    pipeline eval stories --gold giveme5w1h.jsonl
    pipeline eval stories --gold news.jsonl --date-field published \\
        --set stages.dedup.story_threshold=0.4
    """
    configure_logging("console")
    fields = {
        "id": id_field,
        "source": source_field,
        "date": date_field,
        "title": title_field,
        "text": text_field,
        "gold": gold_field,
    }
    shown = progress if progress is not None else log_console().is_terminal
    with user_errors():
        evaluation = evaluate(gold, fields=fields, overrides=overrides, progress=shown)
    show(
        evaluation.as_dict(),
        as_json=as_json,
        tables=lambda console: print_evaluation(console, evaluation),
        notes=evaluation.notes(),
    )
