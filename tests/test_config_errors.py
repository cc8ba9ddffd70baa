"""Every config error in one pass: ``pipeline check`` (and ``run``) report each mistake
of a config on its own line, each exactly as it reads when it is the only one, and exit
with 2; only what leaves nothing further to check (a TOML syntax error, a plugin that
fails to import) stops the check early."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage.cli import cli
from docstage.config import config_from_dict, load_config
from docstage.errors import ConfigError, ConfigErrors
from docstage.resolve import load_plan, make_plan

GOOD = """\
[pipeline]
name = "t"

[run]
on_error = "quarantine"

[[stages]]
use = "read.files"
path = "in/*.txt"
source = "{parent}"

[[stages]]
use = "cleanup.normalize"

[[stages]]
use = "render.jsonl"
path = "out/t.jsonl"
"""

#: Three mistakes, each on its own: (what is replaced, by what, words of its error).
MISTAKES = [
    (
        'on_error = "quarantine"',
        'on_error = "quarantin"',
        "pipeline.toml:5: [run]: option 'on_error' must be one of",
    ),
    (
        'source = "{parent}"',
        'sorce = "{parent}"',
        "pipeline.toml:10: [[stages]] #1 (read.files): unknown option 'sorce' — did you "
        "mean 'source'?",
    ),
    (
        'use = "render.jsonl"',
        'use = "render.jsonel"',
        "unknown stage 'render.jsonel' — did you mean 'render.jsonl'?",
    ),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # errors name the config as the user gave it
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Harbour talks resume on Monday.\n", encoding="utf-8")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_lines(*args: str) -> tuple[int, list[str]]:
    """The exit code and the output lines of ``pipeline ARGS``; every line must be one
    ``error:`` line, with no traceback."""
    result = CliRunner().invoke(cli, list(args))
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), result.output
    return result.exit_code, lines


def with_mistakes(*mistakes: tuple[str, str, str]) -> str:
    text = GOOD
    for old, new, _ in mistakes:
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("command", ["check", "run"])
def test_three_mistakes_give_three_one_line_errors(folder: Path, command: str) -> None:
    config = write(folder, with_mistakes(*MISTAKES))
    code, lines = error_lines(command, str(config))
    assert code == 2
    assert len(lines) == 3, lines
    for line, (_, _, words) in zip(lines, MISTAKES, strict=True):
        assert words in line
    assert not (folder / "out").exists()  # `run` did nothing
    assert not (folder / ".docstage").exists()


def test_each_error_reads_as_when_it_is_the_only_one(folder: Path) -> None:
    alone = []
    for mistake in MISTAKES:
        code, lines = error_lines("check", str(write(folder, with_mistakes(mistake))))
        assert code == 2
        assert len(lines) == 1, lines
        alone.extend(lines)
    code, together = error_lines("check", str(write(folder, with_mistakes(*MISTAKES))))
    assert together == alone


def test_every_kind_of_option_error_is_collected(folder: Path) -> None:
    text = GOOD.replace('on_error = "quarantine"', "batch_size = 0\nworkers = 0").replace(
        'use = "render.jsonl"\npath = "out/t.jsonl"',
        'use = "render.jsonl"\nensure_ascii = "yes"',
    )
    text += '\n[[stages]]\nuse = "dedup"\nthreshold = 2\nshingle_size = "five"\ntreshold = 1\n'
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert lines == [
        "error: pipeline.toml:5: [run]: invalid option value: 'batch_size' must be at "
        "least 1, got 0",
        "error: pipeline.toml:6: [run]: invalid option value: 'workers' must be at least 1 "
        'or "auto", got 0',
        "error: pipeline.toml:16: [[stages]] #3 (render.jsonl): missing required option "
        "'path' (a path): The .jsonl file to write (its folder is created).",
        "error: pipeline.toml:18: [[stages]] #3 (render.jsonl): option 'ensure_ascii' must "
        "be true or false, not a string",
        # The validators run once the values of the right types are in: still found.
        "error: pipeline.toml:22: [[stages]] #4 (dedup): invalid option value: 'threshold' "
        "must be above 0 and at most 1, got 2.0",
        "error: pipeline.toml:23: [[stages]] #4 (dedup): option 'shingle_size' must be an "
        "integer, not a string",
        "error: pipeline.toml:24: [[stages]] #4 (dedup): unknown option 'treshold' — did "
        "you mean 'threshold'?; valid options: 'exact', 'index', 'index_max_age_days', "
        "'index_max_documents', 'keep', 'min_words', 'mode', 'near', 'passage_min_words', "
        "'passage_threshold', 'passages', 'permutations', 'quotes', 'report', 'shingle_size', "
        "'source_priority', 'stories', 'story_threshold', 'threshold'",
    ]


def test_errors_are_in_file_order(folder: Path) -> None:
    text = GOOD.replace('use = "cleanup.normalize"', 'use = "cleanup.normalise"')
    text = text.replace('[run]\non_error = "quarantine"\n', "")
    text += '\n[run]\nbatch_size = "many"\n'  # [run] last in the file
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert len(lines) == 2, lines
    assert "unknown stage 'cleanup.normalise'" in lines[0]
    assert "[run]: option 'batch_size'" in lines[1]
    numbers = [int(line.split(":")[2]) for line in lines]
    assert numbers == sorted(numbers)


def test_a_stage_without_use_and_other_mistakes(folder: Path) -> None:
    text = GOOD.replace('use = "cleanup.normalize"', 'name = "normalize"')
    text = text.replace('path = "in/*.txt"', 'path = "in/*.txt"\nencodin = "utf-8"')
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert len(lines) == 2, lines
    assert "[[stages]] #1 (read.files): unknown option 'encodin'" in lines[0]
    assert "pipeline.toml:13: [[stages]] #2: missing 'use'" in lines[1]


def test_an_unset_variable_is_one_error_not_two(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The required option whose ${VAR} is unset is not reported as missing too."""
    monkeypatch.delenv("DOCSTAGE_TEST_UNSET", raising=False)
    text = GOOD.replace("in/*.txt", "${DOCSTAGE_TEST_UNSET}/*.txt")
    text = text.replace('on_error = "quarantine"', 'cache = "${DOCSTAGE_TEST_UNSET}/c"')
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert lines == [
        "error: pipeline.toml:5: [run]: option 'cache': environment variable "
        "'DOCSTAGE_TEST_UNSET' is not set (set it, or write ${DOCSTAGE_TEST_UNSET:-default})",
        "error: pipeline.toml:9: [[stages]] #1 (read.files): option 'path': environment "
        "variable 'DOCSTAGE_TEST_UNSET' is not set (set it, or write "
        "${DOCSTAGE_TEST_UNSET:-default})",
    ]


def test_readers_out_of_place_with_other_mistakes(folder: Path) -> None:
    text = GOOD.replace('use = "read.files"', 'use = "cleanup.metadata"', 1)
    text = text.replace('path = "in/*.txt"\nsource = "{parent}"', "")
    text += '\n[[stages]]\nuse = "read.files"\npath = "in/*.txt"\nallow_empty = 1\n'
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert len(lines) == 2, lines
    assert "#4 (read.files): readers must come before other stages" in lines[0]
    assert "#4 (read.files): option 'allow_empty' must be true or false" in lines[1]


def test_set_errors_come_first_with_the_others(folder: Path) -> None:
    config = write(folder, with_mistakes(MISTAKES[1]))
    code, lines = error_lines("check", str(config), "--set", "stages.zzz.x=1")
    assert code == 2
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: --set 'stages.zzz.x=1': no stage matches")
    assert "unknown option 'sorce'" in lines[1]


def test_a_toml_syntax_error_stops_the_check(folder: Path) -> None:
    text = with_mistakes(*MISTAKES).replace('path = "in/*.txt"', 'path = "in/*.txt')
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert len(lines) == 1
    assert "TOML syntax error" in lines[0]


def test_a_plugin_that_fails_to_import_stops_after_what_was_found(folder: Path) -> None:
    """The config's other stages cannot be looked up without the plugin (they might be
    its stages); what was found before it is reported with it."""
    text = with_mistakes(MISTAKES[0]).replace(
        'name = "t"', 'name = "t"\nplugins = ["docstage_no_such_plugin"]'
    )
    text = text.replace('use = "cleanup.normalize"', 'use = "its.stage"')
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "error: pipeline.toml:3: [pipeline] plugins: plugin 'docstage_no_such_plugin' failed"
    )
    assert "[run]: option 'on_error'" in lines[1]


def test_a_doubtful_plugins_list_leaves_the_stage_types_unchecked(folder: Path) -> None:
    text = GOOD.replace('name = "t"', 'name = "t"\nplugin = ["./local.py"]')
    text = text.replace('use = "cleanup.normalize"', 'use = "local.stage"')
    code, lines = error_lines("check", str(write(folder, text)))
    assert code == 2
    assert len(lines) == 1, lines
    assert "[pipeline]: unknown option 'plugin' — did you mean 'plugins'?" in lines[0]


def test_one_error_is_a_plain_config_error(folder: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_plan(write(folder, with_mistakes(MISTAKES[1])))
    assert not isinstance(caught.value, ConfigErrors)
    assert caught.value.line == 10
    assert caught.value.where == "[[stages]] #1 (read.files)"
    assert caught.value.option == "sorce"


def test_several_errors_are_one_config_errors_holding_each(folder: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_plan(write(folder, with_mistakes(*MISTAKES)))
    errors = caught.value.errors
    assert [type(e) for e in errors] == [ConfigError] * 3
    assert str(caught.value) == "\n".join(str(e) for e in errors)
    assert [getattr(e, "line", None) for e in errors] == [5, 10, 16]


def test_load_config_alone_raises_everything_it_finds(folder: Path) -> None:
    text = GOOD.replace('on_error = "quarantine"', 'on_error = "never"\nbatch_size = 0')
    with pytest.raises(ConfigErrors) as caught:
        load_config(write(folder, text))
    options = [getattr(e, "option", None) for e in caught.value.errors]
    assert options == ["on_error", "batch_size"]


def test_make_plan_alone_raises_everything_it_finds(folder: Path) -> None:
    config = config_from_dict(
        {
            "stages": [
                {"use": "read.files", "path": "in/*.txt", "sorce": "x"},
                {"use": "render.jsonl", "ensure_ascii": 3},
            ]
        },
        folder,
    )
    with pytest.raises(ConfigErrors) as caught:
        make_plan(config)
    assert [str(e).split(": ", 2)[1] for e in caught.value.errors] == [
        "[[stages]] #1 (read.files)",
        "[[stages]] #2 (render.jsonl)",
        "[[stages]] #2 (render.jsonl)",
    ]
