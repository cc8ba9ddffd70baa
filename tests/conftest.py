"""Fixtures shared by the test suite.

The evaluation data in ``../shared`` (next to the repository, or wherever
``DOCSTAGE_SHARED`` points) is optional: tests that need it take the ``shared`` fixture,
which skips cleanly when it is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIGS = ROOT / "configs"


def news_outputs(folder: Path) -> list[str]:
    """``--set`` overrides that send every file configs/news.toml writes into ``folder``."""
    return [
        f"stages.render.jsonl.path={(folder / 'news.jsonl').as_posix()}",
        f"stages.render.csv.path={(folder / 'entities.csv').as_posix()}",
        f"stages.render.markdown.path={(folder / 'digest.md').as_posix()}",
        f"stages.render.html.path={(folder / 'report.html').as_posix()}",
        f"stages.cleanup.boilerplate.report={(folder / 'boilerplate.json').as_posix()}",
        f"stages.dedup.report={(folder / 'dedup.jsonl').as_posix()}",
        f"run.quarantine={(folder / 'quarantine.jsonl').as_posix()}",
        f"run.state={(folder / 'state.sqlite').as_posix()}",
    ]


def pipeline_command(
    folder: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``pipeline ARGS`` (``python -m docstage``) run in ``folder``, its output captured as
    text; never raises for its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "docstage", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads the shared evaluation data (through ``shared``, directly or by
    another fixture) is a ``corpus`` test: ``-m "not corpus"`` leaves them out."""
    for item in items:
        if "shared" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.corpus)


@pytest.fixture(autouse=True)
def _fresh_logging() -> object:
    """Each test starts with structlog's defaults: a command run by an earlier test
    (which sets the level to warnings) must not hide the log lines a test captures."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared evaluation folder (seeds, corpora); skips the test when absent."""
    folder = Path(os.environ.get("DOCSTAGE_SHARED", ROOT.parent / "shared"))
    if not (folder / "corpora").is_dir():
        pytest.skip(f"shared evaluation data not found at {folder} (set DOCSTAGE_SHARED)")
    return folder


@pytest.fixture(scope="session")
def twenty_news(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 20 Newsgroups archive unpacked once per session; returns the unpacked folder."""
    archive = shared / "corpora" / "20news" / "20news-19997.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive} not found")
    target = tmp_path_factory.mktemp("20news")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(target)
    return target


@pytest.fixture(scope="session")
def spacy_model() -> str:
    """The installed English spaCy pipeline; skips the test when there is none."""
    pytest.importorskip("spacy")
    from docstage_plugins.entities import spacy_backend

    try:
        return spacy_backend.find_model()
    except spacy_backend.BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["rules", "spacy"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each ``entities`` backend in turn; ``spacy`` skips when spaCy or a model is absent."""
    if request.param == "spacy":
        request.getfixturevalue("spacy_model")
    return str(request.param)


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``, capturing its output (never raises for its exit code)."""
    # Wide enough that rich's tables keep each row on one line.
    environ = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=environ
    )


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment that sees this one's packages; returns its python.

    Packages installed into it (``pip --python``) leave the test environment as it was.
    """
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
