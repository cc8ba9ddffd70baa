"""Config loading: the errors a user sees for a broken TOML file, overrides, variables, paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage.cli import cli
from docstage.config import load_config
from docstage.errors import ConfigError
from docstage.resolve import make_plan

GOOD = """\
[pipeline]
name = "t"

[[stages]]
use = "read.files"
path = "in/*.txt"

[[stages]]
use = "render.jsonl"
path = "out/t.jsonl"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Harbour talks resume on Monday.\n", encoding="utf-8")
    return tmp_path


def write(folder: Path, text: str, name: str = "pipeline.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


def test_misspelled_option_names_file_line_stage_and_suggestion(folder: Path) -> None:
    config = write(folder, GOOD.replace('path = "in/*.txt"', 'path = "in/*.txt"\nsourse = "x"'))
    code, output = run_cli("run", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:7" in line
    assert "[[stages]] #1 (read.files)" in line
    assert "unknown option 'sourse'" in line
    assert "did you mean 'source'" in line
    assert "'encoding'" in line  # the list of valid options


def test_unknown_stage_suggests_the_close_one(folder: Path) -> None:
    config = write(folder, GOOD.replace('"render.jsonl"', '"render.jsonel"'))
    code, output = run_cli("run", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:9" in line
    assert "unknown stage 'render.jsonel'" in line
    assert "did you mean 'render.jsonl'" in line
    assert "pipeline plugins" in line


def test_toml_syntax_error_names_line_and_column(folder: Path) -> None:
    config = write(folder, GOOD.replace('path = "in/*.txt"', 'path = "in/*.txt'))
    code, output = run_cli("run", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:6:" in line
    assert "TOML syntax error" in line


def test_missing_input_folder(folder: Path) -> None:
    config = write(folder, GOOD.replace("in/*.txt", "nowhere/*.txt"))
    code, output = run_cli("run", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:6" in line
    assert "option 'path'" in line
    assert "no such folder" in line
    assert "nowhere" in line


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_unwritable_output_folder(folder: Path, dry_run: bool) -> None:
    # A regular file where a folder should be: unwritable even for root.
    (folder / "blocker").write_text("", encoding="utf-8")
    config = write(folder, GOOD.replace("out/t.jsonl", "blocker/sub/t.jsonl"))
    code, output = run_cli("run", *(["--dry-run"] if dry_run else []), str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:10" in line
    assert "[[stages]] #2 (render.jsonl)" in line
    assert "cannot write to output folder" in line
    assert not (folder / "out").exists()


def test_bad_choice_lists_valid_choices(folder: Path) -> None:
    config = write(folder, '[run]\non_error = "quarantin"\n' + GOOD)
    code, output = run_cli("check", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:2" in line
    assert "on_error" in line
    assert "'quarantine'" in line
    assert "'skip'" in line
    assert "'fail'" in line


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ('executor = "threads"', "option 'executor' must be one of 'local', 'processes', 'ray'"),
        ('workers = "many"', "option 'workers' must be an integer or 'auto'"),
        ("workers = 0", "'workers' must be at least 1 or \"auto\", got 0"),
    ],
)
def test_bad_executor_settings_are_named(folder: Path, setting: str, words: str) -> None:
    config = write(folder, f"[run]\n{setting}\n" + GOOD)
    code, output = run_cli("check", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "pipeline.toml:2: [run]: " in line
    assert words in line


def test_wrong_type_names_the_option(folder: Path) -> None:
    config = write(folder, '[run]\nbatch_size = "many"\n' + GOOD)
    code, output = run_cli("check", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "batch_size" in line


def test_missing_config_file(tmp_path: Path) -> None:
    code, output = run_cli("run", str(tmp_path / "nope.toml"))
    line = one_error_line(output)
    assert code == 2
    assert "nope.toml" in line


def test_unknown_section(folder: Path) -> None:
    config = write(folder, "[stgaes]\nx = 1\n" + GOOD)
    code, output = run_cli("check", str(config))
    line = one_error_line(output)
    assert code == 2
    assert "stgaes" in line
    assert "did you mean 'stages'" in line


def test_paths_resolve_against_the_config_folder(folder: Path, tmp_path_factory) -> None:
    config = write(folder, GOOD)
    elsewhere = tmp_path_factory.mktemp("cwd")
    before = Path.cwd()
    os.chdir(elsewhere)
    try:
        code, output = run_cli("run", str(config))
    finally:
        os.chdir(before)
    assert code == 0, output
    assert (folder / "out" / "t.jsonl").is_file()
    assert not (elsewhere / "out").exists()


def test_set_overrides_a_stage_option(folder: Path) -> None:
    config = write(folder, GOOD)
    loaded = load_config(config, ["stages.render.jsonl.ensure_ascii=true"])
    assert loaded.stages[1].options["ensure_ascii"] is True
    loaded = load_config(config, ['stages.read.files.source="wire"'])
    assert loaded.stages[0].options["source"] == "wire"


def test_set_overrides_run_section(folder: Path) -> None:
    loaded = load_config(write(folder, GOOD), ["run.on_error=fail", "run.batch_size=7"])
    assert loaded.run.on_error == "fail"
    assert loaded.run.batch_size == 7


def test_set_with_unknown_stage_is_an_error(folder: Path) -> None:
    config = write(folder, GOOD)
    code, output = run_cli("check", str(config), "--set", "stages.dedup.threshold=0.7")
    line = one_error_line(output)
    assert code == 2
    assert "--set" in line
    assert "dedup" in line


def test_set_with_bad_syntax_is_an_error(folder: Path) -> None:
    code, output = run_cli("check", str(write(folder, GOOD)), "--set", "run.on_error")
    line = one_error_line(output)
    assert code == 2
    assert "KEY=VALUE" in line or "=" in line


def test_env_variables_expand(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCSTAGE_TEST_OUT", "elsewhere")
    monkeypatch.delenv("DOCSTAGE_TEST_UNSET", raising=False)
    text = GOOD.replace("out/t.jsonl", "${DOCSTAGE_TEST_OUT}/t.jsonl").replace(
        'name = "t"', 'name = "${DOCSTAGE_TEST_UNSET:-fallback}"'
    )
    plan = make_plan(load_config(write(folder, text)))
    assert plan.config.pipeline.name == "fallback"
    assert plan.stages[1].instance.path == folder / "elsewhere" / "t.jsonl"


def test_unset_env_variable_is_an_error(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCSTAGE_TEST_UNSET", raising=False)
    config = write(folder, GOOD.replace("out/t.jsonl", "${DOCSTAGE_TEST_UNSET}/t.jsonl"))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert "pipeline.toml:10" in message
    assert "DOCSTAGE_TEST_UNSET" in message
    assert "${DOCSTAGE_TEST_UNSET:-" in message  # tells how to give a default


def test_config_objects_are_frozen(folder: Path) -> None:
    loaded = load_config(write(folder, GOOD))
    with pytest.raises(AttributeError):
        loaded.run.on_error = "fail"  # type: ignore[misc]


def test_default_with_empty_variable_as_in_the_shell(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCSTAGE_TEST_EMPTY", "")
    text = GOOD.replace('name = "t"', 'name = "${DOCSTAGE_TEST_EMPTY:-fallback}"')
    assert load_config(write(folder, text)).pipeline.name == "fallback"


def test_default_quarantine_lives_next_to_the_config(folder: Path) -> None:
    loaded = load_config(write(folder, GOOD))
    assert Path(loaded.run.quarantine) == folder / ".docstage" / "quarantine.jsonl"
