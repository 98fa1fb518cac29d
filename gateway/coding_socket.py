"""The coding page's socket (``/code/ws``): a supervisor codes sampled turns; the codes go to the store.

Why its own socket, like the survey's: a coder is shown stored turns, not the live
feed, so the connection never joins the hub. It does authenticate like the board
(the first message is the same ``hello`` with a token) and admits supervisors only;
what it shows is audited like every view of session content (``coding`` in the
audit trail, with the sessions shown), and like the board it shows nothing while the
trail is down past its bound (``Gateway.audit_blocked``). The store side — the sample, the context,
the codes — is a :class:`CodingDesk` the command line hands in
(alliance_monitor/coding.py), called in a thread. Nothing here logs a turn or a code.

Messages from the page: ``load`` → ``coding`` (the codebook, the coder's turns with
their redacted context, the coders' agreement, the windows coded so far); ``code`` {session_id, turn_id,
codes} → ``saved`` (and the agreement as it now stands), or ``error``. Both may carry
``mode``: "turns" (the default: single sampled turns) or "stretch" (whole windows of
a session, coded turn by turn, for the process-signal flags' window record).
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .client_messages import CLOSE_TRY_AGAIN, CLOSE_UNAUTHORIZED, parse_hello
from .errors import ProtocolError

if TYPE_CHECKING:
    from .auth import Viewer
    from .server import Gateway

log = logging.getLogger(__name__)

CODING_WS_PATH = "/code/ws"
#: messages one coding connection may send (a code per turn, reloads); a session of coding is long.
CODING_MAX_MESSAGES = 5000
#: a coder may read a turn for a while before the next message.
CODING_IDLE_S = 60 * 60


class CodingDesk(Protocol):
    """The store behind the page (alliance_monitor/coding.py); every call may block and may raise."""

    def turns_for(self, viewer: "Viewer", mode: str = "turns") -> list[dict[str, Any]]: ...

    def save(self, viewer: "Viewer", session_id: str, turn_id: int, codes: object, mode: str = "turns"
             ) -> dict[str, Any]: ...

    def agreement(self, viewer: "Viewer", mode: str = "turns") -> dict[str, Any]: ...


#: what the page may ask for: single sampled turns, or whole windows ("stretches")
CODING_MODES = ("turns", "stretch")


def _error(code: str, message: str) -> str:
    return orjson.dumps({"type": "error", "code": code, "message": message}).decode()


class CodingSocket:
    def __init__(self, gw: "Gateway", desk: CodingDesk | None):
        self.gw = gw
        self.desk = desk
        self._conns = 0

    async def serve(self, ws: ServerConnection, address: str) -> None:
        gw = self.gw
        refused = gw.waiting.enter(address)
        if refused:
            await ws.close(CLOSE_TRY_AGAIN, refused)
            return
        try:
            raw = await asyncio.wait_for(ws.recv(), gw.config.hello_timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            await ws.close(CLOSE_UNAUTHORIZED, f"no hello with a token within {gw.config.hello_timeout_s:g} s")
            return
        except ConnectionClosed:
            return
        finally:
            gw.waiting.leave(address)
        try:
            viewer = parse_hello(raw, gw.keys, time.time()).viewer
        except ProtocolError as err:
            await ws.close(err.code, err.reason)
            return
        if viewer.role != "supervisor":
            await ws.close(CLOSE_UNAUTHORIZED, "the coding page is for supervisors")
            return
        self._conns += 1
        conn_id = -self._conns  # negative: never one of the hub's connection ids in the audit ids
        await ws.send(orjson.dumps({"type": "welcome", "name": viewer.name}).decode())
        try:
            for _ in range(CODING_MAX_MESSAGES):
                raw = await asyncio.wait_for(ws.recv(), CODING_IDLE_S)
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    msg = None
                if not isinstance(msg, dict) or msg.get("type") not in ("load", "code"):
                    await ws.send(_error("protocol", "expected {type: load} or {type: code, session_id, turn_id, codes}"))
                    continue
                await ws.send(await self._reply(viewer, conn_id, msg))
        except (ConnectionClosed, asyncio.TimeoutError, TimeoutError):
            return

    async def _reply(self, viewer: "Viewer", conn_id: int, msg: dict) -> str:
        if self.desk is None:
            return _error("unavailable", "this gateway has no store to code from (run it with ALLIANCE_DB_URL)")
        mode = msg.get("mode", "turns")
        if mode not in CODING_MODES:
            return _error("protocol", f"mode must be one of {', '.join(CODING_MODES)}")
        try:
            if msg["type"] == "load":
                if self.gw.audit_blocked:  # fail closed like the board: no unaudited view of session content
                    return _error("audit_unavailable", "audit trail unavailable: no turns until it is back; "
                                                       "try again shortly")
                turns = await asyncio.to_thread(self.desk.turns_for, viewer, mode)
                agreement = await asyncio.to_thread(self.desk.agreement, viewer, mode)
                shown = tuple(sorted({t["session_id"] for t in turns}))
                self.gw.audit.take(self.gw.hub.access.record(conn_id, "coding", viewer, shown, len(shown)))
                from validation.codebook import page_codebook

                return orjson.dumps({"type": "coding", "mode": mode, "codebook": page_codebook(), "turns": turns,
                                     "agreement": agreement}).decode()
            sid, tid = msg.get("session_id"), msg.get("turn_id")
            if not isinstance(sid, str) or isinstance(tid, bool) or not isinstance(tid, int):
                return _error("protocol", "code needs session_id (string) and turn_id (whole number)")
            saved = await asyncio.to_thread(self.desk.save, viewer, sid, tid, msg.get("codes"), mode)
            agreement = await asyncio.to_thread(self.desk.agreement, viewer, mode)
            return orjson.dumps({"type": "saved", **saved, "agreement": agreement}).decode()
        except (ValueError, LookupError) as err:
            return _error("refused", str(err))
        except Exception as err:  # noqa: BLE001 - the store is down: say so, never pretend it was saved
            log.warning("coding store call failed: %s", type(err).__name__)
            return _error("not_saved", "the store cannot be reached right now; try again")
