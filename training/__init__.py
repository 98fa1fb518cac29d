"""Training the scorer on client ratings: labelled sessions, splits, a read-out head, LoRA.

Also the labelled *synthetic* corpus generator used by tests and benchmarks
(never clinical data). Package code never imports the CLI layer; expected
failures raise :class:`training.errors.TrainingError`.
"""

__layer__ = "shell"
