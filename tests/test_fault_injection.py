"""The news pipeline with a failure injected at every step where a run writes: each
output's writes, each output being finished, each rename that publishes one, the state
store's commit. After each: the run failed (exit 3) and every earlier file is as it was,
byte for byte, with no temporary file beside it, and the state store remembers nothing of
the failed run; the next run without the failure publishes everything, and every input
document is in exactly one of the output, the quarantine file or the recorded drops."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from docstage.io import AtomicFile
from docstage.state import StateStore
from docstage.testing import RunResult, run_pipeline
from tests.conftest import CONFIGS, ROOT, news_outputs

#: Every file the news pipeline writes, as news_outputs names them.
OUTPUTS = (
    "news.jsonl",
    "entities.csv",
    "digest.md",
    "report.html",
    "boilerplate.json",
    "dedup.jsonl",
    "quarantine.jsonl",
)
#: Larger than read.files' max_file_size below: quarantined, so the quarantine file is one
#: of the outputs every run writes.
OVERSIZED = "The harbour office posted the whole timetable again. " * 40
MONDAY = """Dock workers return as talks resume

Dock workers at the northern terminal returned on Monday after the port authority and the
union agreed to resume talks about shift pay, a spokesperson for the union said.
"""


def run(folder: Path) -> RunResult:
    out = folder / "out"
    return run_pipeline(
        CONFIGS / "news.toml",
        overrides=[
            f"stages.read.files.path={(folder / 'news').as_posix()}/**/*.txt",
            "stages.read.files.max_file_size=1500",
            "stages.entities.backend=rules",
            f"run.cache={(folder / 'cache').as_posix()}",
            *news_outputs(out),
        ],
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """The outputs, byte for byte (the state store, also there, is compared by manifest)."""
    out = folder / "out"
    names = sorted(n for n in os.listdir(out) if not n.startswith("state.sqlite"))
    return {name: (out / name).read_bytes() for name in names}


def manifest(folder: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(folder / "out" / "state.sqlite")) as db:
        return db.execute(
            "SELECT doc_id, status, detail FROM docstage_manifest ORDER BY doc_id"
        ).fetchall()


def fail_for(name: str) -> Callable[..., Any]:
    """A replacement for an AtomicFile method that fails for the output ``name``."""

    def fail(self: AtomicFile, *args: Any) -> Any:
        if self.path.name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return ORIGINAL[method_of[fail]](self, *args)

    return fail


ORIGINAL = {
    "write": AtomicFile.write,
    "commit": AtomicFile.commit,
    "publish": AtomicFile.publish,
}
method_of: dict[Callable[..., Any], str] = {}


def inject(monkeypatch: pytest.MonkeyPatch, step: str, name: str) -> None:
    if step == "state":

        def commit(self: StateStore) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(StateStore, "commit", commit)
        return
    replacement = fail_for(name)
    method_of[replacement] = step
    monkeypatch.setattr(AtomicFile, step, replacement)


FAULTS = [
    *[("write", name) for name in OUTPUTS if name != "quarantine.jsonl"],
    ("write", "quarantine.jsonl"),
    *[("commit", name) for name in OUTPUTS],
    *[("publish", name) for name in OUTPUTS],
    ("state", ""),
]


@pytest.fixture(scope="module")
def first_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder after one good run of the examples (and an oversized page)."""
    folder = tmp_path_factory.mktemp("first")
    shutil.copytree(ROOT / "examples" / "news", folder / "news")
    (folder / "news" / "valley-post" / "timetable.txt").write_text(OVERSIZED, encoding="utf-8")
    (folder / "out").mkdir()
    result = run(folder)
    assert result.summary.exit_code == 1  # the oversized page is quarantined
    assert set(os.listdir(folder / "out")) >= set(OUTPUTS)
    return folder


@pytest.mark.parametrize(("step", "name"), FAULTS, ids=[f"{s}-{n}" for s, n in FAULTS])
def test_a_failed_write_leaves_every_earlier_output(
    first_day: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, name: str
) -> None:
    folder = tmp_path / "run"
    shutil.copytree(first_day, folder)
    (folder / "news" / "harbor-times" / "monday.txt").write_text(MONDAY, encoding="utf-8")
    before, remembered = snapshot(folder), manifest(folder)

    inject(monkeypatch, step, name)
    failed = run(folder)
    monkeypatch.undo()

    assert failed.summary.exit_code == 3, failed.summary
    assert snapshot(folder) == before  # every file as it was, and nothing beside them
    assert manifest(folder) == remembered

    again = run(folder)
    assert again.summary.exit_code == 1
    everything_accounted_for(folder, again)


def everything_accounted_for(folder: Path, result: RunResult) -> None:
    """Every input document is in exactly one of the output, the quarantine or the drops."""
    out = folder / "out"
    inputs = {p.relative_to(folder / "news").as_posix() for p in (folder / "news").rglob("*.txt")}
    published = [json.loads(line)["id"] for line in (out / "news.jsonl").read_text().splitlines()]
    quarantined = [
        json.loads(line)["location"] for line in (out / "quarantine.jsonl").read_text().splitlines()
    ]
    dropped = [
        json.loads(line)["id"]
        for line in (out / "dedup.jsonl").read_text().splitlines()
        if json.loads(line).get("action") == "dropped"
    ]
    places = published + quarantined + dropped
    assert sorted(places) == sorted(inputs)
    assert "harbor-times/monday.txt" in published
    assert result.summary.documents == len(published)
