"""Every hook a docstage plugin can implement, grouped by phase.

Hooks *contribute* stage types and *observe* runs; they never decide the order of the
work, which is the ``[[stages]]`` list of the config. Implement a hook with a module-level
function (or method) of the same name, marked with :data:`docstage.hookimpl`; a function
whose name starts with ``docstage_`` but matches no hook below is rejected when the plugin
is registered, so a misspelling cannot go unnoticed.

Hooks receive a :class:`~docstage.run.Run` (the run's id, config and counters) rather than
many loose arguments, so they can grow without breaking plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from docstage.document import Document
    from docstage.registry import StageRegistry
    from docstage.run import Run
    from docstage.summary import RunSummary

hookspec = pluggy.HookspecMarker("docstage")

# --- Registration -------------------------------------------------------------------------


@hookspec
def docstage_register_stages(registry: StageRegistry) -> None:
    """Contribute stage types.

    Called once per run, when the plugin manager is built, before the config's stages are
    resolved. Call ``registry.add(StageClass)`` for each stage type the plugin provides; a
    name that another plugin already registered is an error naming both plugins.

    Args:
        registry: The run's stage registry.

    Returns: nothing; all implementations are called.
    """


# --- Run lifecycle ------------------------------------------------------------------------


@hookspec
def docstage_before_run(run: Run) -> None:
    """Observe the start of a run.

    Called once, after every stage has been set up and before the first document is read.
    An exception here stops the run (exit code 3) and names the plugin.

    Args:
        run: The run about to start: ``run.run_id``, ``run.config``, ``run.stages``.

    Returns: nothing; all implementations are called.
    """


@hookspec
def docstage_after_run(run: Run, summary: RunSummary) -> None:
    """Observe the end of a run.

    Called once, after the renderers have committed their output, also when the run
    failed (then ``summary.failed`` is set and no output was committed).

    Args:
        run: The run that ended.
        summary: Per-stage counters, quarantine count, outputs and the exit code.

    Returns: nothing; all implementations are called.
    """


# --- Documents ----------------------------------------------------------------------------


@hookspec
def docstage_on_document_error(
    run: Run, stage: str, document: Document | None, error: BaseException
) -> None:
    """Observe a document a stage failed on.

    Called for every failure, before the document is quarantined, skipped or the run
    stopped (as ``[run] on_error`` says).

    Args:
        run: The current run.
        stage: The stage's name in the config.
        document: The document as the stage received it; None for input a reader could
            not turn into a document.
        error: The exception the stage raised (a :class:`~docstage.errors.StageError` for
            a stage that returned the wrong type or for bad input).

    Returns: nothing; all implementations are called.
    """


@hookspec
def docstage_document_dropped(run: Run, stage: str, document: Document | None, reason: str) -> None:
    """Observe a document a stage dropped on purpose (a filter, a duplicate, empty input).

    Args:
        run: The current run.
        stage: The stage's name in the config.
        document: The dropped document; None for input a reader skipped (an empty file).
        reason: The stage's reason, as counted in the run summary.

    Returns: nothing; all implementations are called.
    """
