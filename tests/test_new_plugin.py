"""``pipeline new-plugin``: the distribution it makes installs, passes its tests, is listed
by ``pipeline plugins`` and runs in a pipeline, under the local and processes executors.

The plugin is installed into a virtual environment of its own, which sees this
environment's site folders (docstage and its dependencies) through a ``.pth`` file, so the
test environment itself is left as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment that sees this one's packages; returns its python."""
    folder = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    found = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], folder
    )
    purelib = Path(found.stdout.strip())
    paths = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *sys.path}
    lines = sorted(p for p in paths if p and Path(p).is_dir() and "site-packages" in p)
    # addsitedir, not a bare path: the .pth files there (an editable docstage) count too.
    added = "".join(f"import site; site.addsitedir({line!r})\n" for line in lines)
    (purelib / "host.pth").write_text(added, encoding="utf-8")
    return python


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

    listed = run([str(environment), "-m", "pipeline", "plugins"], plugin)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "acme-tagger" in line)
    assert "acme_tagger.tag" in row
    assert "loaded" in row

    (plugin / "articles").mkdir()
    (plugin / "articles" / "a.txt").write_text("Dockworkers strike at the port.\n")
    (plugin / "articles" / "b.txt").write_text("Rain all week.\n")
    (plugin / "tag.toml").write_text(
        textwrap.dedent(
            """\
            [[stages]]
            use = "read.files"
            path = "articles/*.txt"

            [[stages]]
            use = "acme_tagger.tag"
            keywords = ["strike", "ferry"]
            drop_untagged = true

            [[stages]]
            use = "render.jsonl"
            path = "out/tagged.jsonl"
            """
        )
    )
    outputs = {}
    for executor in ("local", "processes"):
        command = [str(environment), "-m", "pipeline", "run", "tag.toml", "--no-incremental"]
        ran = run([*command, "--executor", executor, "--workers", "2"], plugin)
        assert ran.returncode == 0, ran.stderr
        outputs[executor] = (plugin / "out" / "tagged.jsonl").read_text()
    assert outputs["processes"] == outputs["local"]
    records = [json.loads(line) for line in outputs["local"].splitlines()]
    assert [(r["id"], r["annotations"]["acme_tagger.tag"]) for r in records] == [
        ("a.txt", ["strike"])
    ]


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
