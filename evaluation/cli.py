"""``pipeline eval``: how good the stages are, measured against gold data (docs/cli.md).

Each subcommand reads a gold file given with ``--gold`` and prints precision, recall and
F1 (``--json`` for machines): ``cleanup`` scores kept text against gold text,
``entities`` exact entity spans, ``dedup`` copies and stories against labelled pairs or
clusters, ``stories`` a dated corpus's stories replayed a day at a time against one run.

The group reaches the ``pipeline`` command through the ``docstage.commands`` entry point
``eval`` (pyproject.toml); docstage's core never imports it.
"""

from __future__ import annotations

import click

from docstage_eval.cleanup import cleanup_command
from docstage_eval.dedup import dedup_command
from docstage_eval.entities import entities_command
from docstage_eval.stories import stories_command


@click.group("eval", context_settings={"help_option_names": ["-h", "--help"]})
def eval_group() -> None:
    """Measure stages against gold data: precision, recall and F1."""


eval_group.add_command(cleanup_command)
eval_group.add_command(dedup_command)
eval_group.add_command(entities_command)
eval_group.add_command(stories_command)
