"""pipeline eval stories: a dated corpus replayed a day at a time against one run.

The invented corpus: events told by three outlets over three days in words of their own;
a flood told in two halves on two days (two stories) that a later day's tellings, in the
words of both, join (a recorded merge); an exact copy of a first-day article published
on the third day; an article without a date.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result

from docstage_eval.cli import eval_group
from docstage_eval.stories import STATE, replay
from docstage_eval.stories_replay import Article, Corpus, RunOutput, Runs, read_corpus

TOPICS = ("harbour", "orchard", "glacier", "tramway", "library", "vineyard")


def telling(words: Sequence[str], seed: int, count: int) -> str:
    return " ".join(random.Random(seed).sample(list(words), count))


def invented() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, topic in enumerate(TOPICS):
        words = [f"{topic}{k}" for k in range(30)]
        for outlet in range(3):
            records.append(
                {
                    "id": f"{topic}/{outlet}",
                    "source": f"Outlet {outlet}",
                    "date": f"2024-05-{1 + number % 3 + outlet:02d}",
                    "title": topic.capitalize(),
                    "text": telling(words, number * 100 + outlet, 20),
                    "cluster_id": topic,
                }
            )
    levee = [f"levee{k}" for k in range(20)]
    rain = [f"rain{k}" for k in range(20)]
    for outlet in range(3):
        for day, half, seed in ((1, levee, outlet), (2, rain, 9 + outlet)):
            records.append(
                {
                    "id": f"flood-{day}/{outlet}",
                    "source": f"Outlet {outlet}",
                    "date": f"2024-05-0{day}",
                    "text": telling(half, seed, 15),
                    "cluster_id": "flood",
                }
            )
    for outlet in range(6):
        records.append(
            {
                "id": f"flood-4/{outlet}",
                "source": f"Outlet {outlet}",
                "date": "2024-05-04T08:30:00+02:00",
                "text": telling(levee + rain, 20 + outlet, 30),
                "cluster_id": "flood",
            }
        )
    first = records[0]
    copy = {**first, "id": "copy", "source": "Outlet 9", "date": "2024-05-03"}
    undated = {
        "id": "undated",
        "source": "Outlet 9",
        "text": telling([f"orchard{k}" for k in range(30)], 77, 20),
        "cluster_id": "orchard",
    }
    return [*records, copy, undated]


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(eval_group, ["stories", *args], env={"COLUMNS": "100"})


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path as the working folder."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    structlog.reset_defaults()  # the command configured logging for its captured streams


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The invented corpus through the command, as JSON and as tables."""
    folder = tmp_path_factory.mktemp("stories")
    write_jsonl(folder / "corpus.jsonl", invented())
    found: dict[str, Any] = {"folder": folder}
    for name, extra in (("json", ["--json"]), ("tables", [])):
        result = invoke("--gold", str(folder / "corpus.jsonl"), *extra)
        assert result.exit_code == 0, result.output
        found[name] = result
    structlog.reset_defaults()
    return found


# --- the corpus -------------------------------------------------------------------------------


def test_days_are_publication_days_and_undated_documents_join_the_first(folder: Path) -> None:
    write_jsonl(folder / "corpus.jsonl", invented())
    corpus = read_corpus(folder / "corpus.jsonl")
    days = corpus.days()
    assert [day for day, _ in days] == [dt.date(2024, 5, d) for d in range(1, 6)]
    assert [len(articles) for _, articles in days] == [6, 7, 7, 10, 2]
    assert days[0][1][-1].id == "undated"
    assert corpus.undated == 1
    flood = next(a for a in corpus.articles if a.id == "flood-4/0")
    assert (flood.day, flood.published) == (dt.date(2024, 5, 4), "2024-05-04T08:30:00+02:00")
    assert flood.record()["metadata"] == {"published": "2024-05-04T08:30:00+02:00"}


def test_fields_are_named_by_the_options(folder: Path) -> None:
    write_jsonl(folder / "c.jsonl", [{"key": 7, "body": "words", "event": 3, "when": ""}])
    fields = {"id": "key", "text": "body", "gold": "event", "date": "when"}
    (article,) = read_corpus(folder / "c.jsonl", fields).articles
    assert (article.id, article.text, article.gold, article.source) == ("7", "words", "3", "c")
    assert (article.day, article.published, article.title) == (None, None, None)
    assert Corpus(folder, (article,)).days() == [(None, [article])]


# --- the replay -------------------------------------------------------------------------------


def test_the_replay_is_scored_against_the_gold_and_the_batch_run(replayed: dict[str, Any]) -> None:
    report = json.loads(replayed["json"].stdout)
    assert (report["documents"], report["days"], report["undated"]) == (32, 5, 1)
    batch, by_day = report["batch"], report["replay"]
    # Seven gold stories (six topics and the flood), the copy in its original's story.
    for scores in (batch, by_day):
        assert (scores["precision"], scores["recall"], scores["ari"]) == (1.0, 1.0, 1.0)
        assert (scores["predicted_clusters"], scores["gold_clusters"]) == (7, 7)
        assert scores["documents"] == 32
    assert (batch["runs"], by_day["runs"]) == (1, 5)
    assert report["replay_vs_batch_ari"] == 1.0
    # The two halves of the flood were two stories until the fourth day joined them: the
    # second half's three documents changed their id through the one merge recorded.
    # Every original got an id on its day (the copy has none).
    assert (by_day["merges"], by_day["assigned"], by_day["changed_by_merge"]) == (1, 31, 3)
    assert (by_day["changed_without_merge"], by_day["rows_rewritten"]) == (0, 0)


def test_the_json_keys(replayed: dict[str, Any]) -> None:
    report = json.loads(replayed["json"].stdout)
    scores = [
        "precision", "recall", "f1", "ari", "documents", "predicted_clusters",
        "gold_clusters", "true_pairs", "predicted_pairs", "gold_pairs", "gold_ids",
        "matched", "matched_by_suffix", "runs", "seconds",
    ]  # fmt: skip
    assert list(report) == [
        "gold", "documents", "days", "undated", "overrides", "batch", "replay",
        "replay_vs_batch_ari",
    ]  # fmt: skip
    assert list(report["batch"]) == scores
    assert list(report["replay"]) == [
        *scores, "merges", "assigned", "changed_by_merge", "changed_without_merge",
        "rows_rewritten",
    ]  # fmt: skip


def test_the_tables_and_the_note_on_undated_documents(replayed: dict[str, Any]) -> None:
    result = replayed["tables"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Stories: one run, and a day at a time")
    # runs, precision, recall, F1, ARI, stories, gold stories, then the seconds
    assert lines[3].split()[:-1] == ["one", "run", "1", *["1.000"] * 4, "7", "7"]
    assert lines[4].split()[:-1] == ["by", "day", "5", *["1.000"] * 4, "7", "7"]
    assert "by day against one run: ARI 1.000" in result.stdout
    gold = replayed["folder"] / "corpus.jsonl"
    assert lines[5:] == [
        f"gold: {gold} (32 documents, 5 days: 2024-05-01 to 2024-05-05)",
        "stories, gold: stories of two or more documents",
        "by day against one run: ARI 1.000",
        "merges recorded: 1",
        "story ids given on their day: 31; changed through a recorded merge: 3; without one: 0",
        "story_docs rows rewritten: 0",
    ]
    assert result.stderr == (
        "warning: 1 document(s) without a date: replayed on the first day (2024-05-01)\n"
    )


class Scripted(Runs):
    """Runs that put out the given records and write the given story tables, as a story
    index that broke its promise would."""

    def __init__(self, folder: Path, days: list[tuple[dict[str, str], dict[str, Any]]]):
        super().__init__(folder)
        self.days = days

    def run(self, name: str, articles: Sequence[Article], *, state: str) -> RunOutput:
        given, tables = self.days.pop(0)
        db = sqlite3.connect(self.folder / state)
        db.executescript(
            "DROP TABLE IF EXISTS story_docs; DROP TABLE IF EXISTS stories;"
            " DROP TABLE IF EXISTS story_merges;"
            " CREATE TABLE story_docs (id TEXT, story TEXT);"
            " CREATE TABLE stories (id TEXT, absorbed_into TEXT);"
            " CREATE TABLE story_merges (absorbed TEXT, survivor TEXT)"
        )
        for table, rows in tables.items():
            db.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows.items())
        db.commit()
        db.close()
        records = [{"id": ident, "story_id": story} for ident, story in given.items()]
        return RunOutput(records, [], 0)


def test_ids_changed_without_a_recorded_merge_are_counted(tmp_path: Path) -> None:
    def article(ident: str, day: int) -> Article:
        date = dt.date(2024, 5, day)
        return Article(
            id=ident, source="s", text="t", title=None, published=None, day=date, gold="g"
        )

    corpus = Corpus(tmp_path, (*(article(i, 1) for i in "xywv"), article("z", 2)))
    day_one = {"x": "S1", "y": "S2", "w": "S3", "v": "S5"}
    day_two = {
        # y's story merged into x's and recorded; w's row rewritten; v's story absorbed
        # without a record of the merge.
        "story_docs": {**day_one, "w": "S4", "z": "S1"},
        "stories": {"S2": "S1", "S5": "S1"},
        "story_merges": {"S2": "S1"},
    }
    runs = Scripted(tmp_path, [(day_one, {"story_docs": day_one}), ({"z": "S1"}, day_two)])
    told: list[str] = []
    facts = replay(corpus, runs, told.append)
    assert told == ["day 1 of 2 (2024-05-01)", "day 2 of 2 (2024-05-02)"]
    assert (facts.runs, facts.merges, facts.assigned, facts.by_merge) == (2, 1, 5, 1)
    assert facts.unexplained == ("w", "v")
    assert facts.rewritten == ("w",)
    assert facts.predictions.stories == {"x": "S1", "y": "S1", "w": "S3", "v": "S1", "z": "S1"}
    assert (tmp_path / STATE).exists()


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "text": "t", "cluster_id": "c"}', "{"], "corpus.jsonl:2: not valid JSON"),
        (['["a"]'], "corpus.jsonl:1: expected a JSON object, got list"),
        (
            ['{"id": "a", "text": "t"}'],
            "corpus.jsonl:1: missing field 'cluster_id' (the gold story; another field: "
            "--gold-field KEY)",
        ),
        (
            ['{"id": "a", "cluster_id": "c"}'],
            "corpus.jsonl:1: missing field 'text' (the text; another field: --text-field KEY)",
        ),
        (
            ['{"id": "a", "text": 3, "cluster_id": "c"}'],
            "corpus.jsonl:1: field 'text' (the text) must be a string",
        ),
        (
            ['{"id": "a", "text": "t", "cluster_id": "c", "date": "yesterday"}'],
            "corpus.jsonl:1: field 'date' (the date) must start with an ISO 8601 date "
            "(2017-09-15), got 'yesterday'",
        ),
        (
            ['{"id": "a", "text": "t", "cluster_id": "c"}'] * 2,
            "corpus.jsonl:2: duplicate id 'a' (first on line 1)",
        ),
        ([""], "corpus.jsonl: the corpus file has no records"),
    ],
)
def test_a_bad_corpus_is_one_error_line(folder: Path, lines: list[str], message: str) -> None:
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("--gold", "corpus.jsonl")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gold", "missing.jsonl"], "error: missing.jsonl: no such corpus file\n"),
        (
            ["--gold", "corpus.jsonl", "--set", "stages.dedup.story_threshold=2"],
            "error: [[stages]] #2 (dedup): invalid option value: 'story_threshold' must be "
            "above 0 and at most 1, got 2.0\n",
        ),
        (
            ["--gold", "corpus.jsonl", "--set", "stages.dedup.index=false"],
            "error: --set turned off dedup's index: the replay needs a story index in the "
            "state store (index = true, stories = true)\n",
        ),
        (
            ["--gold", "corpus.jsonl", "--set", "stages.entities.backend=1"],
            "error: --set 'stages.entities.backend=1': no stage matches; stages in this "
            "config: 'dedup', 'read.jsonl', 'render.jsonl' (or use the stage's number, e.g. "
            "stages.2.OPTION)\n",
        ),
    ],
)
def test_a_missing_file_or_a_bad_override_is_one_error_line(
    folder: Path, args: list[str], message: str
) -> None:
    write_jsonl(folder / "corpus.jsonl", [{"id": "a", "text": "t", "cluster_id": "c"}])
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr == message


# --- on the shared corpora --------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.slow
def test_giveme5w1h_replayed_by_day_stays_within_002_of_one_run(shared: Path) -> None:
    gold = shared / "corpora" / "newsclusters" / "giveme5w1h.jsonl"
    if not gold.is_file():
        pytest.skip(f"{gold} not found")
    result = invoke("--gold", str(gold), "--json")
    structlog.reset_defaults()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["documents"], report["days"], report["undated"]) == (383, 94, 0)
    batch, by_day = report["batch"]["ari"], report["replay"]["ari"]
    assert abs(batch - by_day) <= 0.02, (batch, by_day)
    assert by_day >= 0.85
    assert report["replay"]["changed_without_merge"] == 0
    assert report["replay"]["rows_rewritten"] == 0
