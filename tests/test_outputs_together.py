"""A run's files appear together or not at all: renderers' outputs, corpus stages' reports
and the quarantine file are published only when every one of them is finished, and a run
that fails anywhere (a full disk, a rename, the state store) leaves every earlier file as
it was, with no temporary file behind."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from docstage import Document, Renderer, hookimpl
from docstage.io import AtomicFile, outputs_together
from docstage.state import StateStore
from docstage.summary import RunSummary
from docstage.testing import run_pipeline
from tests.conftest import pipeline_command

PREVIOUS = b"yesterday's good output\n"


def article(number: int, text: str | None = None) -> Document:
    return Document(
        id=f"harbor-times/{number:03}.txt",
        source="harbor-times",
        text=text or f"Port talks, day {number}: negotiators met again over the quay fees.",
        stages=("read.files",),
    )


def full_disk(*_: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def renderer_plugin(
    folder: Path, *, write_fails: bool = False, finish_fails: bool = False
) -> tuple[str, object]:
    """A renderer ``test.disk`` writing ``folder/out/disk.txt`` whose disk fills up on a
    write or when the file is finished."""

    @attrs.define(kw_only=True)
    class Disk(Renderer):
        name: ClassVar[str] = "test.disk"
        path: str = str(folder / "out" / "disk.txt")
        _file: AtomicFile | None = attrs.field(default=None, init=False)

        def setup(self, context: Any) -> None:
            self._file = AtomicFile.open(self.path)

        def write(self, doc: Document) -> None:
            assert self._file is not None
            if write_fails:
                full_disk()
            self._file.write(doc.id + "\n")

        def finish(self, summary: RunSummary) -> list[Path]:
            assert self._file is not None
            if finish_fails:
                full_disk()
            return [self._file.commit()]

        def abort(self) -> None:
            if self._file is not None:
                self._file.discard()

    class Plugin:
        @hookimpl
        def docstage_register_stages(self, registry: Any) -> None:
            registry.add(Disk)

    return ("test-disk", Plugin())


def previous_outputs(folder: Path, *names: str) -> dict[Path, bytes]:
    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    files = {out / name: PREVIOUS + name.encode() for name in names}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def assert_untouched(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, path
    for folder in {path.parent for path in files}:
        assert sorted(os.listdir(folder)) == sorted(p.name for p in files if p.parent == folder)


def config(*stages: dict[str, Any], **run: Any) -> dict[str, Any]:
    run = {"batch_size": 2, "state": "state/state.sqlite", **run}
    return {"run": run, "stages": list(stages)}


JSONL = {"use": "render.jsonl", "path": "out/docs.jsonl"}
CSV = {"use": "render.csv", "path": "out/docs.csv"}


# --- injected faults -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["write", "finish"])
def test_a_full_disk_in_a_later_renderer_leaves_the_earlier_outputs(
    tmp_path: Path, where: str
) -> None:
    files = previous_outputs(tmp_path, "docs.jsonl", "docs.csv", "disk.txt")
    plugin = renderer_plugin(tmp_path, write_fails=where == "write", finish_fails=where == "finish")

    result = run_pipeline(
        config(JSONL, CSV, {"use": "test.disk"}),
        documents=[article(n) for n in range(1, 6)],
        plugins=[plugin],
        folder=tmp_path,
    )

    assert result.summary.exit_code == 3
    assert result.summary.failed is not None
    assert "(test.disk): writing output failed: " in result.summary.failed
    assert result.summary.failed.endswith("No space left on device")
    assert result.quarantine == []  # the disk's fault, not the documents'
    assert_untouched(files)


def test_a_full_disk_under_the_dedup_report_leaves_every_output(tmp_path: Path) -> None:
    files = previous_outputs(tmp_path, "docs.jsonl", "dedup.jsonl", "disk.txt")
    docs = [article(1), article(2, article(1).text), article(3)]

    result = run_pipeline(
        config(
            {"use": "dedup", "report": "out/dedup.jsonl", "stories": False, "passages": False},
            JSONL,
            {"use": "test.disk"},
        ),
        documents=docs,
        plugins=[renderer_plugin(tmp_path, finish_fails=True)],
        folder=tmp_path,
    )

    assert result.summary.exit_code == 3
    assert_untouched(files)  # the report is not published before the run's end


def test_a_failed_state_commit_puts_the_earlier_outputs_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = previous_outputs(tmp_path, "docs.jsonl", "docs.csv")

    def commit(self: StateStore) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(StateStore, "commit", commit)
    result = run_pipeline(config(JSONL, CSV), documents=[article(1), article(2)], folder=tmp_path)

    assert result.summary.exit_code == 3
    assert result.summary.failed is not None
    assert "database or disk is full" in result.summary.failed
    assert_untouched(files)


def test_a_failed_run_keeps_the_earlier_quarantine_file(tmp_path: Path) -> None:
    files = previous_outputs(tmp_path, "docs.jsonl", "quarantine.jsonl", "disk.txt")

    result = run_pipeline(
        config(JSONL, {"use": "test.disk"}, quarantine="out/quarantine.jsonl"),
        documents=[article(1), Document(id="bad", source="x", text="bad \udc80 text")],
        plugins=[renderer_plugin(tmp_path, finish_fails=True)],
        folder=tmp_path,
    )

    assert result.summary.exit_code == 3
    assert result.summary.quarantined == 1  # render.jsonl cannot encode it
    assert_untouched(files)
    assert result.summary.quarantine_path is None  # the summary names no discarded file


def test_a_good_run_publishes_every_output_together(tmp_path: Path) -> None:
    previous_outputs(tmp_path, "docs.jsonl", "docs.csv", "disk.txt")

    result = run_pipeline(
        config(JSONL, CSV, {"use": "test.disk"}),
        documents=[article(1), article(2)],
        plugins=[renderer_plugin(tmp_path)],
        folder=tmp_path,
    )

    assert result.summary.exit_code == 0
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["disk.txt", "docs.csv", "docs.jsonl"]
    assert (out / "disk.txt").read_text() == "harbor-times/001.txt\nharbor-times/002.txt\n"
    assert len((out / "docs.jsonl").read_text().splitlines()) == 2


def test_outside_a_run_a_commit_publishes_at_once(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    with AtomicFile.open(target) as file:
        file.write("now")
    assert target.read_text() == "now"


def test_inside_a_run_a_commit_waits_for_publish(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("before")
    with outputs_together() as outputs:
        with AtomicFile.open(target) as file:
            file.write("after")
        assert target.read_text() == "before"
        outputs.publish()
        assert target.read_text() == "after"
        outputs.restore()
    assert target.read_text() == "before"
    assert os.listdir(tmp_path) == ["report.txt"]


# --- a real full disk ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", f"docstage-{uuid.uuid4().hex[:8]}", mount],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_a_full_disk_fails_the_run_and_keeps_the_earlier_outputs(
    tmp_path: Path, small_disk: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    paragraph = "The harbour board met the dock workers again on Tuesday. " * 60
    for number in range(300):  # about 3.6 MB of text: more than the disk holds
        (inputs / f"{number:03}.txt").write_text(f"Day {number}. {paragraph}", encoding="utf-8")
    files = {small_disk / "docs.jsonl": PREVIOUS, small_disk / "docs.csv": PREVIOUS}
    for path, data in files.items():
        path.write_bytes(data)
    (tmp_path / "pipeline.toml").write_text(
        textwrap.dedent(
            f"""
            [run]
            state = "{tmp_path}/state.sqlite"
            cache = "{tmp_path}/cache"

            [[stages]]
            use = "read.files"
            path = "{inputs}/*.txt"

            [[stages]]
            use = "render.csv"
            path = "{small_disk}/docs.csv"

            [[stages]]
            use = "render.jsonl"
            path = "{small_disk}/docs.jsonl"
            """
        ),
        encoding="utf-8",
    )

    done = pipeline_command(tmp_path, "run", "pipeline.toml", "--no-progress")

    assert done.returncode == 3, done.stderr
    assert "No space left on device" in done.stderr
    assert "Traceback" not in done.stderr
    assert_untouched(files)
    # Nothing of the failed run is remembered: the next run on a roomier disk does it all.
    with contextlib.closing(sqlite3.connect(tmp_path / "state.sqlite")) as db:
        rows = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'docstage_manifest'"
        ).fetchone()[0]
        if rows:
            assert db.execute("SELECT count(*) FROM docstage_manifest").fetchone()[0] == 0


@pytest.mark.parametrize("command", [["check"], ["run", "--dry-run"], ["run"]])
def test_a_quarantine_path_that_cannot_be_written_is_an_error_up_front(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "in.txt").write_text("The harbour board met again.", encoding="utf-8")
    (tmp_path / "quarantine.jsonl").mkdir()  # a folder where the file should go
    previous = previous_outputs(tmp_path, "docs.jsonl")
    (tmp_path / "p.toml").write_text(
        '[run]\nstate = "state.sqlite"\nquarantine = "quarantine.jsonl"\n\n'
        '[[stages]]\nuse = "read.files"\npath = "in.txt"\n\n'
        '[[stages]]\nuse = "render.jsonl"\npath = "out/docs.jsonl"\n',
        encoding="utf-8",
    )
    done = pipeline_command(tmp_path, *command, "p.toml")
    assert done.returncode == 2, done.stdout + done.stderr
    shown = " ".join(done.stderr.split())
    assert "p.toml:3: [run]: quarantine: 'quarantine.jsonl' is a folder; name a file" in shown
    assert_untouched(previous)
