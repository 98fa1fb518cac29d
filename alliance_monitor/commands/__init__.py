"""Subcommand modules of ``alliance-monitor``: each exposes ``register(subparsers)``."""
