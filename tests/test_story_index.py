"""Stories that live across runs (:mod:`docstage_plugins.dedup.story_index`).

Invented events, each told by several outlets over several days in words no other event
uses, are replayed a day at a time against one state store: later tellings join the
stories of earlier days, ids once given never change except through a recorded merge,
and the replay ends with the stories of one run over everything.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from docstage.testing import run_pipeline
from docstage_plugins.dedup.stories import StoryDoc, StoryOptions, cluster_stories
from docstage_plugins.dedup.story_index import StoryIndex, cluster_with_index
from docstage_plugins.dedup.story_vectors import Background

Article = tuple[str, str, str, str]  # id, source, published, text


def events(count: int, tellings: int, *, first_day: int = 1) -> list[Article]:
    """``count`` events, each told ``tellings`` times on consecutive days by different
    outlets, in words of its own plus a few every event uses."""
    articles = []
    for event in range(count):
        words = [f"ev{event}word{k}" for k in range(30)]
        for telling in range(tellings):
            rng = random.Random(event * 1000 + telling)
            text = " ".join([*rng.sample(words, 20), "officials", "said", "today", "report"])
            day = first_day + event % 3 + telling
            articles.append(
                (f"e{event}/t{telling}", f"Outlet {telling}", f"2024-05-{day:02d}", text)
            )
    return articles


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    """A state store's connection, closed after the test (Python 3.13 warns otherwise)."""
    connection = sqlite3.connect(":memory:")
    yield connection
    connection.close()


def docs_of(articles: Sequence[Article]) -> list[StoryDoc]:
    return [
        StoryDoc(id=a[0], source=a[1], title=None, published=a[2], entities=()) for a in articles
    ]


def run_day(db: sqlite3.Connection, articles: Sequence[Article], run: str) -> dict[str, str]:
    index = StoryIndex(db, run, today=max(a[2] for a in articles))
    ids = cluster_with_index(
        index, docs_of(articles), lambda: (a[3] for a in articles), StoryOptions(), memory=1 << 26
    )
    return {a[0]: story for a, story in zip(articles, ids, strict=True)}


def by_day(articles: Sequence[Article]) -> list[list[Article]]:
    days: dict[str, list[Article]] = {}
    for article in articles:
        days.setdefault(article[2], []).append(article)
    return [days[day] for day in sorted(days)]


def batch(articles: Sequence[Article]) -> dict[str, str]:
    ids = cluster_stories(docs_of(articles), lambda: (a[3] for a in articles), StoryOptions())
    return {a[0]: story for a, story in zip(articles, ids, strict=True)}


def test_the_first_run_gives_the_ids_of_a_run_without_an_index(db: sqlite3.Connection) -> None:
    articles = events(6, 3)
    assert run_day(db, articles, "run-1") == batch(articles)


def test_later_tellings_join_the_stories_of_earlier_runs(db: sqlite3.Connection) -> None:
    told = events(6, 4)
    first = run_day(db, [a for a in told if a[0].endswith(("/t0", "/t1"))], "run-1")
    later = [a for a in told if a[0].endswith(("/t2", "/t3"))]
    fresh = [(f"new{a[0]}", a[1], a[2], a[3].replace("ev", "fresh")) for a in events(2, 2)]
    second = run_day(db, later + fresh, "run-2")
    for article in later:
        event = article[0].split("/")[0]
        assert second[article[0]] == first[f"{event}/t0"], article[0]
    earlier_ids = set(first.values())
    assert {second[a[0]] for a in fresh}.isdisjoint(earlier_ids)
    assert second["newe0/t0"] == second["newe0/t1"] != second["newe1/t0"]


def test_a_day_by_day_replay_ends_with_the_stories_of_one_run(db: sqlite3.Connection) -> None:
    articles = events(10, 4)
    assigned: dict[str, str] = {}
    for number, day in enumerate(by_day(articles)):
        assigned.update(run_day(db, day, f"run-{number}"))
    index = StoryIndex(db, "check")
    replay = [index.ledger.resolve(assigned[a[0]]) for a in articles]
    one_run = batch(articles)
    assert adjusted_rand_score([one_run[a[0]] for a in articles], replay) == 1.0


def stored(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT id, story FROM story_docs"))


def test_ids_once_given_change_only_through_a_recorded_merge(db: sqlite3.Connection) -> None:
    """Two halves of one event told apart on the first day; a day of tellings in the
    words of both joins them, and the join is a recorded merge, the story first seen
    surviving."""
    half_a = [f"alpha{k}" for k in range(20)]
    half_b = [f"beta{k}" for k in range(20)]
    day_one = [
        (f"a{t}", f"Outlet {t}", "2024-05-01", " ".join(random.Random(t).sample(half_a, 15)))
        for t in range(3)
    ] + [
        (f"b{t}", f"Outlet {t}", "2024-05-02", " ".join(random.Random(9 + t).sample(half_b, 15)))
        for t in range(3)
    ]
    first = run_day(db, day_one, "run-1")
    assert first["a0"] == first["a1"] == first["a2"] != first["b0"] == first["b1"] == first["b2"]
    before = stored(db)
    words = half_a + half_b
    bridges = [
        (f"c{t}", f"Outlet {t}", "2024-05-03", " ".join(random.Random(20 + t).sample(words, 30)))
        for t in range(6)
    ]
    second = run_day(db, bridges, "run-2")
    after = stored(db)
    assert {k: after[k] for k in before} == before  # nothing rewritten
    merges = db.execute("SELECT absorbed, survivor, run_id, reason FROM story_merges").fetchall()
    assert [(m[0], m[1], m[2]) for m in merges] == [(first["b0"], first["a0"], "run-2")]
    assert "clustered with" in merges[0][3]
    index = StoryIndex(db, "check")
    assert index.ledger.resolve(first["b0"]) == index.ledger.resolve(first["a0"]) == first["a0"]
    assert set(second.values()) == {first["a0"]}
    (documents, sources, first_seen, last) = db.execute(
        "SELECT documents, sources, first_seen, last_updated FROM stories WHERE id = ?",
        (first["a0"],),
    ).fetchone()
    assert documents == 12
    assert json.loads(sources) == [f"Outlet {t}" for t in range(6)]
    assert (first_seen, last) == ("2024-05-01", "2024-05-03")


def test_a_rerun_of_the_same_documents_keeps_their_stories(db: sqlite3.Connection) -> None:
    articles = events(5, 3)
    first = run_day(db, articles, "run-1")
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    assert run_day(db, articles, "run-2") == first
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == stories


# --- end to end -------------------------------------------------------------------------

FLOOD = [
    (
        "gazette",
        "dam.txt",
        "The Lindqvist reservoir dam collapsed early on Tuesday after four days of heavy "
        "rain, flooding the lower town and forcing about 2,000 residents from their homes. "
        "Mayor Marta Oyelaran said rescue crews had pulled 40 people from flooded houses. "
        "The Northern Water Authority said cracks in the dam wall had been found last autumn.",
    ),
    (
        "courier",
        "flood.txt",
        "Around 2,000 people fled their homes in Lindqvist when the reservoir dam burst "
        "before dawn on Tuesday, sending flood water through the lower town. Mayor Oyelaran "
        "said rescue crews pulled dozens of residents from flooded houses. The Northern Water "
        "Authority admitted its engineers had found cracks in the dam wall last autumn.",
    ),
    (
        "gazette",
        "rates.txt",
        "The Bank of Norvania raised its main interest rate by half a point to 4.5 percent on "
        "Thursday, its third increase this year, saying inflation was still too high. "
        "Governor Ilse Brandauer said mortgage holders should expect high borrowing costs.",
    ),
]
LATER = (
    "herald",
    "inquiry.txt",
    "A week after the Lindqvist reservoir dam burst and flood water forced 2,000 residents "
    "from the lower town, the Northern Water Authority opened an inquiry into the cracks its "
    "engineers found in the dam wall last autumn. Mayor Marta Oyelaran said rescue crews "
    "and evacuees from the flooded houses deserved answers.",
)


def write(folder: Path, articles: Sequence[tuple[str, str, str]]) -> None:
    for outlet, name, text in articles:
        (folder / outlet).mkdir(parents=True, exist_ok=True)
        (folder / outlet / name).write_text(text + "\n", encoding="utf-8")


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_a_later_run_continues_a_story_of_an_earlier_one(tmp_path: Path, executor: str) -> None:
    config = tmp_path / "news.toml"
    config.write_text(
        f'[run]\nstate = "state.sqlite"\nexecutor = "{executor}"\nworkers = 2\n\n'
        '[[stages]]\nuse = "read.files"\npath = "in/**/*.txt"\nsource = "{parent}"\n\n'
        '[[stages]]\nuse = "dedup"\n\n'
        '[[stages]]\nuse = "render.jsonl"\npath = "out.jsonl"\n',
        encoding="utf-8",
    )

    def stories() -> dict[str, str]:
        lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
        return {Path(d["id"]).name: d["story_id"] for d in map(json.loads, lines)}

    write(tmp_path / "in", FLOOD)
    run_pipeline(config)
    first = stories()
    assert first["dam.txt"] == first["flood.txt"] != first["rates.txt"]
    for path in (tmp_path / "in").rglob("*.txt"):
        path.unlink()
    write(tmp_path / "in", [LATER])
    run_pipeline(config)
    assert stories() == {"inquiry.txt": first["dam.txt"]}


def test_both_searches_weigh_terms_by_the_background() -> None:
    """The exact search and the candidate search of large collections take the index's
    document frequencies alike: the same stories from both."""
    articles = events(8, 4)

    def frequencies(terms: Sequence[str]) -> np.ndarray:
        return np.array([900.0 if term.startswith("ev") else 5.0 for term in terms])

    background = Background(documents=1000, frequencies=frequencies)
    found = {
        search: cluster_stories(
            docs_of(articles),
            lambda: (a[3] for a in articles),
            StoryOptions(),
            search=search,
            background=background,
        )
        for search in ("exact", "candidates")
    }
    assert found["exact"] == found["candidates"]
    assert found["exact"] != cluster_stories(
        docs_of(articles), lambda: (a[3] for a in articles), StoryOptions()
    )


def test_retention_forgets_texts_and_terms_but_keeps_the_stories(db: sqlite3.Connection) -> None:
    first = run_day(db, events(4, 3), "run-1")
    stories = db.execute("SELECT * FROM stories ORDER BY id").fetchall()
    index = StoryIndex(db, "run-2")
    assert index.expire(max_age_days=None, max_documents=None) == 0
    assert index.expire(max_age_days=None, max_documents=5) == 7
    kept = [row[0] for row in db.execute("SELECT id FROM story_docs ORDER BY node")]
    assert len(kept) == 5
    assert {node for (node,) in db.execute("SELECT DISTINCT node FROM story_terms")} == {
        node for (node,) in db.execute("SELECT node FROM story_docs")
    }
    assert db.execute("SELECT * FROM stories ORDER BY id").fetchall() == stories
    assert index.expire(max_age_days=0, max_documents=None, now=time.time() + 1) == 5
    assert set(first.values()) == {row[0] for row in stories}
