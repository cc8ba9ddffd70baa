"""cleanup.boilerplate: lines learned per source and cut; page furniture; nothing lost.

The corpora here are invented: news pages of three made-up outlets, each page with its
outlet's menu, share bar and footer around an article of its own.
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage import ConfigError, hookimpl
from docstage.cleaning import restore
from docstage.document import REMOVED, Document
from docstage.registry import StageRegistry
from docstage.testing import RunResult, run_pipeline
from docstage_plugins.cleanup.boilerplate import CleanupBoilerplate, furniture_lines
from tests.conftest import ROOT

LEARNED = "cleanup.boilerplate:learned"
FURNITURE = "cleanup.boilerplate:furniture"

HARBOR_TOP = [
    "Harbor Times",
    "Home | Local | Business | Sport | Opinion",
    "Subscribe to the Harbor Times newsletter",
]
HARBOR_BOTTOM = [
    "Share this article",
    "Facebook",
    "Twitter",
    "© 2024 Harbor Times. All rights reserved.",
]
VALLEY_TOP = ["Valley Post — news from the valley", "Menu", "Search"]
VALLEY_BOTTOM = ["Page 1 of 2", "Follow the Valley Post on Mastodon", "Valley Post Ltd"]

SUBJECTS = [
    "The ferry link to Brevik",
    "The council's budget for schools",
    "The new library in Valdal",
    "The bridge over the Alder river",
    "Dockworkers at the Port of Aldermouth",
    "The storm that hit the coast on Sunday",
    "The market hall in the old town",
    "A vote on the harbour tax",
]
VERBS = ["will reopen", "was delayed again", "drew a crowd", "needs more money", "was approved"]
WHEN = ["on Monday", "after a long winter", "this spring", "before the summer", "last week"]


def article(number: int, paragraphs: int = 3) -> list[str]:
    """Invented article text: a few sentences, different for every ``number``."""
    rng = random.Random(number)
    text = []
    for _ in range(paragraphs):
        sentences = [
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(WHEN)}, "
            f"said {rng.choice(['Marta Lindqvist', 'Henrik Dahl', 'Tomas Eriksen'])} "
            f"in report number {number}-{rng.randrange(1000)}."
            for _ in range(rng.randint(1, 3))
        ]
        text.append(" ".join(sentences))
    return text


def page(source: str, number: int, page_of: int = 1) -> Document:
    top, bottom = {
        "harbor-times": (HARBOR_TOP, HARBOR_BOTTOM),
        "valley-post": (VALLEY_TOP, VALLEY_BOTTOM),
    }.get(source, ([], []))
    bottom = [line.replace("Page 1 of 2", f"Page {page_of} of {page_of + 1}") for line in bottom]
    body = article(number)
    return Document(
        id=f"{source}/{number}",
        source=source,
        text="\n".join([*top, *body, *bottom]) + "\n",
    )


def corpus(pages_per_source: int = 5) -> list[Document]:
    return [
        page(source, number, page_of=number + 1)
        for source in ("harbor-times", "valley-post")
        for number in range(pages_per_source)
    ]


class _Provides:
    """Registers the stage for runs that name it, unless a plugin already does."""

    @hookimpl
    def docstage_register_stages(self, registry: StageRegistry) -> None:
        if registry.get(CleanupBoilerplate.name) is None:
            registry.add(CleanupBoilerplate)


def run(
    docs: Sequence[Document], folder: Path, *, batch_size: int = 256, **options: Any
) -> RunResult:
    config = {
        "run": {"batch_size": batch_size},
        "stages": [{"use": CleanupBoilerplate.name, **options}],
    }
    return run_pipeline(
        config, documents=docs, plugins=[("test-boilerplate", _Provides())], folder=folder
    )


def removed(doc: Document) -> list[tuple[str, str]]:
    return [(r.rule, r.text) for r in doc.get(REMOVED) or ()]


def assert_restorable(inputs: Sequence[Document], outputs: Sequence[Document]) -> None:
    originals = {doc.id: doc.text for doc in inputs}
    for doc in outputs:
        removals = doc.get(REMOVED) or ()
        assert restore(doc.text, removals) == originals[doc.id]


# --- learned boilerplate ---------------------------------------------------------------


def test_recurring_lines_are_learned_and_cut_per_source(tmp_path: Path) -> None:
    docs = corpus()
    result = run(docs, tmp_path)
    assert result.ids == [doc.id for doc in docs]
    for doc in result.documents:
        number = int(doc.id.split("/")[1])
        assert doc.text == "\n".join(article(number)) + "\n"
        assert {rule for rule, _ in removed(doc)} == {LEARNED}
    harbor = result.documents[0]
    cut = [line for _, text in removed(harbor) for line in text.splitlines()]
    assert cut == [*HARBOR_TOP, *HARBOR_BOTTOM]  # touching lines are recorded as one cut
    assert_restorable(docs, result.documents)
    stats = result.stage(CleanupBoilerplate.name)
    assert (stats.docs_in, stats.docs_out, stats.errors) == (10, 10, 0)


def test_numbers_are_read_as_zero_unless_told_otherwise(tmp_path: Path) -> None:
    docs = corpus()  # "Page 1 of 2", "Page 2 of 3", ... on the valley-post pages
    assert all("Page " not in doc.text for doc in run(docs, tmp_path).documents)
    kept = run(docs, tmp_path, fold_digits=False).documents
    assert all("Page " in doc.text for doc in kept if doc.source == "valley-post")


def test_a_line_frequent_in_one_source_stays_in_another(tmp_path: Path) -> None:
    shared_line = "Subscribe to the Harbor Times newsletter"
    lonely = [
        Document(
            id=f"wire/{n}",
            source="wire",
            text="\n".join([shared_line if n == 0 else "Wire service", *article(100 + n)]),
        )
        for n in range(4)
    ]
    result = run([*corpus(), *lonely], tmp_path)
    wire = {doc.id: doc for doc in result.documents if doc.source == "wire"}
    assert shared_line in wire["wire/0"].text
    assert all("Wire service" not in doc.text for doc in wire.values())


def test_a_line_in_one_document_is_never_cut(tmp_path: Path) -> None:
    once = "Correction: an earlier version misspelled the minister's name."
    docs = [
        Document(id=str(n), source="s", text="\n".join(["Menu", *article(n), *([once] * (n == 1))]))
        for n in range(3)
    ]
    result = run(docs, tmp_path, min_documents=2, min_fraction=0.0)
    assert [once in doc.text for doc in result.documents] == [False, True, False]
    assert all("Menu" not in doc.text for doc in result.documents)


def test_a_line_repeated_inside_one_document_is_still_one_document(tmp_path: Path) -> None:
    docs = [
        Document(id="a", source="s", text="Hear hear.\nHear hear.\nHear hear.\n" + article(1)[0]),
        *[Document(id=str(n), source="s", text=article(n)[0]) for n in range(2, 5)],
    ]
    assert run(docs, tmp_path).documents[0].text == docs[0].text


@pytest.mark.parametrize("value", [1, 0, -3])
def test_min_documents_below_two_is_refused(tmp_path: Path, value: int) -> None:
    with pytest.raises(ConfigError) as caught:
        run(corpus(), tmp_path, min_documents=value)
    assert (
        "invalid option value: 'min_documents' must be at least 2 (a line found in only one "
        f"document is never boilerplate), got {value}" in str(caught.value)
    )


def test_min_fraction_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'min_fraction' must be between 0 and 1, got 1\.5"):
        run(corpus(), tmp_path, min_fraction=1.5)


def test_min_fraction_spares_lines_of_a_few_documents_in_a_big_source(tmp_path: Path) -> None:
    quote = '"We will not sign anything our members have not read," Lindqvist said.'
    docs = [
        Document(id=str(n), source="s", text="\n".join([*article(n), *([quote] * (n < 3))]))
        for n in range(20)
    ]
    assert quote in run(docs, tmp_path, min_fraction=0.2).documents[0].text  # needs 4 of 20
    assert quote not in run(docs, tmp_path, min_fraction=0.1).documents[0].text  # needs 3


def test_min_length_spares_short_lines(tmp_path: Path) -> None:
    docs = [
        Document(id=str(n), source="s", text="\n".join(["Yes.", *article(n), "Harbor Times"]))
        for n in range(3)
    ]
    texts = run(docs, tmp_path, min_length=5).texts
    assert all(text.startswith("Yes.\n") and "Harbor Times" not in text for text in texts)


def test_copies_of_one_text_are_not_boilerplate(tmp_path: Path) -> None:
    story = "\n".join(["Harbor Times", *article(7)])
    docs = [Document(id=f"copy{n}", source="s", text=story) for n in range(3)]
    docs += [
        Document(id=str(n), source="s", text="\n".join(["Harbor Times", *article(n)]))
        for n in range(2)
    ]
    result = run(docs, tmp_path)
    assert all(doc.text.startswith(article(7)[0]) for doc in result.documents[:3])
    assert all("Harbor Times" not in text for text in result.texts)


def test_structure_lines_without_words_are_not_learned(tmp_path: Path) -> None:
    docs = [
        Document(id=str(n), source="list", text=f"{article(n)[0]}\n\n-- \nJane\n>\n")
        for n in range(3)
    ]
    texts = run(docs, tmp_path).texts
    assert all(text.endswith("\n-- \n>\n") for text in texts)  # only "Jane" was learned


def test_blank_lines_go_with_the_lines_they_separated(tmp_path: Path) -> None:
    docs = [
        Document(
            id=str(n),
            source="s",
            text=f"Harbor Times\n\n{article(n)[0]}\n\nMenu\n\n{article(n)[1]}\n\nShare\n\n",
        )
        for n in range(3)
    ]
    for doc in run(docs, tmp_path).documents:
        n = int(doc.id)
        assert doc.text == f"{article(n)[0]}\n\n{article(n)[1]}\n"
    assert_restorable(docs, run(docs, tmp_path).documents)


def test_each_source_is_logged_with_its_counts(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        run(corpus(), tmp_path)
    lines = [entry for entry in logs if entry["event"] == "boilerplate removed"]
    assert [entry["source"] for entry in lines] == ["harbor-times", "valley-post"]
    harbor = lines[0]
    assert (harbor["documents"], harbor["threshold"], harbor["learned"]) == (5, 3, 7)
    assert (harbor["learned_lines"], harbor["furniture_lines"]) == (35, 0)


def test_the_report_lists_learned_lines_and_how_often(tmp_path: Path) -> None:
    docs = corpus()
    run(docs, tmp_path, report="out/boilerplate.json")
    report = json.loads((tmp_path / "out" / "boilerplate.json").read_text(encoding="utf-8"))
    assert list(tmp_path.joinpath("out").iterdir()) == [tmp_path / "out" / "boilerplate.json"]
    assert report["stage"] == "cleanup.boilerplate"
    assert report["options"]["min_documents"] == 3
    valley = report["sources"][1]
    assert valley["source"] == "valley-post"
    assert (valley["documents"], valley["threshold"]) == (5, 3)
    assert valley["lines_removed"] == {"learned": 30, "furniture": 0}
    assert {"line": "Page 1 of 2", "documents": 5} in valley["learned"]
    assert {"line": "Menu", "documents": 5} in valley["learned"]


def test_the_removed_counts_are_kept_on_the_stage() -> None:
    stage = CleanupBoilerplate()
    list(stage.process_stream(iter(corpus())))
    harbor = stage.removed_counts["harbor-times"]
    assert (harbor.documents, harbor.threshold, harbor.learned_lines) == (5, 3, 35)
    assert sorted(line for line, _ in harbor.learned.values()) == sorted(HARBOR_TOP + HARBOR_BOTTOM)


def test_a_report_that_cannot_be_written_fails_at_setup(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="option 'report': cannot write to output folder"):
        run(corpus(), tmp_path, report="taken/boilerplate.json")


# --- determinism -----------------------------------------------------------------------

LINE_POOL = [
    "Home | News | Sport",
    "Share this",
    "Page 2 of 9",
    "Page 14 of 20",
    "Read more",
    "Related stories",
    "© 2024 Harbor Times",
    "",
    *[sentence for n in range(6) for sentence in article(200 + n, paragraphs=1)],
]


@st.composite
def corpora(draw: st.DrawFn) -> list[Document]:
    count = draw(st.integers(min_value=1, max_value=14))
    docs = []
    for n in range(count):
        source = draw(st.sampled_from(["a", "b", "c"]))
        picked = draw(st.lists(st.sampled_from(LINE_POOL), max_size=8))
        docs.append(Document(id=f"d{n}", source=source, text="\n".join(picked)))
    return docs


@settings(max_examples=40, deadline=None)
@given(
    docs=corpora(),
    seed=st.integers(min_value=0, max_value=2**16),
    batch_size=st.integers(min_value=1, max_value=6),
    furniture_everywhere=st.booleans(),
)
def test_output_does_not_depend_on_order_or_batches(
    tmp_path_factory: pytest.TempPathFactory,
    docs: list[Document],
    seed: int,
    batch_size: int,
    furniture_everywhere: bool,
) -> None:
    folder = tmp_path_factory.mktemp("determinism")
    options = {"min_documents": 2, "furniture_everywhere": furniture_everywhere}
    reference = run(docs, folder, **options)
    shuffled = list(docs)
    random.Random(seed).shuffle(shuffled)
    again = run(shuffled, folder, batch_size=batch_size, **options)
    assert again.ids == [doc.id for doc in shuffled]  # the input order is kept
    by_id = {doc.id: doc for doc in again.documents}
    for doc in reference.documents:
        assert (by_id[doc.id].text, removed(by_id[doc.id])) == (doc.text, removed(doc))
    assert_restorable(docs, again.documents)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=6), everywhere=st.booleans())
def test_arbitrary_text_is_never_lost_unrecorded(texts: list[str], everywhere: bool) -> None:
    docs = [Document(id=str(n), source="s" if n % 2 else "t", text=t) for n, t in enumerate(texts)]
    stage = CleanupBoilerplate(min_documents=2, furniture_everywhere=everywhere)
    out = list(stage.process_stream(iter(docs)))
    assert [doc.id for doc in out] == [doc.id for doc in docs]
    assert_restorable(docs, out)


# --- page furniture --------------------------------------------------------------------

PARAGRAPHS = [
    "BREVIK — Negotiators for striking dockworkers and the Port of Aldermouth emerged late "
    'on Tuesday with what union leader Marta Lindqvist called "a framework, not a deal".',
    "Lindqvist, speaking outside the ministry building in Brevik, said her members would "
    'vote only on a written text. "We will not sign anything our members have not read line '
    'by line," she said.',
    "Talks resume on Thursday",
    "Henrik Dahl, chief executive of the port authority, said the offer on shift pay stays "
    "on the table until Friday, and that the port would reopen to ferries on Monday.",
    "Harbour Minister Tomas Eriksen said the government had no plans to impose a settlement, "
    "and called on both sides to return to the table on Thursday.",
]
FURNITURE_LINES = [
    "Skip to content",
    "Home",
    "Local",
    "Business",
    "Sport",
    "World | Politics | Culture | Weather",
    "Subscribe",
    "Sign in",
    "Dockworkers and port reach a framework",
    "Advertisement",
]
FOOTER_LINES = [
    "Share this article",
    "Facebook",
    "Twitter",
    "Email",
    "Related stories",
    "Ferry timetable changes for the spring",
    "Council votes on harbour tax",
    "We use cookies to improve your experience on our site. By using the site you accept "
    "our cookie policy.",
    "Privacy Policy | Terms of Use | Contact us",
    "© 2024 Coastal Wire. All rights reserved.",
]
PAGE = "\n".join([*FURNITURE_LINES, *PARAGRAPHS, *FOOTER_LINES])


def test_furniture_is_cut_from_a_page_without_siblings(tmp_path: Path) -> None:
    doc = Document(id="p", source="coastal-wire", text=PAGE)
    [out] = run([doc], tmp_path).documents
    assert out.text == "\n".join(PARAGRAPHS) + "\n"
    assert {rule for rule, _ in removed(out)} == {FURNITURE}
    assert_restorable([doc], [out])


def test_the_furniture_heuristic_can_be_switched_off(tmp_path: Path) -> None:
    doc = Document(id="p", source="coastal-wire", text=PAGE)
    [out] = run([doc], tmp_path, furniture=False).documents
    assert out.text == PAGE
    assert out.get(REMOVED) is None


def test_learned_sources_get_furniture_only_when_asked(tmp_path: Path) -> None:
    docs = [
        Document(id=str(n), source="s", text="\n".join(["Menu", *article(n), "Read more"]))
        for n in range(3)
    ]
    docs[0] = docs[0].evolve(text=docs[0].text + "\nRelated stories")
    default = run(docs, tmp_path).documents[0]
    assert default.text.endswith("Related stories")
    everywhere = run(docs, tmp_path, furniture_everywhere=True).documents[0]
    assert everywhere.text == "\n".join(article(0)) + "\n"
    assert removed(everywhere)[-2:] == [(LEARNED, "Read more\n"), (FURNITURE, "Related stories")]


@pytest.mark.parametrize(
    "line",
    [
        "Share this:",
        "Share on Facebook",
        "Follow us on Twitter",
        "Like us on Facebook",
        "Copyright 2024 Valley Post",
        "© Valley Post 2024",
        "All rights reserved.",
        "Advertisement",
        "ADVERTISEMENT",
        "Story continues below advertisement",
        "Sign up for our newsletter",
        "Read more",
        "Read more: Council votes on harbour tax",
        "Related articles",
        "You may also like",
        "Skip to content",
        "Back to top",
        "12 Comments",
        "Leave a comment",
        "Tags: ferry, strike",
        "Privacy Policy",
        "Photo: Getty Images",
        "This website uses cookies.",
        "Home • News • Sport • Weather",
    ],
)
def test_furniture_phrases(line: str) -> None:
    assert furniture_lines([PARAGRAPHS[0], line, PARAGRAPHS[1]]) == [1]


@pytest.mark.parametrize(
    "line",
    [
        "Related to the strike, the union said its members had not been paid since March.",
        "Readers who subscribe to the union's newsletter learned of the vote first.",
        "Copyright law was not part of the talks, Dahl said.",
        "He said the cookies served at the ministry were the best part of the day.",
        "Share prices of the ferry operator rose by four percent on Tuesday after the news.",
    ],
)
def test_article_sentences_that_mention_furniture_words_are_kept(line: str) -> None:
    assert furniture_lines([PARAGRAPHS[0], line, PARAGRAPHS[1]]) == []


def test_the_main_block_keeps_short_lines_between_paragraphs() -> None:
    # "Talks resume on Thursday" is a subheading between paragraphs: kept.
    text = [*FURNITURE_LINES, *PARAGRAPHS, *FOOTER_LINES]
    cut = set(furniture_lines(text))
    assert [line for n, line in enumerate(text) if n not in cut] == PARAGRAPHS


def test_a_line_repeated_on_a_page_is_cut_the_second_time() -> None:
    text = [PARAGRAPHS[0], PARAGRAPHS[1], PARAGRAPHS[3], PARAGRAPHS[1], PARAGRAPHS[4]]
    assert furniture_lines(text) == [3]


def test_hard_wrapped_mail_is_left_to_the_phrase_rules() -> None:
    mail = [
        "In article <1993Apr5.1234@harbor.org> jane@harbor.org writes:",
        "> The ferry link to Brevik will reopen on Monday, the council said",
        "> after a long winter of repairs.",
        "",
        "I doubt it will reopen before the summer, because the council has not",
        "approved the money for the new ramp and the contractor is still waiting",
        "for the steel that was ordered in January.",
        "",
        "Thanks,",
        "Henrik",
        "-- ",
        "Henrik Dahl    | Aldermouth harbour office",
        "Copyright 1993 Henrik Dahl",
    ]
    assert furniture_lines(mail) == [12]


def test_a_page_without_prose_is_left_to_the_phrase_rules() -> None:
    text = ["Menu", "Results", "Harbor FC 2, Valley United 1", "Advertisement", "Standings"]
    assert furniture_lines(text) == [0, 3]


# --- quality on real pages ---------------------------------------------------------------


def _aeb_module() -> Any:
    path = ROOT / "benchmarks" / "aeb_text_route.py"
    spec = importlib.util.spec_from_file_location("aeb_text_route", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.corpus
def test_aeb_token_f1_of_the_text_route(shared: Path) -> None:
    corpus_path = shared / "corpora" / "boilerplate" / "aeb.jsonl"
    if not corpus_path.is_file():
        pytest.skip(f"{corpus_path} not found")
    aeb = _aeb_module()
    result = aeb.evaluate(aeb.load_pages(corpus_path), {})
    ours, everything = result["cleanup.boilerplate"], result["keep_everything"]
    assert everything["f1"] == pytest.approx(0.698, abs=0.001)
    assert ours["f1"] >= 0.80, ours
    assert ours["precision"] > everything["precision"]


def test_extracted_main_text_gets_no_furniture_heuristic(run_stage) -> None:
    text = (
        "Menu\nHome | World | Sport\n"
        + "The ferry link reopened on Monday after a long winter. " * 3
    )
    raw = Document(id="a", source="lone", text=text)
    extracted = raw.evolve(id="b", source="other", metadata={"extracted_by": "trafilatura"})
    result = run_stage("cleanup.boilerplate", [raw, extracted])
    by_id = {d.id: d for d in result.documents}
    assert "Home | World | Sport" not in by_id["a"].text
    assert by_id["b"].text == text
