"""``pipeline new-plugin``: the distribution it makes installs, passes its tests, is listed
by ``pipeline plugins`` and runs in a pipeline, under the local and processes executors.

The plugin is installed into a virtual environment of its own, which sees this
environment's site folders (docstage and its dependencies) through a ``.pth`` file, so the
test environment itself is left as it was.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from docstage.cli import cli
from tests.conftest import run
from tests.test_docs import DOCS, EXAMPLES, code_blocks, tutorial_files
from tests.test_output import plugin_cells


def test_a_new_plugin_installs_passes_its_tests_and_runs(tmp_path: Path, environment: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "acme-tagger", "--dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    plugin = tmp_path / "p"
    assert (plugin / "acme_tagger" / "__init__.py").is_file()

    install = [sys.executable, "-m", "pip", "--python", str(environment), "install"]
    done = run([*install, "--quiet", "--no-deps", "-e", "."], plugin)
    assert done.returncode == 0, done.stderr

    tests = run([str(environment), "-m", "pytest", "-q", "-p", "no:cacheprovider"], plugin)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    listed = run([str(environment), "-m", "docstage", "plugins"], plugin)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "acme-tagger" in line)
    assert "acme_tagger.tag" in row
    assert "loaded" in row

    outputs = {}
    for executor in ("local", "processes"):
        command = [str(environment), "-m", "docstage", "run", "example.toml", "--no-incremental"]
        ran = run([*command, "--executor", executor, "--workers", "2"], plugin)
        assert ran.returncode == 0, ran.stderr
        outputs[executor] = (plugin / "out" / "tagged.jsonl").read_text()
    assert outputs["processes"] == outputs["local"]
    records = [json.loads(line) for line in outputs["local"].splitlines()]
    assert [(r["id"], r["annotations"]["acme_tagger.tag"]) for r in records] == [
        ("eastmere-ferry.txt", ["strike", "ferry", "harbour master"])
    ]
    [record] = records
    assert record["text"].startswith("Ferry crews walk out")  # the stray date line is gone
    assert "Categorized in" not in record["text"]


@pytest.mark.parametrize("name", ["acme-tagger", "a-rather-long-plugin-name-for-a-news-desk"])
def test_the_generated_code_passes_ruff_with_its_defaults(tmp_path: Path, name: str) -> None:
    """A plugin author's linter and formatter find nothing to change in what they start
    from (ruff's default rules and line length, with import sorting and pyupgrade)."""
    result = CliRunner().invoke(cli, ["new-plugin", name, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    ruff = [sys.executable, "-m", "ruff"]
    checked = run([*ruff, "check", "--isolated", "--select", "E,F,W,I,UP,B", "."], tmp_path / "p")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = run([*ruff, "format", "--isolated", "--check", "."], tmp_path / "p")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme Tagger", "use lower-case letters"),
        ("docstage-extra", "docstage's own plugins"),
        ("class", "is a Python keyword"),
    ],
)
def test_a_bad_name_is_refused(tmp_path: Path, name: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", name, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "p").exists()


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new-plugin", "acme", "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "already exists and is not empty" in result.output
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["notes.txt"]


def test_the_tutorial_package_installs_and_clashes_as_the_tutorial_says(
    tmp_path: Path, environment: Path
) -> None:
    """docs/writing-plugins.md "Packaging the plugin": the distribution it lays out
    installs, `pipeline plugins` and `pipeline describe` show it as printed there, and
    keeping the plugin file as well gives the error printed there."""
    files = tutorial_files()
    package = tmp_path / "docstage-watchlist"
    (package / "docstage_watchlist").mkdir(parents=True)
    (package / "pyproject.toml").write_text(files["docstage-watchlist/pyproject.toml"])
    (package / "docstage_watchlist" / "__init__.py").write_text(files["watchlist.py"])
    install = [sys.executable, "-m", "pip", "--python", str(environment), "install"]
    done = run([*install, "--quiet", "--no-deps", str(package)], tmp_path)
    assert done.returncode == 0, done.stderr
    try:
        shown = "\n".join(
            block.text
            for block in code_blocks((DOCS / "writing-plugins.md").read_text(encoding="utf-8"))
            if block.text.startswith("$ pip install -e docstage-watchlist")
        )
        pipeline = [str(environment), "-m", "docstage"]
        listed = run([*pipeline, "plugins"], tmp_path)
        assert plugin_cells(listed.stdout, "watchlist")[:4] == [
            "watchlist",
            "docstage-watchlist 0.1.0",
            "loaded",
            "watchlist",
        ]
        described = run([*pipeline, "describe", "--format", "text", "watchlist"], tmp_path)
        assert described.returncode == 0, described.stderr
        first = described.stdout.splitlines()[0]
        assert first == "watchlist (transform) — from watchlist (docstage-watchlist 0.1.0)"
        assert first in shown

        folder = tmp_path / "news"
        folder.mkdir()
        for name in ("watchlist.py", "pipeline.toml"):
            (folder / name).write_text(files[name])
        shutil.copytree(EXAMPLES, folder / "articles")
        clash = run([*pipeline, "run", "pipeline.toml"], folder)
        assert clash.returncode == 2
        error = clash.stderr.strip()
        assert error.startswith("error: stage 'watchlist' is registered twice")
        assert error in (DOCS / "writing-plugins.md").read_text(encoding="utf-8")
    finally:
        uninstall = [sys.executable, "-m", "pip", "--python", str(environment), "uninstall"]
        run([*uninstall, "--yes", "--quiet", "docstage-watchlist"], tmp_path)
