"""The README's two commands, run as a new user would run them.

The README's quick start gives one command that installs docstage and runs the news
pipeline on the bundled examples, and one that installs what the tests need and runs them.
The tests here read both from README.md itself and run them as written, in a fresh virtual
environment made from this interpreter, in a copy of the checkout (``git ls-files``, as
``.ci/plugin-kit`` does), so that a README edit that breaks either command fails here.
``.ci/run`` must call the test command verbatim: CI is then what the README promises.

The test command runs the whole suite; here ``PYTEST_ADDOPTS`` narrows it with ``-k`` to the
tests that need the two plugin packages the command installs (with
``DOCSTAGE_REQUIRE_TEST_PLUGIN=1``, so that a missing package fails instead of skipping),
which keeps this from running itself. ``-k``, not file names: the variable reaches the
pytest that tests/test_example_plugin.py runs on the plugin's own tests, where file names
of this suite would start the subset again, and again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

# The test modules the test command runs here: those that need docstage-shout and
# docstage-redact, which only the README's command installs, and the plugin's own tests
# (test_redact), which tests/test_example_plugin.py runs.
SUBSET = ("test_plugins", "test_example_plugin", "test_redact")


def quick_start_commands(text: str) -> tuple[str, str]:
    """The README's two commands: (install and run the news example, install and run the
    tests), from the first ``sh`` block, each one line of the block."""
    block = re.search(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, "README.md has no ```sh block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    commands = [line for line in lines if line.startswith("python -m pip install")]
    example = [line for line in commands if "pipeline run configs/news.toml" in line]
    tests = [line for line in commands if line.endswith("python -m pytest")]
    assert len(example) == 1, f"not one example command in README.md's first sh block: {lines}"
    assert len(tests) == 1, f"not one test command in README.md's first sh block: {lines}"
    return example[0], tests[0]


def test_the_readme_gives_both_commands() -> None:
    example, tests = quick_start_commands(README.read_text(encoding="utf-8"))
    # The test command installs the two plugin packages that tests/test_plugins.py and
    # tests/test_example_plugin.py need, and every extra.
    assert "./tests/plugins/docstage-shout" in tests
    assert "./examples/plugins/docstage-redact" in tests
    assert "'.[all]'" in tests
    assert example.endswith("pipeline run configs/news.toml")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, tests = quick_start_commands(README.read_text(encoding="utf-8"))
    assert tests in CI_RUN.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's tracked files, with a fresh virtual environment of this
    interpreter in its ``.venv`` (as the README makes it)."""
    copy = tmp_path_factory.mktemp("readme") / "docstage"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: git ls-files lists nothing to copy")
    for name in listed.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    subprocess.run([sys.executable, "-m", "venv", str(copy / ".venv")], check=True)
    return copy


def shell(command: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """``command`` run by ``sh`` in ``cwd`` with ``.venv`` activated (its ``bin`` first on
    PATH), outside whatever environment runs this test."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DOCSTAGE_"))
    }
    venv = cwd / ".venv"
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        COLUMNS="200",
        **extra,
    )
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def failure(result: subprocess.CompletedProcess[str]) -> str:
    """The ends of a failed command's output and errors (less pip's warnings about the
    index locations it skips)."""
    errors = [line for line in result.stderr.splitlines() if "is ignored:" not in line]
    return f"stdout:\n{result.stdout[-6000:]}\nstderr:\n" + "\n".join(errors)[-3000:]


@pytest.mark.slow
def test_the_example_command_installs_and_writes_the_report(checkout: Path) -> None:
    example, _ = quick_start_commands((checkout / "README.md").read_text(encoding="utf-8"))
    result = shell(example, checkout)
    assert result.returncode == 0, failure(result)
    for name in ("news.jsonl", "digest.md", "report.html", "entities.csv"):
        assert (checkout / "out" / name).stat().st_size > 0, name
    # The summary names the run and the last stage of configs/news.toml.
    assert "news" in result.stdout
    assert "render.html" in result.stdout


@pytest.mark.slow
def test_the_test_command_installs_what_the_tests_need_and_runs_them(checkout: Path) -> None:
    _, tests = quick_start_commands((checkout / "README.md").read_text(encoding="utf-8"))
    result = shell(
        tests,
        checkout,
        PYTEST_ADDOPTS=f"-p no:cacheprovider -rs -k '{' or '.join(SUBSET)}'",
        DOCSTAGE_REQUIRE_TEST_PLUGIN="1",
    )
    assert result.returncode == 0, failure(result)
    closing = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", closing), closing
    assert "skipped" not in closing, failure(result)
    assert "deselected" in closing  # the subset ran, not the whole suite
    for name in ("tests/test_plugins.py", "tests/test_example_plugin.py"):
        assert name in result.stdout
