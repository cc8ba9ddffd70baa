"""The cleanup stages together, as configs/news.toml chains them."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docstage.cleaning import restore
from docstage.document import REMOVED, Document
from tests.conftest import CONFIGS, news_outputs

CHAIN = [
    {"use": "cleanup.mail"},
    {"use": "cleanup.metadata"},
    {"use": "cleanup.boilerplate"},
    {"use": "cleanup.normalize"},
]


def test_news_config_on_the_seed_articles(shared: Path, run_pipeline, tmp_path: Path) -> None:
    seeds = shared / "seeds"
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=[
            f"stages.read.files.path={seeds.as_posix()}/*.txt",
            *news_outputs(tmp_path),
        ],
    )
    assert result.exit_code == 0
    docs = {d.id[:3]: d for d in result.documents}
    originals = {p.name[:3]: p.read_text(encoding="utf-8") for p in seeds.glob("*.txt")}
    first = docs["000"]
    assert first.metadata["published"] == "2021-06-16"
    assert first.text.startswith("Russian President Vladimir Putin on Wednesday said that")
    assert first.text == originals["000"].removeprefix(" date 2021-06-16 ")
    second = docs["004"]
    assert "Categorized in" not in second.text
    assert second.text == originals["004"].rstrip().removesuffix("Categorized in:").rstrip() + "\n"


def test_news_config_on_the_invented_examples(run_pipeline, tmp_path: Path) -> None:
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=news_outputs(tmp_path),
    )
    docs = {d.id.split("/")[-1]: d for d in result.documents}
    talks = docs["2024-03-12-port-strike-talks.txt"]
    assert talks.metadata["published"] == "2024-03-12"
    assert talks.text.startswith("Dockworkers' union leader Marta Lindqvist on Tuesday said")
    assert talks.text.rstrip().endswith("according to the Brevik Chamber of Commerce.")
    framework = docs["port-strike-framework.txt"]
    assert framework.metadata["categories"] == ["Business", "Labour"]
    assert "Share this" not in framework.text
    assert (tmp_path / "boilerplate.json").is_file()


LINES = [
    "Harbour talks resumed on Monday after a week of silence.",
    "The minister said the ferry would run again in spring.",
    "“We encounter this every year,” the mayor said.",
    "Subscribe to our newsletter",
    "Share this:",
    "Categorized in: Ports, Labour",
    "Tags: ferries",
    "Posted on June 16, 2021",
    "date 2021-06-16 Talks resumed.",
    "By Jane Doe | Harbor Times",
    "From: reader@example.org (A Reader)",
    "Subject: ferry times",
    "-- ",
    "A Reader, Brevik",
    "> quoted text",
    "",
    "  spaced   out\tline  ",
    "Copyright 2024 Harbor Times. All rights reserved.",
]
TEXTS = st.lists(st.sampled_from(LINES) | st.text(max_size=12), min_size=0, max_size=12).map(
    "\n".join
)
CORPUS = st.lists(st.tuples(st.sampled_from(["wire", "times"]), TEXTS), min_size=1, max_size=8)


def run_chain(run_pipeline, docs: list[Document], batch_size: int) -> dict[str, Document]:
    result = run_pipeline({"run": {"batch_size": batch_size}, "stages": CHAIN}, documents=docs)
    assert result.exit_code == 0, result.quarantine
    return {d.id: d for d in result.documents}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(CORPUS, st.randoms(use_true_random=False), st.integers(1, 5))
def test_order_and_batches_do_not_change_the_output(
    run_pipeline, corpus: list[tuple[str, str]], shuffle: random.Random, batch_size: int
) -> None:
    docs = [Document(id=f"d{n}", source=s, text=t) for n, (s, t) in enumerate(corpus)]
    expected = run_chain(run_pipeline, docs, batch_size=256)
    shuffled = list(docs)
    shuffle.shuffle(shuffled)
    got = run_chain(run_pipeline, shuffled, batch_size=batch_size)
    assert got.keys() == expected.keys()
    for doc_id, doc in expected.items():
        assert got[doc_id].text == doc.text
        assert got[doc_id].metadata == doc.metadata
        assert got[doc_id].get(REMOVED) == doc.get(REMOVED)
    # Kept text and recorded removals give back the input exactly, through every stage.
    for original in docs:
        if original.id in expected:
            out = expected[original.id]
            assert restore(out.text, out.get(REMOVED) or ()) == original.text
