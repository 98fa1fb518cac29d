"""The gateway: websocket fan-out of live sessions to the supervisor board and counselor panel (docs/gateway.md)."""

__layer__ = "shell"
