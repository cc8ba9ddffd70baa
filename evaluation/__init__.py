"""docstage's evaluations: how good the stages are, measured against gold data.

This package sits above the core and the built-in plugins and is contributed to the
``pipeline`` command through the ``docstage.commands`` entry point (``pipeline eval``,
:mod:`docstage_eval.cli`); the core never imports it.

- :mod:`docstage_eval.cli`: the ``eval`` command group;
- one evaluation each, its subcommand in the module of its name and its other jobs
  (gold files, scores, config runs) in modules beside it:

  - :mod:`docstage_eval.cleanup`: the command and its table;
    :mod:`docstage_eval.cleanup_gold`: the gold file;
    :mod:`docstage_eval.cleanup_routes`: the token metric and the routes it scores;
  - :mod:`docstage_eval.entities`: the command and its table;
    :mod:`docstage_eval.entities_scores`: spans, label maps and scores per label;
    :mod:`docstage_eval.entities_gold`: the gold file and a predictions file;
    :mod:`docstage_eval.entities_run`: a config's transforms run on the gold texts;
  - :mod:`docstage_eval.dedup`: the evaluation (one row per run), the command and its
    table; :mod:`docstage_eval.dedup_gold`: the gold and predictions files;
    :mod:`docstage_eval.dedup_scores`: pair counts and ARI;
    :mod:`docstage_eval.dedup_run`: a config's run and ``--sweep``;

- :mod:`docstage_eval.command`: what the three commands share (declaration, file
  options, ``--json``, printing);
- :mod:`docstage_eval.metrics`: the precision, recall and F1 counts all three score with;
- :mod:`docstage_eval.scratch`: the one way an evaluation runs a config, touching
  nothing of the config's own.
"""
