"""Subcommand modules of the ``alliance-monitor`` CLI: each exposes ``register(subparsers)``."""
