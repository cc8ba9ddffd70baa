"""read.jsonl: field mapping, metadata, ids and sources, malformed and incomplete lines."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from docstage.errors import ConfigError
from docstage.testing import RunResult

RunPipeline = Callable[..., RunResult]

# Invented wire records.
PORT = {
    "id": "ht-0312",
    "text": "Dock workers and the port authority resumed talks on Tuesday.",
    "source": "Harbor Times",
    "title": "Port talks resume",
}
LIBRARY = {
    "id": "vp-0420",
    "text": "The city library reopens on Monday after a two-year renovation.",
    "source": "Valley Post",
    "title": "Library reopens",
}


def write_lines(path: Path, *lines: str | dict[str, Any], newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        (line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + newline
        for line in lines
    )
    path.write_bytes(text.encode("utf-8"))
    return path


def read_jsonl(path: str = "feeds/*.jsonl", **options: Any) -> dict[str, Any]:
    return {"stages": [{"use": "read.jsonl", "path": path, **options}]}


def test_records_become_documents(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", PORT, LIBRARY)

    result = run_pipeline(read_jsonl())

    assert result.exit_code == 0
    assert result.ids == ["ht-0312", "vp-0420"]
    port, library = result.documents
    assert port.text == PORT["text"]
    assert port.source == "Harbor Times"
    assert library.source == "Valley Post"
    # Other keys are kept as metadata, with where the record came from.
    assert dict(port.metadata) == {"title": "Port talks resume", "path": "wire.jsonl", "line": 1}
    assert library.metadata["line"] == 2
    assert port.stages == ("read.jsonl",)


def test_field_mapping(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    record = {
        "guid": "urn:wire:7",
        "body": "Ferry services were cut after the storm.",
        "outlet": "Coastal Wire",
        "headline": "Storm cuts ferries",
        "link": "https://example.invalid/7",
        "text": "a field called text that is not the text this time",
    }
    write_lines(tmp_path / "feeds" / "wire.jsonl", record)

    result = run_pipeline(
        read_jsonl(
            fields={
                "id": "guid",
                "text": "body",
                "source": "outlet",
                "title": "headline",
                "url": "link",
            }
        )
    )

    [doc] = result.documents
    assert doc.id == "urn:wire:7"
    assert doc.text == "Ferry services were cut after the storm."
    assert doc.source == "Coastal Wire"
    assert doc.metadata["title"] == "Storm cuts ferries"
    assert doc.metadata["url"] == "https://example.invalid/7"
    # Mapped keys are not repeated under their record names; unmapped ones are kept.
    assert "headline" not in doc.metadata
    assert "guid" not in doc.metadata
    assert doc.metadata["text"] == "a field called text that is not the text this time"


def test_keep_other_fields_false_keeps_only_mapped_metadata(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    record = {**PORT, "scraper": "v2", "metadata": {"published": "2024-03-12"}}
    write_lines(tmp_path / "feeds" / "wire.jsonl", record)

    kept = run_pipeline(read_jsonl()).documents[0]
    only_mapped = run_pipeline(
        read_jsonl(keep_other_fields=False, fields={"headline": "title"})
    ).documents[0]

    assert kept.metadata["scraper"] == "v2"
    assert kept.metadata["published"] == "2024-03-12"  # a metadata object is merged
    assert dict(only_mapped.metadata) == {
        "published": "2024-03-12",
        "headline": "Port talks resume",
        "path": "wire.jsonl",
        "line": 1,
    }


def test_records_without_id_or_source_get_location_and_file_name(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write_lines(tmp_path / "feeds" / "harbor-times.jsonl", {"text": "Talks resumed."})
    write_lines(tmp_path / "feeds" / "valley-post.jsonl", {"text": "Library reopens.", "id": 42})

    result = run_pipeline(read_jsonl())
    by_parent = run_pipeline(read_jsonl(source="{parent}"))

    assert result.ids == ["harbor-times.jsonl:1", "42"]
    assert [doc.source for doc in result.documents] == ["harbor-times", "valley-post"]
    assert [doc.source for doc in by_parent.documents] == ["feeds", "feeds"]


def test_a_malformed_line_is_quarantined_with_its_line_number(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write_lines(
        tmp_path / "feeds" / "wire.jsonl",
        PORT,
        '{"id": "broken", "text": "cut off mid-wr',
        LIBRARY,
    )

    result = run_pipeline(read_jsonl())

    assert result.ids == ["ht-0312", "vp-0420"]  # the other lines are read
    assert result.exit_code == 1  # finished, with quarantined input
    [record] = result.quarantine
    assert record["location"] == "wire.jsonl:2"
    assert record["stage"] == "read.jsonl"
    assert record["error"].startswith("bad input at wire.jsonl:2: invalid JSON: ")
    assert record["raw"] == '{"id": "broken", "text": "cut off mid-wr'
    assert record["document"] is None
    stats = result.stage("read.jsonl")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (3, 2, 1)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"id": "x", "headline": "No body"}, "text field 'text' is missing"),
        ({"id": "x", "text": 12}, "text field 'text' is not a string (int)"),
        ({"id": "x", "text": None}, "text field 'text' is missing"),
        ('["not", "an", "object"]', "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
    ],
)
def test_a_record_without_usable_text_is_reported(
    run_pipeline: RunPipeline, tmp_path: Path, line: str | dict[str, Any], problem: str
) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", PORT, line)
    result = run_pipeline(read_jsonl())
    assert result.ids == ["ht-0312"]
    [record] = result.quarantine
    assert record["location"] == "wire.jsonl:2"
    assert record["error"] == f"bad input at wire.jsonl:2: {problem}"


def test_a_missing_mapped_text_field_names_the_record_key(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", PORT)
    result = run_pipeline(read_jsonl(fields={"text": "body"}))
    assert result.documents == []
    assert (
        result.quarantine[0]["error"] == "bad input at wire.jsonl:1: text field 'body' is missing"
    )


def test_blank_lines_are_ignored_and_line_numbers_stay_physical(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", "", PORT, "   ", "\t", LIBRARY, "", "")

    result = run_pipeline(read_jsonl())

    assert result.exit_code == 0
    assert result.quarantine == []
    assert result.ids == ["ht-0312", "vp-0420"]
    assert [doc.metadata["line"] for doc in result.documents] == [2, 5]
    assert result.stage("read.jsonl").docs_in == 2


def test_crlf_line_endings_and_a_byte_order_mark(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "feeds" / "wire.jsonl", PORT, LIBRARY, newline="\r\n")
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())

    result = run_pipeline(read_jsonl())

    assert result.exit_code == 0
    assert result.texts == [PORT["text"], LIBRARY["text"]]


def test_non_ascii_text_survives(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    record = {"text": "Le maire a déclaré « c'est un été à marquer » — 2,5 M€."}
    write_lines(tmp_path / "feeds" / "wire.jsonl", record)
    assert run_pipeline(read_jsonl()).texts == [record["text"]]


def test_several_files_are_read_in_name_order(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write_lines(tmp_path / "feeds" / "b.jsonl", LIBRARY)
    write_lines(tmp_path / "feeds" / "2024" / "a.jsonl", {"text": "nested", "id": "n"})
    write_lines(tmp_path / "feeds" / "a.jsonl", PORT)
    result = run_pipeline(read_jsonl("feeds/**/*.jsonl"))
    assert result.ids == ["ht-0312", "vp-0420", "n"]
    assert result.documents[2].metadata["path"] == "2024/a.jsonl"


def test_on_error_skip_counts_bad_lines_without_quarantine(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", "{oops", PORT)
    result = run_pipeline({"run": {"on_error": "skip"}, **read_jsonl()})
    assert result.exit_code == 0
    assert result.ids == ["ht-0312"]
    assert result.quarantine == []
    assert result.stage("read.jsonl").errors == 1


def test_on_error_fail_stops_and_names_the_line(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", PORT, "{oops", LIBRARY)
    result = run_pipeline({"run": {"on_error": "fail"}, **read_jsonl()})
    assert result.exit_code == 3
    assert result.summary.failed is not None
    assert "failed on input wire.jsonl:2: bad input at wire.jsonl:2: invalid JSON" in (
        result.summary.failed
    )


def test_an_empty_text_mapping_is_a_config_error(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write_lines(tmp_path / "feeds" / "wire.jsonl", PORT)
    with pytest.raises(ConfigError, match="'fields' must map 'text' to a key of the records"):
        run_pipeline(read_jsonl(fields={"text": ""}))


def test_a_glob_matching_nothing_is_a_config_error(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    (tmp_path / "feeds").mkdir()
    with pytest.raises(ConfigError) as caught:
        run_pipeline(read_jsonl())
    assert "[[stages]] #1 (read.jsonl): option 'path': no file matches" in str(caught.value)
    assert run_pipeline(read_jsonl(allow_empty=True)).documents == []


def test_a_missing_folder_is_a_config_error(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run_pipeline(read_jsonl("exports/*.jsonl"))
    assert f"no such folder '{tmp_path / 'exports'}'" in str(caught.value)
