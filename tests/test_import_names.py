"""Installing docstage never shadows another project's packages.

docstage's folders are called ``pipeline/`` and ``plugins/`` in the repository but are
installed as ``docstage`` and ``docstage_plugins``, and its pytest plugin is
``docstage.pytest_plugin``: a project with packages of its own called ``pipeline`` and
``plugins`` keeps importing them, its test suite passes, and ``pipeline run`` works
from inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OWN_TEST = '''\
"""The project's own suite: its packages are its own, docstage's fixtures are there too."""

from pathlib import Path

import pipeline
import plugins
from pipeline import __version__
from plugins.shout import shout

ROOT = Path(__file__).resolve().parents[1]


def test_own_packages() -> None:
    assert __version__ == "own-1.0"
    assert Path(pipeline.__file__).parent == ROOT / "pipeline"
    assert Path(plugins.__file__).parent == ROOT / "plugins"
    assert shout("ferry") == "FERRY"


def test_docstage_fixtures_are_available(run_stage) -> None:
    from docstage import Document

    result = run_stage("cleanup.normalize", [Document(id="a", text="Harbour  news")])
    assert result.ids == ["a"]
'''

CONFIG = """\
[pipeline]
name = "own"

[run]
state = "work/state.sqlite"
cache = "work/cache"
quarantine = "work/quarantine.jsonl"

[[stages]]
use = "read.files"
path = "articles/*.txt"

[[stages]]
use = "render.jsonl"
path = "work/docs.jsonl"
"""


def project(folder: Path) -> Path:
    """A project with top-level ``pipeline`` and ``plugins`` packages and a pytest suite."""
    (folder / "pipeline").mkdir(parents=True)
    (folder / "pipeline" / "__init__.py").write_text('__version__ = "own-1.0"\n')
    (folder / "plugins").mkdir()
    (folder / "plugins" / "__init__.py").write_text("")
    (folder / "plugins" / "shout.py").write_text(
        "def shout(text: str) -> str:\n    return text.upper()\n"
    )
    (folder / "tests").mkdir()
    (folder / "tests" / "test_own.py").write_text(OWN_TEST)
    (folder / "articles").mkdir()
    (folder / "articles" / "ferry.txt").write_text(
        "The island ferry will run every twenty minutes from next month, the port said.\n"
    )
    (folder / "docstage.toml").write_text(CONFIG)
    return folder


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    return {**env, "COLUMNS": "200"}


def test_a_project_with_its_own_pipeline_and_plugins_packages(tmp_path: Path) -> None:
    root = project(tmp_path / "own-project")
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "2 passed" in suite.stdout


def test_pipeline_run_from_inside_such_a_project(tmp_path: Path) -> None:
    root = project(tmp_path / "own-project")
    script = Path(sys.executable).with_name("pipeline")
    if not script.exists():
        found = shutil.which("pipeline")
        if found is None:
            pytest.skip("the pipeline command is not installed next to this Python")
        script = Path(found)
    for command in ([str(script)], [sys.executable, "-m", "docstage"]):
        shutil.rmtree(root / "work", ignore_errors=True)
        done = subprocess.run(
            [*command, "run", "docstage.toml", "--no-progress"],
            cwd=root,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        records = [
            json.loads(line) for line in (root / "work" / "docs.jsonl").read_text().splitlines()
        ]
        assert [r["id"] for r in records] == ["ferry.txt"]


def test_installed_import_names_are_docstage_s_own() -> None:
    import docstage
    import docstage_plugins

    assert Path(docstage.__file__).parent.name == "pipeline"
    assert Path(docstage_plugins.__file__).parent.name == "plugins"
    assert "pipeline" not in sys.modules
    assert "plugins" not in sys.modules


def test_the_pytest_plugin_imports_nothing_of_docstage() -> None:
    code = textwrap.dedent(
        """
        import sys
        import docstage.pytest_plugin
        loaded = sorted(m for m in sys.modules if m.startswith("docstage") and m not in
                        ("docstage", "docstage.pytest_plugin"))
        print(loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
