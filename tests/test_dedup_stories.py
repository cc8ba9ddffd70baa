"""Same-story clustering (:mod:`docstage_plugins.dedup.stories`) on invented news articles.

Two events are each told by two outlets in their own words; four articles are about
nothing else in the set. The seed test runs the two real seed articles and skips when
``../shared`` is absent. The memory-lean parts are pinned against what they replaced:
scikit-learn's TF-IDF vectors bit for bit, and the dict-based average link (kept below as
the reference) merge for merge.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import numpy as np
import pytest
import scipy.sparse as sp

from docstage.unionfind import UnionFind
from docstage_plugins.dedup import stories
from docstage_plugins.dedup.stories import StoryDoc, StoryOptions, cluster_stories
from docstage_plugins.dedup.story_vectors import names_text, term_vectors

# (id, source, published, title, entities, text)
ARTICLES = [
    (
        "gazette/dam",
        "Harbour Gazette",
        "2024-03-12",
        "Dam gives way above Lindqvist after days of rain",
        ("Lindqvist", "Marta Oyelaran", "Northern Water Authority"),
        "The Lindqvist reservoir dam collapsed early on Tuesday after four days of heavy rain, "
        "flooding the lower town and forcing about 2,000 residents from their homes. Mayor "
        "Marta Oyelaran said rescue crews had pulled 40 people from flooded houses and that "
        "no deaths had been reported. The Northern Water Authority said cracks in the dam "
        "wall had been found during an inspection last autumn. Evacuees are sheltering in "
        "the Lindqvist sports hall and the river is expected to peak on Wednesday.",
    ),
    (
        "courier/lindqvist-flood",
        "Valley Courier",
        "2024-03-13",
        "Thousands flee as Lindqvist reservoir dam bursts",
        ("Lindqvist", "Oyelaran", "Northern Water Authority"),
        "Around 2,000 people fled their homes in Lindqvist when the reservoir dam burst "
        "before dawn on Tuesday, sending flood water through the lower town. Rescue crews "
        "pulled dozens of residents from flooded houses, Mayor Oyelaran told reporters, "
        "adding that nobody had died. The Northern Water Authority admitted its engineers "
        "had found cracks in the dam wall last autumn. The river, swollen by four days of "
        "rain, is expected to peak on Wednesday; evacuees are sleeping in the sports hall.",
    ),
    (
        "gazette/rates",
        "Harbour Gazette",
        "2024-03-14",
        "Central bank raises interest rate to 4.5 percent",
        ("Bank of Norvania", "Ilse Brandauer"),
        "The Bank of Norvania raised its main interest rate by half a point to 4.5 percent "
        "on Thursday, its third increase this year, saying inflation was still too high. "
        "Governor Ilse Brandauer told a press conference that mortgage holders should "
        "expect borrowing costs to stay high into next year. The currency rose against the "
        "euro after the announcement, while shares in mortgage lenders fell.",
    ),
    (
        "courier/interest",
        "Valley Courier",
        "2024-03-15",
        "Norvania lifts borrowing costs again as inflation bites",
        ("Norvania", "Brandauer", "Bank of Norvania"),
        "Borrowing costs in Norvania rose again on Thursday when the central bank lifted "
        "its main interest rate half a point to 4.5 percent, the third increase of the "
        "year. Governor Brandauer said inflation remained too high and warned mortgage "
        "holders that rates would stay high into next year. Mortgage lenders' shares fell "
        "and the currency gained against the euro.",
    ),
    (
        "gazette/cup",
        "Harbour Gazette",
        "2024-03-16",
        "Rovers reach cup final with late header",
        ("Rovers", "Tomas Keane"),
        "Rovers reached the cup final for the first time in twelve years after a late "
        "header from Tomas Keane beat the league leaders 2-1 on Saturday. The visitors had "
        "led through a penalty before half-time, but Keane rose above the defence in the "
        "89th minute to send the travelling fans into celebration.",
    ),
    (
        "courier/festival",
        "Valley Courier",
        "2024-03-16",
        "Cheese festival draws record crowds",
        ("Oskarsby",),
        "A record 30,000 visitors came to the Oskarsby cheese festival at the weekend, "
        "tasting more than 200 cheeses from small dairies across the region. Organisers "
        "said the goat's cheese competition had the most entries ever, and a local "
        "cooperative won the prize for its smoked mountain cheese.",
    ),
    (
        "gazette/phone",
        "Harbour Gazette",
        "2024-03-11",
        "Startup unveils phone with week-long battery",
        ("Kestrel Devices",),
        "Kestrel Devices unveiled a smartphone on Monday that it says runs for a week on "
        "one charge, thanks to a new low-power display and a larger battery. The handset "
        "goes on sale in May and will cost less than most flagship models, the company's "
        "founders said at a launch event.",
    ),
    (
        "courier/library",
        "Valley Courier",
        "2024-03-10",
        "Old library reopens as a concert venue",
        (),
        "The old town library has reopened as a concert venue after a three-year "
        "renovation that kept its carved wooden shelves and painted ceiling. The first "
        "season includes chamber music, jazz and a children's choir, and tickets for the "
        "opening night sold out within an hour.",
    ),
]
SAME_STORY = [("gazette/dam", "courier/lindqvist-flood"), ("gazette/rates", "courier/interest")]
UNRELATED = ["gazette/cup", "courier/festival", "gazette/phone", "courier/library"]
STORY_ID = re.compile(r"story-[0-9a-f]{12}")


def story_docs(articles: Sequence[tuple[object, ...]] = ARTICLES) -> list[StoryDoc]:
    return [
        StoryDoc(
            id=str(a[0]),
            source=str(a[1]),
            published=a[2],  # type: ignore[arg-type]
            title=a[3],  # type: ignore[arg-type]
            entities=a[4],  # type: ignore[arg-type]
        )
        for a in articles
    ]


def cluster(
    articles: Sequence[tuple[object, ...]] = ARTICLES, options: StoryOptions | None = None
) -> dict[str, str]:
    """Story id by document id."""
    docs = story_docs(articles)

    def texts() -> Iterable[str]:
        return (str(a[5]) for a in articles)  # a generator, as the stage streams them

    ids = cluster_stories(docs, texts, options or StoryOptions())
    assert len(ids) == len(docs)
    return {doc.id: story for doc, story in zip(docs, ids, strict=True)}


def test_same_event_from_two_outlets_is_one_story() -> None:
    stories = cluster()
    for first, second in SAME_STORY:
        assert stories[first] == stories[second]
    assert stories["gazette/dam"] != stories["gazette/rates"]


def test_unrelated_articles_are_stories_of_their_own() -> None:
    stories = cluster()
    assert len(set(stories.values())) == len(SAME_STORY) + len(UNRELATED)
    assert all(STORY_ID.fullmatch(story) for story in stories.values())


def test_story_id_is_the_hash_of_the_smallest_member_id() -> None:
    stories = cluster()
    for doc_id in ["courier/lindqvist-flood", "courier/interest", *UNRELATED]:
        digest = hashlib.blake2b(doc_id.encode(), digest_size=6).hexdigest()
        assert stories[doc_id] == f"story-{digest}"


def test_shuffled_input_gives_the_same_ids() -> None:
    expected = cluster()
    for seed in range(5):
        articles = list(ARTICLES)
        random.Random(seed).shuffle(articles)
        assert cluster(articles) == expected


def test_a_single_document_is_its_own_story() -> None:
    assert cluster(ARTICLES[4:5]) == {"gazette/cup": cluster()["gazette/cup"]}


def test_empty_input() -> None:
    assert cluster_stories([], lambda: iter(()), StoryOptions()) == []


def test_documents_without_usable_text_are_singletons() -> None:
    blank = [(f"doc{i}", "Feed", None, None, (), text) for i, text in enumerate(["", "the of", ""])]
    assert len(set(cluster(blank).values())) == 3


def test_a_hard_date_window_splits_a_story() -> None:
    late = [*ARTICLES[:1], (*ARTICLES[1][:2], "2024-04-30", *ARTICLES[1][3:])]
    assert len(set(cluster(late).values())) == 1  # the soft date factor keeps them together
    split = cluster(late, StoryOptions(date_window=14))
    assert split["gazette/dam"] != split["courier/lindqvist-flood"]


def test_datetimes_and_bad_dates_are_accepted() -> None:
    dated = [
        (*ARTICLES[0][:2], "2024-03-12T06:30:00Z", *ARTICLES[0][3:]),
        (*ARTICLES[1][:2], "13 March 2024", *ARTICLES[1][3:]),  # not ISO: date unknown
    ]
    assert len(set(cluster(dated).values())) == 1


def test_texts_must_match_the_documents() -> None:
    docs = story_docs()
    with pytest.raises(ValueError, match="texts\\(\\) yielded 2 texts for 8 documents"):
        cluster_stories(docs, lambda: iter(["one", "two"]), StoryOptions())
    with pytest.raises(ValueError, match="texts\\(\\) yielded more texts for 8 documents"):
        cluster_stories(docs, lambda: iter(["text"] * 9), StoryOptions())


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("threshold", 0, "'threshold' must be above 0 and at most 1, got 0"),
        ("threshold", 1.5, "'threshold' must be above 0 and at most 1, got 1.5"),
        ("threshold", "high", "'threshold' must be a number, got 'high'"),
        ("min_similarity", -0.1, "'min_similarity' must be between 0 and 1, got -0.1"),
        ("neighbours", 0, "'neighbours' must be a whole number of at least 1, got 0"),
        ("neighbours", 2.5, "'neighbours' must be a whole number of at least 1, got 2.5"),
        ("title_weight", -1, "'title_weight' must be at least 0, got -1"),
        ("title_weight", math.inf, "'title_weight' must be at least 0, got inf"),
        ("entity_weight", True, "'entity_weight' must be a number, got True"),
        ("date_half_life", 0, "'date_half_life' must be above 0, got 0"),
        ("date_half_life", math.inf, "'date_half_life' must be above 0, got inf"),
        ("date_floor", 2, "'date_floor' must be between 0 and 1, got 2"),
        ("date_window", -3, "'date_window' must be a whole number of at least 0, got -3"),
        ("date_window", 1.5, "'date_window' must be a whole number of at least 0, got 1.5"),
    ],
)
def test_bad_options_are_refused(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        StoryOptions(**{option: value})  # type: ignore[arg-type]


def test_none_turns_the_date_options_off() -> None:
    options = StoryOptions(date_half_life=None, date_window=None)
    assert (options.date_half_life, options.date_window) == (None, None)


def test_defaults_are_documented() -> None:
    for field in attrs.fields(StoryOptions):
        assert len(field.metadata["help"]) > 40, field.name


def test_the_seed_articles_are_one_story(shared: Path) -> None:
    paths = sorted((shared / "seeds").glob("*.txt"))
    assert len(paths) == 2
    docs = [
        StoryDoc(id=path.stem, source=f"outlet {i}", title=None, published=None, entities=())
        for i, path in enumerate(paths)
    ]
    ids = cluster_stories(
        docs, lambda: (p.read_text(encoding="utf-8") for p in paths), StoryOptions()
    )
    assert ids[0] == ids[1]


def test_benchmark_smoke_runs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    output = tmp_path / "stories.json"
    script = root / "benchmarks" / "stories.py"
    done = subprocess.run(
        [sys.executable, str(script), "--smoke", "--entities", "none", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| ours (defaults), entities: none | **1.000** |" in done.stdout
    assert "threshold_sweeps" in output.read_text(encoding="utf-8")


# --- the memory-lean parts against what they replaced ------------------------------------


@pytest.mark.parametrize("field", ["text", "title", "entities"])
def test_term_vectors_are_scikit_learns_bit_for_bit(field: str) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    names = field == "entities"
    values = [
        names_text(a[4]) if names else str(a[5] if field == "text" else a[3])  # type: ignore[arg-type]
        for a in ARTICLES
    ]
    if names:
        vectorizer = TfidfVectorizer(analyzer=str.split, sublinear_tf=True, lowercase=False)
    else:
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, stop_words="english", strip_accents="unicode"
        )
    expected = sp.csr_matrix(vectorizer.fit_transform(values))
    order = [3, 0, 7, 1, 6, 2, 5, 4]
    expected = sp.csr_matrix(expected[order])
    vectors = term_vectors(iter(values), len(values), names=names, rows=order)
    rows = vectors.rows(0, len(values))
    assert vectors.terms == expected.shape[1]
    # The same weights in the same order within each document (the sums depend on it).
    assert rows.indptr.tolist() == expected.indptr.tolist()
    assert rows.data.tobytes() == expected.data.tobytes()
    assert (rows @ vectors.by_term).toarray().tobytes() == (
        expected @ expected.T
    ).toarray().tobytes()


def reference_clusters(graph: sp.csr_matrix, threshold: float) -> list[int]:
    """Shared neighbourhoods and average link as they were, on a matrix and dicts."""
    profile = sp.csr_matrix(graph.power(2))
    best = np.asarray(profile.max(axis=1).toarray()).ravel()
    profile = sp.csr_matrix(profile + sp.diags(best))
    norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    profile = sp.csr_matrix(sp.diags(1.0 / norms) @ profile)
    affinity = sp.triu(profile @ profile.T, k=1, format="csr")
    affinity.eliminate_zeros()
    count = affinity.shape[0]
    links: list[dict[int, float]] = [{} for _ in range(count)]
    coo = affinity.tocoo()
    edges = list(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    for i, j, value in edges:
        links[i][j] = links[j][i] = value
    size, alive, version = [1] * count, [True] * count, [0] * count
    heap = [(-value, i, j, 0, 0) for i, j, value in edges if value >= threshold]
    heapq.heapify(heap)
    sets: UnionFind[int] = UnionFind()
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != version_a or version[b] != version_b:
            continue
        keep, gone = (a, b) if a < b else (b, a)
        alive[gone] = False
        sets.union(keep, gone)
        merged = links[keep]
        merged.pop(gone, None)
        for other, total in links[gone].items():
            if other != keep:
                merged[other] = merged.get(other, 0.0) + total
                links[other][keep] = links[other].get(keep, 0.0) + links[other].pop(gone)
        links[gone] = {}
        size[keep] += size[gone]
        version[keep] += 1
        for other, total in merged.items():
            mean = total / (size[keep] * size[other])
            if mean >= threshold:
                first, second = (keep, other) if keep < other else (other, keep)
                heapq.heappush(heap, (-mean, first, second, version[first], version[second]))
    return [sets.find(row) for row in range(count)]


@pytest.mark.parametrize("seed", range(6))
def test_average_link_on_arrays_merges_as_the_dict_version(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stories, "_PROFILE_ROWS", 7)  # many blocks of rows
    rng = np.random.default_rng(seed)
    count = 80
    rows = rng.integers(0, count, 400)
    cols = rng.integers(0, count, 400)
    weights = rng.choice([0.2, 0.4, 0.6, 0.8], 400)  # few values: many ties
    graph = sp.csr_matrix((weights, (rows, cols)), shape=(count, count))
    graph = sp.csr_matrix(graph.maximum(graph.T))
    graph.setdiag(0)
    graph.eliminate_zeros()
    for threshold in (0.1, 0.3, 0.5):
        labels = stories._average_link(stories._shared_neighbourhoods(graph, threshold), threshold)
        assert labels.tolist() == reference_clusters(graph, threshold)


def test_weak_links_below_the_floor_are_left_out_and_the_rest_kept() -> None:
    rng = np.random.default_rng(3)
    count = 80
    rows, cols = rng.integers(0, count, 400), rng.integers(0, count, 400)
    graph = sp.csr_matrix((rng.uniform(0.1, 0.9, 400), (rows, cols)), shape=(count, count))
    graph = sp.csr_matrix(graph.maximum(graph.T))
    graph.setdiag(0)
    graph.eliminate_zeros()

    def links(floor: float) -> dict[tuple[int, int], float]:
        affinity = stories._shared_neighbourhoods(graph, 0.3, floor)
        return {
            (row, other): total
            for row, (names, totals) in enumerate(zip(affinity.names, affinity.totals, strict=True))
            for other, total in zip(names, totals, strict=True)
        }

    full, floored = links(0.0), links(0.1)
    assert min(full.values()) < 0.1  # there are weak links to leave out
    assert floored == {pair: value for pair, value in full.items() if value >= 0.1}


def test_clustering_keeps_nothing_once_it_returns() -> None:
    """No vocabulary, vectors or links survive the call: only the story ids do."""
    articles = [
        (f"doc{i}", "Feed", f"2024-03-{1 + i % 28:02d}", None, (), f"{a[5]} copy {i}")
        for i, a in enumerate(ARTICLES * 20)
    ]
    cluster(articles)  # imports and caches
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = cluster(articles)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    result = sys.getsizeof(ids) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in ids.items())
    assert held < result + 16_384


# --- the candidate search of large collections -----------------------------------------


def invented_events(events: int = 12, tellings: int = 5) -> list[tuple[object, ...]]:
    """``events`` events, each told ``tellings`` times in words no other event uses."""
    articles: list[tuple[object, ...]] = []
    for event in range(events):
        words = [f"e{event}w{k}" for k in range(30)]
        for telling in range(tellings):
            rng = random.Random(event * 100 + telling)
            text = " ".join([*rng.sample(words, 20), "report", "said", "today"])
            day = f"2024-03-{1 + event:02d}"
            title = f"e{event}w{telling} news" if telling % 2 else None
            articles.append((f"ev{event}/t{telling}", f"Outlet {telling}", day, title, (), text))
    return articles


def search_cluster(articles: Sequence[tuple[object, ...]], search: str) -> dict[str, str]:
    docs = story_docs(articles)
    ids = cluster_stories(
        docs, lambda: (str(a[5]) for a in articles), StoryOptions(), search=search
    )
    return {doc.id: story for doc, story in zip(docs, ids, strict=True)}


def test_candidate_search_finds_the_exact_neighbours_of_clear_events() -> None:
    articles = invented_events()
    docs = story_docs(articles)

    def texts() -> Iterable[str]:
        return (str(a[5]) for a in articles)

    order, exact = stories.story_neighbours(docs, texts, StoryOptions(), search="exact")
    again, found = stories.story_neighbours(docs, texts, StoryOptions(), search="candidates")
    assert again == order
    assert (exact != 0).nnz == (found != 0).nnz > 0
    assert ((exact != 0) != (found != 0)).nnz == 0  # the same pairs
    np.testing.assert_allclose(found.toarray(), exact.toarray(), rtol=1e-5, atol=1e-6)
    stories_found = search_cluster(articles, "candidates")
    assert stories_found == search_cluster(articles, "exact")
    assert len(set(stories_found.values())) == 12


def test_candidate_search_on_the_articles_gives_todays_stories() -> None:
    assert search_cluster(ARTICLES, "candidates") == cluster()


def test_candidate_search_does_not_depend_on_the_input_order() -> None:
    articles = invented_events(6, 4) + list(ARTICLES)
    expected = search_cluster(articles, "candidates")
    for seed in range(3):
        shuffled = list(articles)
        random.Random(seed).shuffle(shuffled)
        assert search_cluster(shuffled, "candidates") == expected


def test_candidate_search_leaves_documents_without_usable_text_alone() -> None:
    blank = [(f"doc{i}", "Feed", None, None, (), text) for i, text in enumerate(["", "the of", ""])]
    assert len(set(search_cluster(blank, "candidates").values())) == 3
    mixed = [*blank, *ARTICLES]
    found = search_cluster(mixed, "candidates")
    assert found == search_cluster(mixed, "exact")
    assert len({found["doc0"], found["doc1"], found["doc2"]}) == 3


def test_candidate_search_removes_its_scratch_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    search_cluster(invented_events(3, 3), "candidates")
    assert list(tmp_path.iterdir()) == []


def test_disk_vectors_are_the_term_vectors_in_float32(tmp_path: Path) -> None:
    from docstage_plugins.dedup.story_files import disk_vectors
    from docstage_plugins.dedup.story_vectors import analyzer

    texts = [str(a[5]) for a in ARTICLES] + ["", "the of"]
    order = list(range(len(texts)))[::-1]
    exact = term_vectors(iter(texts), len(texts), rows=order)
    on_disk = disk_vectors(iter(texts), len(texts), analyzer(False), tmp_path, rows=order)
    assert on_disk.terms == exact.terms
    every = np.arange(len(texts))
    # Terms are numbered alike (first seen); rows hold them sorted on disk.
    expected = exact.rows(0, len(texts))
    expected.sort_indices()
    got = on_disk.rows(every)
    assert (got.indptr == expected.indptr).all()
    assert (got.indices == expected.indices).all()
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-6)
    assert on_disk.has_terms().tolist() == exact.has_terms().tolist()


def test_a_term_of_the_candidate_index_keeps_only_its_heaviest_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docstage_plugins.dedup import story_candidates
    from docstage_plugins.dedup.story_files import disk_vectors
    from docstage_plugins.dedup.story_vectors import analyzer

    monkeypatch.setattr(story_candidates, "_POSTINGS", 2)
    texts = ["alpha beta", "alpha gamma delta", "alpha", "alpha beta gamma"]
    vectors = disk_vectors(iter(texts), 4, analyzer(False), tmp_path)
    present = np.ones(4, dtype=bool)
    index = story_candidates.candidate_index([(1.0, vectors, present)], 4, tmp_path, 1 << 20)
    sizes = np.diff(index.indptr)
    assert sizes.tolist() == [2, 2, 2, 1]  # alpha, beta, gamma, delta
    docs = np.fromfile(index.docs_path, dtype=np.int32)
    assert docs[:2].tolist() == [2, 0]  # alpha weighs most where it is alone, then doc 0


def test_an_unknown_search_is_refused() -> None:
    with pytest.raises(ValueError, match="search must be one of auto, exact, candidates, got 'x'"):
        cluster_stories(story_docs(), lambda: iter(()), StoryOptions(), search="x")


def test_benchmark_scale_runs_on_a_generated_corpus(tmp_path: Path) -> None:
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    corpus, output = tmp_path / "corpus", tmp_path / "scale.json"
    for command in (
        [benchmarks / "corpus.py", corpus, "--smoke"],
        [
            *(benchmarks / "stories.py", "--scale", "300,500", "--search", "candidates"),
            *("--generated", corpus, "--output", output),
        ],
    ):
        done = subprocess.run(
            [sys.executable, *map(str, command)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert "- 500 documents:" in done.stdout
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert sorted(figures["scale"]) == ["candidates 300", "candidates 500"]
    assert figures["scale"]["candidates 500"]["documents"] == 500
    assert figures["settings"]["exact_up_to"] == stories.EXACT_UP_TO
