"""Fixtures shared by the test suite.

The evaluation data in ``../shared`` (next to the repository, or wherever
``DOCSTAGE_SHARED`` points) is optional: tests that need it take the ``shared`` fixture,
which skips cleanly when it is absent.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True)
def _fresh_logging() -> object:
    """Each test starts with structlog's defaults: a command run by an earlier test
    (which sets the level to warnings) must not hide the log lines a test captures."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared evaluation folder (SPEC, seeds, corpora); skips the test when absent."""
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
