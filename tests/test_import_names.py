"""Installing docstage never shadows another project's packages.

docstage's folders are called ``pipeline/`` and ``plugins/`` in the repository but are
installed as ``docstage`` and ``docstage_plugins``, and its pytest plugin is
``docstage.pytest_plugin``: a project with packages of its own called ``pipeline`` and
``plugins`` keeps importing them, its test suite passes, and ``pipeline run`` works
from inside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run

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


PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "own-project"
version = "1.0"

[tool.setuptools]
packages = ["pipeline", "plugins"]
"""


def project(folder: Path) -> Path:
    """An installable project with top-level ``pipeline`` and ``plugins`` packages, a
    pytest suite, an article and a docstage config."""
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
    (folder / "pyproject.toml").write_text(PYPROJECT)
    return folder


@pytest.fixture(scope="module")
def own_project(tmp_path_factory: pytest.TempPathFactory, environment: Path) -> Path:
    """The project, installed (editable) into a virtual environment that also has
    docstage; returns the project's folder."""
    root = project(tmp_path_factory.mktemp("own") / "own-project")
    install = [sys.executable, "-m", "pip", "--python", str(environment), "install"]
    done = run([*install, "--quiet", "--no-deps", "-e", "."], root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_its_suite_passes_and_imports_its_own_packages(
    own_project: Path, environment: Path
) -> None:
    pytest_command = [str(environment), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    # From inside the project (its folder first on sys.path) and from elsewhere (the
    # installed project): either way docstage's pytest plugin is loaded and harmless.
    for cwd, target in ((own_project, "tests"), (own_project.parent, str(own_project))):
        suite = run([*pytest_command, target], cwd)
        assert suite.returncode == 0, suite.stdout + suite.stderr
        assert "2 passed" in suite.stdout


def test_pipeline_run_from_inside_such_a_project(own_project: Path, environment: Path) -> None:
    script = environment.with_name("pipeline")
    if not script.exists():
        # The environment sees docstage through this one's site folders; its script
        # lives beside this interpreter.
        script = Path(sys.executable).with_name("pipeline")
    for command in ([str(environment), str(script)], [str(environment), "-m", "docstage"]):
        shutil.rmtree(own_project / "work", ignore_errors=True)
        done = run([*command, "run", "docstage.toml", "--no-progress"], own_project)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = (own_project / "work" / "docs.jsonl").read_text().splitlines()
        assert [json.loads(line)["id"] for line in lines] == ["ferry.txt"]


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
