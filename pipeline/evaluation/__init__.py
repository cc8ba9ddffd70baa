"""``pipeline eval``: how good the stages are, measured against gold data (SPEC §8, §10).

Each subcommand reads a gold file given with ``--gold`` and prints precision, recall and
F1 (``--json`` for machines): ``cleanup`` scores kept text against gold text,
``entities`` exact entity spans, ``dedup`` copies and stories against labelled pairs or
clusters.
"""

from __future__ import annotations

import click

from docstage.evaluation.cleanup import cleanup_command
from docstage.evaluation.dedup import dedup_command
from docstage.evaluation.entities import entities_command


@click.group("eval", context_settings={"help_option_names": ["-h", "--help"]})
def eval_group() -> None:
    """Measure stages against gold data: precision, recall and F1."""


eval_group.add_command(cleanup_command)
eval_group.add_command(dedup_command)
eval_group.add_command(entities_command)
