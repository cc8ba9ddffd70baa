"""docstage's pytest plugin (entry point ``pytest11``): the fixtures of :mod:`docstage.testing`.

pytest imports this module in every session of every project where docstage is
installed, so it imports nothing of docstage until a test asks for one of its fixtures.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from docstage.testing import HookRecorder, RunPipeline, RunStage


@pytest.fixture
def hook_recorder() -> HookRecorder:
    """A fresh :class:`~docstage.testing.HookRecorder`; pass it as
    ``plugins=[("recorder", hook_recorder)]``."""
    from docstage.testing import HookRecorder

    return HookRecorder()


@pytest.fixture
def run_pipeline(tmp_path: Path) -> RunPipeline:
    """:func:`docstage.testing.run_pipeline` with relative paths resolved in ``tmp_path``."""
    from docstage import testing

    return functools.partial(testing.run_pipeline, folder=tmp_path)


@pytest.fixture
def run_stage(tmp_path: Path) -> RunStage:
    """:func:`docstage.testing.run_stage` with relative paths resolved in ``tmp_path``."""
    from docstage import testing

    return functools.partial(testing.run_stage, folder=tmp_path)
