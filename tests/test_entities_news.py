"""configs/news.toml end to end with the entity stages: what the canonical
case asks for, on the seed articles (skipped without ``../shared``) and on invented
articles from two outlets (always run), with each backend."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage.cli import cli
from docstage.document import Document
from tests.conftest import CONFIGS, news_outputs

WIRE = """\
By Lena Moritz | Northgate Wire
Posted on March 4, 2025

Chancellor Olaf Brenner met US trade envoy Rachel Adeyemi in Vienna on Monday. Brenner
said Austria and the United States would sign the agreement before the summer.

Mr. Brenner later told reporters in Vienna that NATO had not been consulted.

Filed under: Trade, Europe
"""

GAZETTE = """\
date 2025-03-04 Talks between Austria and the U.S. ended on Monday without a deal, officials
in Vienna said. Olaf Brenner and Rachel Adeyemi are expected to meet again in Brussels.

The United States wants tariffs cut before the summer, Adeyemi said.

Categorized in:
"""


def run_news(run_pipeline, tmp_path: Path, inputs: str, backend: str) -> list[Document]:
    result = run_pipeline(
        CONFIGS / "news.toml",
        overrides=[
            f"stages.read.files.path={inputs}",
            f"stages.entities.backend={backend}",
            *news_outputs(tmp_path),
        ],
    )
    assert result.summary.exit_code == 0
    assert result.quarantine == []
    return result.documents


def mentions(docs: list[Document], label: str | None = None) -> set[str]:
    return {e.text for d in docs for e in d.entities if label is None or e.label == label}


def ids_of(docs: list[Document], *texts: str) -> dict[str, set[str | None]]:
    """The entity ids of the mentions reading ``texts``, per document."""
    return {
        d.id: {e.entity_id for e in d.entities if e.text in texts}
        for d in docs
        if any(e.text in texts for e in d.entities)
    }


def test_news_pipeline_on_the_seed_articles(
    run_pipeline, tmp_path: Path, shared: Path, backend: str
) -> None:
    docs = run_news(run_pipeline, tmp_path, f"{(shared / 'seeds').as_posix()}/*.txt", backend)
    assert len(docs) == 2
    people = {"Vladimir Putin", "Joe Biden", "Donald Trump", "Matthew Chance"}
    assert people <= mentions(docs, "PERSON")
    places = mentions(docs, "GPE") | mentions(docs, "LOC")
    assert {"Geneva", "Switzerland", "Washington", "Russia", "United States"} <= places
    assert {"Helsinki", "Ukraine"} <= places
    assert {"Kremlin", "NATO"} <= mentions(docs, "ORG")
    putin = {e.canonical for d in docs for e in d.entities if e.text == "Putin"}
    assert putin == {"Vladimir Putin"}
    # US and United States: one entity, in both articles
    us = ids_of(docs, "US", "United States")
    assert len(us) == 2
    assert len(set().union(*us.values())) == 1
    assert None not in set().union(*us.values())
    assert_entity_table(tmp_path / "entities.csv", "United States", {"US", "United States"}, 2)


def test_news_pipeline_on_invented_articles_from_two_outlets(
    run_pipeline, tmp_path: Path, backend: str
) -> None:
    inputs = tmp_path / "in"
    for outlet, name, text in (
        ("northgate-wire", "brenner-adeyemi.txt", WIRE),
        ("valley-gazette", "talks-end.txt", GAZETTE),
    ):
        (inputs / outlet).mkdir(parents=True)
        (inputs / outlet / name).write_text(text, encoding="utf-8")
    docs = run_news(run_pipeline, tmp_path / "out", f"{inputs.as_posix()}/*/*.txt", backend)
    assert len(docs) == 2
    assert {"Olaf Brenner", "Rachel Adeyemi"} <= mentions(docs, "PERSON")
    assert {"Vienna", "Austria", "United States"} <= mentions(docs, "GPE")
    brenner = {e.canonical for d in docs for e in d.entities if e.text == "Brenner"}
    assert brenner == {"Olaf Brenner"}
    # the stray header and footer lines are metadata, not entities
    assert "Northgate Wire" not in mentions(docs)
    assert all("Categorized" not in e.text for d in docs for e in d.entities)
    # US, U.S. and United States: one entity across both outlets
    us = ids_of(docs, "US", "U.S.", "United States")
    assert len(us) == 2
    (entity_id,) = set().union(*us.values())
    assert entity_id is not None
    table = assert_entity_table(
        tmp_path / "out" / "entities.csv", "United States", {"US", "U.S.", "United States"}, 2
    )
    assert table["United States"]["sources"] == "2"


def assert_entity_table(
    path: Path, canonical: str, aliases: set[str], documents: int
) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = {row["canonical"]: row for row in csv.DictReader(handle)}
    row = rows[canonical]
    assert {a.rsplit(" (", 1)[0] for a in row["aliases"].split(" | ")} >= aliases
    assert int(row["documents"]) == documents
    return rows


def test_check_without_spacy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without spaCy, ``backend = "spacy"`` fails ``pipeline check`` in one line naming the
    extra; news.toml's ``auto`` passes and says it falls back to the rules backend."""
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy now raises ImportError
    config = str(CONFIGS / "news.toml")
    runner = CliRunner()
    result = runner.invoke(cli, ["check", config, "--set", "stages.entities.backend=spacy"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "(entities)" in line
    assert "pip install 'docstage[spacy]'" in line
    result = runner.invoke(cli, ["check", config])
    assert result.exit_code == 0, result.output
    assert "using the rules backend" in result.output
