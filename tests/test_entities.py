"""The ``entities`` stage: both backends, shared post-processing, within-document linking.

spaCy tests skip when spaCy or an English pipeline is not installed; seed tests skip when
``../shared`` is absent. The invented article covers the seeds' cases without either.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from docstage import ConfigError, Document
from docstage.document import Entity
from docstage.stages import StageContext
from docstage_plugins.entities import linking, rules, spacy_backend
from docstage_plugins.entities.extract import DEFAULT_LABELS, Entities, clean_spans

ARTICLE = (
    "Finnish President Anna Korhonen on Tuesday said that the Kremlin and Washington had "
    "agreed to resume talks on the Baltic Sea. Speaking after meeting US envoy Daniel Okafor "
    "in Geneva, Korhonen said NATO would hold its next summit in Helsinki in March 2024.\n\n"
    "Relations between Finland and Russia have cooled for years. Korhonen’s remarks were "
    "welcomed in Switzerland and Ukraine, and the United States said it would send a "
    "delegation. Mr. Steele, a spokesman, declined to comment.\n\n"
    "Michael Steele of the Harbour Institute said the talks were “a first step.”\n"
)


def context() -> StageContext:
    return StageContext(
        run_id="test",
        config_dir=Path("."),
        stage_name="entities",
        index=1,
        log=structlog.get_logger(),
    )


def found(doc: Document) -> dict[str, set[str]]:
    """Mention texts by label."""
    out: dict[str, set[str]] = {}
    for entity in doc.entities:
        out.setdefault(entity.label, set()).add(entity.text)
    return out


def canonical(doc: Document) -> dict[str, set[str]]:
    """Canonical forms by mention text."""
    out: dict[str, set[str]] = {}
    for entity in doc.entities:
        out.setdefault(entity.text, set()).add(entity.canonical or "")
    return out


# --- the stage on whole articles ----------------------------------------------------------


def test_invented_article(run_stage, backend: str) -> None:
    result = run_stage(Entities, [Document(id="a", text=ARTICLE)], backend=backend)
    (doc,) = result.documents
    labels = found(doc)
    assert {"Anna Korhonen", "Korhonen", "Michael Steele", "Steele"} <= labels["PERSON"]
    places = labels["GPE"] | labels.get("LOC", set())
    assert {"Washington", "Geneva", "Helsinki", "Finland", "Russia", "Switzerland"} <= places
    assert {"Ukraine", "United States", "US", "Baltic Sea"} <= places
    assert {"Kremlin", "NATO"} <= labels["ORG"]
    assert "Finnish" in labels["NORP"]
    assert {"Tuesday", "March 2024"} <= labels["DATE"]
    links = canonical(doc)
    assert links["Korhonen"] == {"Anna Korhonen"}
    assert links["Anna Korhonen"] == {"Anna Korhonen"}
    assert links["Steele"] == {"Michael Steele"}  # "Mr. Steele", before the full name
    assert links["US"] == {"United States"}
    for entity in doc.entities:
        assert ARTICLE[entity.start : entity.end] == entity.text
        assert "\n" not in entity.text
        assert not entity.text.endswith(("’s", "'s"))
        assert entity.entity_id is None  # set by entities.link, across documents
    assert doc.stages == ("entities",)
    assert result.stage("entities").docs_out == 1


def seed_documents(shared: Path) -> list[Document]:
    paths = sorted((shared / "seeds").glob("*.txt"))
    if not paths:
        pytest.skip(f"no seed articles in {shared / 'seeds'}")
    # cleanup.metadata removes this prefix in the real pipeline
    texts = [p.read_text(encoding="utf-8").replace(" date 2021-06-16 ", "", 1) for p in paths]
    return [Document(id=p.name, text=t) for p, t in zip(paths, texts, strict=True)]


def test_seed_articles(run_stage, backend: str, shared: Path) -> None:
    result = run_stage(Entities, seed_documents(shared), backend=backend)
    labels: dict[str, set[str]] = {}
    links: dict[str, set[str]] = {}
    for doc in result.documents:
        for label, texts in found(doc).items():
            labels.setdefault(label, set()).update(texts)
        for text, forms in canonical(doc).items():
            links.setdefault(text, set()).update(forms)
    people = {"Vladimir Putin", "Joe Biden", "Donald Trump", "Matthew Chance"}
    assert people <= labels["PERSON"]
    places = {"Geneva", "Switzerland", "Washington", "Russia", "United States", "Helsinki"}
    assert places | {"Ukraine"} <= labels["GPE"] | labels.get("LOC", set())
    assert {"Kremlin", "NATO"} <= labels["ORG"]
    assert "Wednesday" in labels["DATE"]
    assert links["Putin"] == {"Vladimir Putin"}
    assert links["Biden"] == {"Joe Biden"}


def test_labels_option_keeps_a_subset(run_stage) -> None:
    result = run_stage(
        Entities, [Document(id="a", text=ARTICLE)], backend="rules", labels=["PERSON", "GPE"]
    )
    assert {e.label for e in result.documents[0].entities} == {"PERSON", "GPE"}


def test_unknown_label_is_a_config_error(run_stage) -> None:
    with pytest.raises(ConfigError, match=r"unknown label 'PER' — did you mean 'PERSON'\?"):
        run_stage(Entities, [Document(id="a", text="x")], backend="rules", labels=["PER"])


def test_an_empty_label_list_keeps_every_label(run_stage, spacy_model: str) -> None:
    text = "She paid 40 dollars for 3 tickets to Paris."
    kept = run_stage(Entities, [Document(id="a", text=text)], backend="spacy", labels=[])
    default = run_stage(Entities, [Document(id="a", text=text)], backend="spacy")
    assert {"MONEY", "GPE"} <= {e.label for e in kept.documents[0].entities}
    assert {e.label for e in default.documents[0].entities} <= set(DEFAULT_LABELS)


def test_entities_are_replaced_and_untouched_documents_pass_through(run_stage) -> None:
    quiet = Document(id="a", text="nothing to see here.")
    stale = Document(
        id="b",
        text="nothing here either",
        entities=[Entity(label="ORG", text="nothing", start=0, end=7)],
    )
    result = run_stage(Entities, [quiet, stale], backend="rules")
    assert result.documents[0] == quiet
    assert result.documents[0].stages == ()  # handed back unchanged
    assert result.documents[1].entities == ()
    assert result.documents[1].stages == ("entities",)


def test_batches_give_the_same_result_as_single_documents(backend: str) -> None:
    stage = Entities(backend=backend)  # type: ignore[arg-type]
    stage.setup(context())
    docs = [
        Document(id=str(i), text=text)
        for i, text in enumerate([ARTICLE, "", "Ukraine\nNATO", ARTICLE.upper()])
    ]
    batched = stage.process_batch(docs)
    single = [stage.process(doc) for doc in docs]
    assert batched == single


# --- backends: choice, errors, pickling ---------------------------------------------------


def test_spacy_backend_without_spacy_is_one_line_naming_the_extra(run_stage, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy now fails
    with pytest.raises(ConfigError) as error:
        run_stage(Entities, [Document(id="a", text="x")], backend="spacy")
    message = str(error.value)
    assert "\n" not in message
    assert "option 'backend': spaCy is not installed: pip install 'docstage[spacy]'" in message
    assert "(entities)" in message


def test_auto_falls_back_to_rules_with_a_warning(run_stage, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)
    with capture_logs() as logs:
        result = run_stage(Entities, [Document(id="a", text=ARTICLE)])
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == [
        "entities: spaCy is not available, using the rules backend"
    ]
    assert "pip install 'docstage[spacy]'" in warnings[0]["reason"]
    assert "Anna Korhonen" in found(result.documents[0])["PERSON"]


def test_a_missing_model_is_a_config_error(run_stage, spacy_model: str) -> None:
    for backend in ("spacy", "auto"):
        with pytest.raises(ConfigError, match="option 'model': spaCy pipeline 'no_such_model'"):
            run_stage(
                Entities, [Document(id="a", text="x")], backend=backend, model="no_such_model"
            )


def test_the_spacy_pipeline_runs_ner_only(spacy_model: str) -> None:
    nlp = spacy_backend.load_ner(spacy_model)
    assert nlp.pipe_names == ["ner"]


def test_a_pickled_stage_leaves_the_model_behind_and_loads_it_again(backend: str) -> None:
    stage = Entities(backend=backend)  # type: ignore[arg-type]
    stage.setup(context())
    data = pickle.dumps(stage)
    assert len(data) < 5_000  # options and the backend's name, not a model
    copy = pickle.loads(data)
    assert copy == stage
    doc = Document(id="a", text=ARTICLE)
    assert copy.process(doc) == stage.process(doc)


# --- long documents -----------------------------------------------------------------------


def test_split_long_cuts_at_paragraphs_then_lines_then_spaces() -> None:
    text = ("word " * 30 + "\n\n") * 20  # paragraphs of 152 characters
    pieces = spacy_backend.split_long(text, 500)
    assert "".join(piece for _, piece in pieces) == text
    assert all(len(piece) <= 500 for _, piece in pieces)
    assert all(piece.endswith("\n\n") for _, piece in pieces[:-1])
    assert [offset for offset, _ in pieces] == [
        sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))
    ]
    unbroken = "x" * 1200
    assert [len(p) for _, p in spacy_backend.split_long(unbroken, 500)] == [500, 500, 200]
    assert spacy_backend.split_long("short", 500) == [(0, "short")]


def test_a_long_document_is_read_in_pieces_with_offsets_shifted(spacy_model: str) -> None:
    paragraph = "Vladimir Putin met Joe Biden in Geneva on Wednesday.\n\n"
    text = paragraph * 60  # 3,300 characters, read in pieces of at most 1,000
    stage = Entities(backend="spacy", chunk_chars=1_000)
    stage.setup(context())
    whole = Entities(backend="spacy")
    whole.setup(context())
    doc = Document(id="long", text=text)
    cut = stage.process(doc)
    assert isinstance(cut, Document)
    for entity in cut.entities:
        assert text[entity.start : entity.end] == entity.text
    assert found(cut)["PERSON"] == {"Vladimir Putin", "Joe Biden"}
    assert len([e for e in cut.entities if e.text == "Geneva"]) == 60
    assert cut == whole.process(doc)


def test_line_breaks_are_sentence_starts_for_spacy(spacy_model: str) -> None:
    nlp = spacy_backend.load_ner(spacy_model)
    doc = spacy_backend.mark_line_breaks(nlp.make_doc("Summit in Geneva\nVladimir Putin said"))
    starts = [token.text for token in doc if token.is_sent_start]
    assert starts == ["Summit", "\n", "Vladimir"]


# --- shared post-processing ---------------------------------------------------------------


def texts_of(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
    return [(text[s:e], label) for s, e, label in clean_spans(text, spans)]


def test_no_mention_crosses_a_line_break() -> None:
    text = "Geneva Summit\nVladimir Putin"
    assert texts_of(text, [(0, len(text), "ORG")]) == [
        ("Geneva Summit", "ORG"),
        ("Vladimir Putin", "ORG"),
    ]
    assert texts_of("Monday\n\nTuesday", [(0, 15, "DATE")]) == [
        ("Monday", "DATE"),
        ("Tuesday", "DATE"),
    ]


def spans_of(text: str, *parts: tuple[str, str]) -> list[tuple[int, int, str]]:
    """Spans of ``(substring, label)`` parts, each found after the previous one."""
    spans = []
    at = 0
    for part, label in parts:
        start = text.index(part, at)
        spans.append((start, start + len(part), label))
        at = start + len(part)
    return spans


def test_possessives_the_numbers_and_punctuation_are_trimmed() -> None:
    text = "Biden’s aide, Russia's envoy, the Kremlin 's , “NATO” and Somerset 83 and The Times"
    spans = spans_of(
        text,
        ("Biden’s", "PERSON"),
        ("Russia's", "GPE"),
        ("the Kremlin 's", "ORG"),
        ("“NATO”", "ORG"),
        ("Somerset 83", "ORG"),
        ("The Times", "ORG"),
    )
    assert texts_of(text, spans) == [
        ("Biden", "PERSON"),
        ("Russia", "GPE"),
        ("Kremlin", "ORG"),
        ("NATO", "ORG"),
        ("Somerset", "ORG"),
        ("The Times", "ORG"),
    ]


def test_names_are_cut_at_commas_brackets_and_dashes() -> None:
    text = "Geneva, Switzerland and Scott Draper ( Australia ) and Romania - Cosmin Contra"
    spans = spans_of(
        text,
        ("Geneva, Switzerland", "GPE"),
        ("Scott Draper ( Australia )", "PERSON"),
        ("Romania - Cosmin Contra", "PERSON"),
    )
    assert texts_of(text, spans) == [
        ("Geneva", "GPE"),
        ("Switzerland", "GPE"),
        ("Scott Draper", "PERSON"),
        ("Australia", "PERSON"),
        ("Romania", "PERSON"),
        ("Cosmin Contra", "PERSON"),
    ]
    assert texts_of("Toys, Inc.", [(0, 10, "ORG")]) == [("Toys, Inc.", "ORG")]
    assert texts_of(" 1996 ", [(0, 6, "PERSON")]) == []


# --- within-document linking --------------------------------------------------------------


def test_short_mentions_link_to_the_full_mention() -> None:
    mentions = [
        ("PERSON", "Mr. Steele"),
        ("PERSON", "Vladimir Putin"),
        ("PERSON", "Putin"),
        ("PERSON", "PUTIN"),
        ("PERSON", "Michael Steele"),
        ("PERSON", "President Biden"),
        ("PERSON", "Joe Biden"),
        ("GPE", "U.S."),
        ("GPE", "United States"),
        ("ORG", "North Atlantic Treaty Organization"),
        ("ORG", "NATO"),
        ("ORG", "Acme Corp."),
        ("ORG", "Acme"),
        ("DATE", "Wednesday"),
    ]
    assert linking.link(mentions) == [
        ("PERSON", "Michael Steele"),
        ("PERSON", "Vladimir Putin"),
        ("PERSON", "Vladimir Putin"),
        ("PERSON", "Vladimir Putin"),
        ("PERSON", "Michael Steele"),
        ("PERSON", "Joe Biden"),
        ("PERSON", "Joe Biden"),
        ("GPE", "United States"),
        ("GPE", "United States"),
        ("ORG", "North Atlantic Treaty Organization"),
        ("ORG", "North Atlantic Treaty Organization"),
        ("ORG", "Acme Corp."),
        ("ORG", "Acme Corp."),
        ("DATE", "Wednesday"),
    ]


def test_linking_prefers_given_names_then_the_nearest_earlier_mention() -> None:
    mentions = [
        ("PERSON", "George Bush"),
        ("PERSON", "Bush"),
        ("PERSON", "Team Bush"),
        ("PERSON", "Laura Bush"),
        ("PERSON", "Bush"),
    ]
    assert [c for _, c in linking.link(mentions)] == [
        "George Bush",
        "George Bush",
        "Team Bush",
        "Laura Bush",
        "Laura Bush",
    ]


def test_a_misread_surname_becomes_a_person_but_a_place_stays_a_place() -> None:
    mentions = [
        ("PERSON", "George Washington"),
        ("GPE", "Washington"),
        ("PERSON", "Joe Biden"),
        ("ORG", "Biden"),
    ]
    assert linking.link(mentions) == [
        ("PERSON", "George Washington"),
        ("GPE", "Washington"),
        ("PERSON", "Joe Biden"),
        ("PERSON", "Joe Biden"),
    ]


def test_linking_can_be_turned_off(run_stage) -> None:
    result = run_stage(Entities, [Document(id="a", text=ARTICLE)], backend="rules", link=False)
    assert canonical(result.documents[0])["Korhonen"] == {"Korhonen"}


# --- the rules backend --------------------------------------------------------------------


def rules_find(text: str) -> list[tuple[str, str]]:
    return [(text[s:e], label) for s, e, label in rules.RulesBackend().find_one(text)]


def test_rules_titles_name_people_without_the_title() -> None:
    assert rules_find("Russian President Vladimir Putin met Mr. Steele and Dr. Ana Ruiz.") == [
        ("Russian", "NORP"),
        ("Vladimir Putin", "PERSON"),
        ("Steele", "PERSON"),
        ("Ana Ruiz", "PERSON"),
    ]


def test_rules_organisations_places_and_dates() -> None:
    text = (
        "The Russian Foreign Ministry, the University of Oxford and Acme Holdings Inc. met "
        "in New York on June 16, 2021, last week and on 16 June."
    )
    assert rules_find(text) == [
        ("Russian Foreign Ministry", "ORG"),
        ("University of Oxford", "ORG"),
        ("Acme Holdings Inc.", "ORG"),
        ("New York", "GPE"),
        ("June 16, 2021", "DATE"),
        ("last week", "DATE"),
        ("16 June", "DATE"),
    ]


def test_rules_read_headline_capitals_and_later_surnames() -> None:
    assert rules_find("PUTIN MEETS BIDEN IN GENEVA") == [("GENEVA", "GPE")]
    assert rules_find("Matthew Chance asked.\nChance’s question: US-Russia ties") == [
        ("Matthew Chance", "PERSON"),
        ("Chance", "PERSON"),
        ("US", "GPE"),
        ("Russia", "GPE"),
    ]


def test_the_gazetteer_ships_with_the_package() -> None:
    gazetteer = rules.load_gazetteer()
    names = gazetteer.names
    assert names[("United", "States")] == "GPE"
    assert names[("Kremlin",)] == "ORG"
    assert names[("NATO",)] == "ORG"
    assert names[("Russian",)] == "NORP"
    assert names[("Europe",)] == "LOC"
    assert {"Joe", "Matthew", "Vladimir"} <= gazetteer.given
    assert len(names) > 5_000


def test_a_model_folder_is_relative_to_the_config(run_stage, spacy_model: str, tmp_path) -> None:
    (tmp_path / "models").mkdir()
    spacy_backend.load_ner(spacy_model).to_disk(tmp_path / "models" / "ner")
    doc = Document(id="a", text="Vladimir Putin arrived in Geneva.")
    result = run_stage(Entities, [doc], backend="spacy", model="./models/ner")
    assert found(result.documents[0]) == {"PERSON": {"Vladimir Putin"}, "GPE": {"Geneva"}}
    with pytest.raises(ConfigError, match=r"models/nothing' is not installed \(no package"):
        run_stage(Entities, [doc], backend="spacy", model="./models/nothing")


def test_the_benchmark_runs(tmp_path: Path) -> None:
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "entities.py"
    done = subprocess.run(
        [sys.executable, str(script), "--smoke", "--no-memory", "--output", tmp_path / "e.json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules backend: " in done.stdout
    assert (tmp_path / "e.json").is_file()
