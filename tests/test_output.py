"""Output that reads well anywhere: piped into a file or a CI log (80 columns, or whatever
COLUMNS says), every table keeps its numbers and words whole; ``pipeline check`` piped is
compact and complete; ``--log-format json`` prints the summary as one JSON object."""

from __future__ import annotations

import collections
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from rich.console import Console

from docstage.config import load_config
from docstage.console import option_value, print_summary
from docstage.resolve import make_plan
from docstage.summary import RunSummary, StageStats
from docstage.tables import Column, Grid, print_grid
from tests.conftest import CONFIGS, EXAMPLES


def _piped(width: int | None = None) -> Console:
    """A console writing to a file, as ``pipeline`` sees a pipe (COLUMNS unset: 80)."""
    return Console(file=io.StringIO(), width=width, force_terminal=False)


def _text(console: Console) -> str:
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


def _stats(name: str, kind: str, docs_in: int, docs_out: int, **extra: object) -> StageStats:
    dropped = collections.Counter(extra.pop("dropped", {}))  # type: ignore[arg-type]
    return StageStats(
        name=name, use=str(extra.pop("use", name)), kind=kind, docs_in=docs_in,
        docs_out=docs_out, dropped=dropped, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


#: The summary of a day of 20 Newsgroups through the news pipeline, as the issue saw it.
BIG = RunSummary(
    run_id="20261122T210118Z-c92bdc",
    pipeline="news",
    stages=(
        _stats("read.files", "reader", 19_997, 19_997, seconds=3.21),
        _stats("cleanup.mail", "transform", 19_997, 19_997, seconds=11.5),
        _stats("cleanup.boilerplate", "corpus", 19_997, 19_997, seconds=42.07),
        _stats("entities", "transform", 19_997, 19_990, errors=7, cached=12_000, seconds=201.5),
        _stats(
            "dedup",
            "corpus",
            19_990,
            18_712,
            dropped={"duplicate (near)": 1_031, "duplicate (exact)": 247},
            seconds=1_234.56,
        ),
        _stats("render.jsonl", "renderer", 18_712, 18_712, seconds=2.5),
    ),
    documents=18_712,
    quarantined=7,
    quarantine_path=Path("out/quarantine.jsonl"),
)


def _cells(summary: RunSummary) -> list[list[str]]:
    """What every stage's row must show whole: its name, kind and numbers."""
    rows = []
    for stats in summary.stages:
        dropped = [f"{n:,} {reason}" for reason, n in sorted(stats.dropped.items())]
        rows.append(
            [
                stats.name,
                stats.kind,
                f"{stats.docs_in:,}",
                f"{stats.docs_out:,}",
                *dropped,
                f"{stats.errors:,}",
                f"{stats.seconds:.2f}",
            ]
        )
    return rows


def _has(text: str, cell: str) -> bool:
    """Whether ``cell`` is in ``text`` whole: not a piece of a longer word or number."""
    return re.search(rf"(?<![\w,.]){re.escape(cell)}(?![\w]|[,.]\d)", text) is not None


def _whole(text: str, summary: RunSummary) -> None:
    """Every stage's name and numbers appear whole, on the line that names the stage."""
    assert "…" not in text
    lines = text.splitlines()
    for stats, cells in zip(summary.stages, _cells(summary), strict=True):
        (line,) = [line for line in lines if _has(line, stats.name)]
        at = lines.index(line)
        block = "\n".join(lines[at : at + 3])  # drop reasons may take a line each
        for cell in cells:
            assert _has(block, cell), (cell, block)


@pytest.mark.parametrize("width", [None, 80])
def test_a_wide_summary_piped_has_one_whole_line_per_stage(width: int | None) -> None:
    console = _piped(width)
    print_summary(console, BIG)
    text = _text(console)
    _whole(text, BIG)
    assert "4. entities (transform): in 19,997, out 19,990, dropped 0, errors 7, " in text
    assert "cached 12,000, 201.50 s" in text
    assert (
        "5. dedup (corpus): in 19,990, out 18,712, dropped 247 duplicate (exact), "
        "1,031 duplicate (near), errors 0, 1234.56 s"
    ) in text
    assert "18,712 documents out in 0.00s" in text


def test_a_summary_that_fits_is_a_plain_table_wide_enough_for_its_cells() -> None:
    summary = attrs.evolve(
        BIG,
        stages=(
            _stats("read.files", "reader", 4, 4),
            _stats("dedup", "corpus", 4, 3, dropped={"duplicate (near)": 1}, seconds=2.1),
            _stats("render.jsonl", "renderer", 3, 3),
        ),
    )
    console = _piped()
    print_summary(console, summary)
    text = _text(console)
    _whole(text, summary)
    lines = text.splitlines()
    assert lines[:3] == [
        f"Run {summary.run_id} — news",
        "#  stage         kind      in  out  dropped             errors  seconds",
        "-  ------------  --------  --  ---  ------------------  ------  -------",
    ]
    assert lines[4] == "2  dedup         corpus     4    3  1 duplicate (near)       0     2.10"
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines)


def test_json_summary_holds_every_counter() -> None:
    found = BIG.as_dict()
    assert json.loads(json.dumps(found)) == found
    keys = {"docs_in": "in", "docs_out": "out"}
    for stats, stage in zip(BIG.stages, found["stages"], strict=True):
        for field in attrs.fields(StageStats):
            value = getattr(stats, field.name)
            expected = dict(sorted(value.items())) if field.name == "dropped" else value
            assert stage[keys.get(field.name, field.name)] == pytest.approx(expected), field.name
    for total in ("documents", "quarantined", "errors", "cached", "exit_code"):
        assert found[total] == getattr(BIG, total), total
    assert found["errors"] == 7
    assert found["cached"] == 12_000


def test_print_grid_picks_a_layout_that_keeps_every_cell_whole() -> None:
    grid = Grid.of(
        ["plugin", Column("documents", right=True), "stages"],
        [("docstage.cleanup", "19,997", "cleanup.mail\ncleanup.boilerplate"), ("x", "3", "y")],
    )
    console = _piped()
    print_grid(console, grid, title="plugins")
    assert _text(console).splitlines() == [
        "plugins",
        "plugin            documents  stages",
        "----------------  ---------  -------------------",
        "docstage.cleanup     19,997  cleanup.mail",
        "                             cleanup.boilerplate",
        "x                         3  y",
    ]
    console = _piped(30)
    print_grid(console, grid)
    assert _text(console).splitlines() == [
        "docstage.cleanup",
        "  documents: 19,997",
        "  stages: cleanup.mail, cleanup.boilerplate",
        "x",
        "  documents: 3",
        "  stages: y",
    ]
    terminal = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    print_grid(terminal, grid)
    assert "┃ plugin           ┃ documents ┃ stages              ┃" in _text(terminal)


# --- the commands, piped --------------------------------------------------------------


@pytest.fixture
def news(tmp_path: Path) -> Path:
    """configs/news.toml and the example articles, in a folder of their own."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "configs").mkdir()
    shutil.copy(CONFIGS / "news.toml", tmp_path / "configs" / "news.toml")
    return tmp_path / "configs" / "news.toml"


def _pipeline(folder: Path, *args: str, columns: str | None) -> subprocess.CompletedProcess[str]:
    """``pipeline ARGS`` with stdout and stderr piped, COLUMNS as given (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "docstage", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("columns", [None, "80"])
def test_pipeline_check_piped_is_compact_and_complete(
    news: Path, columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _pipeline(news.parent.parent, "check", "configs/news.toml", columns=columns)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    monkeypatch.chdir(news.parent.parent)  # paths show relative to the working folder
    plan = make_plan(load_config(news))
    # One line per stage and its options after it, a few to a line: no 353-line table.
    assert len(lines) <= 3 + 4 * len(plan.stages), done.stdout
    assert "…" not in done.stdout
    for stage in plan.stages:
        (line,) = [line for line in lines if line.split()[1:2] == [stage.name]]
        assert line.split()[:3] == [str(stage.config.index), stage.name, stage.kind]
        assert line.endswith(stage.type.origin)
        options = lines[lines.index(line) + 1 :]
        items = [item for option in options for item in option.split("  ") if item.strip()]
        for key, value in stage.options().items():
            assert f"{key}={option_value(value)}" in [item.strip() for item in items], key
    # Lines fit 80 columns, unless one option is longer than that on its own.
    for line in lines[2:]:
        assert len(line) <= 80 or "  " not in line.strip(), line
    assert lines[-1] == "config is valid"


PIPELINE = """\
[pipeline]
name = "piped"

[run]
state = "state.sqlite"
quarantine = "out/quarantine.jsonl"

[[stages]]
use = "read.files"
path = "examples/news/**/*.txt"
source = "{parent}"

[[stages]]
use = "cleanup.metadata"
name = "strip_dates_bylines_and_category_footers"

[[stages]]
use = "cleanup.boilerplate"

[[stages]]
use = "dedup"
stories = false
passages = false

[[stages]]
use = "render.jsonl"
path = "out/piped.jsonl"
"""


def _run(folder: Path, log_format: str, columns: str | None) -> str:
    """Run PIPELINE on a fresh copy of the examples in ``folder``; its stdout."""
    shutil.copytree(EXAMPLES, folder / "examples")
    (folder / "p.toml").write_text(PIPELINE, encoding="utf-8")
    done = _pipeline(folder, "run", "p.toml", "--log-format", log_format, columns=columns)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_piped_summary_shows_the_json_summary_s_numbers_whole(tmp_path: Path) -> None:
    """A summary piped (COLUMNS unset, and 80) holds every stage's name and numbers
    whole, as the JSON summary of the same run says them."""
    (line,) = _run(tmp_path / "json", "json", "80").splitlines()  # one JSON object only
    found = json.loads(line)
    for columns in (None, "80"):
        text = _run(tmp_path / f"console-{columns}", "console", columns)
        assert "…" not in text
        lines = text.splitlines()
        for stage in found["stages"]:
            name = stage["name"]
            if name != stage["use"]:
                name += f" ({stage['use']})"
            (row,) = [line for line in lines if _has(line, name)]
            block = "\n".join(lines[lines.index(row) : lines.index(row) + 3])
            numbers = (f"{stage[key]:,}" for key in ("in", "out", "errors"))
            for cell in (stage["kind"], *numbers):
                assert _has(block, cell), (cell, block)
            for reason, count in stage["dropped"].items():
                assert _has(block, f"{count:,} {reason}"), (reason, block)
        assert f"{found['documents']:,} documents out in " in text
        # The long stage name does not fit a table of 80 columns: a line per stage.
        assert lines[1].startswith("1. read.files (reader): in "), text


def plugin_cells(output: str, name: str) -> list[str]:
    """The cells of plugin ``name``'s row in ``pipeline plugins`` output, in whichever
    layout it was printed: a plain table (cells two spaces or more apart; a cell of several
    lines gives its first) or records (a cell of several lines joined with commas)."""
    lines = output.splitlines()
    if lines and lines[0].startswith("plugin "):
        row = next(line for line in lines if line.startswith(f"{name} "))
        return re.split(r"\s{2,}", row)
    at = lines.index(name)
    cells = [name]
    for line in lines[at + 1 :]:
        if not line.startswith("  "):
            break
        cells.append(line.split(": ", 1)[1])
    return cells


def test_plugin_cells_reads_either_layout() -> None:
    grid = Grid.of(
        ["plugin", "from", "status", "stages", "hooks"],
        [("shout", "docstage-shout 1.2.0", "loaded", "shout", "register_stages")],
    )
    for width in (200, 40):
        console = _piped(width)
        print_grid(console, grid)
        expected = ["shout", "docstage-shout 1.2.0", "loaded", "shout", "register_stages"]
        assert plugin_cells(_text(console), "shout") == expected
