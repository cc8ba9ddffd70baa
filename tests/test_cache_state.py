"""The run cache replays a corpus stage only for the state store it wrote to: a deleted,
replaced or restored state file makes ``dedup`` run again and fill its index, so the next
day's copy of an article is still dropped (issue: "The run cache replays dedup without its
index")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from docstage.testing import run_pipeline

STORY = (
    "The harbour board agreed on Tuesday to cut quay fees for small fishing boats by a "
    "third, after dock workers and the mayor's office argued for months about the cost of "
    "repairs to the old north pier."
)
OTHER = (
    "A storm closed the ferry route to the islands for a second day; the coast guard said "
    "waves of six metres made the crossing unsafe and schools on the islands stayed shut."
)


def config(folder: Path, day: str) -> dict[str, Any]:
    return {
        "run": {"state": "state/state.sqlite", "cache": "state/cache"},
        "stages": [
            {"use": "read.files", "path": f"{day}/*.txt"},
            {"use": "dedup", "stories": False, "passages": False},
            {"use": "render.jsonl", "path": f"out/{day}.jsonl"},
        ],
    }


def write_day(folder: Path, day: str, texts: dict[str, str]) -> None:
    (folder / day).mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / day / name).write_text(text, encoding="utf-8")


def published(folder: Path, day: str) -> list[str]:
    lines = (folder / "out" / f"{day}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["id"] for line in lines]


def run(folder: Path, day: str) -> Any:
    result = run_pipeline(config(folder, day), folder=folder)
    assert result.summary.exit_code == 0, result.summary.failed
    return result


def dedup_cached(result: Any) -> int:
    [stage] = [s for s in result.summary.stages if s.use == "dedup"]
    return stage.cached


def test_a_deleted_state_file_makes_dedup_run_again(tmp_path: Path) -> None:
    write_day(tmp_path, "monday", {"board.txt": STORY, "storm.txt": OTHER})
    run(tmp_path, "monday")
    (tmp_path / "state" / "state.sqlite").unlink()

    again = run(tmp_path, "monday")  # the same input, the cache kept

    assert dedup_cached(again) == 0
    write_day(tmp_path, "tuesday", {"board-copy.txt": STORY})
    run(tmp_path, "tuesday")
    assert published(tmp_path, "tuesday") == []  # the copy of Monday's article is dropped


def test_an_unchanged_state_store_is_still_replayed(tmp_path: Path) -> None:
    write_day(tmp_path, "monday", {"board.txt": STORY, "storm.txt": OTHER})
    run(tmp_path, "monday")

    again = run(tmp_path, "monday")

    assert dedup_cached(again) == 2
    assert sorted(published(tmp_path, "monday")) == ["board.txt", "storm.txt"]


def test_a_state_file_restored_from_an_older_backup_makes_dedup_run_again(
    tmp_path: Path,
) -> None:
    write_day(tmp_path, "monday", {"storm.txt": OTHER})
    run(tmp_path, "monday")
    state = tmp_path / "state" / "state.sqlite"
    backup = tmp_path / "backup.sqlite"
    shutil.copy(state, backup)  # the state store is idle: the WAL was checkpointed on close
    write_day(tmp_path, "sunday", {"board.txt": STORY})
    run(tmp_path, "sunday")  # indexes Sunday's article; the cache remembers it
    for suffix in ("-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, state)  # back to before Sunday

    again = run(tmp_path, "sunday")

    assert dedup_cached(again) == 0
    write_day(tmp_path, "tuesday", {"board-copy.txt": STORY})
    run(tmp_path, "tuesday")
    assert published(tmp_path, "tuesday") == []


def test_a_corpus_stage_that_failed_on_a_document_is_not_replayed(tmp_path: Path) -> None:
    """The next run tries the document again (quarantined again), instead of replaying
    the outputs without it."""
    from docstage.plugins import hookimpl

    from .test_runner import CountOrFail

    class Stages:
        @hookimpl
        def docstage_register_stages(self, registry: Any) -> None:
            registry.add(CountOrFail)

    write_day(tmp_path, "monday", {"board.txt": STORY, "boom.txt": "boom " + OTHER})
    settings = {
        "run": {"state": "state/state.sqlite", "cache": "state/cache"},
        "stages": [
            {"use": "read.files", "path": "monday/*.txt"},
            {"use": "test.count_or_fail"},
            {"use": "render.jsonl", "path": "out/monday.jsonl"},
        ],
    }
    for _ in range(2):
        result = run_pipeline(settings, folder=tmp_path, plugins=[("stages", Stages())])
        [stage] = [s for s in result.summary.stages if s.use == "test.count_or_fail"]
        assert (stage.cached, stage.errors) == (0, 1)
        assert [Path(r["document"]["id"]).name for r in result.quarantine] == ["boom.txt"]
        assert [Path(i).name for i in published(tmp_path, "monday")] == ["board.txt"]
