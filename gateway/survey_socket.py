"""The client survey's socket (``/survey/ws``): ``open`` → form or refusal; ``submit`` → thanks or refusal.

gateway/survey.py decides (links, forms, answers), gateway/survey_feed.py reads
and writes ``chat.ratings``; this module moves the messages. A survey socket
never joins the hub, so no rating reaches a board or panel connection, and
nothing here logs a token or an answer.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Callable

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .client_messages import CLOSE_TRY_AGAIN
from .survey import refusal

if TYPE_CHECKING:
    from .survey import SurveyDesk
    from .survey_feed import SurveyFeed
    from .waiting_room import HelloWaitingRoom

log = logging.getLogger(__name__)

SURVEY_WS_PATH = "/survey/ws"
#: messages one survey connection may send (open, submit, a few retries).
SURVEY_MAX_MESSAGES = 20
#: after a valid message, how long the page may wait for the next (a person answering the form)
SURVEY_ANSWER_S = 15 * 60.0


class SurveySocket:
    """Serves survey pages; the links' desk and the ratings feed are the gateway's."""

    def __init__(self, desk: "SurveyDesk", feed: "Callable[[], SurveyFeed | None]", waiting: "HelloWaitingRoom",
                 hello_timeout_s: float, ready_timeout_s: float, room: "HelloWaitingRoom | None" = None):
        self.desk = desk
        #: every open survey socket, per client and in all, for its whole life: a survey socket never
        #: authenticates, so leaving the waiting room must not make it free (None: not counted)
        self.room = room
        #: the gateway's survey feed once started (None: no Kafka)
        self._feed = feed
        self.waiting = waiting
        self.hello_timeout_s = hello_timeout_s
        self.ready_timeout_s = ready_timeout_s

    async def serve(self, ws: ServerConnection, address: str) -> None:
        """Serve one survey page: ``open`` → form or refusal; ``submit`` → thanks or refusal.

        Never logs a token or an answer; a client's answers go to ``chat.ratings`` only.
        """
        refused = self.waiting.enter(address)
        if not refused and self.room is not None:
            refused = self.room.enter(address)
            if refused:
                self.waiting.leave(address)
        if refused:
            await ws.close(CLOSE_TRY_AGAIN, refused)
            return
        loop = asyncio.get_running_loop()
        waiting = True
        # a deadline, not a timeout per message: junk buys no time, only a valid message does
        deadline = loop.time() + self.hello_timeout_s
        try:
            for _ in range(SURVEY_MAX_MESSAGES):
                raw = await asyncio.wait_for(ws.recv(), max(0.0, deadline - loop.time()))
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    msg = None
                if not isinstance(msg, dict) or msg.get("type") not in ("open", "submit"):
                    await ws.send(orjson.dumps({"type": "error", "code": "protocol",
                                                "message": "expected {type: open|submit, token}"}).decode())
                    continue
                if waiting:
                    waiting = False
                    self.waiting.leave(address)
                deadline = loop.time() + SURVEY_ANSWER_S
                feed = self._feed()
                if feed is None:
                    reply = refusal("unavailable", "the survey service is not connected; try again later")
                else:
                    try:
                        await asyncio.wait_for(feed.ready.wait(), self.ready_timeout_s)
                    except (asyncio.TimeoutError, TimeoutError):
                        reply = refusal("unavailable", "the survey service is starting; try again shortly")
                    else:
                        reply = await self._reply(feed, msg)
                await ws.send(orjson.dumps(reply).decode())
        except (ConnectionClosed, asyncio.TimeoutError, TimeoutError):
            return
        finally:
            if waiting:
                self.waiting.leave(address)
            if self.room is not None:
                self.room.leave(address)

    async def _reply(self, feed: "SurveyFeed", msg: dict) -> dict:
        now = time.time()
        if msg["type"] == "open":
            return self.desk.open(msg.get("token"), now)
        reply, rating = self.desk.submit(msg.get("token"), msg.get("answers"), now)
        if rating is None:
            return reply
        try:
            await feed.publish(rating)
        except Exception as err:  # noqa: BLE001 - the broker is down: say so, let the client retry
            self.desk.release(rating.link_id or "")
            log.warning("survey rating not published: %s", type(err).__name__)
            return {"type": "error", "code": "not_saved", "message": "your answers could not be saved; try again"}
        self.desk.mark_used(rating.link_id or "")
        return reply
