"""Signed access tokens for the gateway: JWT (RFC 7519) via PyJWT, HS256 only.

Why JWT with a pinned algorithm: a standard format and a maintained library for
the signature, with the one classic JWT mistake closed — the verifier accepts
exactly ``HS256`` and never reads the algorithm from the token (no ``alg: none``,
no key confusion).

Keys and rotation: a :class:`KeyRing` holds several HMAC keys by key id (``kid``,
in the token header); one of them signs new tokens, all of them verify. Rotating
is: add the new key, make it the signing key, drop the old one once its tokens
have expired. Revocation: every token has a ``jti``; a revoked ``jti`` is refused
(and a connection using it is closed).

Claims: ``v`` (format version), ``role`` (``counselor`` | ``supervisor``), ``sub``
(display name shown on acks), ``cid`` (counselor id, counselors only), ``groups``
(supervisor groups) or ``all`` (supervisor of everything), ``iat``, ``exp``,
``jti``. An ``iat`` more than ``MAX_CLOCK_SKEW_S`` in the future is refused. No I/O
here: the clock is passed in, the revocation list is a set the caller loads.
"""

from __future__ import annotations

__layer__ = "core"

import hashlib
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import jwt

from streams import environment

from .errors import TokenError

SECRET_ENV = "ALLIANCE_GATEWAY_SECRET"
#: Shorter secrets are refused: an HMAC key you can guess signs anyone's token.
MIN_SECRET_BYTES = 16
KEYS_ENV = "ALLIANCE_GATEWAY_KEYS"  #: ``kid=secret,kid2=secret2`` (several keys: rotation)
SIGNING_KEY_ENV = "ALLIANCE_GATEWAY_SIGNING_KEY"  #: which kid signs new tokens (default: the last listed)
REVOKED_ENV = "ALLIANCE_GATEWAY_REVOKED"  #: a file of revoked token ids (jti), one per line
#: Longest accepted lifetime; a token that lives for a week is a password.
MAX_TTL_S = 24 * 3600
#: Default lifetime of an issued token: one working shift.
DEFAULT_TTL_S = 8 * 3600
#: How far a token's ``iat`` may lie in the future (clocks of issuer and gateway differ a little).
MAX_CLOCK_SKEW_S = 60
ALGORITHM = "HS256"
TOKEN_VERSION = 2

Role = Literal["counselor", "supervisor"]


@dataclass(frozen=True)
class Viewer:
    """Who is connected and what they may see (the verified claims)."""

    role: Role
    name: str
    counselor_id: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    all_groups: bool = False
    expires_at: float = 0.0
    token_id: str = ""  # the token's jti (for revocation)
    key_id: str = ""  # the kid that signed the token (the audit trail records it)

    def describe_scope(self) -> str:
        if self.role == "counselor":
            return f"counselor {self.counselor_id}"
        return "all groups" if self.all_groups else "groups " + ", ".join(sorted(self.groups))

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "counselor_id": self.counselor_id,
            "groups": sorted(self.groups),
            "all": self.all_groups,
            "expires_at": self.expires_at,
        }


def secret_from_env(env: Mapping[str, str] | None = None) -> bytes:
    """The signing secret from ``ALLIANCE_GATEWAY_SECRET``; raises TokenError if unusable."""
    value = (env if env is not None else environment.snapshot()).get(SECRET_ENV, "")
    if not value:
        raise TokenError(f"set {SECRET_ENV} to a random secret of at least {MIN_SECRET_BYTES} bytes")
    raw = value.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise TokenError(f"{SECRET_ENV} is {len(raw)} bytes; use at least {MIN_SECRET_BYTES}")
    return raw


def _hmac_key(kid: str, secret: bytes) -> bytes:
    """The 32-byte HS256 key for a configured secret (RFC 7518 wants >= 256 bits;
    the secret itself may be as short as MIN_SECRET_BYTES, i.e. 128 bits of entropy)."""
    return hashlib.sha256(b"alliance-gateway-token\0" + kid.encode("utf-8") + b"\0" + secret).digest()


@dataclass(frozen=True)
class KeyRing:
    """Verification keys by key id, the one that signs, and the revoked token ids."""

    keys: Mapping[str, bytes]
    signing_kid: str
    revoked: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.signing_kid not in self.keys:
            raise TokenError(f"signing key {self.signing_kid!r} is not among the keys ({', '.join(self.keys)})")
        for kid, secret in self.keys.items():
            if len(secret) < MIN_SECRET_BYTES:
                raise TokenError(f"key {kid!r} is {len(secret)} bytes; use at least {MIN_SECRET_BYTES}")

    @classmethod
    def single(cls, secret: bytes, kid: str = "default") -> "KeyRing":
        return cls({kid: secret}, kid)

    def with_revoked(self, token_ids: Iterable[str]) -> "KeyRing":
        return replace(self, revoked=frozenset(token_ids))


def _ring(secret: "bytes | KeyRing") -> KeyRing:
    return secret if isinstance(secret, KeyRing) else KeyRing.single(secret)


def read_revoked(path: str | Path | None) -> frozenset[str]:
    """Token ids listed in a revocation file (one per line, ``#`` comments); none if unset or missing."""
    if not path:
        return frozenset()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return frozenset()
    return frozenset(x.split("#", 1)[0].strip() for x in lines if x.split("#", 1)[0].strip())


def keyring_from_env(env: Mapping[str, str] | None = None) -> KeyRing:
    """Keys from ``ALLIANCE_GATEWAY_KEYS`` (``kid=secret,...``), else the single
    ``ALLIANCE_GATEWAY_SECRET``; revoked ids from the file ``ALLIANCE_GATEWAY_REVOKED``."""
    env = env if env is not None else environment.snapshot()
    listed = env.get(KEYS_ENV, "").strip()
    if listed:
        keys: dict[str, bytes] = {}
        for item in listed.split(","):
            kid, sep, secret = item.strip().partition("=")
            if not sep or not kid.strip() or not secret:
                raise TokenError(f"{KEYS_ENV} must look like kid1=secret1,kid2=secret2")
            keys[kid.strip()] = secret.encode("utf-8")
        signing = env.get(SIGNING_KEY_ENV, "").strip() or list(keys)[-1]
        ring = KeyRing(keys, signing)
    else:
        ring = KeyRing.single(secret_from_env(dict(env)))
    return ring.with_revoked(read_revoked(env.get(REVOKED_ENV)))


def issue_token(
    secret: "bytes | KeyRing",
    *,
    role: Role,
    counselor_id: str | None = None,
    groups: list[str] | tuple[str, ...] = (),
    all_groups: bool = False,
    name: str | None = None,
    ttl_s: float = DEFAULT_TTL_S,
    now: float | None = None,
) -> str:
    """Sign a token with the ring's signing key; raises TokenError on a scope that makes no sense."""
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
    ring = _ring(secret)
    now = time.time() if now is None else now
    claims: dict[str, Any] = {"v": TOKEN_VERSION, "role": role, "iat": int(now), "exp": int(now + ttl_s),
                    "jti": uuid.uuid4().hex}
    if role == "counselor":
        claims["cid"] = (counselor_id or "").strip()  # not empty: checked above
        claims["sub"] = name or claims["cid"]
    else:
        claims["all"] = bool(all_groups)
        claims["groups"] = sorted(set(groups))
        claims["sub"] = name or ("supervisor (all)" if all_groups else "supervisor " + "/".join(claims["groups"]))
    kid = ring.signing_kid
    return jwt.encode(claims, _hmac_key(kid, ring.keys[kid]), algorithm=ALGORITHM, headers={"kid": kid})


def token_id(token: str) -> str:
    """The ``jti`` of a token without verifying it (for ``token revoke TOKEN``)."""
    try:
        jti = jwt.decode(token, options={"verify_signature": False}).get("jti")
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError):
        raise TokenError("malformed token") from None
    if not isinstance(jti, str) or not jti:
        raise TokenError("token has no id (jti)")
    return jti


def verify_token(secret: "bytes | KeyRing", token: object, *, now: float | None = None) -> Viewer:
    """Check algorithm, key, signature, times and revocation; return the viewer or raise TokenError.

    Any input, however broken (non-ASCII, binary, huge, another algorithm), ends in
    a TokenError with a reason: the caller closes the socket with "unauthorized".
    """
    if not isinstance(token, str) or not token.strip():
        raise TokenError("missing token")
    if len(token) > 4096:
        raise TokenError("malformed token (too long)")
    token = token.strip()
    if not token.isascii():
        raise TokenError("malformed token (not ASCII)")
    ring = _ring(secret)
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError):
        raise TokenError("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"unsupported token algorithm (only {ALGORITHM})")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in ring.keys:
        raise TokenError("unknown token key (kid); get a new token")
    try:
        claims = jwt.decode(token, _hmac_key(kid, ring.keys[kid]), algorithms=[ALGORITHM],
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "verify_aud": False, "verify_iss": False,
                                     "require": ["exp", "iat", "jti"]})
    except jwt.InvalidSignatureError:
        raise TokenError("bad token signature") from None
    except jwt.MissingRequiredClaimError as err:
        raise TokenError(f"malformed token claims ({err.claim})") from None
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError):
        raise TokenError("malformed token") from None
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        raise TokenError("unsupported token version")
    now = time.time() if now is None else now
    exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise TokenError("malformed token claims (exp)")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        raise TokenError("malformed token claims (iat)")
    if not isinstance(jti, str) or not jti:
        raise TokenError("malformed token claims (jti)")
    if now >= exp:
        raise TokenError("token expired")
    if iat > now + MAX_CLOCK_SKEW_S:
        raise TokenError("token issued in the future; check the issuer's clock")
    if exp - iat > MAX_TTL_S:
        raise TokenError(f"token lifetime exceeds {MAX_TTL_S // 3600} hours")
    if jti in ring.revoked:
        raise TokenError("token revoked")
    role = claims.get("role")
    name = str(claims.get("sub") or role)
    if role == "counselor":
        cid = claims.get("cid")
        if not isinstance(cid, str) or not cid:
            raise TokenError("malformed token claims (cid)")
        return Viewer(role="counselor", name=name, counselor_id=cid, expires_at=float(exp), token_id=jti,
                      key_id=kid)
    if role == "supervisor":
        groups = claims.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise TokenError("malformed token claims (groups)")
        return Viewer(role="supervisor", name=name, groups=frozenset(groups),
                      all_groups=bool(claims.get("all")), expires_at=float(exp), token_id=jti,
                      key_id=kid)
    raise TokenError("malformed token claims (role)")
