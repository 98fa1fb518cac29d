"""Model validation (docs/validation.md): honest statistics, the gate, calibration.

Pure core, no I/O, the one core every other package may import
(docs/architecture.md#the-dependency-rule): :mod:`validation.stats` (the
project's one statistics module), :mod:`validation.verdict` (the pass/fail
decision), :mod:`validation.records` (the validation record and the book of
them), :mod:`validation.formatting` (what ``eval`` and ``models status`` print),
:mod:`validation.gate` (who may receive an alert) and
:mod:`validation.calibration` (monotone maps from raw scores to the client
scale). The shells — ``eval``/``calibrate``/``models status`` in the store, the
processor, the scorer and the gateway — call into these.
"""

__layer__ = "core"
