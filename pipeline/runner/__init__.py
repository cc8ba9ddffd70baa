"""The local runner: executes a plan, streaming documents from the readers to the renderers.

``Runner`` is the entry point; the package's modules split its work along its seams (see
each module's docstring).
"""

from __future__ import annotations

from docstage.runner.lifecycle import Runner

__all__ = ["Runner"]
