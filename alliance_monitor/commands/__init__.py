"""Subcommands of ``alliance-monitor`` that live in the CLI layer (one module each, ``register(subparsers)``)."""
