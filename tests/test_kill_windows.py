"""A run killed in the window between the state store's commit and the run cache's last
commit: the next run gives the same documents, drops and provenance as a run that was
never killed (the state store's word that the run finished makes its cache entries hold)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KILL_AFTER_STATE_COMMIT = """
import os, sys
from docstage import cache, cli
cache.RunCache.finish = lambda self: os._exit(9)  # killed right after the state commit
sys.argv = ["pipeline", "run", "p.toml", "--no-progress"]
cli.main()
"""

STORY = "The harbour board agreed on Tuesday to cut quay fees for small fishing boats. " * 3


def prepare(folder: Path) -> None:
    (folder / "in" / "times").mkdir(parents=True)
    (folder / "in" / "wire").mkdir(parents=True)
    (folder / "in" / "times" / "fees.txt").write_text(STORY, encoding="utf-8")
    (folder / "in" / "wire" / "fees.txt").write_text(STORY, encoding="utf-8")  # a copy
    (folder / "in" / "wire" / "storm.txt").write_text(
        "A storm closed the ferry route to the islands for a second day.", encoding="utf-8"
    )
    (folder / "p.toml").write_text(
        '[pipeline]\nname = "harbour"\n\n[run]\nstate = "state/state.sqlite"\n'
        'cache = "state/cache"\n\n'
        '[[stages]]\nuse = "read.files"\npath = "in/**/*.txt"\n\n'
        '[[stages]]\nuse = "dedup"\nreport = "out/dedup.jsonl"\n\n'
        '[[stages]]\nuse = "render.jsonl"\npath = "out/docs.jsonl"\n',
        encoding="utf-8",
    )


def pipeline(folder: Path, *args: str, script: str | None = None) -> int:
    command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "docstage"]
    if not script:
        command += ["run", "p.toml", "--no-progress", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, check=False).returncode


def outputs(folder: Path) -> list[list[dict]]:
    def records(name: str) -> list[dict]:
        lines = (folder / "out" / name).read_text(encoding="utf-8").splitlines()
        found = [json.loads(line) for line in lines]
        for record in found:  # run ids differ between the two folders: compare the rest
            record.pop("run_id", None)
            for key in ("duplicates", "duplicate_of", "original"):
                for item in record.get(key) or []:
                    if isinstance(item, dict):
                        item["run_id"] = bool(item.get("run_id"))
                value = record.get(key)
                if isinstance(value, dict):
                    value["run_id"] = bool(value.get("run_id"))
        return found

    return [records("docs.jsonl"), records("dedup.jsonl")]


def test_a_run_killed_after_its_state_commit_is_not_redone_differently(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for folder in (killed, clean):
        prepare(folder)
    assert pipeline(clean) == 0
    assert pipeline(clean) == 0  # the same input again: replayed

    assert pipeline(killed, script=KILL_AFTER_STATE_COMMIT) == 9
    assert pipeline(killed) == 0

    assert outputs(killed) == outputs(clean)
