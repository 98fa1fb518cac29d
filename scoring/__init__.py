"""Scoring: WAI-SR client-alliance predictions from a chat transcript (docs/scoring.md).

Pure core (instrument, prompts, read-out) plus thin shells (engines, models,
scorer, worker); the commands are in ``alliance_monitor/commands/``. Importing
this package loads no model and no torch.
"""

__layer__ = "shell"
