"""docstage's evaluations: how good the stages are, measured against gold data.

This package sits above the core and the built-in plugins and is contributed to the
``pipeline`` command through the ``docstage.commands`` entry point (``pipeline eval``,
:mod:`docstage_eval.cli`); the core never imports it.

- :mod:`docstage_eval.cli`: the ``eval`` command group;
- :mod:`docstage_eval.cleanup`, :mod:`docstage_eval.entities`, :mod:`docstage_eval.dedup`:
  one evaluation each, with its gold format, its scores and its subcommand;
- :mod:`docstage_eval.metrics`: the precision, recall and F1 counts all three score with;
- :mod:`docstage_eval.scratch`: the one way an evaluation runs a config, touching
  nothing of the config's own.
"""
