"""read.files: globbing, ids, source names, encodings, bad files, streaming; 20 Newsgroups."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
import structlog
from click.testing import CliRunner, Result

from docstage import Document, Drop, Transform, hookimpl
from docstage.cli import cli
from docstage.errors import ConfigError
from docstage.testing import HookRecorder, RunResult

RunPipeline = Callable[..., RunResult]

# Invented articles, shaped like the wire copy users feed in.
PORT = "Harbor Times — Dock workers and the port authority resumed talks on Tuesday.\n"
LIBRARY = "Valley Post — The city library reopens on Monday after a two-year renovation.\n"
FRENCH = (
    "Le conseil municipal a voté mercredi la réouverture de la bibliothèque. « C'est un été "
    "à marquer », a déclaré le maire, âgé de 54 ans.\n"
)


def write(base: Path, name: str, content: str | bytes) -> Path:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def read_files(path: str = "news/**/*.txt", **options: Any) -> dict[str, Any]:
    return {"stages": [{"use": "read.files", "path": path, **options}]}


def by_id(result: RunResult) -> dict[str, Document]:
    return {doc.id: doc for doc in result.documents}


def transform_plugin(
    stage_name: str, process: Callable[[Document], Document | Drop]
) -> tuple[str, object]:
    """A plugin contributing a transform called ``stage_name`` that runs ``process``."""

    @attrs.define(kw_only=True)
    class Probe(Transform):
        name: ClassVar[str] = stage_name

        def process(self, doc: Document) -> Document | Drop:
            return process(doc)

    class Plugin:
        @hookimpl
        def docstage_register_stages(self, registry: Any) -> None:
            registry.add(Probe)

    return (f"test-{stage_name}", Plugin())


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Run ``pipeline ARGS`` in ``tmp_path`` with a config written there first."""
    monkeypatch.chdir(tmp_path)

    def invoke(config: str, *args: str) -> Result:
        (tmp_path / "pipeline.toml").write_text(textwrap.dedent(config), encoding="utf-8")
        return CliRunner().invoke(cli, [*args, "pipeline.toml"], prog_name="pipeline")

    yield invoke
    structlog.reset_defaults()  # the CLI configured logging for its captured streams


# --- globbing and ids ---------------------------------------------------------------------


def test_recursive_glob_reads_nested_files_with_ids_relative_to_the_base(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news/harbor-times/2024/03/port-talks.txt", PORT)
    write(tmp_path, "news/valley-post/library.txt", LIBRARY)
    write(tmp_path, "news/index.txt", "Front page.\n")
    write(tmp_path, "news/valley-post/notes.md", "not a .txt file\n")
    write(tmp_path, "elsewhere/outside.txt", "not under the glob\n")

    result = run_pipeline(read_files())

    assert result.exit_code == 0
    assert result.ids == [
        "index.txt",
        "harbor-times/2024/03/port-talks.txt",
        "valley-post/library.txt",
    ]
    docs = by_id(result)
    assert docs["valley-post/library.txt"].text == LIBRARY
    assert docs["harbor-times/2024/03/port-talks.txt"].metadata["path"] == (
        "harbor-times/2024/03/port-talks.txt"
    )
    assert all(doc.stages == ("read.files",) for doc in result.documents)
    stats = result.stage("read.files")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (3, 3, 0)


def test_single_star_does_not_descend(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write(tmp_path, "news/top.txt", PORT)
    write(tmp_path, "news/harbor-times/deep.txt", LIBRARY)
    assert run_pipeline(read_files("news/*.txt")).ids == ["top.txt"]


def test_a_folder_path_reads_every_file_below_it(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write(tmp_path, "spool/sci.space/61268", PORT)
    write(tmp_path, "spool/rec.autos/1001", LIBRARY)
    write(tmp_path, "spool/.overview", "hidden index, not an article\n")
    result = run_pipeline(read_files("spool"))
    assert result.ids == ["rec.autos/1001", "sci.space/61268"]
    assert [doc.source for doc in result.documents] == ["rec.autos", "sci.space"]


def test_ids_are_stable_and_independent_of_the_config_location_and_cwd(
    run_pipeline: RunPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "corpus/harbor-times/port-talks.txt", PORT)
    write(tmp_path, "corpus/valley-post/library.txt", LIBRARY)
    config = tmp_path / "configs" / "news.toml"
    config.parent.mkdir()
    config.write_text(
        '[[stages]]\nuse = "read.files"\npath = "../corpus/**/*.txt"\n', encoding="utf-8"
    )
    expected = ["harbor-times/port-talks.txt", "valley-post/library.txt"]

    monkeypatch.chdir(tmp_path / "corpus")
    first = run_pipeline(config)
    monkeypatch.chdir(tmp_path / "configs")
    second = run_pipeline(config)
    absolute = run_pipeline(read_files(str(tmp_path / "corpus" / "**" / "*.txt")))

    assert first.ids == second.ids == absolute.ids == expected
    assert [d.metadata["path"] for d in first.documents] == expected


def test_reading_one_outlet_folder_keeps_ids_short_and_names_the_outlet(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news/harbor-times/port-talks.txt", PORT)
    write(tmp_path, "news/harbor-times/2024/strike.txt", PORT)
    result = run_pipeline(read_files("news/harbor-times/**/*.txt"))
    assert result.ids == ["port-talks.txt", "2024/strike.txt"]
    # A file directly in the globbed folder has that folder as its parent.
    assert [doc.source for doc in result.documents] == ["harbor-times", "2024"]


# --- source -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{parent}", ["harbor-times", "valley-post"]),
        ("{folder}", ["wire/harbor-times", "valley-post"]),
        ("{stem}", ["port-talks", "library"]),
        ("{name}", ["port-talks.txt", "library.txt"]),
        ("{path}", ["wire/harbor-times/port-talks.txt", "valley-post/library.txt"]),
        ("Coastal Wire", ["Coastal Wire", "Coastal Wire"]),
        ("outlet:{parent}", ["outlet:harbor-times", "outlet:valley-post"]),
    ],
)
def test_source_pattern(
    run_pipeline: RunPipeline, tmp_path: Path, pattern: str, expected: list[str]
) -> None:
    write(tmp_path, "news/valley-post/library.txt", LIBRARY)
    write(tmp_path, "news/wire/harbor-times/port-talks.txt", PORT)
    result = run_pipeline(read_files(source=pattern))
    assert result.ids == ["valley-post/library.txt", "wire/harbor-times/port-talks.txt"]
    assert sorted(doc.source for doc in result.documents) == sorted(expected)


def test_source_defaults_to_the_parent_folder(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write(tmp_path, "news/valley-post/library.txt", LIBRARY)
    assert run_pipeline(read_files()).documents[0].source == "valley-post"


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("{outlet}", "unknown placeholder '{outlet}'; valid: {parent}, {folder}, {stem}"),
        ("{parent", "invalid pattern '{parent'"),
    ],
)
def test_bad_source_pattern_is_a_config_error(
    run_pipeline: RunPipeline, tmp_path: Path, pattern: str, words: str
) -> None:
    write(tmp_path, "news/valley-post/library.txt", LIBRARY)
    with pytest.raises(ConfigError) as caught:
        run_pipeline(read_files(source=pattern))
    assert "[[stages]] #1 (read.files): option 'source': " in str(caught.value)
    assert words in str(caught.value)


# --- encodings ----------------------------------------------------------------------------


def test_encodings_are_detected(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    euro = "The renovation cost \u20ac2.5m \u2013 \u201cmoney well spent\u201d, the mayor said.\n"
    write(tmp_path, "news/utf8.txt", FRENCH.encode("utf-8"))
    write(tmp_path, "news/utf8-bom.txt", codecs.BOM_UTF8 + FRENCH.encode("utf-8"))
    write(tmp_path, "news/latin1.txt", (FRENCH * 8).encode("latin-1"))
    write(tmp_path, "news/cp1252.txt", (LIBRARY + euro).encode("cp1252"))
    write(tmp_path, "news/utf16.txt", FRENCH.encode("utf-16"))

    result = run_pipeline(read_files())
    docs = by_id(result)

    assert result.exit_code == 0
    assert docs["utf8.txt"].text == FRENCH
    assert docs["utf8-bom.txt"].text == FRENCH  # the BOM is not part of the text
    assert docs["latin1.txt"].text == FRENCH * 8
    assert docs["cp1252.txt"].text == LIBRARY + euro
    assert docs["utf16.txt"].text == FRENCH
    assert "encoding" not in docs["utf8.txt"].metadata
    assert "encoding" not in docs["utf8-bom.txt"].metadata
    assert docs["latin1.txt"].metadata["encoding"] == "cp1252"
    assert docs["cp1252.txt"].metadata["encoding"] == "cp1252"
    assert all("decode_errors" not in doc.metadata for doc in result.documents)


def test_undecodable_bytes_are_replaced_and_flagged_not_fatal(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    # A UTF-8 article with two stray bytes pasted in from somewhere else.
    damaged = FRENCH.encode("utf-8") + b"Budget: \x80\x81 millions.\n"
    write(tmp_path, "news/damaged.txt", damaged)
    write(tmp_path, "news/clean.txt", PORT)

    result = run_pipeline(read_files())
    docs = by_id(result)

    assert result.exit_code == 0
    assert result.quarantine == []
    assert docs["damaged.txt"].text == FRENCH + "Budget: \ufffd\ufffd millions.\n"
    assert docs["damaged.txt"].metadata["decode_errors"] == 2
    assert "decode_errors" not in docs["clean.txt"].metadata
    assert result.stage("read.files").errors == 0


def test_a_named_encoding_is_used_and_what_does_not_fit_is_flagged(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news/latin1.txt", "Caf\xe9 cr\xe8me.\n".encode("latin-1"))
    as_latin1 = run_pipeline(read_files(encoding="latin-1")).documents[0]
    as_utf8 = run_pipeline(read_files(encoding="utf-8")).documents[0]
    assert as_latin1.text == "Café crème.\n"
    assert "decode_errors" not in as_latin1.metadata
    assert as_utf8.text == "Caf\ufffd cr\ufffdme.\n"
    assert as_utf8.metadata["decode_errors"] == 2


def test_an_unknown_encoding_is_a_config_error(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    write(tmp_path, "news/a.txt", PORT)
    with pytest.raises(ConfigError, match="option 'encoding': unknown encoding 'klingon'"):
        run_pipeline(read_files(encoding="klingon"))


# --- empty, binary and unreadable files -----------------------------------------------------


def test_empty_and_binary_files_are_dropped_with_a_reason(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news/good.txt", PORT)
    write(tmp_path, "news/empty.txt", b"")
    write(tmp_path, "news/blank.txt", b" \n\t\r\n")
    write(tmp_path, "news/bom-only.txt", codecs.BOM_UTF8 + b"\n")
    write(tmp_path, "news/photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    recorder = HookRecorder()

    result = run_pipeline(read_files(), plugins=[("recorder", recorder)])

    assert result.exit_code == 0
    assert result.ids == ["good.txt"]
    assert result.quarantine == []
    stats = result.stage("read.files")
    assert dict(stats.dropped) == {"empty file": 3, "binary file": 1}
    assert (stats.docs_in, stats.docs_out, stats.errors) == (5, 1, 0)
    dropped = recorder.of("docstage_document_dropped")
    assert sorted(call["reason"] for call in dropped) == ["binary file"] + ["empty file"] * 3
    assert {call["stage"] for call in dropped} == {"read.files"}


def test_dropped_files_show_in_the_cli_summary(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    write(tmp_path, "news/good.txt", PORT)
    write(tmp_path, "news/empty.txt", b"")
    write(tmp_path, "news/archive.txt", b"PK\x03\x04\x14\x00\x00\x00\x08\x00")
    result = run_cli(
        """
        [[stages]]
        use = "read.files"
        path = "news/*.txt"
        """,
        "run",
        "--log-format=json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stages"][0]["dropped"] == {"binary file": 1, "empty file": 1}
    assert summary["stages"][0]["out"] == 1
    assert summary["documents"] == 1


def test_an_unreadable_file_is_quarantined_and_the_rest_read(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news/a.txt", PORT)
    os.symlink(tmp_path / "deleted-meanwhile.txt", tmp_path / "news" / "b.txt")
    write(tmp_path, "news/c.txt", LIBRARY)

    result = run_pipeline(read_files())

    assert result.ids == ["a.txt", "c.txt"]
    assert result.exit_code == 1  # finished, with quarantined input
    [record] = result.quarantine
    assert record["stage"] == "read.files"
    assert record["location"] == "b.txt"
    assert record["error"] == "bad input at b.txt: cannot read file: No such file or directory"
    assert result.stage("read.files").errors == 1


def test_a_link_loop_in_the_input_neither_hangs_nor_crashes(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news/harbor-times/port-talks.txt", PORT)
    (tmp_path / "news" / "harbor-times" / "all-news").symlink_to(tmp_path / "news")
    (tmp_path / "news" / "loop.txt").symlink_to(tmp_path / "news" / "loop.txt")

    result = run_pipeline(read_files())

    assert result.ids == ["harbor-times/port-talks.txt"]
    [record] = result.quarantine
    assert record["location"] == "loop.txt"
    assert record["error"].startswith("bad input at loop.txt: cannot read file: ")


# --- missing input ------------------------------------------------------------------------


def test_a_missing_input_folder_is_one_line_and_exit_2(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    result = run_cli(
        """
        [[stages]]
        use = "read.files"
        path = "archive/2024/**/*.txt"
        """,
        "run",
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr == (
        "error: pipeline.toml:4: [[stages]] #1 (read.files): option 'path': no such folder "
        f"'{tmp_path / 'archive' / '2024'}'; check the path or the glob\n"
    )
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("args", [("run",), ("run", "--dry-run")])
def test_a_glob_matching_nothing_is_one_line_and_exit_2(
    run_cli: Callable[..., Result], tmp_path: Path, args: tuple[str, ...]
) -> None:
    write(tmp_path, "news/story.md", PORT)
    result = run_cli(
        """
        [[stages]]
        use = "read.files"
        path = "news/**/*.txt"
        """,
        *args,
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: pipeline.toml:4: [[stages]] #1 (read.files): option 'path': no file matches "
        f"'{tmp_path / 'news' / '**' / '*.txt'}' (set allow_empty = true to accept that)\n"
    )


def test_a_file_in_place_of_the_input_folder_is_a_config_error(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    write(tmp_path, "news", "a file, not a folder\n")
    with pytest.raises(ConfigError) as caught:
        run_pipeline(read_files("news/*.txt"))
    assert f"option 'path': '{tmp_path / 'news'}' is not a folder" in str(caught.value)


def test_allow_empty_accepts_a_glob_matching_nothing(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    (tmp_path / "news").mkdir()
    result = run_pipeline(read_files(allow_empty=True))
    assert result.exit_code == 0
    assert result.documents == []


# --- streaming ----------------------------------------------------------------------------


def test_files_are_read_one_at_a_time_as_the_pipeline_asks(
    run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    for number in range(1, 6):
        write(tmp_path, f"news/{number:02}.txt", f"original {number}\n")

    def rewrite_next(doc: Document) -> Document:
        # If the reader had loaded every file before the first document went on, this
        # rewrite would come too late to be seen.
        number = int(doc.id[:2]) + 1
        if number <= 5:
            write(tmp_path, f"news/{number:02}.txt", f"rewritten {number}\n")
        return doc

    config = read_files()
    config["stages"].append({"use": "test.rewrite-next"})
    result = run_pipeline(
        {"run": {"batch_size": 1}, **config},
        plugins=[transform_plugin("test.rewrite-next", rewrite_next)],
    )
    assert result.texts == ["original 1\n"] + [f"rewritten {n}\n" for n in range(2, 6)]


# --- 20 Newsgroups ------------------------------------------------------------------------

RSS_SCRIPT = """
import json, sys
import psutil
from docstage.config import config_from_dict
from docstage.resolve import make_plan
from docstage.runner import Runner

process = psutil.Process()
peak = 0.0

def sample(batch):
    # Current, not peak, RSS: a child's ru_maxrss starts at its parent's high-water mark.
    global peak
    peak = max(peak, process.memory_info().rss / 2**20)

config = config_from_dict(
    {"run": {"quarantine": sys.argv[2]},
     "stages": [{"use": "read.files", "path": sys.argv[1]}]},
    sys.argv[3],
)
runner = Runner(make_plan(config), on_output=sample)
start = process.memory_info().rss / 2**20
summary = runner.execute()
sample(None)
print(json.dumps({"start_mb": start, "peak_mb": peak, "documents": summary.documents,
                  "errors": summary.errors, "quarantined": summary.quarantined}))
"""


@pytest.mark.corpus
@pytest.mark.slow
def test_20news_every_file_becomes_a_document(run_pipeline: RunPipeline, twenty_news: Path) -> None:
    result = run_pipeline(read_files(str(twenty_news / "raw")))

    assert result.exit_code == 0
    assert len(result.documents) == 19_997
    assert result.quarantine == []
    stats = result.stage("read.files")
    assert (stats.docs_in, stats.docs_out, stats.errors) == (19_997, 19_997, 0)
    assert not stats.dropped
    assert len(set(result.ids)) == 19_997
    assert len({doc.source for doc in result.documents}) == 20
    assert by_id(result)["sci.space/61268"].source == "sci.space"
    assert all("message-id:" in doc.text.lower() for doc in result.documents)


@pytest.mark.corpus
@pytest.mark.slow
def test_20news_reading_streams_in_flat_memory(twenty_news: Path, tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RSS_SCRIPT,
            str(twenty_news / "raw"),
            str(tmp_path / "quarantine.jsonl"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout.splitlines()[-1])
    growth = figures["peak_mb"] - figures["start_mb"]
    print(
        f"20news read.files: {figures['documents']:,} documents (44.5 MiB of text), "
        f"peak RSS {figures['peak_mb']:.0f} MB, {growth:+.1f} MB over the start"
    )
    assert figures["documents"] == 19_997
    assert figures["errors"] == figures["quarantined"] == 0
    # Holding the 19,997 documents takes about 58 MB more; streaming them needs a few.
    assert growth < 40
