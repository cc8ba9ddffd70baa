from __future__ import annotations

from pathlib import Path

import pytest

from docstage.errors import OptionError
from docstage.io import AtomicFile


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _write_then_raise(target: Path, error: BaseException) -> None:
    with AtomicFile.open(target) as out:
        out.write("half a report")
        raise error


def _write_then_block_the_name(target: Path) -> None:
    with AtomicFile.open(target) as out:
        out.write("text")
        target.mkdir()  # the rename cannot replace a folder


def test_the_block_commits_when_it_ends_normally(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.jsonl"
    with AtomicFile.open(target) as out:
        out.write("first\n")
        out.write("second\n")
        assert not target.exists()  # nothing under the real name before the block ends
    assert target.read_text(encoding="utf-8") == "first\nsecond\n"
    assert _leftovers(target.parent) == []


def test_an_exception_leaves_the_previous_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.jsonl"
    target.write_text("previous\n", encoding="utf-8")
    with pytest.raises(ValueError, match="boom"):
        _write_then_raise(target, ValueError("boom"))
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert _leftovers(tmp_path) == []


def test_keyboard_interrupt_discards_too(tmp_path: Path) -> None:
    target = tmp_path / "report.jsonl"
    with pytest.raises(KeyboardInterrupt):
        _write_then_raise(target, KeyboardInterrupt())
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_a_failed_commit_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.jsonl"
    with pytest.raises(IsADirectoryError):
        _write_then_block_the_name(target)
    assert target.is_dir()
    assert _leftovers(tmp_path) == []


def test_commit_and_discard_still_work_by_hand(tmp_path: Path) -> None:
    kept, dropped = tmp_path / "kept.txt", tmp_path / "dropped.txt"
    out = AtomicFile.open(kept)
    out.write("kept\n")
    assert out.commit() == kept
    out = AtomicFile.open(dropped)
    out.write("dropped\n")
    out.discard()
    assert kept.read_text(encoding="utf-8") == "kept\n"
    assert not dropped.exists()
    assert _leftovers(tmp_path) == []


def test_an_unwritable_folder_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(OptionError, match=r"option 'report': cannot write to output folder"):
        AtomicFile.open(tmp_path / "file" / "report.json", option="report")
