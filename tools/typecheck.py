"""Run mypy --strict on docstage's installed packages.

The repository's folders ``pipeline/``, ``plugins/`` and ``evaluation/`` are installed as
``docstage``, ``docstage_plugins`` and ``docstage_eval`` (``package-dir`` in pyproject.toml).
mypy names a module after its folder and does not follow setuptools' editable-install
finder, so this script builds a tree of symbolic links with the installed names and checks
the packages through it.

Usage: ``python tools/typecheck.py [MYPY OPTIONS]`` (tox: ``tox -e type``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"docstage": "pipeline", "docstage_plugins": "plugins", "docstage_eval": "evaluation"}


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="docstage-mypy-") as tree:
        for name, folder in PACKAGES.items():
            os.symlink(ROOT / folder, Path(tree, name), target_is_directory=True)
        env = {**os.environ, "MYPYPATH": tree}
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
        for name in PACKAGES:
            command += ["-p", name]
        return subprocess.call([*command, *argv], env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
