"""Survey links and the survey desk: the pure core behind the client survey page.

A survey link is ``<base>/survey#t=<token>``. The token is
``<base64url(claims)>.<base64url(HMAC-SHA256)>``, signed with a key of its own,
derived from the gateway's signing secret for this one purpose (or
``ALLIANCE_SURVEY_SECRET`` when set), and it carries the claim ``pur: "survey"``.
Gateway access tokens are JWTs (gateway/auth.py) under other keys, so a gateway
token is never a survey link and a survey link never opens the board: each fails
the other's format and signature check.

Claims: ``v``, ``pur``, ``lid`` (random link id: one rating per link), ``sid``
(the session rated), ``lang`` (en | zh), ``ins`` (wai-sr | srs), ``iat``, ``exp``.
The token sits in the URL *fragment*, which browsers never send to a server, so
it never reaches access logs or a Referer.

:class:`SurveyDesk` decides what the page gets: the form, or a refusal with a
reason (``invalid`` — forged or tampered, ``expired``, ``used``), and turns a
submission into a :class:`~streams.contracts.ClientRating`. It knows which links
were used from the ratings the shell feeds it (``mark_used``). No I/O here: the
clock and the used set come from the shell (gateway/survey_feed.py).
"""

from __future__ import annotations

__layer__ = "shell"

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import orjson

from streams import environment
from streams.codec import validate
from streams.contracts import INSTRUMENT_ITEMS, INSTRUMENT_VERSIONS, ClientRating, Lang
from streams.errors import ContractError

from .auth import MIN_SECRET_BYTES, KeyRing
from .errors import LinkError, Refusal

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13

SURVEY_SECRET_ENV = "ALLIANCE_SURVEY_SECRET"
PURPOSE = "survey"
LINK_VERSION = 1
#: Longest accepted link lifetime; a client answers within days, not weeks.
MAX_LINK_TTL_S = 7 * 24 * 3600
DEFAULT_LINK_TTL_S = 72 * 3600
LANGS = ("en", "zh")
INSTRUMENTS = tuple(INSTRUMENT_ITEMS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())


@dataclass(frozen=True)
class SurveyClaims:
    link_id: str
    session_id: str
    lang: Lang
    instrument: str
    issued_at: int
    expires_at: int


def survey_key(gateway_secret: "bytes | KeyRing", env: dict | None = None) -> bytes:
    """The key survey links are signed with: ``ALLIANCE_SURVEY_SECRET``, else derived from the gateway secret.

    Derivation (HMAC of a fixed label) gives links a key of their own without a
    second secret to distribute; knowing a link's key reveals nothing of the
    gateway's. With several token keys (a :class:`~gateway.auth.KeyRing`), the
    secret of the *signing* key is used: rotating that key also invalidates open
    survey links, so a deployment that rotates keys sets ``ALLIANCE_SURVEY_SECRET``.
    """
    own = (env if env is not None else environment.snapshot()).get(SURVEY_SECRET_ENV, "")
    if own:
        raw = own.encode("utf-8")
        if len(raw) < MIN_SECRET_BYTES:
            raise LinkError("invalid", f"{SURVEY_SECRET_ENV} is {len(raw)} bytes; use at least {MIN_SECRET_BYTES}")
        return raw
    if isinstance(gateway_secret, KeyRing):
        gateway_secret = gateway_secret.keys[gateway_secret.signing_kid]
    return hmac.new(gateway_secret, b"alliance-monitor survey links v1", hashlib.sha256).digest()


def _is_lang(value: str) -> TypeIs[Lang]:
    return value in LANGS


def mint_link(key: bytes, *, session_id: str, lang: str = "en", instrument: str = "wai-sr",
              ttl_s: float = DEFAULT_LINK_TTL_S, now: float | None = None,
              link_id: str | None = None) -> tuple[str, SurveyClaims]:
    """Sign a single-use survey token for one session; raises LinkError on a bad request."""
    if not isinstance(session_id, str) or not session_id.strip() or session_id != session_id.strip():
        raise LinkError("invalid", "a survey link needs a session id (no surrounding spaces)")
    if len(session_id) > 128:
        raise LinkError("invalid", "session id is longer than 128 characters")
    if not _is_lang(lang):
        raise LinkError("invalid", f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if instrument not in INSTRUMENTS:
        raise LinkError("invalid", f"instrument must be one of {', '.join(INSTRUMENTS)}, not {instrument!r}")
    if not ttl_s > 0 or ttl_s > MAX_LINK_TTL_S:
        raise LinkError("invalid", f"ttl must be between 1 second and {MAX_LINK_TTL_S // 3600} hours "
                                   f"({MAX_LINK_TTL_S // 86400} days), got {ttl_s / 3600:g} hours")
    now = time.time() if now is None else now
    claims = SurveyClaims(link_id or secrets.token_urlsafe(12), session_id, lang, instrument, int(now),
                          int(now + ttl_s))
    body = _b64(orjson.dumps({"v": LINK_VERSION, "pur": PURPOSE, "lid": claims.link_id, "sid": session_id,
                              "lang": lang, "ins": instrument, "iat": claims.issued_at, "exp": claims.expires_at}))
    return f"{body}.{_sign(key, body)}", claims


def link_url(base_url: str, token: str) -> str:
    """``<base>/survey#t=<token>``: the token in the fragment, never sent to a server."""
    return f"{base_url.rstrip('/')}/survey#t={token}"


def verify_link(key: bytes, token: object, *, now: float | None = None) -> SurveyClaims:
    """Check signature, purpose and expiry; raise LinkError(kind) naming what is wrong."""
    if not isinstance(token, str) or not token.strip():
        raise LinkError("invalid", "this link is incomplete")
    if len(token) > 2048:
        raise LinkError("invalid", "this link is not valid")
    body, sep, sig = token.strip().partition(".")
    if not sep or not body or not sig:
        raise LinkError("invalid", "this link is incomplete")
    if not hmac.compare_digest(_sign(key, body), sig):
        raise LinkError("invalid", "this link is not valid (it was changed or not issued by this service)")
    try:
        c = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        raise LinkError("invalid", "this link is not valid") from None
    if not isinstance(c, dict) or c.get("v") != LINK_VERSION or c.get("pur") != PURPOSE:
        raise LinkError("invalid", "this is not a survey link")
    fields = (c.get("lid"), c.get("sid"), c.get("lang"), c.get("ins"), c.get("iat"), c.get("exp"))
    if not all(isinstance(f, str) and f for f in fields[:4]) or not all(isinstance(f, int) for f in fields[4:]):
        raise LinkError("invalid", "this link is not valid")
    claims = SurveyClaims(*cast("tuple[str, str, Lang, str, int, int]", fields))  # types checked above, values below
    if claims.lang not in LANGS or claims.instrument not in INSTRUMENTS:
        raise LinkError("invalid", "this link is not valid")
    now = time.time() if now is None else now
    if now >= claims.expires_at:
        raise LinkError("expired", "this survey link has expired")
    return claims


class SurveyDesk:
    """What the survey page is told; which links are used. Pure: the shell feeds it."""

    def __init__(self, key: bytes):
        self.key = key
        self.used: set[str] = set()
        self._pending: set[str] = set()
        self.stats = {"opened": 0, "submitted": 0, "refused": 0}

    def mark_used(self, link_id: str) -> None:
        """A rating from this link exists (seen on chat.ratings, or just published)."""
        self.used.add(link_id)
        self._pending.discard(link_id)

    def _check(self, token: object, now: float) -> SurveyClaims:
        claims = verify_link(self.key, token, now=now)
        if claims.link_id in self.used or claims.link_id in self._pending:
            raise LinkError("used", "this survey has already been answered")
        return claims

    def open(self, token: object, now: float) -> dict[str, Any]:
        """The reply to the page's ``open``: the form in the link's language, or a refusal."""
        from scoring.instrument import survey_form

        try:
            claims = self._check(token, now)
        except LinkError as err:
            self.stats["refused"] += 1
            return refusal(err.kind, str(err))
        self.stats["opened"] += 1
        return {"type": "form", "expires_at": claims.expires_at, **survey_form(claims.instrument, claims.lang)}

    def submit(self, token: object, answers: object, now: float) -> tuple[dict[str, Any], ClientRating | None]:
        """Check a submission; on success reserve the link and return the rating to publish.

        The caller publishes the rating and then calls :meth:`mark_used` (or
        :meth:`release` if publishing failed, so the client can try again).
        """
        try:
            claims = self._check(token, now)
        except LinkError as err:
            self.stats["refused"] += 1
            return refusal(err.kind, str(err)), None
        if not isinstance(answers, dict):
            return {"type": "error", "code": "answers", "message": "answers must be an object"}, None
        try:
            rating = validate(ClientRating, {
                "rating_id": f"survey:{claims.link_id}", "session_id": claims.session_id,
                "instrument": claims.instrument, "instrument_version": INSTRUMENT_VERSIONS[claims.instrument],
                "answers": answers, "lang": claims.lang,
                "submitted_at": datetime.fromtimestamp(now, timezone.utc).isoformat(),
                "source": "survey", "link_id": claims.link_id,
            })
        except ContractError as err:
            return {"type": "error", "code": "answers", "message": str(err).replace("ClientRating.", "")}, None
        self._pending.add(claims.link_id)
        self.stats["submitted"] += 1
        return {"type": "thanks"}, rating

    def release(self, link_id: str) -> None:
        """Publishing failed: the link may be used again."""
        self._pending.discard(link_id)


def refusal(kind: Refusal, message: str) -> dict[str, Any]:
    return {"type": "refused", "reason": kind, "message": message}
