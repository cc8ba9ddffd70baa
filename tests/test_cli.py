"""The ``pipeline`` command as a user types it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage import __version__
from docstage.cli import cli
from tests.conftest import CONFIGS, EXAMPLES

BROKEN_STAGE = """\
from typing import ClassVar

import attrs

from docstage.stages import Transform


@attrs.define
class Picky(Transform):
    name: ClassVar[str] = "local.picky"

    def process(self, doc):
        if "harbour" in doc.text.lower():
            raise ValueError("cannot parse this one")
        return doc


def docstage_register_stages(registry):
    registry.add(Picky)
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example config and articles, so runs write into tmp_path."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "configs").mkdir()
    shutil.copy(CONFIGS / "example.toml", tmp_path / "configs" / "example.toml")
    return tmp_path / "configs" / "example.toml"


def test_version() -> None:
    code, output = invoke("--version")
    assert code == 0
    assert __version__ in output


def test_help_lists_commands() -> None:
    code, output = invoke("--help")
    assert code == 0
    for command in ("run", "check", "plugins", "describe"):
        assert command in output


def test_example_config_end_to_end_through_the_console_script(example: Path) -> None:
    script = Path(sys.executable).with_name("pipeline")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "docstage"]
    done = subprocess.run(
        [*command, "run", str(example)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    out = example.parent.parent / "out" / "example.jsonl"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    articles = sorted((example.parent.parent / "examples" / "news").rglob("*.txt"))
    assert len(records) == len(articles) >= 3
    assert {r["source"] for r in records} == {a.parent.name for a in articles}
    for key in ("id", "source", "text", "metadata", "entities", "duplicates", "stages"):
        assert all(key in r for r in records)
    # The per-stage summary.
    assert "read.files" in done.stdout
    assert "render.jsonl" in done.stdout
    assert "documents out" in done.stdout


def test_dry_run_writes_nothing(example: Path) -> None:
    code, output = invoke("run", "--dry-run", str(example))
    assert code == 0, output
    assert "dry run" in output
    assert "4 input document(s)" in output
    assert not (example.parent.parent / "out").exists()


def test_json_log_format_prints_the_summary_as_json(example: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--log-format", "json", str(example)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["documents"] == 4
    assert [s["name"] for s in summary["stages"]] == ["read.files", "render.jsonl"]
    assert summary["exit_code"] == 0


def test_quarantine_gives_exit_code_1_and_says_where(example: Path) -> None:
    (example.parent / "picky.py").write_text(BROKEN_STAGE, encoding="utf-8")
    text = example.read_text(encoding="utf-8")
    text = text.replace('name = "example"', 'name = "example"\nplugins = ["./picky.py"]')
    render = '[[stages]]\nuse = "render.jsonl"'
    text = text.replace(render, '[[stages]]\nuse = "local.picky"\n\n' + render)
    example.write_text(text, encoding="utf-8")
    code, output = invoke("run", str(example))
    assert code == 1, output
    assert "quarantined" in output
    quarantine = example.parent.parent / "out" / "quarantine.jsonl"
    records = [json.loads(line) for line in quarantine.read_text(encoding="utf-8").splitlines()]
    assert records
    assert all(r["error"] == "ValueError: cannot parse this one" for r in records)
    written = (example.parent.parent / "out" / "example.jsonl").read_text(encoding="utf-8")
    assert len(written.splitlines()) == 4 - len(records)


def test_set_override_from_the_command_line(example: Path) -> None:
    code, output = invoke("run", str(example), "--set", "stages.read.files.source=wire")
    assert code == 0, output
    out = example.parent.parent / "out" / "example.jsonl"
    assert {json.loads(line)["source"] for line in out.read_text("utf-8").splitlines()} == {"wire"}


def test_check_prints_the_resolved_plan(example: Path) -> None:
    code, output = invoke("check", str(example))
    assert code == 0, output
    assert "read.files" in output
    assert "docstage.readers" in output
    assert "config is valid" in output


def test_describe_shows_options() -> None:
    code, output = invoke("describe", "read.files")
    assert code == 0
    for option in ("path", "source", "encoding"):
        assert option in output


def test_describe_unknown_stage() -> None:
    code, output = invoke("describe", "read.file")
    assert code == 2
    assert "did you mean 'read.files'" in output


def test_plugins_lists_builtins_and_their_distribution() -> None:
    code, output = invoke("plugins")
    assert code == 0
    assert "docstage.readers" in output
    assert f"docstage {__version__}" in output
    assert "read.jsonl" in output


def test_stage_names_stay_whole_in_a_narrow_summary(example: Path) -> None:
    """Stage names are what users type: a narrow terminal cuts other columns first."""
    config = example.read_text(encoding="utf-8").replace(
        '[[stages]]\nuse = "render.jsonl"',
        '[[stages]]\nuse = "cleanup.normalize"\nname = "normalize_the_text_of_articles"\n\n'
        '[[stages]]\nuse = "render.jsonl"',
    )
    example.write_text(config, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(example)], env={"COLUMNS": "70"})
    assert result.exit_code == 0, result.output
    assert "normalize_the_text_of_articles (cleanup.normalize)" in result.output
    assert "render.jsonl" in result.output
