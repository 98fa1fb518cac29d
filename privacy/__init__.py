"""PII redaction: find names, phone numbers, e-mail addresses, postal addresses and ID
numbers in English and Chinese text and replace them with typed tokens (``[NAME]``, …).

A shared core like ``validation``: no I/O, imports only the contracts, used by the
sink (before storing), the processor (before the model, opt-in) and the log setup.
"""

__layer__ = "core"

from .redact import KINDS, TOKENS, Redaction, Span, find_spans, redact

__all__ = ["KINDS", "TOKENS", "Redaction", "Span", "find_spans", "redact"]
