"""One module per subcommand group; each exposes ``register(subparsers)``.

Listed in :data:`alliance_monitor.cli.COMMAND_MODULES`. A command module only
parses arguments, calls package code and prints; the logic lives in the
packages (streams, scoring, gateway, store, validation, training).
"""

__layer__ = "cli"
