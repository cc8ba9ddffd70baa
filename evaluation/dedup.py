"""``pipeline eval dedup``: pair precision, recall and F1 (and ARI) of deduplication.

The gold file says which documents belong together, as pairs (a TSV with a header whose
first two columns are ids; JSONL ``{"a", "b"}``), groups (a TSV whose last header column
is ``paths…`` or ``ids…``: it and the cells after it hold one group's ids) or clusters
(JSONL ``{"id", "cluster_id"}``). Predictions are ``render.jsonl`` records
(``--predictions``) or the documents a config's readers, transforms and corpus stages
put out (``--config``, once per ``--sweep`` value). Both sides are closed transitively,
and pairs are counted per cluster intersection, never enumerated.

Against pairs every predicted document is scored (one the gold does not name is alone in
the gold); against clusters every gold document is (one without a prediction is alone in
the predictions), and the adjusted Rand index is reported too.

Exports :data:`dedup_command`, the click command the ``eval`` group adds.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
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
from docstage.config import load_config, parse_override
from docstage.document import DUPLICATE_OF, DUPLICATES, STORY_ID, Document, to_jsonable
from docstage.errors import ConfigError, DataError, RunError, display
from docstage.log import configure_logging
from docstage.resolve import make_plan
from docstage.unionfind import UnionFind
from docstage_eval.command import eval_command, file_option, json_option, show
from docstage_eval.metrics import Counts
from docstage_eval.scratch import run_scratch

#: What a predicted cluster is: copies of one survivor, or documents of one story.
RELATIONS = ("copies", "stories")
#: A TSV whose last header column starts so lists groups, not pairs.
GROUP_COLUMNS = ("paths", "ids")
UNRECOGNISED = (
    "unrecognised gold format: expected a TSV with a header (pairs: ID_A<TAB>ID_B…; groups: "
    '…<TAB>paths), JSONL pairs {"a": …, "b": …} or JSONL clusters {"id": …, "cluster_id": …}'
)


# --- the gold file --------------------------------------------------------------------------


@attrs.frozen
class Gold:
    """A gold file: every id it names, with its cluster after the transitive closure.

    Attributes:
        format: ``pairs``, ``groups`` or ``clusters``.
    """

    path: Path
    format: str
    clusters: Mapping[str, str]

    @property
    def kind(self) -> str:
        """``clusters`` (a closed set of documents, ARI too) or ``pairs``."""
        return "clusters" if self.format == "clusters" else "pairs"


def _lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a UTF-8 file, with their numbers."""
    if path.is_dir():
        raise DataError(f"is a folder; give the {what} file", file=path)
    if not path.exists():
        raise DataError(f"no such {what} file", file=path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; bytes to name a bad line
    except OSError as exc:
        raise DataError(f"cannot read the {what} file: {exc.strerror}", file=path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8: {exc.reason}", file=path, line=number) from None
            if line.strip():
                yield number, line


def _ident(value: Any, field: str) -> str:
    """An id (or cluster, story) read from JSON; raises ValueError naming the field."""
    if value is None:
        raise ValueError(f"missing field '{field}'")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"field '{field}' must be a string or an integer")
    return str(value)


def _object(line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def read_gold(path: Path, cluster_key: str | None = None) -> Gold:
    """Read a gold file of pairs, groups or clusters, recognised from its content.

    Args:
        path: The file.
        cluster_key: The cluster field of JSONL clusters (default ``cluster_id``).

    Raises:
        DataError: Missing or unreadable, an unrecognised format, a bad line.
    """
    lines = _lines(path, "gold")
    first = next(lines, None)
    if first is None:
        raise DataError("the gold file has no records", file=path)
    number, header = first
    try:
        if header.lstrip().startswith("{"):
            gold = _read_jsonl(path, itertools.chain([first], lines), cluster_key)
        elif "\t" in header:
            gold = _read_tsv(path, header, lines)
        else:
            raise DataError(UNRECOGNISED, file=path, line=number)
    except _LineError as exc:
        raise DataError(str(exc), file=path, line=exc.line) from None
    if cluster_key is not None and gold.kind != "clusters":
        raise DataError(f"--cluster-key applies to JSONL clusters; this file holds {gold.format}")
    return gold


class _LineError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _read_tsv(path: Path, header: str, lines: Iterator[tuple[int, str]]) -> Gold:
    columns = header.split("\t")
    groups = columns[-1].strip().lower().startswith(GROUP_COLUMNS)
    start = len(columns) - 1 if groups else 0
    sets: UnionFind[str] = UnionFind()
    for number, line in lines:
        cells = [cell.strip() for cell in line.split("\t")]
        if groups:
            members = [cell for cell in cells[start:] if cell]
            if not members:
                raise _LineError(f"no ids from column {start + 1} ('{columns[-1]}') on", number)
        else:
            members = cells[:2]
            if len(members) < 2 or not all(members):
                raise _LineError("expected two ids separated by a tab", number)
        for member in members:
            sets.union(members[0], member)
    clusters = sets.roots()
    if not clusters:
        raise DataError("the gold file has no records after its header", file=path)
    return Gold(path, "groups" if groups else "pairs", clusters)


def _read_jsonl(path: Path, lines: Iterable[tuple[int, str]], cluster_key: str | None) -> Gold:
    key = cluster_key or "cluster_id"
    pairs: bool | None = None
    sets: UnionFind[str] = UnionFind()
    clusters: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, line in lines:
        try:
            record = _object(line)
            if pairs is None:
                if "a" in record and "b" in record:
                    pairs = True
                elif "id" in record and key in record:
                    pairs = False
                elif "id" in record:
                    raise ValueError(
                        f"missing field '{key}' (the document's cluster; another field: "
                        "--cluster-key KEY)"
                    )
                else:
                    raise ValueError(UNRECOGNISED)
            if pairs:
                sets.union(_ident(record.get("a"), "a"), _ident(record.get("b"), "b"))
                continue
            ident = _ident(record.get("id"), "id")
            if ident in seen:
                raise ValueError(f"duplicate id {ident!r} (first on line {seen[ident]})")
            seen[ident] = number
            clusters[ident] = _ident(record.get(key), key)
        except ValueError as exc:
            raise _LineError(str(exc), number) from None
    return Gold(path, "pairs", sets.roots()) if pairs else Gold(path, "clusters", clusters)


# --- predictions --------------------------------------------------------------------------


@attrs.define
class Predictions:
    """What a dedup run said: the documents it knows, its copy links and story ids.

    Attributes:
        source: Where the predictions came from, as shown to users.
        ids: Every document named: records, and the copies they list (in order).
        copies: The ``duplicates`` and ``duplicate_of`` links.
        stories: Each document's ``story_id``, when it has one.
        skipped: Documents a stage failed on (a ``--config`` run), absent from ``ids``.
    """

    source: str
    ids: dict[str, None] = attrs.Factory(dict)
    copies: UnionFind[str] = attrs.Factory(UnionFind)
    stories: dict[str, str] = attrs.Factory(dict)
    skipped: int = 0

    def add(self, record: Mapping[str, Any]) -> str:
        """Add one JSONL record; return its id. Raises ValueError for a malformed one."""
        ident = _ident(record.get("id"), "id")
        self.ids.setdefault(ident)
        self.copies.add(ident)
        for field in (DUPLICATES.name, DUPLICATE_OF.name):
            value = record.get(field)
            entries = [value] if isinstance(value, dict) else value or []
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError(f"field '{field}' must be an object or a list of objects")
            for entry in entries:
                other = _ident(entry.get("id"), f"{field}[].id")
                self.ids.setdefault(other)
                self.copies.union(ident, other)
        story = record.get(STORY_ID.name)
        if story is not None:
            self.stories[ident] = _ident(story, STORY_ID.name)
        return ident

    def clusters(self, relation: str) -> dict[str, str]:
        """Each document's predicted cluster: its copies, or its story (a copy joins its
        original's story, since a dropped copy carries no story id of its own)."""
        if relation == "copies":
            return {ident: self.copies.find(ident) for ident in self.ids}
        stories: UnionFind[str] = UnionFind()
        first: dict[str, str] = {}
        for ident, story in self.stories.items():
            stories.union(first.setdefault(story, ident), ident)
        for ident in self.ids:
            stories.union(self.copies.find(ident), ident)
        return {ident: stories.find(ident) for ident in self.ids}


def read_predictions(path: Path) -> Predictions:
    """Read ``render.jsonl`` records: ``id``, ``duplicates``, ``duplicate_of``, ``story_id``.

    Raises:
        DataError: Naming the file and line of the first bad record.
    """
    predictions = Predictions(display(path))
    seen: dict[str, int] = {}
    for number, line in _lines(path, "predictions"):
        try:
            ident = predictions.add(_object(line))
            if ident in seen:
                raise ValueError(f"a second record for {ident!r} (first on line {seen[ident]})")
        except ValueError as exc:
            raise DataError(str(exc), file=path, line=number) from None
        seen[ident] = number
    if not predictions.ids:
        raise DataError("the predictions file has no records", file=path)
    return predictions


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
    plan = make_plan(load_config(config, overrides))
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


# --- scores ---------------------------------------------------------------------------------


@attrs.frozen
class Matching:
    """Gold ids matched to predicted ids: exactly, or by the path ending (``/`` bounded)."""

    to_predicted: Mapping[str, str]
    by_suffix: int
    ambiguous: tuple[str, ...]


def _tails(ident: str) -> list[str]:
    parts = ident.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def match_ids(gold: Iterable[str], predicted: Iterable[str]) -> Matching:
    """Match each gold id to the predicted id it equals, else to the one predicted id that
    ends with it or that it ends with (``raw/a/1`` ~ ``a/1``); unmatched when several fit."""
    known = set(predicted)
    endings: dict[str, list[str]] = {}
    for ident in known:
        for tail in _tails(ident)[1:]:
            endings.setdefault(tail, []).append(ident)
    exact: dict[str, str] = {}
    guessed: dict[str, str] = {}
    ambiguous: list[str] = []
    for ident in gold:
        if ident in known:
            exact[ident] = ident
            continue
        found = {*endings.get(ident, ()), *(t for t in _tails(ident)[1:] if t in known)}
        if len(found) == 1:
            guessed[ident] = found.pop()
        elif found:
            ambiguous.append(ident)
    claims = Counter([*exact.values(), *guessed.values()])
    for ident, target in list(guessed.items()):
        if claims[target] > 1:  # two gold ids end like one predicted id
            del guessed[ident]
            ambiguous.append(ident)
    return Matching({**exact, **guessed}, len(guessed), tuple(ambiguous))


def _numbered(labels: Iterable[str | None]) -> list[int]:
    """Cluster labels as numbers; each None is a cluster of its own."""
    numbers: dict[str, int] = {}
    found: list[int] = []
    for label in labels:
        found.append(-1 - len(found) if label is None else numbers.setdefault(label, len(numbers)))
    return found


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


@attrs.frozen(kw_only=True)
class DedupScores:
    """Pair counts (after the transitive closure), ARI against clusters, and coverage.

    Attributes:
        pairs: True pairs (tp), predicted-only (fp) and gold-only (fn) pairs.
        ari: The adjusted Rand index over the gold documents; None against pairs.
        documents: Documents scored.
        predicted_clusters: Predicted clusters of two or more scored documents.
        gold_clusters: Gold clusters of two or more scored documents.
        gold_ids: Ids the gold file names.
        matched: Gold ids matched to a predicted id, ``by_suffix`` of them by path ending.
        unmatched: Gold ids without a predicted document; ``ambiguous`` had several.
        notes: Warnings for the user.
    """

    pairs: Counts
    ari: float | None
    documents: int
    predicted_clusters: int
    gold_clusters: int
    gold_ids: int
    matched: int
    by_suffix: int
    unmatched: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        pairs = self.pairs
        return {
            **pairs.scores(),
            "ari": round(self.ari, 4) if self.ari is not None else None,
            "documents": self.documents,
            "predicted_clusters": self.predicted_clusters,
            "gold_clusters": self.gold_clusters,
            "true_pairs": pairs.tp,
            "predicted_pairs": pairs.predicted,
            "gold_pairs": pairs.gold,
            "gold_ids": self.gold_ids,
            "matched": self.matched,
            "matched_by_suffix": self.by_suffix,
        }


def score(gold: Gold, predictions: Predictions, relation: str) -> DedupScores:
    """Score ``predictions`` (clustered by ``relation``) against ``gold``.

    Raises:
        DataError: No gold id matches a predicted id.
    """
    matching = match_ids(gold.clusters, predictions.ids)
    found = matching.to_predicted
    if not found:
        first_predicted = next(iter(predictions.ids), None)
        raise DataError(
            f"no gold id matches a predicted id (first gold id {next(iter(gold.clusters))!r}, "
            f"first predicted id {first_predicted!r}); ids match exactly or by their ending "
            "after a '/'",
            file=gold.path,
        )
    predicted = predictions.clusters(relation)
    truth: list[str | None]
    if gold.kind == "clusters":
        truth = list(gold.clusters.values())
        guess = [predicted[found[g]] if g in found else None for g in gold.clusters]
    else:
        back = {p: g for g, p in found.items()}
        truth = [gold.clusters[back[p]] if p in back else None for p in predictions.ids]
        guess = list(predicted.values())
    ours, theirs = _numbered(guess), _numbered(truth)
    sizes_ours, sizes_theirs = Counter(ours), Counter(theirs)
    tp = _pairs(Counter(zip(ours, theirs, strict=True)).values())
    ari = None
    if gold.kind == "clusters":
        from sklearn.metrics import adjusted_rand_score

        ari = float(adjusted_rand_score(theirs, ours))
    notes = []
    if relation == "stories" and not predictions.stories:
        notes.append("no predicted document has a story_id: each copy group is a story")
    if predictions.skipped:
        notes.append(f"{predictions.skipped:,} document(s) a stage failed on were skipped")
    ambiguous = set(matching.ambiguous)
    return DedupScores(
        pairs=Counts.of(tp, _pairs(sizes_ours.values()), _pairs(sizes_theirs.values())),
        ari=ari,
        documents=len(ours),
        predicted_clusters=sum(1 for n in sizes_ours.values() if n > 1),
        gold_clusters=sum(1 for n in sizes_theirs.values() if n > 1),
        gold_ids=len(gold.clusters),
        matched=len(found),
        by_suffix=matching.by_suffix,
        unmatched=tuple(g for g in gold.clusters if g not in found and g not in ambiguous),
        ambiguous=matching.ambiguous,
        notes=tuple(notes),
    )


# --- evaluations ----------------------------------------------------------------------------


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
