"""The runs of ``pipeline eval stories``: a dated corpus, its days, and real pipeline runs.

:func:`read_corpus` reads the corpus file (a JSONL record per article: id, source, date,
title, text and gold story, under field names the user may change) and
:meth:`Corpus.days` splits it into publication days. :class:`Runs` runs a ``read.jsonl``
→ ``dedup`` → ``render.jsonl`` pipeline it writes into a scratch folder of its own, once
per set of articles, with the state store a caller names: the same store for every day
of a replay, a fresh one for the batch run. What a run put out is read back from its
``render.jsonl`` file and its dedup ``report`` (:class:`RunOutput`); the story tables of
its state store with :func:`read_story_state`.

Nothing here reads or writes a user's config, state store or outputs: the pipeline is
this module's own, in a folder the caller owns.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from docstage.errors import ConfigError, ConfigErrors, DataError, RunError
from docstage.resolve import load_plan
from docstage.runner import Runner
from docstage_eval.files import data_lines

#: The corpus fields a user can rename, with their defaults (``--id-field`` …).
FIELDS = {
    "id": "id",
    "source": "source",
    "date": "date",
    "title": "title",
    "text": "text",
    "gold": "cluster_id",
}
_LABELS = {"gold": "gold story"}
#: Dedup outputs that no story depends on, switched off to save time (``--set`` turns
#: them on again): shared passages and quotes, where the stage has them.
UNNEEDED = ("passages", "quotes")

PIPELINE = """\
[pipeline]
name = "eval-stories"

[run]
state = {state}
cache = "cache"
quarantine = {quarantine}
on_error = "skip"
incremental = false

[[stages]]
use = "read.jsonl"
path = {input}

[[stages]]
use = "dedup"
report = {copies}
{switched_off}
[[stages]]
use = "render.jsonl"
path = {output}
"""


# --- the corpus ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Article:
    """One article of the corpus: its document fields, its day and its gold story.

    Attributes:
        published: The date as the corpus gives it (``metadata.published``), or None.
        day: Its calendar day (the first ten characters), or None without a date.
    """

    id: str
    source: str
    text: str
    title: str | None
    published: str | None
    day: dt.date | None
    gold: str

    def record(self) -> dict[str, Any]:
        """The ``read.jsonl`` record of the article."""
        metadata = {"title": self.title, "published": self.published}
        found = {key: value for key, value in metadata.items() if value is not None}
        return {"id": self.id, "source": self.source, "text": self.text, "metadata": found}


@attrs.frozen
class Corpus:
    """The articles of a corpus file, in its order."""

    path: Path
    articles: tuple[Article, ...]

    @property
    def undated(self) -> int:
        """Articles without a date (replayed on the first day)."""
        return sum(1 for article in self.articles if article.day is None)

    def days(self) -> list[tuple[dt.date | None, list[Article]]]:
        """The articles of each publication day, in date order and the corpus's order
        within a day; undated articles join the first day (the only one when none has a
        date, with None as its day)."""
        days: dict[dt.date | None, list[Article]] = {}
        for article in self.articles:
            days.setdefault(article.day, []).append(article)
        undated = days.pop(None, [])
        dated = sorted(days.items(), key=lambda item: str(item[0]))
        if not dated:
            return [(None, undated)]
        first_day, first = dated[0]
        return [(first_day, [*first, *undated]), *dated[1:]]


def _optional(record: dict[str, Any], field: str, what: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if what in ("id", "gold") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"field '{field}' (the {_LABELS.get(what, what)}) must be a string")
    return value


def _required(record: dict[str, Any], field: str, what: str) -> str:
    value = _optional(record, field, what)
    if value is None:
        label = _LABELS.get(what, what)
        raise ValueError(
            f"missing field '{field}' (the {label}; another field: --{what}-field KEY)"
        )
    return value


def _day(value: str | None, field: str) -> dt.date | None:
    if value is None or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError(
            f"field '{field}' (the date) must start with an ISO 8601 date (2017-09-15), "
            f"got {value!r}"
        ) from None


def _article(record: dict[str, Any], fields: dict[str, str], default_source: str) -> Article:
    published = _optional(record, fields["date"], "date")
    return Article(
        id=_required(record, fields["id"], "id"),
        source=_optional(record, fields["source"], "source") or default_source,
        text=_required(record, fields["text"], "text"),
        title=_optional(record, fields["title"], "title"),
        published=published if published and published.strip() else None,
        day=_day(published, fields["date"]),
        gold=_required(record, fields["gold"], "gold"),
    )


def read_corpus(path: Path, fields: dict[str, str] | None = None) -> Corpus:
    """Read the corpus file: one JSON object per article.

    Args:
        path: The JSONL file.
        fields: Record keys by what they hold (:data:`FIELDS`, which fills the rest): id,
            text and gold are needed; a record without a source gets the file's stem.

    Raises:
        DataError: Missing or unreadable; a bad line (naming the line); a duplicate id;
            no records.
    """
    names = {**FIELDS, **(fields or {})}
    articles: list[Article] = []
    seen: dict[str, int] = {}
    for number, line in data_lines(path, "corpus", kind=".jsonl"):
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
            article = _article(record, names, path.stem)
            if article.id in seen:
                raise ValueError(f"duplicate id {article.id!r} (first on line {seen[article.id]})")
        except ValueError as exc:
            raise DataError(str(exc), file=path, line=number) from None
        seen[article.id] = number
        articles.append(article)
    if not articles:
        raise DataError("the corpus file has no records", file=path)
    return Corpus(path, tuple(articles))


# --- the runs -----------------------------------------------------------------------------


@attrs.frozen
class RunOutput:
    """What one run put out.

    Attributes:
        records: Its ``render.jsonl`` records (id, duplicates, story_id, …), in order.
        copies: Its dedup report's lines: each copy with its ``original``.
        errors: Documents a stage failed on (skipped).
    """

    records: list[dict[str, Any]]
    copies: list[dict[str, Any]]
    errors: int


@attrs.define
class Runs:
    """Pipeline runs in ``folder``: articles in, records out, a state store kept there.

    Args:
        folder: A scratch folder of the caller's; every file of the runs is written there.
        overrides: ``--set KEY=VALUE`` for every run's config.
        switched_off: The options of :data:`UNNEEDED` switched off (:meth:`prepare`
            finds those the stage has).
    """

    folder: Path
    overrides: Sequence[str] = ()
    switched_off: Sequence[str] = UNNEEDED

    def config(self, name: str, state: str) -> Path:
        """Write the config of the run ``name`` (its input ``NAME.jsonl``), with the state
        store file ``state``, and return its path."""
        path = self.folder / f"{name}.toml"
        files = {
            "state": state,
            "quarantine": f"{name}.quarantine.jsonl",
            "input": f"{name}.jsonl",
            "copies": f"{name}.copies.jsonl",
            "output": f"{name}.out.jsonl",
        }
        quoted = {key: json.dumps(value) for key, value in files.items()}
        off = "".join(f"{option} = false\n" for option in self.switched_off)
        path.write_text(PIPELINE.format(**quoted, switched_off=off), encoding="utf-8")
        return path

    def prepare(self) -> None:
        """Load a run's config with the overrides, so that a bad ``--set`` is found before
        any run, and learn which options of :data:`UNNEEDED` the dedup stage has.

        Raises:
            ConfigError: A bad override, or one that turns off dedup's story index.
            PluginError: A plugin failed to load.
        """
        self.switched_off = ()
        try:
            plan = load_plan(self.config("check", "check.sqlite"), self.overrides)
        except ConfigError as exc:  # the scratch file's name and lines mean nothing to users
            found = exc.errors if isinstance(exc, ConfigErrors) else (exc,)
            errors = [
                ConfigError(e.message, where=e.where, option=e.option)
                if isinstance(e, ConfigError)
                else e
                for e in found
            ]
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors) from None
        dedup = next(stage for stage in plan.stages if stage.use == "dedup")
        off = [name for name in ("index", "stories") if not dedup.options()[name]]
        if off:
            names = " and ".join(off)
            raise ConfigError(
                f"--set turned off dedup's {names}: the replay needs a story "
                "index in the state store (index = true, stories = true)"
            )
        options = {spec.name for spec in dedup.type.options}
        self.switched_off = tuple(option for option in UNNEEDED if option in options)

    def run(self, name: str, articles: Sequence[Article], *, state: str) -> RunOutput:
        """Run the pipeline on ``articles`` with the state store ``state`` (a file name in
        the folder; the next run given the same name continues it).

        Raises:
            ConfigError: A bad override.
            RunError: The run failed.
        """
        with open(self.folder / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for article in articles:
                handle.write(json.dumps(article.record(), ensure_ascii=False) + "\n")
        plan = load_plan(self.config(name, state), self.overrides)
        summary = Runner(plan).execute()
        if summary.failed:
            raise RunError(f"the pipeline failed on {name}: {summary.failed}")
        return RunOutput(
            records=_records(self.folder / f"{name}.out.jsonl"),
            copies=_records(self.folder / f"{name}.copies.jsonl"),
            errors=summary.errors,
        )


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():  # a report is written only when the stage ran to its end
        return []
    return [json.loads(line) for _, line in data_lines(path, "output")]


# --- the state store ----------------------------------------------------------------------


@attrs.frozen
class StoryState:
    """The story tables of a state store.

    Attributes:
        docs: Each document's story as ``story_docs`` holds it.
        absorbed: Each absorbed story's survivor, as ``stories.absorbed_into`` says.
        merges: The same as ``story_merges`` records it (absorbed → survivor).
    """

    docs: dict[str, str]
    absorbed: dict[str, str]
    merges: dict[str, str]

    def resolve(self, story: str, *, recorded: bool = False) -> str:
        """Where ``story`` ends: the survivor of the chain of ``stories.absorbed_into``
        (of the recorded merges with ``recorded``)."""
        links = self.merges if recorded else self.absorbed
        seen = {story}
        while story in links and links[story] not in seen:
            story = links[story]
            seen.add(story)
        return story


def read_story_state(path: Path) -> StoryState:
    """The story tables of the state store at ``path`` (empty when it has none)."""
    if not path.exists():
        return StoryState({}, {}, {})
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}

        def pairs(query: str, table: str) -> dict[str, str]:
            return dict(db.execute(query)) if table in tables else {}

        return StoryState(
            docs=pairs("SELECT id, story FROM story_docs", "story_docs"),
            absorbed=pairs(
                "SELECT id, absorbed_into FROM stories WHERE absorbed_into IS NOT NULL", "stories"
            ),
            merges=pairs("SELECT absorbed, survivor FROM story_merges", "story_merges"),
        )
    finally:
        db.close()
