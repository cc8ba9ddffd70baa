"""Input no user should send, handled as bad input: quarantined with its file and line,
never a traceback, never the end of the run; and a stage that calls ``sys.exit`` or a
command that meets an unexpected error ends in one line."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from docstage import ConfigError, Document, cli
from docstage.cli_support import TRACEBACK_VARIABLE
from docstage.runner.outcomes import quarantine_line
from docstage.testing import run_pipeline
from docstage_plugins.readers import MAX_DEPTH, parse_line

GOOD = {"id": "harbor-times/1", "text": "The harbour board met the dock workers again."}


def run_jsonl(tmp_path: Path, lines: list[bytes], **run: Any) -> Any:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"".join(line + b"\n" for line in lines))
    return run_pipeline(
        {
            "run": {"state": "state.sqlite", **run},
            "stages": [
                {"use": "read.jsonl", "path": "in.jsonl"},
                {"use": "render.jsonl", "path": "out/docs.jsonl"},
            ],
        },
        folder=tmp_path,
    )


HOSTILE = {
    "a 5,000-digit integer": (
        b'{"text": "x", "n": ' + b"9" * 5000 + b"}",
        "an integer of more than 4,300 digits",
    ),
    "100,000-deep nesting": (
        b'{"text": "x", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "deeper",
    ),
    "900-deep nesting": (b'{"text": "x", "n": ' + b"[" * 900 + b"]" * 900 + b"}", "deeper"),
    "a lone surrogate": (b'{"text": "half a pair: \\ud800 here"}', "lone surrogate"),
    "NaN": (b'{"text": "x", "score": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"text": "x", "score": -Infinity}', "-Infinity is not a JSON number"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_line_is_quarantined_and_the_run_goes_on(tmp_path: Path, case: str) -> None:
    line, reason = HOSTILE[case]
    later = {**GOOD, "id": "harbor-times/2"}
    result = run_jsonl(tmp_path, [json.dumps(GOOD).encode(), line, json.dumps(later).encode()])

    assert result.summary.exit_code == 1  # finished, with quarantined input
    assert [d.text for d in result.documents] == [GOOD["text"]] * 2
    [record] = result.quarantine
    assert record["location"] == "in.jsonl:2"
    assert reason in record["error"]
    written = (tmp_path / "out" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(written) == 2


def test_a_depth_within_the_limit_is_read(tmp_path: Path) -> None:
    nested = b'{"text": "x", "n": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert parse_line(nested)["text"] == "x"
    # Brackets inside strings are text, not nesting.
    assert parse_line(b'{"text": "' + b"[" * 500 + b'"}')["text"] == "[" * 500


def test_a_surrogate_pair_is_good_text() -> None:
    assert parse_line(b'{"text": "\\ud83d\\ude00"}')["text"] == "\U0001f600"


def test_the_quarantine_writer_holds_any_content() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(50_000):
        inner.append([])
        inner = inner[0]
    for record in [
        {"text": "half \ud800 a pair"},
        {"score": float("nan"), "other": float("inf")},
        {"odd": object(), (1, 2): "tuple key"},
        {"deep": deep},
    ]:
        line = quarantine_line(record)
        assert line.endswith("\n")
        assert "\n" not in line[:-1]
        line.encode("utf-8")
        json.loads(line)  # valid JSON, without NaN or Infinity
        assert "NaN" not in line
        assert "Infinity" not in line


def test_a_document_with_a_lone_surrogate_is_quarantined_by_the_renderer(
    tmp_path: Path,
) -> None:
    docs = [
        Document(id="a", source="s", text="good"),
        Document(id="b", source="s", text="bad \udc80 text"),
    ]
    result = run_pipeline(
        {"stages": [{"use": "render.jsonl", "path": "out/docs.jsonl"}]},
        documents=docs,
        folder=tmp_path,
    )
    assert result.summary.exit_code == 1
    [record] = result.quarantine
    assert "surrogate" in record["error"]
    assert record["document"]["text"] == "bad \udc80 text"
    assert (tmp_path / "out" / "docs.jsonl").read_text().count("\n") == 1


PLUGIN = """
import sys
import attrs
from typing import ClassVar
from docstage import Transform, hookimpl

@attrs.define(kw_only=True)
class Leave(Transform):
    name: ClassVar[str] = "test.leave"
    def process(self, doc):
        if doc.id.endswith("2"):
            sys.exit(7)
        return doc

@attrs.define(kw_only=True)
class Broken(Transform):
    name: ClassVar[str] = "test.broken"
    def setup(self, context):
        raise SystemExit(5)
    def process(self, doc):
        return doc

class Plugin:
    @hookimpl
    def docstage_register_stages(self, registry):
        registry.add(Leave)
        registry.add(Broken)
"""


def plugin() -> tuple[str, object]:
    namespace: dict[str, Any] = {}
    code = compile(PLUGIN, "leave_plugin.py", "exec", dont_inherit=True)
    exec(code, namespace)
    return ("test-leave", namespace["Plugin"]())


def test_a_stage_calling_sys_exit_fails_its_document_not_the_command(tmp_path: Path) -> None:
    docs = [Document(id=f"doc-{n}", source="s", text=f"text {n}") for n in (1, 2, 3)]
    result = run_pipeline(
        {"stages": [{"use": "test.leave"}]}, documents=docs, plugins=[plugin()], folder=tmp_path
    )
    assert result.summary.exit_code == 1
    assert [d.id for d in result.documents] == ["doc-1", "doc-3"]
    [record] = result.quarantine
    assert record["error"] == "SystemExit: 7"


def test_a_stage_calling_sys_exit_in_setup_fails_the_run_with_a_message(tmp_path: Path) -> None:
    result = run_pipeline(
        {"stages": [{"use": "test.broken"}]},
        documents=[Document(id="a", source="s", text="t")],
        plugins=[plugin()],
        folder=tmp_path,
    )
    assert result.summary.exit_code == 3
    assert result.summary.failed is not None
    assert "setup failed: SystemExit: 5" in result.summary.failed


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (RuntimeError("a plugin's bug"), "unexpected error: RuntimeError: a plugin's bug"),
        (OSError(28, "No space left on device", "out/x.jsonl"), "No space left on device"),
        (sqlite3.OperationalError("database is locked"), "database error: OperationalError"),
    ],
)
def test_an_unexpected_error_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    shown: str,
) -> None:
    def broken(**_: Any) -> None:
        raise error

    monkeypatch.setattr(cli, "cli", broken)
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)
    with pytest.raises(SystemExit) as exit:
        cli.main()
    assert exit.value.code == 3
    err = capsys.readouterr().err
    assert shown in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_the_traceback_variable_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("a plugin's bug")

    monkeypatch.setattr(cli, "cli", broken)
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    with pytest.raises(RuntimeError):
        cli.main()


# --- what a glob can match besides files --------------------------------------------------


def read_folder(tmp_path: Path, reader: str = "read.files", **options: Any) -> Any:
    return run_pipeline(
        {
            "stages": [
                {"use": reader, "path": "in/*", **options},
                {"use": "render.jsonl", "path": "out/docs.jsonl"},
            ]
        },
        folder=tmp_path,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("reader", ["read.files", "read.jsonl"])
def test_a_fifo_and_a_link_to_a_device_are_skipped_with_a_reason(
    tmp_path: Path, reader: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    line = json.dumps(GOOD) if reader == "read.jsonl" else GOOD["text"]
    (folder / "a.txt").write_text(line + "\n", encoding="utf-8")
    os.mkfifo(folder / "b.pipe")  # opening it would wait for a writer forever
    (folder / "c.zero").symlink_to("/dev/zero")  # reading it would never end

    result = read_folder(tmp_path, reader)

    assert result.summary.exit_code == 0
    assert len(result.documents) == 1
    [read] = [s for s in result.summary.stages if s.use == reader]
    assert read.dropped == {"not a regular file (a device, FIFO or socket)": 2}


def test_a_file_over_max_file_size_is_quarantined_unread(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "small.txt").write_text("The harbour board met.", encoding="utf-8")
    (folder / "large.txt").write_text("word " * 1000, encoding="utf-8")

    result = read_folder(tmp_path, max_file_size="1 kB")

    assert result.summary.exit_code == 1
    assert [d.id for d in result.documents] == ["small.txt"]
    [record] = result.quarantine
    assert record["location"] == "large.txt"
    assert record["error"] == (
        "bad input at large.txt: file of 5,000 bytes is larger than max_file_size "
        "(1,000 bytes); raise max_file_size to read it"
    )


def test_max_file_size_must_be_a_size(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(ConfigError, match="max_file_size"):
        read_folder(tmp_path, max_file_size="big")


# --- duplicate ids ------------------------------------------------------------------------


def test_a_second_document_with_an_id_is_quarantined_not_merged(tmp_path: Path) -> None:
    first = {"id": "dup", "text": "The harbour board met on Tuesday."}
    second = {"id": "dup", "text": "A storm closed the ferry route."}
    result = run_jsonl(tmp_path, [json.dumps(first).encode(), json.dumps(second).encode()])

    assert result.summary.exit_code == 1
    assert [(d.id, d.text) for d in result.documents] == [("dup", first["text"])]
    [record] = result.quarantine
    assert record["error"] == "duplicate id 'dup': a document read earlier in this run has it"
    assert record["document"]["text"] == second["text"]  # nothing lost
    assert record["location"] == "in.jsonl:2"
    with contextlib.closing(sqlite3.connect(tmp_path / "state.sqlite")) as db:
        rows = db.execute("SELECT doc_id, status FROM docstage_manifest").fetchall()
    assert rows == [("dup", "done")]


def test_duplicate_ids_can_be_renamed(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "dup", "text": f"Story {n}."}).encode() for n in range(3)]
    lines.append(json.dumps({"id": "dup#2", "text": "Taken already."}).encode())
    result = run_jsonl(tmp_path, lines, duplicate_ids="rename")

    assert result.summary.exit_code == 0
    assert [d.id for d in result.documents] == ["dup", "dup#2", "dup#3", "dup#2#2"]
