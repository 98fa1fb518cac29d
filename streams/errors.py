"""Errors of the streams package; the CLI prints any :class:`StreamsError` as one line (exit 2).

Part of the contract layer: it imports nothing, so the codec may raise these.
"""

__layer__ = "contract"


class StreamsError(Exception):
    """Base of every expected failure in ``streams`` (broker, contracts, replay)."""


class ContractError(StreamsError, ValueError):
    """A record that does not satisfy its contract; ``str()`` names the fields."""

    def __init__(self, model: str, problems: list[str]):
        self.model = model
        self.problems = problems
        super().__init__("; ".join(problems) if problems else f"{model}: invalid")


class TlsError(StreamsError):
    """A TLS setting names a missing or unusable file, or half of a pair."""


class BadReplayFile(StreamsError, ValueError):
    """A replay file with lines that are not valid events: its episodes would be incomplete."""


class BrokerError(StreamsError, RuntimeError):
    """The broker could not be found, started or reached."""


class DlqError(StreamsError, RuntimeError):
    """The dead-letter topic could not be read or its records not re-sent."""


class KafkaSecurityError(StreamsError):
    """A Kafka security setting is missing, unknown or names an unreadable file."""
