"""HTTP ingestion: chat platforms post turns and session events; they reach the same topics as Kafka producers'."""

__layer__ = "shell"
