"""Signed access tokens for the gateway (HMAC-SHA256, no extra dependency).

Why a home-made token and not JWT: the gateway only needs "who is this, what may
they see, until when", signed with one shared secret. A two-part token
``<base64url(json claims)>.<base64url(hmac)>`` does that with the standard
library, and there is no algorithm negotiation to get wrong (``alg: none``).

Claims: ``v`` (format version), ``role`` (``counselor`` | ``supervisor``),
``sub`` (display name shown on acks), ``cid`` (counselor id, counselors only),
``groups`` (supervisor groups) or ``all`` (supervisor of everything), ``iat`` and
``exp`` (unix seconds). No I/O here: the clock is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from typing import Literal

import orjson

from .errors import GatewayError

SECRET_ENV = "ALLIANCE_GATEWAY_SECRET"
#: Shorter secrets are refused: an HMAC key you can guess signs anyone's token.
MIN_SECRET_BYTES = 16
#: Longest accepted lifetime; a token that lives for a month is a password.
MAX_TTL_S = 7 * 24 * 3600
TOKEN_VERSION = 1

Role = Literal["counselor", "supervisor"]


class TokenError(GatewayError, ValueError):
    """A token that must be refused; ``str()`` is the reason shown to the client."""


@dataclass(frozen=True)
class Viewer:
    """Who is connected and what they may see (the verified claims)."""

    role: Role
    name: str
    counselor_id: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    all_groups: bool = False
    expires_at: float = 0.0

    def describe_scope(self) -> str:
        if self.role == "counselor":
            return f"counselor {self.counselor_id}"
        return "all groups" if self.all_groups else "groups " + ", ".join(sorted(self.groups))

    def as_dict(self) -> dict:
        return {
            "role": self.role,
            "name": self.name,
            "counselor_id": self.counselor_id,
            "groups": sorted(self.groups),
            "all": self.all_groups,
            "expires_at": self.expires_at,
        }


def secret_from_env(env: dict | None = None) -> bytes:
    """The signing secret from ``ALLIANCE_GATEWAY_SECRET``; raises TokenError if unusable."""
    value = (env if env is not None else os.environ).get(SECRET_ENV, "")
    if not value:
        raise TokenError(f"set {SECRET_ENV} to a random secret of at least {MIN_SECRET_BYTES} bytes")
    raw = value.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise TokenError(f"{SECRET_ENV} is {len(raw)} bytes; use at least {MIN_SECRET_BYTES}")
    return raw


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())


def issue_token(
    secret: bytes,
    *,
    role: Role,
    counselor_id: str | None = None,
    groups: list[str] | tuple[str, ...] = (),
    all_groups: bool = False,
    name: str | None = None,
    ttl_s: float = 12 * 3600,
    now: float | None = None,
) -> str:
    """Sign a token; raises TokenError on a scope that makes no sense."""
    if role not in ("counselor", "supervisor"):
        raise TokenError(f"role must be counselor or supervisor, not {role!r}")
    if not ttl_s > 0 or ttl_s > MAX_TTL_S:
        raise TokenError(f"ttl must be between 1 second and {MAX_TTL_S // 3600} hours, got {ttl_s:g} s")
    groups = [g.strip() for g in groups]
    if role == "counselor":
        if not counselor_id or not counselor_id.strip():
            raise TokenError("a counselor token needs --counselor-id")
        if groups or all_groups:
            raise TokenError("a counselor token is scoped to the counselor's own sessions; drop --group/--all")
    else:
        if counselor_id:
            raise TokenError("a supervisor token takes --group or --all, not --counselor-id")
        if all_groups and groups:
            raise TokenError("use either --group or --all, not both")
        if not all_groups and not groups:
            raise TokenError("a supervisor token needs --group G (repeatable) or --all")
        if any(not g for g in groups):
            raise TokenError("--group must not be empty")
    now = time.time() if now is None else now
    claims: dict = {"v": TOKEN_VERSION, "role": role, "iat": int(now), "exp": int(now + ttl_s)}
    if role == "counselor":
        claims["cid"] = counselor_id.strip()  # type: ignore[union-attr]
        claims["sub"] = name or claims["cid"]
    else:
        claims["all"] = bool(all_groups)
        claims["groups"] = sorted(set(groups))
        claims["sub"] = name or ("supervisor (all)" if all_groups else "supervisor " + "/".join(claims["groups"]))
    body = _b64(orjson.dumps(claims))
    return f"{body}.{_sign(secret, body)}"


def verify_token(secret: bytes, token: object, *, now: float | None = None) -> Viewer:
    """Check signature and expiry; return the viewer or raise TokenError with a reason."""
    if not isinstance(token, str) or not token.strip():
        raise TokenError("missing token")
    if len(token) > 4096:
        raise TokenError("malformed token (too long)")
    body, sep, sig = token.strip().partition(".")
    if not sep or not body or not sig:
        raise TokenError("malformed token")
    if not hmac.compare_digest(_sign(secret, body), sig):
        raise TokenError("bad token signature")
    try:
        claims = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        raise TokenError("malformed token claims") from None
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        raise TokenError("unsupported token version")
    now = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise TokenError("malformed token claims (exp)")
    if now >= exp:
        raise TokenError("token expired")
    role = claims.get("role")
    name = str(claims.get("sub") or role)
    if role == "counselor":
        cid = claims.get("cid")
        if not isinstance(cid, str) or not cid:
            raise TokenError("malformed token claims (cid)")
        return Viewer(role="counselor", name=name, counselor_id=cid, expires_at=float(exp))
    if role == "supervisor":
        groups = claims.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise TokenError("malformed token claims (groups)")
        return Viewer(role="supervisor", name=name, groups=frozenset(groups),
                      all_groups=bool(claims.get("all")), expires_at=float(exp))
    raise TokenError("malformed token claims (role)")
