"""Subcommand modules: each exposes ``register(subparsers)`` and stays thin (parse, call, print)."""
