"""The ``pipeline`` command as a user types it."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from docstage import __version__
from docstage.cli import COMMANDS_GROUP, cli, command_entry_points
from tests.conftest import CONFIGS, EXAMPLES

ROOT = Path(__file__).resolve().parents[1]

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
    for command in ("run", "check", "plugins", "describe", "new-plugin", "eval"):
        assert f"\n  {command} " in output


# --- commands contributed through the docstage.commands entry points ------------------------

#: A command a fake distribution contributes (``tests.test_cli:HELLO``).
HELLO = click.Command(
    "hello", callback=lambda: click.echo("hello from a plugin"), help="Say hello."
)


def distribution(folder: Path, name: str, commands: dict[str, str]) -> list[EntryPoint]:
    """The ``docstage.commands`` entry points of a fake installed distribution ``name`` 1.0."""
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{command} = {target}\n" for command, target in commands.items())
    (info / "entry_points.txt").write_text(f"[{COMMANDS_GROUP}]\n{lines}")
    return list(PathDistribution(info).entry_points.select(group=COMMANDS_GROUP))


@pytest.fixture
def contribute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., None]:
    """Install fake distributions' commands next to the real ones: ``contribute(name, {...})``."""
    installed = command_entry_points()

    def add(name: str, commands: dict[str, str]) -> None:
        nonlocal installed
        installed = [*installed, *distribution(tmp_path / name, name, commands)]
        monkeypatch.setattr("docstage.cli.command_entry_points", lambda: installed)

    return add


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"}, prog_name="pipeline")


def test_eval_is_contributed_through_an_entry_point() -> None:
    """The core knows the evaluations only as an entry point of docstage's distribution."""
    (ep,) = [ep for ep in command_entry_points() if ep.name == "eval"]
    assert ep.value == "docstage_eval.cli:eval_group"
    assert "eval" not in cli.commands
    for path in ROOT.joinpath("pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "docstage_eval" for n in names), path


def test_a_contributed_command_runs_and_is_listed(contribute: Callable[..., None]) -> None:
    contribute("docstage-hello", {"hello": "tests.test_cli:HELLO"})
    result = run_cli("hello")
    assert (result.exit_code, result.output) == (0, "hello from a plugin\n")
    result = run_cli("--help")
    assert result.exit_code == 0
    assert "\n  hello " in result.stdout
    assert result.stderr == ""


def test_a_command_that_fails_to_load_costs_only_itself(contribute: Callable[..., None]) -> None:
    contribute("docstage-broken", {"broken": "docstage_no_such_module:group"})
    problem = (
        "the command 'broken' of docstage-broken 1.0 (docstage_no_such_module:group) failed "
        "to load: ModuleNotFoundError: No module named 'docstage_no_such_module'"
    )
    result = run_cli("--help")
    assert result.exit_code == 0
    assert result.stderr == f"warning: {problem}\n"
    assert "\n  eval " in result.stdout
    assert "broken" not in result.stdout
    result = run_cli("broken", "--flag")
    assert (result.exit_code, result.stderr) == (2, f"error: {problem}\n")
    for args in (["eval", "--help"], ["describe", "read.files"]):
        result = run_cli(*args)
        assert (result.exit_code, result.stderr) == (0, ""), args


def test_an_object_that_is_not_a_command_is_named(contribute: Callable[..., None]) -> None:
    contribute("docstage-odd", {"odd": "json:dumps"})
    result = run_cli("odd")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: the command 'odd' of docstage-odd 1.0 (json:dumps) is not a click command "
        "(got function)\n"
    )


def test_two_commands_with_one_name_name_both(contribute: Callable[..., None]) -> None:
    contribute("docstage-other", {"eval": "tests.test_cli:HELLO"})
    problem = (
        f"two distributions add the command 'eval': docstage {__version__} "
        "(docstage_eval.cli:eval_group) and docstage-other 1.0 (tests.test_cli:HELLO); "
        "uninstall one of them"
    )
    result = run_cli("eval", "cleanup", "--help")
    assert (result.exit_code, result.stderr) == (2, f"error: {problem}\n")
    result = run_cli("--help")
    assert (result.exit_code, result.stderr) == (0, f"warning: {problem}\n")


def test_a_contributed_command_cannot_replace_a_built_in(contribute: Callable[..., None]) -> None:
    contribute("docstage-sneaky", {"run": "tests.test_cli:HELLO"})
    result = run_cli("--help")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: the command 'run' of docstage-sneaky 1.0 (tests.test_cli:HELLO) is ignored: "
        "'pipeline run' is a built-in command\n"
    )
    result = run_cli("run", "--help")
    assert (result.exit_code, result.stderr) == (0, "")
    assert "Run the pipeline described by CONFIG" in result.stdout


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


def test_stage_names_and_numbers_stay_whole_in_a_narrow_summary(example: Path) -> None:
    """Stage names are what users type and the numbers are what they read: on a narrow
    terminal or in a CI log neither is cut (each stage becomes one line)."""
    config = example.read_text(encoding="utf-8").replace(
        '[[stages]]\nuse = "render.jsonl"',
        '[[stages]]\nuse = "cleanup.normalize"\nname = "normalize_the_text_of_articles"\n\n'
        '[[stages]]\nuse = "render.jsonl"',
    )
    example.write_text(config, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(example)], env={"COLUMNS": "70"})
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "normalize_the_text_of_articles (cleanup.normalize)" in output
    assert "render.jsonl" in output
    assert "…" not in result.output
    assert "(transform): in 4, out 4, dropped 0, errors 0," in output
