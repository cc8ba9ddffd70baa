"""``pipeline new-plugin``: the distribution it makes installs, passes its tests, is listed
by ``pipeline plugins`` and runs in a pipeline, under the local and processes executors;
its README, its ``tox.ini`` and the message printed install docstage from its source.

The plugin is installed into a virtual environment of its own, which sees this
environment's site folders (docstage and its dependencies) through a ``.pth`` file, so the
test environment itself is left as it was. ``.ci/plugin-kit`` installs it from an empty
environment by the README's command.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import docstage
from docstage.cli import cli
from docstage.scaffold import (
    DocstageSource,
    installed_source,
    new_plugin,
    source_from_direct_url,
    source_from_option,
)
from tests.conftest import ROOT, run
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


def readme_install(readme: str) -> str:
    """The install command of a generated README, found as ``.ci/plugin-kit`` finds it: the
    first ``pip install`` line of its first ``sh`` block."""
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    return next(line for line in block.splitlines() if line.startswith("pip install "))


def tox_deps(tox_ini: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip() for line in tox_ini.splitlines() if line.startswith("deps")
    ]


GIT = "git+https://git.example.org/news/docstage.git@3f2a9c1e"


@pytest.mark.parametrize(
    ("source", "install", "deps", "said"),
    [
        (
            DocstageSource("editable", "/home/ana/src/docstage"),
            "pip install -e '.[test]' -e /home/ana/src/docstage",
            ["docstage @ file:///home/ana/src/docstage"],
            "docstage from its source folder `/home/ana/src/docstage` (editable).",
        ),
        (
            DocstageSource("directory", "/srv/docstage source"),
            "pip install -e '.[test]' '/srv/docstage source'",
            ["docstage @ file:///srv/docstage%20source"],
            "docstage from its source folder `/srv/docstage source`.",
        ),
        (
            DocstageSource("file", "/wheels/docstage-0.1.0-py3-none-any.whl"),
            "pip install -e '.[test]' /wheels/docstage-0.1.0-py3-none-any.whl",
            ["docstage @ file:///wheels/docstage-0.1.0-py3-none-any.whl"],
            "docstage from `/wheels/docstage-0.1.0-py3-none-any.whl`.",
        ),
        (
            DocstageSource("url", GIT),
            f"pip install -e '.[test]' 'docstage @ {GIT}'",
            [f"docstage @ {GIT}"],
            f"docstage from `{GIT}`.",
        ),
        (
            DocstageSource("index"),
            "pip install -e '.[test]'",
            [],
            "docstage from the package index pip is set up for (`pip config list` shows it).",
        ),
        (
            DocstageSource("unknown", "/tmp/gone/docstage"),
            "pip install -e '.[test]'",
            [],
            "Install docstage into the environment before it, from its source",
        ),
    ],
    ids=["checkout", "folder", "wheel", "git", "index", "gone"],
)
def test_the_readme_and_tox_ini_install_docstage_from_its_source(
    tmp_path: Path, source: DocstageSource, install: str, deps: list[str], said: str
) -> None:
    """A fresh environment has no docstage and the index has none either: the README's
    install command and tox.ini name where docstage comes from; pyproject.toml keeps a
    plain version bound, as a published plugin must."""
    made = new_plugin("acme-tagger", tmp_path / "p", source)
    assert made.source == source
    assert source.install == install
    readme = (tmp_path / "p" / "README.md").read_text()
    assert readme_install(readme) == install
    assert said in " ".join(readme.split())
    assert "docstage is not published on PyPI" in " ".join(readme.split())
    assert tox_deps((tmp_path / "p" / "tox.ini").read_text()) == deps
    pyproject = (tmp_path / "p" / "pyproject.toml").read_text()
    assert f'dependencies = ["docstage>={docstage.__version__}"]' in pyproject


@pytest.mark.parametrize(
    ("option", "install", "dep"),
    [
        (GIT, f"pip install -e '.[test]' 'docstage @ {GIT}'", f"docstage @ {GIT}"),
        ("index", "pip install -e '.[test]'", None),
        ("{checkout}", "pip install -e '.[test]' {checkout}", "docstage @ file://{checkout}"),
    ],
    ids=["git", "index", "folder"],
)
def test_docstage_from_chooses_the_source_and_the_message_gives_the_command(
    tmp_path: Path, option: str, install: str, dep: str | None
) -> None:
    checkout = tmp_path / "docstage"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "docstage"\n')
    option, install = (text.replace("{checkout}", str(checkout)) for text in (option, install))
    folder = tmp_path / "p"
    result = CliRunner().invoke(
        cli, ["new-plugin", "acme-tagger", "--dir", str(folder), "--docstage-from", option]
    )
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert f" && {install} && pytest;" in last
    assert last.startswith("next, in a fresh virtual environment: cd ")
    assert readme_install((folder / "README.md").read_text()) == install
    wanted = [dep.replace("{checkout}", str(checkout))] if dep else []
    assert tox_deps((folder / "tox.ini").read_text()) == wanted


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ("index", "index"),
        ("https://files.example.org/docstage-0.1.0.tar.gz", "url"),
        ("hg+https://hg.example.org/docstage", "url"),
        ("{folder}", "directory"),
        ("file://{folder}", "directory"),
        ("{wheel}", "file"),
    ],
)
def test_source_from_option(tmp_path: Path, given: str, kind: str) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    wheel = tmp_path / "docstage-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    value = given.format(folder=tmp_path, wheel=wheel)
    source = source_from_option(value)
    assert source.kind == kind
    if kind in ("directory", "file"):
        assert Path(source.location).is_absolute()
        assert Path(source.location).exists()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "no-such-folder",
            "error: --docstage-from no-such-folder: no such file or folder; give docstage's "
            "source folder, a wheel or sdist, a URL (git+https://…) or 'index'",
        ),
        (
            "empty",
            "error: --docstage-from empty: a folder without pyproject.toml; give docstage's "
            "source folder, a wheel or sdist, a URL (git+https://…) or 'index'",
        ),
    ],
)
def test_a_docstage_from_that_is_no_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, message: str
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["new-plugin", "acme", "--docstage-from", given])
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert not (tmp_path / "acme").exists()


def test_a_source_that_is_gone_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docstage installed from a folder since deleted: the plugin is made, its README and a
    warning say to install docstage first (or to name its source)."""
    gone = DocstageSource("unknown", str(tmp_path / "gone"))
    monkeypatch.setattr("docstage.scaffold.installed_source", lambda: gone)
    result = CliRunner().invoke(cli, ["new-plugin", "acme", "--dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: docstage was installed from {tmp_path / 'gone'}, which is gone: install "
        "docstage into the plugin's environment first, or give its source with "
        "--docstage-from\n"
    )
    assert "&& pip install -e '.[test]' && pytest;" in result.stdout


@pytest.mark.parametrize(
    ("direct_url", "kind", "location"),
    [
        ({"url": "file://{tmp}", "dir_info": {"editable": True}}, "editable", "{tmp}"),
        ({"url": "file://{tmp}", "dir_info": {}}, "directory", "{tmp}"),
        (
            {"url": "file://{tmp}/pkg", "dir_info": {}, "subdirectory": "sub"},
            "directory",
            "{tmp}/pkg/sub",
        ),
        ({"url": "file://{tmp}/d.whl", "archive_info": {}}, "file", "{tmp}/d.whl"),
        ({"url": "file://{tmp}/missing", "dir_info": {}}, "unknown", "{tmp}/missing"),
        (
            {
                "url": "https://git.example.org/docstage.git",
                "vcs_info": {"vcs": "git", "requested_revision": "main", "commit_id": "3f2a9c1e"},
            },
            "url",
            "git+https://git.example.org/docstage.git@3f2a9c1e",
        ),
        (
            {
                "url": "ssh://git@git.example.org/mono.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc"},
                "subdirectory": "docstage",
            },
            "url",
            "git+ssh://git@git.example.org/mono.git@abc#subdirectory=docstage",
        ),
        (
            {"url": "https://files.example.org/docstage-0.1.0.tar.gz", "archive_info": {}},
            "url",
            "https://files.example.org/docstage-0.1.0.tar.gz",
        ),
    ],
    ids=["editable", "folder", "subdirectory", "wheel", "gone", "git", "git-sub", "archive"],
)
def test_source_from_direct_url(
    tmp_path: Path, direct_url: dict[str, object], kind: str, location: str
) -> None:
    """What PEP 610's direct_url.json of the installed docstage says becomes the source:
    a VCS install pinned to its commit, a local folder or file by its path."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "d.whl").write_bytes(b"")
    data = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in direct_url.items()}
    assert source_from_direct_url(data) == DocstageSource(kind, location.format(tmp=tmp_path))


def test_source_from_direct_url_without_a_url() -> None:
    assert source_from_direct_url({"dir_info": {}}) is None


def test_installed_source_is_this_checkout_when_docstage_runs_from_it() -> None:
    """The test environments install docstage editable from this checkout (tox's
    ``package = editable``, ``pip install -e .``): the plugin's README names it."""
    if not Path(docstage.__file__).resolve().is_relative_to(ROOT):
        pytest.skip("docstage is not installed from this checkout")
    assert installed_source() == DocstageSource("editable", str(ROOT))
