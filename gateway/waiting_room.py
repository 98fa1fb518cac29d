"""Sockets that have not said hello yet, counted per remote address and in all (pure).

The gateway's board socket and its survey socket both enter here before their
first message; the excess is refused with a reason (close 1013, "try again later").
"""

from __future__ import annotations

__layer__ = "core"


class HelloWaitingRoom:
    """Counts sockets that have not authenticated yet, so idle ones cannot pile up.

    Why: until its hello arrives a socket costs memory and a file descriptor and
    proves nothing; a cap per remote address stops one host from holding many,
    the global cap bounds the total. ``enter`` says why a socket is refused, or "".
    """

    def __init__(self, per_address: int, total: int):
        self.per_address = per_address
        self.total = total
        self.by_address: dict[str, int] = {}
        self.refused = 0

    def enter(self, address: str) -> str:
        if sum(self.by_address.values()) >= self.total:
            self.refused += 1
            return "too many connections waiting to authenticate; try again shortly"
        if self.by_address.get(address, 0) >= self.per_address:
            self.refused += 1
            return "too many unauthenticated connections from your address; try again shortly"
        self.by_address[address] = self.by_address.get(address, 0) + 1
        return ""

    def leave(self, address: str) -> None:
        left = self.by_address.get(address, 0) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)
