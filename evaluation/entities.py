"""``pipeline eval entities``: exact-span precision, recall and F1 of entity extraction.

Gold data is JSONL, one ``{"id": …, "text": …, "entities": [{"start", "end", "label"}]}``
per line (``id`` optional). The predictions come from running a pipeline's transform
stages on the gold texts (by default a pipeline of one ``entities`` stage), or from a
JSONL file of the same shape (``--predictions``; ``render.jsonl`` output qualifies). A
prediction counts only when its start, end and label (after the label map) equal a gold
span's; scores per label and overall are micro-averaged over all documents.

Exports :data:`entities_command`, the click command the ``eval`` group adds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from docstage.cli_support import overrides_option, user_errors
from docstage.config import Config, config_from_dict, load_config, parse_override
from docstage.document import Document
from docstage.errors import ConfigError, DataError, RunError, display
from docstage.log import configure_logging
from docstage.plan import Plan
from docstage.resolve import make_plan
from docstage_eval.command import eval_command, file_option, json_option, show
from docstage_eval.metrics import Counts, total
from docstage_eval.scratch import run_scratch

#: The stage that finds entities when no ``--config`` is given.
DEFAULT_STAGE = "entities"

#: spaCy (OntoNotes) labels -> CoNLL-2003 labels; the others are not CoNLL entities.
CONLL_LABELS: dict[str, str | None] = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}

#: A span: start, end, label.
Span = tuple[int, int, str]


# --- label maps ---------------------------------------------------------------------------


@attrs.frozen
class LabelMap:
    """Renames labels before spans are compared; a label mapped to None is dropped.

    A label the mapping does not name is kept when it is one of the mapping's targets
    (``PER`` in the CoNLL map, so gold data already in CoNLL labels passes through) and
    dropped otherwise. Without a mapping every label is kept as it is.
    """

    name: str
    mapping: Mapping[str, str | None] | None = None

    def __call__(self, label: str) -> str | None:
        if self.mapping is None:
            return label
        if label in self.mapping:
            return self.mapping[label]
        return label if label in set(self.mapping.values()) else None

    def apply(self, spans: Iterable[Span]) -> set[Span]:
        """The spans with their labels mapped, without the dropped ones."""
        mapped = set()
        for start, end, label in spans:
            target = self(label)
            if target is not None:
                mapped.add((start, end, target))
        return mapped

    @classmethod
    def load(cls, spec: str) -> LabelMap:
        """``conll``, ``none``, or a JSON file of ``{"LABEL": "TARGET" or null}``.

        Raises:
            DataError: The file is missing or not such an object.
        """
        if spec == "conll":
            return cls("conll", CONLL_LABELS)
        if spec == "none":
            return cls("none", None)
        path = Path(spec)
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "no such label map file"
            raise DataError(f"{what}; --label-map takes conll, none or a .json file", file=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the label map: {exc}", file=path) from None
        if not isinstance(data, dict) or not all(
            isinstance(v, str) or v is None for v in data.values()
        ):
            raise DataError(
                "expected a JSON object mapping labels to labels (or null to drop one), e.g. "
                '{"PERSON": "PER", "DATE": null}',
                file=path,
            )
        return cls(display(path), data)


# --- scores -------------------------------------------------------------------------------


def _as_dict(counts: Counts) -> dict[str, Any]:
    """One label's (or all labels') scores and counts, as the JSON shows them."""
    return {
        **counts.scores(),
        "support": counts.gold,
        "predicted": counts.predicted,
        "tp": counts.tp,
        "fp": counts.fp,
        "fn": counts.fn,
    }


@attrs.define
class EntityScores:
    """Exact-span counts per label over a set of documents; ``overall`` is their sum."""

    labels: dict[str, Counts] = attrs.Factory(dict)
    documents: int = 0

    def add(self, gold: Iterable[Span], predicted: Iterable[Span]) -> None:
        """Score one document: a predicted span is right only if start, end and label match."""
        gold_set, predicted_set = set(gold), set(predicted)
        for spans, one in (
            (gold_set & predicted_set, Counts(tp=1)),
            (predicted_set - gold_set, Counts(fp=1)),
            (gold_set - predicted_set, Counts(fn=1)),
        ):
            for _, _, label in spans:
                self.labels[label] = self.labels.get(label, Counts()) + one
        self.documents += 1

    @property
    def overall(self) -> Counts:
        """The labels' counts summed (the micro average)."""
        return total(self.labels.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "labels": {label: _as_dict(self.labels[label]) for label in sorted(self.labels)},
            "overall": _as_dict(self.overall),
        }


def score(pairs: Iterable[tuple[Iterable[Span], Iterable[Span]]], labels: LabelMap) -> EntityScores:
    """Score ``(gold, predicted)`` span pairs, one per document, after mapping labels."""
    scores = EntityScores()
    for gold, predicted in pairs:
        scores.add(labels.apply(gold), labels.apply(predicted))
    return scores


# --- reading JSONL ------------------------------------------------------------------------


@attrs.frozen
class Record:
    """One line of a gold or predictions file."""

    line: int
    id: str | None
    text: str
    spans: frozenset[Span]
    source: str = ""


def _check_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise DataError(f"is a folder; give the {what} .jsonl file", file=path)
    if not path.exists():
        raise DataError(f"no such {what} file", file=path)


def read_records(
    path: Path, *, what: str = "gold", entities_required: bool = True
) -> Iterator[Record]:
    """The records of a JSONL file, checked: JSON objects with ``text`` and valid spans.

    Raises:
        DataError: Naming the file and line of the first bad record.
    """
    _check_file(path, what)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; bytes to name a bad line
    except OSError as exc:
        raise DataError(f"cannot read the {what} file: {exc.strerror}", file=path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8: {exc.reason}", file=path, line=number) from None
            if line.strip():
                yield _record(line.rstrip("\r\n"), path, number, entities_required)


def _record(line: str, path: Path, number: int, entities_required: bool) -> Record:
    def fail(message: str) -> DataError:
        return DataError(message, file=path, line=number)

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise fail(f"expected a JSON object, got {type(data).__name__}")
    text = data.get("text")
    if "text" not in data:
        raise fail("missing field 'text'")
    if not isinstance(text, str):
        raise fail("field 'text' must be a string")
    ident = data.get("id")
    if ident is not None and (not isinstance(ident, (str, int)) or isinstance(ident, bool)):
        raise fail("field 'id' must be a string")
    if "entities" not in data and entities_required:
        raise fail("missing field 'entities'")
    entities = data.get("entities", [])
    if not isinstance(entities, list):
        raise fail("field 'entities' must be a list")
    spans = set()
    for position, entity in enumerate(entities, start=1):
        where = f"entities[{position}]"
        if not isinstance(entity, dict):
            raise fail(f"{where} must be an object with start, end and label")
        for key in ("start", "end", "label"):
            if key not in entity:
                raise fail(f"{where}: missing field '{key}'")
        start, end, label = entity["start"], entity["end"], entity["label"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise fail(f"{where}: start and end must be integers")
        if not isinstance(label, str) or not label:
            raise fail(f"{where}: label must be a non-empty string")
        if not 0 <= start < end <= len(text):
            raise fail(
                f"{where}: offsets {start}..{end} outside the text (length {len(text)}) or empty"
            )
        said = entity.get("text")
        if isinstance(said, str) and said != text[start:end]:
            raise fail(
                f"{where}: text {said!r} differs from the text at {start}..{end} "
                f"({text[start:end]!r}); offsets are character offsets into 'text'"
            )
        spans.add((start, end, label))
    source = data.get("source")
    return Record(
        line=number,
        id=str(ident) if ident is not None else None,
        text=text,
        spans=frozenset(spans),
        source=source if isinstance(source, str) else "",
    )


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@attrs.frozen
class _Gold:
    line: int
    spans: frozenset[Span]
    digest: bytes


@attrs.frozen
class GoldIndex:
    """The gold spans of every document by key, without the texts (only their digests).

    Keys are the records' ids when every record has one, else ``line-N``.
    """

    path: Path
    by_id: bool
    entries: dict[str, _Gold]

    @classmethod
    def read(cls, path: Path) -> GoldIndex:
        records = list(_strip_text(read_records(path)))
        if not records:
            raise DataError("the gold file has no records", file=path)
        by_id = all(r.id is not None for r, _ in records)
        entries: dict[str, _Gold] = {}
        for record, digest in records:
            key = record.id if by_id and record.id is not None else f"line-{record.line}"
            if key in entries:
                raise DataError(
                    f"duplicate id {key!r} (first on line {entries[key].line})",
                    file=path,
                    line=record.line,
                )
            entries[key] = _Gold(record.line, record.spans, digest)
        return cls(path, by_id, entries)

    def documents(self) -> Iterator[Document]:
        """The gold texts as documents (read again from the file), keyed like the index."""
        for record in read_records(self.path):
            key = record.id if self.by_id and record.id is not None else f"line-{record.line}"
            yield Document(
                id=key,
                text=record.text,
                source=record.source,
                metadata={"path": display(self.path), "line": record.line},
            )


def _strip_text(records: Iterable[Record]) -> Iterator[tuple[Record, bytes]]:
    for record in records:
        yield attrs.evolve(record, text=""), _digest(record.text)


# --- predictions --------------------------------------------------------------------------


@attrs.define
class Evaluation:
    """Scores, where the predictions came from, and the documents left without any."""

    scores: EntityScores
    gold: Path
    label_map: str
    predictions: str
    unscored: list[str] = attrs.Factory(list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gold": display(self.gold),
            "label_map": self.label_map,
            "predictions": self.predictions,
            "without_predictions": len(self.unscored),
            **self.scores.as_dict(),
        }


def evaluate_file(gold: Path, predictions: Path, labels: LabelMap) -> Evaluation:
    """Score a predictions JSONL file against the gold file.

    Records are matched by ``id`` when every gold record has one, else by position. A
    prediction whose text differs from its gold text cannot be scored and is an error.
    """
    index = GoldIndex.read(gold)
    keys = list(index.entries)
    found: dict[str, frozenset[Span]] = {}
    for position, record in enumerate(
        read_records(predictions, what="predictions", entities_required=False)
    ):
        if index.by_id:
            if record.id is None:
                raise DataError(
                    "missing field 'id': the gold records have ids, so predictions are "
                    "matched by id",
                    file=predictions,
                    line=record.line,
                )
            key = record.id
            if key not in index.entries:
                raise DataError(
                    f"id {key!r} is not in the gold file", file=predictions, line=record.line
                )
        else:
            if position >= len(keys):
                raise DataError(
                    f"more records than the gold file's {len(keys)}; without ids, records "
                    "are matched by position",
                    file=predictions,
                    line=record.line,
                )
            key = keys[position]
        if key in found:
            raise DataError(f"a second prediction for {key!r}", file=predictions, line=record.line)
        entry = index.entries[key]
        if _digest(record.text) != entry.digest:
            raise DataError(
                f"the text of {key!r} differs from the gold text (gold line {entry.line}); "
                "spans in different texts cannot be compared",
                file=predictions,
                line=record.line,
            )
        found[key] = record.spans
    scores = EntityScores()
    unscored = []
    for key, entry in index.entries.items():
        predicted = found.get(key)
        if predicted is None:
            unscored.append(key)
        scores.add(labels.apply(entry.spans), labels.apply(predicted or ()))
    return Evaluation(scores, gold, labels.name, display(predictions), unscored)


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
            if _digest(doc.text) != entry.digest:
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


# --- the command --------------------------------------------------------------------------


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
