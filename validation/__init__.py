"""Model validation (docs/validation.md): honest statistics, the gate, calibration.

Pure core, no I/O: :mod:`validation.stats` (correlations, partial correlation,
bootstrap intervals, the length-only baseline), :mod:`validation.gate` (the
pass/fail decision, the validation record, who may receive an alert) and
:mod:`validation.calibration` (monotone maps from raw scores to the client
scale). The shells — ``eval``/``calibrate``/``models status`` in the store, the
processor and the gateway — call into these.
"""
