"""The seed articles (``../shared/seeds``, skipped when absent) through configs/news.toml:
their shared quotes are found as quotes, from the opening mark, with Putin as speaker in
both outlets, and matched with each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from docstage.document import Document
from docstage_plugins.dedup.quotes import Quote
from tests.conftest import CONFIGS, news_outputs


def quote_with(doc: Document, words: str) -> Quote:
    (quote,) = [q for q in doc.annotations["quotes"] if words in q.text]
    assert doc.text[quote.start] == "“"
    assert doc.text[quote.end - 1] == "”"
    return quote


@pytest.mark.parametrize("backend", ["rules", "auto"])
def test_seed_quotes_are_putins_in_both_outlets(
    run_pipeline, shared: Path, tmp_path: Path, backend: str
) -> None:
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=[
            f"stages.read.files.path={shared.as_posix()}/seeds/*.txt",
            "stages.read.files.source=outlet-{stem}",
            f"stages.entities.backend={backend}",  # auto: spaCy when installed
            *news_outputs(tmp_path),
        ],
    )
    assert result.summary.exit_code == 0
    docs = result.documents
    first, second = sorted(docs, key=lambda d: d.id)
    for doc, other in ((first, second), (second, first)):
        for words in ("In general, and in particular for", "cyberspace", "every year"):
            quote = quote_with(doc, words)
            assert quote.speaker is not None
            assert quote.speaker.name in {"Vladimir Putin", "Putin"}, quote.speaker
            assert other.id in {m.id for m in quote.matches}, (words, quote.matches)
            for match in quote.matches:
                assert match.speaker in {"Vladimir Putin", "Putin"}
    # the dated outlet carried them first; the other has no date
    assert first.metadata["published"] == "2021-06-16"
    assert quote_with(first, "cyberspace").first
    assert not quote_with(second, "cyberspace").first
