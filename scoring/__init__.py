"""Scoring: WAI-SR client-alliance predictions from a chat transcript (docs/scoring.md).

Pure core (instrument, prompts, read-out, metrics) plus thin shells (engines,
models, worker, CLI). Importing this package loads no model and no torch.
"""
