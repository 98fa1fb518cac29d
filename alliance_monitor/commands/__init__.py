"""CLI command modules: each exposes ``register(subparsers)``; listed in cli.COMMAND_MODULES."""
